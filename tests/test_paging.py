"""Tests of the page engine (``anam_async._paging``), driven by fake calls and fake listings.

Completion order is controlled with futures: a fake call waits on its own gate until the
test finishes it. Nothing waits on time; ``asyncio.timeout`` only turns a hang into a failure.
Properties that must hold at every moment (the window bound, peak concurrency) are checked by
the fakes at the instant a call starts, so they need no "wait and see that nothing happened".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import operator
import signal
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import NamedTuple, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anam_async._ordered import Limiter, ordered_map
from anam_async._paging import PageInfo, iterate_pages

T = TypeVar("T")

HANG_GUARD = 2.0  # seconds; every wait below is event-driven, this only bounds a failure


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    """Turn a hang the per-wait guards miss (a bare ``async for``) into a failure."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("test hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class Boom(Exception):
    """The error the fakes raise on request."""


class Result:
    """A weak-referenceable result, so tests can see whether the engine keeps it alive."""

    def __init__(self, key: int) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Result({self.key})"


class Watch:
    """A change signal: tests wait for a predicate to become true, re-checked on each change."""

    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(HANG_GUARD):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


class GatedCalls(Watch):
    """A fake ``func(key)`` over keys 0, 1, 2, ...: each call waits until the test finishes it.

    At each start it checks the window bound against the number of results the consumer has
    received: key ``j`` may start only if ``j < received + limit``.
    """

    def __init__(self, *, limit: Callable[[], int]) -> None:
        super().__init__()
        self._limit = limit
        self._gates: dict[int, asyncio.Future[Result]] = {}
        self.started: list[int] = []
        self.finished: set[int] = set()
        self.cancelled: list[int] = []
        self.received = 0
        self.in_flight = 0
        self.peak = 0
        self.window_violations: list[tuple[int, int, int]] = []

    def _gate(self, key: int) -> asyncio.Future[Result]:
        if key not in self._gates:
            self._gates[key] = asyncio.get_running_loop().create_future()
        return self._gates[key]

    async def __call__(self, key: int) -> Result:
        if key >= self.received + self._limit():
            self.window_violations.append((key, self.received, self._limit()))
        self.started.append(key)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.notify()
        try:
            return await self._gate(key)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            self.notify()
            raise
        finally:
            self.in_flight -= 1
            del self._gates[key]  # the fake must not keep results alive either

    def finish(self, key: int, *, error: BaseException | None = None) -> None:
        self.finished.add(key)
        if error is None:
            self._gate(key).set_result(Result(key))
        else:
            self._gate(key).set_exception(error)

    def open_keys(self) -> list[int]:
        return [key for key in self.started if key not in self.finished]

    def receive(self) -> None:
        self.received += 1
        self.notify()


async def consume(results: AsyncIterator[object], calls: GatedCalls, into: list[object]) -> None:
    async for outcome in results:
        into.append(outcome)
        calls.receive()


def start_next(results: AsyncIterator[T]) -> asyncio.Task[T]:
    """Ask for the next result in a task, so the engine runs while the test drives the calls."""

    async def next_result() -> T:
        return await anext(results)

    return asyncio.create_task(next_result())


async def drain(results: AsyncIterator[object], into: list[object]) -> None:
    async with asyncio.timeout(HANG_GUARD):
        async for outcome in results:
            into.append(outcome)


def only_this_task_left() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


async def instant(key: int) -> Result:
    return Result(key)


# ordered_map: order and window under any completion order


async def _run_in_completion_order(
    keys: int, concurrency: int, rank: list[int]
) -> tuple[list[object], GatedCalls]:
    """Finish, at each step, the open call of lowest rank once the window is full."""
    calls = GatedCalls(limit=lambda: concurrency)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(keys), concurrency=concurrency), calls, received)
    )
    for _ in range(keys):
        # The window is full (every call that may start has started) and something is open.
        await calls.wait_until(
            lambda: (
                bool(calls.open_keys())
                and len(calls.started) >= min(keys, calls.received + concurrency)
            )
        )
        calls.finish(min(calls.open_keys(), key=rank.__getitem__))
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    return received, calls


completion_orders = st.integers(1, 12).flatmap(
    lambda keys: st.tuples(st.just(keys), st.integers(1, 6), st.permutations(range(keys)).map(list))
)


@settings(deadline=None, max_examples=150, database=None)
@given(completion_orders)
def test_results_come_out_in_key_order_whatever_the_completion_order(
    case: tuple[int, int, list[int]],
) -> None:
    keys, concurrency, rank = case
    received, _ = asyncio.run(_run_in_completion_order(keys, concurrency, rank))
    assert received == [Result(key) for key in range(keys)]


