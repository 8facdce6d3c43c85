"""pytest plugin (registered through the ``pytest11`` entry point): fixtures for tests of
applications that use anam-async.

Installing the package is enough; the fixtures are then available in every test:

- ``anam_fake_api``: a running `FakeAnamAPI` with its default
  seeded data, closed after the test.
- ``anam_client``: an `AnamClient` bound to ``anam_fake_api``, closed
  after the test.

Both are function-scoped async fixtures and need pytest-asyncio (``asyncio_mode = "auto"``, or
mark the tests with ``@pytest.mark.asyncio``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import pytest

from ._client import AnamClient
from .testing import FakeAnamAPI

__all__ = ["anam_client", "anam_fake_api"]

# The plugin loads in every pytest run of an environment that has anam-async, including ones
# without pytest-asyncio: importing must not fail there, only using the fixtures would.
_fixture: Callable[..., Any]
try:
    import pytest_asyncio

    _fixture = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    _fixture = pytest.fixture

_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture(func: _F) -> _F:
    return cast("_F", _fixture(func))


@_async_fixture
async def anam_fake_api() -> AsyncIterator[FakeAnamAPI]:
    """A running FakeAnamAPI on 127.0.0.1 with the default seeded data."""
    async with FakeAnamAPI() as api:
        yield api


@_async_fixture
async def anam_client(anam_fake_api: FakeAnamAPI) -> AsyncIterator[AnamClient]:
    """An AnamClient bound to ``anam_fake_api`` (its URL and key), closed after the test."""
    async with AnamClient(anam_fake_api.api_key, base_url=anam_fake_api.url) as client:
        yield client
