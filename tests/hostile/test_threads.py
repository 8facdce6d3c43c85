"""Threads and loops: one owned session whoever races for it, close() only in its own loop,
and concurrent close() calls that all wait for the session to be closed.

"Unclosed client session" and "Task was destroyed but it is pending" can surface three ways:
a ResourceWarning (which ``-W error`` may only log when it is raised in a finaliser or in
another thread), a call to the loop's exception handler, and a log record of the ``asyncio``
logger. The tests watch all three, after a ``gc.collect()``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from anam_async import AnamClient, AnamError
from anam_async.testing import FakeAnamAPI

ROUNDS = 200
#: A safety net only: a hang fails the test instead of blocking the suite.
HANG = 30.0
_NOISE = ("Unclosed", "destroyed but it is pending", "never retrieved")


class Noise:
    """Collects every warning, loop exception-handler call and asyncio log record."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog
        self.contexts: list[dict[str, Any]] = []
        self.warnings: list[warnings.WarningMessage] = []

    def handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)

    def found(self) -> list[str]:
        gc.collect()
        texts = [str(w.message) for w in self.warnings]
        texts += [str(context.get("message")) for context in self.contexts]
        texts += [r.getMessage() for r in self._caplog.records if r.name == "asyncio"]
        return [text for text in texts if any(marker in text for marker in _NOISE)]


@pytest.fixture
def noise(caplog: pytest.LogCaptureFixture) -> Iterator[Noise]:
    caplog.set_level(logging.ERROR, logger="asyncio")
    collector = Noise(caplog)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        collector.warnings = caught
        yield collector
        gc.collect()


@pytest.fixture
def racy() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so that a check-then-create window
    as short as one ``aiohttp.ClientSession()`` really gets interleaved."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def _start(target: Any, *args: Any, name: str | None = None) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


def _join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(HANG)
        assert not thread.is_alive(), f"{thread.name} hangs"


@pytest.fixture(scope="module")
def threaded_api() -> Iterator[FakeAnamAPI]:
    """A fake serving from its own thread, reachable from every loop of every thread."""
    with FakeAnamAPI(links=5).run_in_thread() as server:
        yield server


def _run_in_new_loop(coro_fn: Any, noise: Noise) -> None:
    with asyncio.Runner() as runner:
        runner.get_loop().set_exception_handler(noise.handler)
        runner.run(coro_fn())


