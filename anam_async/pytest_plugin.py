"""pytest plugin (registered through the ``pytest11`` entry point): fixtures for tests of
applications that use anam-async.

Installing the package is enough; the fixtures are then available in every test:

- ``anam_fake_api``: a running `FakeAnamAPI` with its default
  seeded data, closed after the test.
- ``anam_client``: an `AnamClient` bound to ``anam_fake_api``, closed
  after the test.

Both are function-scoped async fixtures and need pytest-asyncio (``asyncio_mode = "auto"``, or
mark the tests with ``@pytest.mark.asyncio``); without it, using one fails the test with a
message that says what to install.

The plugin loads in every pytest run of an environment that has anam-async, so it is kept
light: the fake server (and aiohttp's server side) is imported only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from ._client import AnamClient
    from .testing import FakeAnamAPI

__all__ = ["anam_client", "anam_fake_api"]

NEEDS_PYTEST_ASYNCIO: Final = (
    "the anam_fake_api and anam_client fixtures are async and need pytest-asyncio: "
    'pip install pytest-asyncio, and set asyncio_mode = "auto" (with '
    'asyncio_default_fixture_loop_scope = "function") under [tool.pytest.ini_options], '
    "or mark the tests with @pytest.mark.asyncio"
)

# Importing must not fail in a run without pytest-asyncio, only using the fixtures would.
_fixture: Callable[..., Any]
try:
    import pytest_asyncio

    _fixture = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio installed
    _fixture = pytest.fixture

_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture(func: _F) -> _F:
    return cast("_F", _fixture(func))


def _require_pytest_asyncio(request: pytest.FixtureRequest) -> None:
    if not request.config.pluginmanager.hasplugin("asyncio"):
        pytest.fail(NEEDS_PYTEST_ASYNCIO, pytrace=False)


@_async_fixture
async def _anam_fake_api() -> AsyncIterator[FakeAnamAPI]:
    from .testing import FakeAnamAPI

    async with FakeAnamAPI() as api:
        yield api


@_async_fixture
async def _anam_client(anam_fake_api: FakeAnamAPI) -> AsyncIterator[AnamClient]:
    from ._client import AnamClient

    async with AnamClient(anam_fake_api.api_key, base_url=anam_fake_api.url) as client:
        yield client


@pytest.fixture
def anam_fake_api(request: pytest.FixtureRequest) -> FakeAnamAPI:
    """A running FakeAnamAPI on 127.0.0.1 with the default seeded data."""
    _require_pytest_asyncio(request)
    return cast("FakeAnamAPI", request.getfixturevalue("_anam_fake_api"))


@pytest.fixture
def anam_client(request: pytest.FixtureRequest, anam_fake_api: FakeAnamAPI) -> AnamClient:
    """An AnamClient bound to ``anam_fake_api`` (its URL and key), closed after the test."""
    _require_pytest_asyncio(request)
    return cast("AnamClient", request.getfixturevalue("_anam_client"))