@settings(deadline=None, max_examples=150, database=None)
@given(completion_orders)
def test_no_call_starts_beyond_the_window_whatever_the_completion_order(
    case: tuple[int, int, list[int]],
) -> None:
    keys, concurrency, rank = case
    _, calls = asyncio.run(_run_in_completion_order(keys, concurrency, rank))
    assert calls.window_violations == []
    assert calls.peak <= concurrency


async def test_results_come_out_in_key_order_when_calls_finish_in_reverse() -> None:
    calls = GatedCalls(limit=lambda: 4)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(4), concurrency=4), calls, received)
    )
    await calls.wait_until(lambda: len(calls.started) == 4)
    for key in reversed(range(4)):
        calls.finish(key)
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    assert received == [Result(0), Result(1), Result(2), Result(3)]


async def test_peak_in_flight_never_exceeds_concurrency() -> None:
    calls = GatedCalls(limit=lambda: 3)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(20), concurrency=3), calls, received)
    )
    for _ in range(20):
        await calls.wait_until(lambda: bool(calls.open_keys()))
        calls.finish(calls.open_keys()[-1])
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    assert calls.peak == 3


async def test_while_holding_result_k_calls_up_to_k_plus_concurrency_start_and_no_further() -> None:
    starts_with_received: list[tuple[int, int]] = []
    held = 0

    async def func(key: int) -> int:
        starts_with_received.append((key, held))
        return key

    results = ordered_map(func, range(30), concurrency=3)
    async with contextlib.aclosing(results):
        async for key in results:
            held = key + 1  # results received so far, including the one now held
            await asyncio.sleep(0)  # let the feeder run while the consumer holds the result
    # Each key started while the consumer held at most results 0..key-3 (never key-4 or less).
    assert all(key < received + 3 for key, received in starts_with_received)
    assert [key for key, _ in starts_with_received] == list(range(30))


async def test_the_window_refills_while_the_consumer_holds_a_result() -> None:
    calls = GatedCalls(limit=lambda: 3)
    results = ordered_map(calls, range(10), concurrency=3)
    async with contextlib.aclosing(results):
        first = start_next(results)
        await calls.wait_until(lambda: len(calls.started) == 3)
        calls.finish(0)
        assert await first == Result(0)
        calls.receive()
        # Holding result 0, key 3 (= 0 + concurrency) starts without another __anext__.
        await calls.wait_until(lambda: 3 in calls.started)
    assert calls.window_violations == []


async def test_concurrency_one_runs_calls_one_after_another() -> None:
    calls = GatedCalls(limit=lambda: 1)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(5), concurrency=1), calls, received)
    )
    for key in range(5):
        await calls.wait_until(lambda: bool(calls.open_keys()))
        assert calls.open_keys() == [key]
        calls.finish(key)
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    assert calls.peak == 1
    assert calls.window_violations == []


async def test_keys_are_pulled_only_when_their_call_can_start() -> None:
    pulls_with_received: list[tuple[int, int]] = []
    received = 0

    def keys() -> Iterator[int]:
        for key in range(12):
            pulls_with_received.append((key, received))
            yield key

    async for _ in ordered_map(instant, keys(), concurrency=2):
        received += 1
        await asyncio.sleep(0)  # give the feeder a chance to pull ahead, which it must not
    assert all(key < got + 2 for key, got in pulls_with_received)


# ordered_map: ending early


async def test_is_last_yields_that_result_and_ends() -> None:
    results = [
        r
        async for r in ordered_map(instant, range(10), concurrency=3, is_last=lambda r: r.key == 4)
    ]
    assert results == [Result(key) for key in range(5)]


async def test_is_last_cancels_later_calls_and_discards_finished_ones() -> None:
    calls = GatedCalls(limit=lambda: 4)
    results = ordered_map(calls, range(10), concurrency=4, is_last=lambda r: r.key == 1)
    received: list[object] = []
    consumer = asyncio.create_task(consume(results, calls, received))
    await calls.wait_until(lambda: len(calls.started) == 4)
    calls.finish(2)  # finished speculatively, must be discarded
    calls.finish(0)
    calls.finish(1)
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    assert received == [Result(0), Result(1)]
    assert 3 in calls.cancelled
    assert sorted(calls.cancelled) == calls.open_keys()
    assert only_this_task_left()


