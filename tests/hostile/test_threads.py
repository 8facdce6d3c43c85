"""Threads and loops: one owned session whoever races for it, close() only in its own loop,
and concurrent close() calls that all wait for the session to be closed."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Iterator

import pytest

from anam_async import AnamClient, AnamError
from anam_async.testing import FakeAnamAPI

THREADS = 4
ROUNDS = 50


@pytest.fixture(scope="module")
def api() -> Iterator[FakeAnamAPI]:
    with FakeAnamAPI(links=5).run_in_thread() as server:
        yield server


def _race_one_round(api: FakeAnamAPI) -> list[str]:
    """THREADS threads make the first call on one fresh client at the same moment."""
    client = AnamClient(api.api_key, base_url=api.url)
    start, done = threading.Barrier(THREADS), threading.Barrier(THREADS)
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

    threads = [threading.Thread(target=asyncio.run, args=(job(),)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def test_racing_first_calls_from_threads_create_one_owned_session(api: FakeAnamAPI) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcomes = [_race_one_round(api) for _ in range(ROUNDS)]
        gc.collect()
    assert all(round_ == ["ok"] + ["refused"] * (THREADS - 1) for round_ in outcomes)
    assert [w for w in caught if "Unclosed" in str(w.message)] == []


async def test_close_from_another_loop_raises_and_changes_nothing(api: FakeAnamAPI) -> None:
    async with AnamClient(api.api_key, base_url=api.url) as client:
        await client.share_links.list(per_page=1)
        errors: list[BaseException] = []

        def close_elsewhere() -> None:
            try:
                asyncio.run(client.close())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=close_elsewhere)
        thread.start()
        thread.join()
        assert len(errors) == 1
        assert type(errors[0]) is AnamError
        assert "another event loop" in str(errors[0])
        assert not client.closed
        assert len((await client.share_links.list(per_page=2)).data) == 2
    assert client.closed


@pytest.mark.parametrize("closers", [2, 10])
async def test_concurrent_closes_all_return_once_the_session_is_closed(
    api: FakeAnamAPI, closers: int
) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    await client.share_links.list(per_page=1)
    session = client._session  # read only, to see the moment it is closed
    assert session is not None
    seen_closed: list[bool] = []

    async def close() -> None:
        await client.close()
        seen_closed.append(session.closed)

    await asyncio.gather(*(close() for _ in range(closers)))
    assert seen_closed == [True] * closers


async def test_a_client_never_used_closes_from_any_loop() -> None:
    client = AnamClient("k", base_url="http://127.0.0.1:9")
    thread = threading.Thread(target=asyncio.run, args=(client.close(),))
    thread.start()
    thread.join()
    assert client.closed
    await client.close()
