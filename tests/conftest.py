"""Shared fixtures: a running FakeAnamAPI and a client bound to it, and the waits skipped."""

from __future__ import annotations

import functools
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest

from anam_async import AnamClient
from anam_async.testing import FakeAnamAPI, set_testing

from ._spec_oracle import OracleWatch, SpecOracle


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
    """The waits the client skipped under ``set_testing`` (backoff, Retry-After, 429 pause)."""

    def __init__(self) -> None:
        self.waits: list[float] = []


@pytest.fixture
def sleeps() -> Iterator[SleepRecorder]:
    """Turn the client's waits off with the public testing switch, recording each one."""
    recorder = SleepRecorder()
    with set_testing(True, on_wait=recorder.waits.append):
        yield recorder


# ---------------------------------------------------------------------- the spec oracle

_ORACLE = SpecOracle()


@pytest.fixture(autouse=True)
def spec_oracle(monkeypatch: pytest.MonkeyPatch) -> Iterator[OracleWatch]:
    """Check every exchange of every FakeAnamAPI this test starts against the wire spec.

    ``FakeAnamAPI.start`` (public) is wrapped so that each server registers the oracle's
    ``on_response`` hook as it starts; a disagreement fails the test at teardown.
    """
    watch = OracleWatch(_ORACLE)
    original_start = FakeAnamAPI.start
    attached: weakref.WeakSet[FakeAnamAPI] = weakref.WeakSet()

    @functools.wraps(original_start)
    async def start(self: FakeAnamAPI) -> None:
        await original_start(self)
        if self not in attached:
            attached.add(self)
            watch.attach(self)

    monkeypatch.setattr(FakeAnamAPI, "start", start)
    yield watch
    report = watch.report()
    if report is not None:
        pytest.fail(report, pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _ORACLE.stats.requests or _ORACLE.stats.skipped:
        terminalreporter.write_line(_ORACLE.summary())