async def test_is_last_cancels_later_calls_while_the_last_result_is_still_held() -> None:
    calls = GatedCalls(limit=lambda: 3)
    results = ordered_map(calls, range(10), concurrency=3, is_last=lambda r: r.key == 0)
    first = start_next(results)
    await calls.wait_until(lambda: len(calls.started) == 3)
    calls.finish(0)
    assert await first == Result(0)
    # No further __anext__: the calls after the last result are cancelled all the same.
    await calls.wait_until(lambda: sorted(calls.cancelled) == [1, 2])
    await results.aclose()
    assert calls.started == [0, 1, 2]


async def test_is_last_stops_pulling_keys() -> None:
    pulled: list[int] = []

    def keys() -> Iterator[int]:
        for key in range(100):
            pulled.append(key)
            yield key

    async for _ in ordered_map(instant, keys(), concurrency=3, is_last=lambda r: r.key == 0):
        pass
    # Keys 0..2 fill the first window; after result 0 says "last", nothing more is pulled.
    assert pulled == [0, 1, 2]


async def test_aclose_midway_leaves_no_pending_task() -> None:
    calls = GatedCalls(limit=lambda: 3)
    results = ordered_map(calls, range(10), concurrency=3)
    first = start_next(results)
    await calls.wait_until(lambda: len(calls.started) == 3)
    calls.finish(0)
    assert await first == Result(0)
    await results.aclose()
    assert only_this_task_left()


async def test_aclose_midway_cancels_calls_in_flight() -> None:
    calls = GatedCalls(limit=lambda: 3)
    results = ordered_map(calls, range(10), concurrency=3)
    first = start_next(results)
    await calls.wait_until(lambda: len(calls.started) == 3)
    calls.finish(0)
    await first
    calls.receive()
    await calls.wait_until(lambda: len(calls.started) == 4)
    await results.aclose()
    assert sorted(calls.cancelled) == [1, 2, 3]


async def test_cancelling_the_consumer_cancels_calls_in_flight() -> None:
    calls = GatedCalls(limit=lambda: 3)
    consumer = asyncio.create_task(consume(ordered_map(calls, range(10), concurrency=3), calls, []))
    await calls.wait_until(lambda: len(calls.started) == 3)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert sorted(calls.cancelled) == [0, 1, 2]
    assert only_this_task_left()


async def test_a_second_cancel_while_closing_still_waits_for_every_call() -> None:
    watch = Watch()
    release = asyncio.Event()
    started: list[int] = []
    cleaning: list[int] = []
    cleaned_up: list[int] = []

    async def slow_to_cancel(key: int) -> int:
        never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        started.append(key)
        watch.notify()
        try:
            return await never
        finally:
            cleaning.append(key)
            watch.notify()
            await release.wait()
            cleaned_up.append(key)

    consumer = asyncio.create_task(drain(ordered_map(slow_to_cancel, range(5), concurrency=2), []))
    cleaned_when_consumer_ended: list[int] = []
    consumer.add_done_callback(lambda _: cleaned_when_consumer_ended.append(len(cleaned_up)))
    await watch.wait_until(lambda: len(started) == 2)
    consumer.cancel()
    await watch.wait_until(lambda: len(cleaning) == 2)  # the consumer now waits for them
    consumer.cancel()
    release.set()  # runs after the consumer has seen its second cancel
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(HANG_GUARD):
            await consumer
    assert cleaned_when_consumer_ended == [2]
    assert only_this_task_left()


async def test_break_inside_aclosing_cancels_calls_in_flight() -> None:
    calls = GatedCalls(limit=lambda: 3)
    results = ordered_map(calls, range(10), concurrency=3)
    async with contextlib.aclosing(results):
        first = start_next(results)
        await calls.wait_until(lambda: len(calls.started) == 3)
        calls.finish(0)
        calls.finish(1)
        await first
        async for _ in results:
            break
    assert 2 in calls.cancelled
    assert sorted(calls.cancelled) == calls.open_keys()
    assert only_this_task_left()


async def test_natural_end_leaves_no_pending_task() -> None:
    assert [r async for r in ordered_map(instant, range(7), concurrency=3)] == [
        Result(key) for key in range(7)
    ]
    assert only_this_task_left()


async def test_an_unused_map_starts_nothing() -> None:
    calls = GatedCalls(limit=lambda: 2)
    ordered_map(calls, range(3), concurrency=2)
    assert calls.started == []
    assert only_this_task_left()