class SessionCounter:
    """Stands in for ``aiohttp.ClientSession`` and keeps every session it makes."""

    def __init__(self) -> None:
        self.sessions: list[aiohttp.ClientSession] = []
        self._lock = threading.Lock()
        self._real = aiohttp.ClientSession

    def __call__(self, *args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = self._real(*args, **kwargs)
        with self._lock:
            self.sessions.append(session)
        return session


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> SessionCounter:
    counter = SessionCounter()
    monkeypatch.setattr(aiohttp, "ClientSession", counter)
    return counter


def _race_one_round(api: FakeAnamAPI, threads: int, noise: Noise) -> list[str]:
    """``threads`` threads make the first call on one fresh client at the same moment."""
    client = AnamClient(api.api_key, base_url=api.url)
    start, done = threading.Barrier(threads, timeout=HANG), threading.Barrier(threads, timeout=HANG)
    results: list[str] = []

    async def job() -> None:
        start.wait()
        outcome = "ok"
        try:
            await client.share_links.list(per_page=1)
        except AnamError as exc:
            outcome = "refused" if "another event loop" in str(exc) else f"wrong: {exc}"
        results.append(outcome)
        # Every thread has made its attempt before the winner closes its session.
        done.wait()
        if outcome == "ok":
            await client.close()

    _join(*(_start(_run_in_new_loop, job, noise) for _ in range(threads)))
    assert client.closed
    return sorted(results)


@pytest.mark.parametrize("threads", [2, 8])
def test_racing_first_calls_from_threads_create_one_owned_session(
    threaded_api: FakeAnamAPI, noise: Noise, sessions: SessionCounter, racy: None, threads: int
) -> None:
    outcomes = [_race_one_round(threaded_api, threads, noise) for _ in range(ROUNDS)]
    assert all(round_ == ["ok"] + ["refused"] * (threads - 1) for round_ in outcomes)
    assert len(sessions.sessions) == ROUNDS  # one per client, never a second
    assert all(session.closed for session in sessions.sessions)
    assert noise.found() == []


def _close_race_one_round(api: FakeAnamAPI, noise: Noise) -> tuple[str, str]:
    """close() on a fresh client in one thread, its first call in another, at once."""
    client = AnamClient(api.api_key, base_url=api.url)
    start, done = threading.Barrier(2, timeout=HANG), threading.Barrier(2, timeout=HANG)
    call: list[str] = []
    closing: list[str] = []

    async def first_call() -> None:
        start.wait()
        try:
            await client.share_links.list(per_page=1)
            call.append("ok")
        except AnamError as exc:
            call.append("closed" if "closed" in str(exc) else f"wrong: {exc}")
        done.wait()
        if call == ["ok"]:
            await client.close()

    async def close() -> None:
        start.wait()
        try:
            await client.close()
            closing.append("closed")
        except AnamError as exc:
            closing.append("refused" if "another event loop" in str(exc) else f"{exc}")
        done.wait()

    _join(*(_start(_run_in_new_loop, job, noise) for job in (first_call, close)))
    assert client.closed
    return call[0], closing[0]


def test_close_racing_a_first_call_from_another_thread_creates_no_session(
    threaded_api: FakeAnamAPI, noise: Noise, sessions: SessionCounter, racy: None
) -> None:
    """Either the call wins (and close() raises, another loop, until the winner closes) or
    close() wins (and the call is refused): never a session on a closed client."""
    outcomes = {_close_race_one_round(threaded_api, noise) for _ in range(ROUNDS)}
    assert outcomes <= {("ok", "refused"), ("closed", "closed")}
    assert all(session.closed for session in sessions.sessions)
    assert noise.found() == []


async def test_close_racing_a_first_call_at_the_worst_moment(
    noise: Noise, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the race above only sometimes hits, forced: the first call passes
    the open check, then close() runs to the end in another thread, then the call goes on.
    It must see the client closed and create no session."""
    client = AnamClient("k", base_url="http://127.0.0.1:9")
    passed, closed = threading.Event(), threading.Event()
    real_check = AnamClient._check_open

    def slow_check(self: AnamClient) -> None:
        real_check(self)
        if threading.current_thread().name == "first-call" and not passed.is_set():
            passed.set()
            closed.wait(HANG)

    monkeypatch.setattr(AnamClient, "_check_open", slow_check)
    errors: list[BaseException] = []

    async def first_call() -> None:
        try:
            client._ensure_session()
        except AnamError as exc:
            errors.append(exc)

    worker = _start(_run_in_new_loop, first_call, noise, name="first-call")
    assert await asyncio.to_thread(passed.wait, HANG)
    await client.close()
    closed.set()
    await asyncio.to_thread(_join, worker)
    assert [str(e) for e in errors] == ["this AnamClient is closed; create a new one"]
    assert client._session is None
    assert noise.found() == []


async def test_close_from_another_loop_raises_and_changes_nothing(noise: Noise) -> None:
    asyncio.get_running_loop().set_exception_handler(noise.handler)
    async with FakeAnamAPI(links=5) as api:
        client = AnamClient(api.api_key, base_url=api.url)
        await client.share_links.list(per_page=1)
        session = client._session
        assert session is not None
        async with api.hold(operation="get") as gate:
            # A call in flight on the client's own loop while the other loop tries to close.
            link_id = api.links[0]["id"]
            in_flight = asyncio.ensure_future(client.share_links.get(link_id))
            await gate.wait_for_waiting(1)
            errors: list[BaseException] = []

            async def close_elsewhere() -> None:
                try:
                    await client.close()
                except BaseException as exc:
                    errors.append(exc)

            elsewhere = _start(_run_in_new_loop, close_elsewhere, noise, name="elsewhere")
            await asyncio.to_thread(_join, elsewhere)
            assert [type(e) for e in errors] == [AnamError]
            assert "another event loop" in str(errors[0])
            assert not client.closed
            assert not session.closed
            assert not in_flight.done()
        # The call in flight was left alone and finishes normally.
        assert str((await in_flight).id) == link_id
        assert len((await client.share_links.list(per_page=2)).data) == 2
        await client.close()
        assert client.closed
        assert session.closed
    assert noise.found() == []


async def test_close_from_another_loop_after_close_is_a_no_op(threaded_api: FakeAnamAPI) -> None:
    client = AnamClient(threaded_api.api_key, base_url=threaded_api.url)
    await client.share_links.list(per_page=1)
    await client.close()

    async def close_again() -> None:
        await client.close()

    await asyncio.to_thread(_join, _start(asyncio.run, close_again()))
    assert client.closed


@pytest.mark.parametrize("closers", [2, 10])
async def test_concurrent_closes_all_return_once_the_session_is_closed(
    closers: int, noise: Noise
) -> None:
    async with FakeAnamAPI(links=5) as api:
        client = AnamClient(api.api_key, base_url=api.url)
        await client.share_links.list(per_page=1)
        session = client._session  # read only, to see the moment it is closed
        assert session is not None
        # A call in flight makes the first close() wait for it, so the others must wait too.
        async with api.hold(operation="get") as gate:
            in_flight = asyncio.ensure_future(client.share_links.get(api.links[0]["id"]))
            await gate.wait_for_waiting(1)
            seen_closed: list[bool] = []

            async def close() -> None:
                await client.close()
                seen_closed.append(session.closed)

            await asyncio.gather(*(close() for _ in range(closers)))
        assert seen_closed == [True] * closers
        with pytest.raises(AnamError, match="closed while this request was in flight"):
            await in_flight
    assert noise.found() == []


async def test_a_cancelled_close_waiter_does_not_stop_the_close() -> None:
    async with FakeAnamAPI(links=5) as api:
        client = AnamClient(api.api_key, base_url=api.url)
        await client.share_links.list(per_page=1)
        session = client._session
        assert session is not None
        async with api.hold(operation="get") as gate:
            in_flight = asyncio.ensure_future(client.share_links.get(api.links[0]["id"]))
            await gate.wait_for_waiting(1)
            first = asyncio.ensure_future(client.close())
            waiter = asyncio.ensure_future(client.close())
            last = asyncio.ensure_future(client.close())
            await asyncio.sleep(0)  # let all three start (not a wait for an event)
            waiter.cancel()
            await asyncio.gather(first, last)
            assert waiter.cancelled()
        assert session.closed
        with pytest.raises(AnamError):
            await in_flight


async def test_a_client_never_used_closes_from_any_loop() -> None:
    client = AnamClient("k", base_url="http://127.0.0.1:9")
    await asyncio.to_thread(_join, _start(asyncio.run, client.close()))
    assert client.closed
    await client.close()
    with pytest.raises(AnamError, match="closed"):
        await client.share_links.list()
