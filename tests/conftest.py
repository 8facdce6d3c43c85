"""Shared fixtures: a running FakeAnamAPI and a client bound to it, and a sleep recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from anam_async import AnamClient, _client
from anam_async.testing import FakeAnamAPI


@pytest.fixture
async def api() -> AsyncIterator[FakeAnamAPI]:
    """A FakeAnamAPI on 127.0.0.1 with the default seeded data."""
    async with FakeAnamAPI() as server:
        yield server


@pytest.fixture
async def client(api: FakeAnamAPI) -> AsyncIterator[AnamClient]:
    """A client bound to ``api``, closed after the test."""
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        yield anam


class SleepRecorder:
    """Stands in for the client's sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepRecorder:
    """Patch the client's waits (backoff, Retry-After, 429 pause) to return at once."""
    recorder = SleepRecorder()
    monkeypatch.setattr(_client, "_sleep", recorder)
    return recorder