async def test_a_generator_key_source_is_closed_when_the_map_stops_early() -> None:
    closed = asyncio.Event()

    async def keys() -> AsyncIterator[int]:
        try:
            for key in range(100):
                yield key
        finally:
            closed.set()

    results = ordered_map(instant, keys(), concurrency=2)
    await anext(results)
    await results.aclose()
    assert closed.is_set()


async def test_a_sync_generator_key_source_is_closed_when_the_map_stops_early() -> None:
    closed: list[bool] = []

    def keys() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    results = ordered_map(instant, keys(), concurrency=2)
    await anext(results)
    await results.aclose()
    assert closed == [True]


async def test_handed_out_results_are_not_kept_by_the_engine() -> None:
    never: asyncio.Future[Result] = asyncio.get_running_loop().create_future()

    async def func(key: int) -> Result:
        return Result(key) if key == 0 else await never

    results = ordered_map(func, range(5), concurrency=2)
    async with contextlib.aclosing(results):
        # Awaited directly, not through a task: a done task would hold the result itself.
        first = await anext(results)
        alive = weakref.ref(first)
        del first
        gc.collect()
        assert alive() is None


# ordered_map: errors


async def test_a_key_source_error_is_raised_at_its_position() -> None:
    def keys() -> Iterator[int]:
        yield 0
        yield 1
        raise Boom("bad id")

    received: list[object] = []
    with pytest.raises(Boom, match="bad id"):
        await drain(ordered_map(instant, keys(), concurrency=4), received)
    assert received == [Result(0), Result(1)]


async def test_a_key_source_error_is_raised_even_if_its_type_is_yielded() -> None:
    def keys() -> Iterator[int]:
        yield 0
        raise Boom("bad id")

    received: list[object] = []
    with pytest.raises(Boom):
        await drain(ordered_map(instant, keys(), concurrency=2, yield_exceptions=(Boom,)), received)
    assert received == [Result(0)]


async def test_no_key_is_pulled_after_the_key_source_fails() -> None:
    class FailingOnce:
        def __init__(self) -> None:
            self.pulls = 0

        def __iter__(self) -> FailingOnce:
            return self

        def __next__(self) -> int:
            self.pulls += 1
            if self.pulls == 2:
                raise Boom("bad id")
            return self.pulls

    keys = FailingOnce()
    with pytest.raises(Boom):
        async for _ in ordered_map(instant, keys, concurrency=4):
            pass
    assert keys.pulls == 2


async def test_a_key_source_raising_cancelled_error_raises_it_after_earlier_results() -> None:
    async def keys() -> AsyncIterator[int]:
        yield 0
        raise asyncio.CancelledError

    received: list[object] = []
    with pytest.raises(asyncio.CancelledError):
        await drain(ordered_map(instant, keys(), concurrency=2), received)
    assert received == [Result(0)]


async def test_a_call_error_is_raised_at_its_position_and_the_rest_cancelled() -> None:
    calls = GatedCalls(limit=lambda: 4)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(10), concurrency=4), calls, received)
    )
    await calls.wait_until(lambda: len(calls.started) == 4)
    calls.finish(1, error=Boom("call 1"))
    calls.finish(2)
    calls.finish(0)
    with pytest.raises(Boom, match="call 1"):
        async with asyncio.timeout(HANG_GUARD):
            await consumer
    assert received == [Result(0)]
    assert 3 in calls.cancelled
    assert sorted(calls.cancelled) == calls.open_keys()
    assert only_this_task_left()


async def test_errors_of_calls_after_a_raised_one_are_retrieved() -> None:
    unretrieved: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unretrieved.append(context))
    calls = GatedCalls(limit=lambda: 3)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(3), concurrency=3), calls, received)
    )
    await calls.wait_until(lambda: len(calls.started) == 3)
    calls.finish(2, error=Boom("call 2"))  # fails after the one that is raised
    calls.finish(1, error=Boom("call 1"))
    calls.finish(0)
    with pytest.raises(Boom, match="call 1"):
        async with asyncio.timeout(HANG_GUARD):
            await consumer
    del consumer
    gc.collect()  # a task whose exception nobody retrieved complains when collected
    assert unretrieved == []


async def test_a_call_that_raises_before_returning_an_awaitable_fails_at_its_position() -> None:
    def func(key: int) -> Awaitable[Result]:
        if key == 1:
            raise Boom("sync")
        return instant(key)

    received: list[object] = []
    with pytest.raises(Boom, match="sync"):
        await drain(ordered_map(func, range(5), concurrency=3), received)
    assert received == [Result(0)]


async def test_a_call_ending_cancelled_by_itself_raises_cancelled_error_at_its_position() -> None:
    async def func(key: int) -> Result:
        if key == 1:
            raise asyncio.CancelledError
        return Result(key)

    received: list[object] = []
    with pytest.raises(asyncio.CancelledError):
        await drain(ordered_map(func, range(3), concurrency=3), received)
    assert received == [Result(0)]


async def test_yield_exceptions_yields_the_error_in_place_and_goes_on() -> None:
    async def func(key: int) -> Result:
        if key in (1, 3):
            raise Boom(str(key))
        return Result(key)

    outcomes = [
        o async for o in ordered_map(func, range(5), concurrency=2, yield_exceptions=(Boom,))
    ]
    assert [type(o).__name__ if isinstance(o, Boom) else o for o in outcomes] == [
        Result(0),
        "Boom",
        Result(2),
        "Boom",
        Result(4),
    ]
    assert [str(o) for o in outcomes if isinstance(o, Boom)] == ["1", "3"]


async def test_an_error_not_in_yield_exceptions_is_still_raised() -> None:
    async def func(key: int) -> Result:
        if key == 1:
            raise KeyError(key)
        return Result(key)

    with pytest.raises(KeyError):
        async for _ in ordered_map(func, range(3), concurrency=2, yield_exceptions=(Boom,)):
            pass
    assert only_this_task_left()


@pytest.mark.parametrize("concurrency", [0, -1, True, 1.5, "2"])
def test_invalid_concurrency_is_refused_when_called(concurrency: object) -> None:
    with pytest.raises(ValueError, match="concurrency="):
        # The wrong types are the point: this is what an untyped caller could pass.
        ordered_map(instant, range(3), concurrency=concurrency)  # type: ignore[call-overload]


# ordered_map: async key sources


async def test_a_blocking_async_key_source_does_not_stall_available_results() -> None:
    more_keys = asyncio.Event()

    async def keys() -> AsyncIterator[int]:
        yield 0
        yield 1
        await more_keys.wait()
        yield 2

    results = ordered_map(instant, keys(), concurrency=4)
    async with contextlib.aclosing(results), asyncio.timeout(HANG_GUARD):
        assert await anext(results) == Result(0)
        assert await anext(results) == Result(1)
        more_keys.set()
        assert [r async for r in results] == [Result(2)]


# Limiter


def test_limiter_starts_at_its_maximum_unless_told_otherwise() -> None:
    assert Limiter(8).limit == 8
    assert Limiter(8, initial=3).limit == 3


@pytest.mark.parametrize(("start", "after"), [(8, 4), (5, 2), (2, 1), (1, 1)])
def test_on_overload_halves_the_limit_with_floor_one(start: int, after: int) -> None:
    limiter = Limiter(start)
    limiter.on_overload()
    assert limiter.limit == after


def test_overloads_from_one_window_halve_the_limit_once() -> None:
    limiter = Limiter(8)
    for _ in range(8):  # the whole window of 8 calls reports a 429
        limiter.on_overload()
    assert limiter.limit == 4
    limiter.on_overload()  # a call sent under the new limit: a new signal
    assert limiter.limit == 2


def test_successes_of_the_old_window_spend_it_too() -> None:
    limiter = Limiter(8)
    limiter.on_overload()  # 8 -> 4; 7 calls of the old window still to report
    for _ in range(7):
        limiter.on_success()
    limiter.on_overload()
    assert limiter.limit == 2


def test_on_success_adds_one_after_limit_consecutive_successes() -> None:
    limiter = Limiter(10, initial=2)
    limiter.on_success()
    assert limiter.limit == 2
    limiter.on_success()
    assert limiter.limit == 3
    for _ in range(2):
        limiter.on_success()
    assert limiter.limit == 3
    limiter.on_success()
    assert limiter.limit == 4


def test_on_success_never_raises_the_limit_past_its_maximum() -> None:
    limiter = Limiter(3, initial=2)
    for _ in range(50):
        limiter.on_success()
    assert limiter.limit == 3
    assert limiter.maximum == 3


def test_an_overload_restarts_the_success_count() -> None:
    limiter = Limiter(10, initial=4)
    for _ in range(3):
        limiter.on_success()
    limiter.on_overload()  # 4 -> 2, and the 3 successes no longer count
    limiter.on_success()
    assert limiter.limit == 2
    limiter.on_success()
    assert limiter.limit == 3


@pytest.mark.parametrize(("maximum", "initial"), [(0, None), (True, None), (4, 0), (4, 5)])
def test_limiter_refuses_bad_bounds(maximum: int, initial: int | None) -> None:
    with pytest.raises(ValueError, match="is invalid"):
        Limiter(maximum, initial=initial)


def test_limiter_repr_shows_limit_and_maximum() -> None:
    assert repr(Limiter(6, initial=2)) == "Limiter(limit=2, maximum=6)"


async def test_a_lowered_limit_cancels_nothing_and_holds_new_starts() -> None:
    limiter = Limiter(4)
    calls = GatedCalls(limit=lambda: limiter.limit)
    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, range(8), concurrency=limiter), calls, received)
    )
    await calls.wait_until(lambda: len(calls.started) == 4)
    limiter.on_overload()  # 4 -> 2 with 4 in flight
    for _ in range(8):
        await calls.wait_until(lambda: bool(calls.open_keys()))
        calls.finish(calls.open_keys()[0])
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    assert calls.cancelled == []
    assert received == [Result(key) for key in range(8)]
    # Key 4 had to wait until only one result was outstanding: started with 3 received.
    assert calls.window_violations == []


async def test_a_limit_lowered_while_the_key_source_blocks_holds_the_pulled_key() -> None:
    limiter = Limiter(4)
    calls = GatedCalls(limit=lambda: limiter.limit)
    more_keys = asyncio.Event()

    async def keys() -> AsyncIterator[int]:
        yield 0
        yield 1
        await more_keys.wait()
        yield 2
        yield 3

    received: list[object] = []
    consumer = asyncio.create_task(
        consume(ordered_map(calls, keys(), concurrency=limiter), calls, received)
    )
    await calls.wait_until(lambda: len(calls.started) == 2)
    limiter.on_overload()  # 4 -> 2 while the feeder waits inside the key source
    more_keys.set()
    for _ in range(4):
        await calls.wait_until(lambda: bool(calls.open_keys()))
        calls.finish(calls.open_keys()[0])
    async with asyncio.timeout(HANG_GUARD):
        await consumer
    assert received == [Result(key) for key in range(4)]
    assert calls.window_violations == []


async def test_a_raised_limit_wakes_a_waiting_start() -> None:
    limiter = Limiter(4, initial=1)
    calls = GatedCalls(limit=lambda: limiter.limit)
    results = ordered_map(calls, range(8), concurrency=limiter)
    next_result = start_next(results)
    await calls.wait_until(lambda: calls.started == [0])
    limiter.on_success()  # 1 -> 2 while key 0 is still in flight
    await calls.wait_until(lambda: calls.started == [0, 1])
    calls.finish(0)
    assert await next_result == Result(0)
    await results.aclose()


# iterate_pages


class Page(NamedTuple):
    number: int
    items: tuple[int, ...]
    last_page: int | None


def page_info(page: Page) -> PageInfo:
    last = page.last_page
    return PageInfo(
        is_last=not page.items or (last is not None and page.number >= last), last_page=last
    )


class Listing(Watch):
    """A fake paged listing of ``total`` one-item pages, answering at once or when told.

    It records the pages requested, answered and cancelled, and which requests were made
    before any page had answered. A page is built when it answers, so ``total`` may change
    between pages (a growing or shrinking listing).
    """

    def __init__(
        self,
        total: int,
        *,
        gated: bool = False,
        reports_last_page: bool = True,
        make_page: Callable[[int], Page] | None = None,
    ) -> None:
        super().__init__()
        self.make_page = make_page
        self.total = total
        self.gated = gated
        self.reports_last_page = reports_last_page
        self.requested: list[int] = []
        self.answered: list[int] = []
        self.cancelled: list[int] = []
        self.yielded_numbers: list[int] = []
        self.requests_before_any_answer: list[int] = []
        self.on_answer: dict[int, Callable[[], None]] = {}
        self.fail: set[int] = set()
        self._gates: dict[int, asyncio.Future[None]] = {}

    @property
    def yielded(self) -> int:
        return len(self.yielded_numbers)

    def page(self, number: int) -> Page:
        if self.make_page is not None:
            return self.make_page(number)
        items = (number,) if number <= self.total else ()
        return Page(number, items, self.total if self.reports_last_page else None)

    def _gate(self, number: int) -> asyncio.Future[None]:
        if number not in self._gates:
            self._gates[number] = asyncio.get_running_loop().create_future()
        return self._gates[number]

    def answer(self, number: int) -> None:
        self._gate(number).set_result(None)

    def open_pages(self) -> list[int]:
        return [n for n in self.requested if not self._gate(n).done()]

    async def fetch_page(self, number: int) -> Page:
        self.requested.append(number)
        if not self.answered:
            self.requests_before_any_answer.append(number)
        self.notify()
        try:
            if self.gated:
                await self._gate(number)
        except asyncio.CancelledError:
            self.cancelled.append(number)
            raise
        if number in self.fail:
            raise Boom(f"page {number}")
        page = self.page(number)
        self.answered.append(number)
        if number in self.on_answer:
            self.on_answer[number]()
        return page


async def read_pages(
    listing: Listing, *, concurrency: int | Limiter, start_page: int = 1
) -> list[int]:
    numbers = []
    pages = iterate_pages(
        listing.fetch_page, start_page=start_page, concurrency=concurrency, page_info=page_info
    )
    async with asyncio.timeout(HANG_GUARD):
        async for number, page in pages:
            assert page.number == number
            numbers.append(number)
            listing.yielded_numbers.append(number)
            listing.notify()
    return numbers


async def test_ten_page_listing_at_concurrency_four_requests_exactly_pages_one_to_ten() -> None:
    listing = Listing(10)
    assert await read_pages(listing, concurrency=4) == list(range(1, 11))
    assert sorted(listing.requested) == list(range(1, 11))


async def test_the_first_wave_requests_concurrency_pages_before_any_answer() -> None:
    listing = Listing(10, gated=True)
    reader = asyncio.create_task(read_pages(listing, concurrency=4))
    await listing.wait_until(lambda: len(listing.requested) == 4)
    assert listing.requested == [1, 2, 3, 4]
    for number in range(1, 11):
        await listing.wait_until(functools.partial(operator.contains, listing.requested, number))
        listing.answer(number)
    async with asyncio.timeout(HANG_GUARD):
        assert await reader == list(range(1, 11))
    assert listing.requests_before_any_answer == [1, 2, 3, 4]


async def test_pages_come_out_in_order_when_they_answer_in_reverse() -> None:
    listing = Listing(4, gated=True)
    reader = asyncio.create_task(read_pages(listing, concurrency=4))
    await listing.wait_until(lambda: len(listing.requested) == 4)
    for number in (4, 3, 2, 1):
        listing.answer(number)
    async with asyncio.timeout(HANG_GUARD):
        assert await reader == [1, 2, 3, 4]


async def test_start_page_is_where_requests_and_pages_begin() -> None:
    listing = Listing(6)
    assert await read_pages(listing, concurrency=2, start_page=3) == [3, 4, 5, 6]
    assert sorted(listing.requested) == [3, 4, 5, 6]


async def test_a_limiter_sets_the_first_wave_to_its_current_limit() -> None:
    listing = Listing(10, gated=True)
    reader = asyncio.create_task(read_pages(listing, concurrency=Limiter(8, initial=2)))
    await listing.wait_until(lambda: len(listing.requested) == 2)
    listing.answer(1)
    listing.answer(2)
    await listing.wait_until(lambda: listing.yielded == 2)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert listing.requests_before_any_answer == [1, 2]


async def test_no_speculative_page_is_requested_once_a_page_has_answered() -> None:
    limiter = Limiter(4)
    listing = Listing(2, gated=True)
    pages = iterate_pages(
        listing.fetch_page, start_page=1, concurrency=limiter, page_info=page_info
    )  # a first wave of 4 pages...
    limiter.on_overload()  # ...of which only 2 may be out at once
    async with contextlib.aclosing(pages):
        first = start_next(pages)
        await listing.wait_until(lambda: len(listing.requested) == 2)
        listing.answer(1)  # says lastPage 2: page 3 is not known to exist, so never asked for
        assert (await first)[0] == 1
        listing.answer(2)
        assert [number async for number, _ in pages] == [2]
    assert listing.requested == [1, 2]


async def test_a_reported_last_page_lets_later_pages_go_before_earlier_ones_answer() -> None:
    listing = Listing(10, gated=True)
    reader = asyncio.create_task(read_pages(listing, concurrency=2))
    await listing.wait_until(lambda: len(listing.requested) == 2)
    listing.answer(1)  # lastPage 10: page 3 is known to exist while page 2 is still out
    await listing.wait_until(lambda: 3 in listing.requested)
    assert listing.open_pages() == [2, 3]
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader


async def test_speculative_pages_after_the_last_are_discarded_and_cancelled() -> None:
    listing = Listing(1, gated=True)
    reader = asyncio.create_task(read_pages(listing, concurrency=4))
    await listing.wait_until(lambda: len(listing.requested) == 4)
    listing.answer(3)
    listing.answer(2)
    listing.answer(1)
    async with asyncio.timeout(HANG_GUARD):
        assert await reader == [1]
    assert listing.cancelled == [4]
    assert only_this_task_left()


async def test_no_page_after_a_page_that_answered_last_is_requested() -> None:
    # Pages 1 and 2 say lastPage 10, but page 3 is empty: the listing ends there.
    listing = Listing(10, gated=True, make_page=lambda n: Page(n, (n,) if n < 3 else (), 10))
    reader = asyncio.create_task(read_pages(listing, concurrency=3))
    await listing.wait_until(lambda: len(listing.requested) == 3)
    listing.answer(3)
    listing.answer(1)  # frees a slot in the window while page 2 is still out
    await listing.wait_until(lambda: listing.yielded == 1)
    listing.answer(2)
    async with asyncio.timeout(HANG_GUARD):
        assert await reader == [1, 2, 3]
    assert listing.requested == [1, 2, 3]


async def test_a_growing_listing_keeps_going_past_the_first_pages_last_page() -> None:
    listing = Listing(3)
    listing.on_answer[2] = lambda: setattr(listing, "total", 5)
    assert await read_pages(listing, concurrency=2) == [1, 2, 3, 4, 5]


async def test_a_shrinking_listing_stops_at_its_first_empty_page() -> None:
    listing = Listing(5)
    listing.on_answer[2] = lambda: setattr(listing, "total", 2)
    # Pages 1 and 2 said lastPage 5; page 3 comes back empty and ends the listing.
    assert await read_pages(listing, concurrency=2) == [1, 2, 3]


async def test_a_listing_without_last_page_pages_on_next_until_a_last_page() -> None:
    listing = Listing(7, reports_last_page=False)
    assert await read_pages(listing, concurrency=3) == list(range(1, 9))
    assert sorted(listing.requested) == list(range(1, 9))


@pytest.mark.parametrize("reported_last_page", [0, 1])
async def test_an_empty_listing_yields_one_empty_page(reported_last_page: int) -> None:
    listing = Listing(0, make_page=lambda n: Page(n, (), reported_last_page))
    assert await read_pages(listing, concurrency=4) == [1]
    assert only_this_task_left()


async def test_a_failing_page_raises_at_its_position() -> None:
    listing = Listing(10)
    listing.fail.add(3)
    with pytest.raises(Boom, match="page 3"):
        await read_pages(listing, concurrency=4)
    assert listing.yielded_numbers == [1, 2]
    assert only_this_task_left()


@pytest.mark.parametrize(
    ("start_page", "concurrency", "name"),
    [(0, 2, "start_page"), (True, 2, "start_page"), (1, 0, "concurrency")],
)
def test_iterate_pages_refuses_bad_arguments_when_called(
    start_page: int, concurrency: int, name: str
) -> None:
    with pytest.raises(ValueError, match=f"{name}="):
        iterate_pages(
            Listing(1).fetch_page,
            start_page=start_page,
            concurrency=concurrency,
            page_info=page_info,
        )


async def _read_listing_in_completion_order(
    total: int, concurrency: int, rank: list[int]
) -> tuple[list[int], Listing]:
    listing = Listing(total, gated=True)
    reader = asyncio.create_task(read_pages(listing, concurrency=concurrency))
    reader.add_done_callback(lambda _: listing.notify())
    while not reader.done():
        await listing.wait_until(lambda: reader.done() or bool(listing.open_pages()))
        if not reader.done():
            # Pages beyond the listing's end may be requested; they rank after real ones.
            listing.answer(
                min(listing.open_pages(), key=lambda n: rank[n - 1] if n <= total else n)
            )
    return await reader, listing


listings = st.integers(0, 10).flatmap(
    lambda total: st.tuples(
        st.just(total), st.integers(1, 5), st.permutations(range(total)).map(list)
    )
)


@settings(deadline=None, max_examples=150, database=None)
@given(listings)
def test_iterate_pages_reads_every_page_once_and_nothing_past_the_end(
    case: tuple[int, int, list[int]],
) -> None:
    total, concurrency, rank = case
    numbers, listing = asyncio.run(_read_listing_in_completion_order(total, concurrency, rank))
    assert numbers == list(range(1, max(total, 1) + 1))
    assert len(listing.requested) == len(set(listing.requested))
    # Past the end only the speculative first wave may have asked.
    assert max(listing.requested) <= max(total, concurrency)
    assert all(n <= concurrency for n in listing.requested if n > max(total, 1))
