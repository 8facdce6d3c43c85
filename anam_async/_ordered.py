"""The ordered concurrent map that every listing and ``get_many`` runs on.

`ordered_map` awaits ``func(key)`` for every key with bounded concurrency and yields the
outcomes in key order, however the calls finish. `Limiter` holds the concurrency limit:
fixed, or adapted by AIMD when the caller reports overloads. Nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import Any, Generic, TypeVar, cast, overload

from ._validate import check_int

__all__ = ["Limiter", "ordered_map"]

K = TypeVar("K")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)


class Limiter:
    """A concurrency limit between 1 and ``maximum`` that adapts by AIMD.

    Policy (additive increase, multiplicative decrease, as in TCP congestion control):

    * `on_overload` halves the limit at once (floor 1) and restarts the success count:
      the server said "too much", so back off hard. Once per window: the calls that were
      in flight when the limit was halved (up to the old limit, less one) were sent under
      the old limit, so their reports (overloads or successes) spend that window and an
      overload among them halves nothing more. A burst of 429s from one window is one
      signal, as in TCP, not a collapse to 1.
    * `on_success` counts consecutive successes; after ``limit`` of them the limit grows
      by 1 (cap ``maximum``): about one step per window's worth of good answers.

    The limit only gates new starts. Lowering it below the number of calls in flight cancels
    nothing; new calls wait until the window has drained below it. Raising it wakes the
    engines that wait for room. Several `ordered_map` runs may share one limiter: they
    share the learned limit, and each applies it to its own window.

    The engine never calls `on_success` or `on_overload` itself; whoever knows what
    an overload is (a 429 seen by the retry layer, say) reports it. Not thread-safe: use it
    from the event loop's thread.

    Args:
        maximum: The highest limit, and the limit to start at unless ``initial`` is given.
        initial: The starting limit, in ``1..maximum``.

    Raises:
        AnamValidationError: ``maximum`` is not an int >= 1, or ``initial`` is not in
            ``1..maximum`` (a ``ValueError``).
    """

    __slots__ = ("_limit", "_listeners", "_maximum", "_stale", "_successes")

    def __init__(self, maximum: int, *, initial: int | None = None) -> None:
        check_int("maximum", maximum, 1)
        if initial is None:
            initial = maximum
        else:
            check_int("initial", initial, 1, maximum)
        self._maximum = maximum
        self._limit = initial
        self._successes = 0
        # Reports still expected from calls sent before the last decrease.
        self._stale = 0
        # Wake-up callbacks of the engines currently waiting on this limit to rise.
        self._listeners: set[Callable[[], None]] = set()

    @property
    def limit(self) -> int:
        """The current limit: how many calls an engine may have started and not handed out."""
        return self._limit

    @property
    def maximum(self) -> int:
        """The cap that additive increase never exceeds."""
        return self._maximum

    def on_success(self) -> None:
        """Record one success; after ``limit`` in a row, raise the limit by 1 (up to maximum)."""
        if self._stale:
            self._stale -= 1
        self._successes += 1
        if self._successes < self._limit:
            return
        self._successes = 0
        if self._limit < self._maximum:
            self._limit += 1
            for wake in tuple(self._listeners):
                wake()

    def on_overload(self) -> None:
        """Record an overload: halve the limit (floor 1) and restart the success count.

        An overload reported by a call of the window already halved for is only counted off.
        """
        if self._stale:
            self._stale -= 1
            return
        self._successes = 0
        self._stale = self._limit - 1
        self._limit = max(1, self._limit // 2)

    def __repr__(self) -> str:
        return f"Limiter(limit={self._limit}, maximum={self._maximum})"


class _KeySourceFailed:
    """Marker queued where pulling the next key raised: the error belongs at that position."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _KeysExhausted:
    """Marker queued after the last key's call: the natural end."""

    __slots__ = ()


_EXHAUSTED = _KeysExhausted()


def _exception_of(task: asyncio.Task[Any]) -> BaseException | None:
    """The exception a finished task ended with (CancelledError included), else None."""
    try:
        return task.exception()
    except asyncio.CancelledError as cancelled:
        return cancelled


def _outcome(task: asyncio.Task[R]) -> R | BaseException:
    error = _exception_of(task)
    return task.result() if error is None else error


async def _await_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until every task is done, even if the waiting task is cancelled meanwhile.

    Raises:
        asyncio.CancelledError: The waiting task was cancelled while it waited; raised only
            once every task is done, so that no task outlives the engine.
    """
    interrupted: asyncio.CancelledError | None = None
    while unfinished := [task for task in tasks if not task.done()]:
        try:
            await asyncio.wait(unfinished)
        except asyncio.CancelledError as error:
            # The tasks were cancelled already and finish soon; leaving now would leave them
            # pending (and their exceptions unretrieved), so wait, then pass the cancel on.
            interrupted = error
    for task in tasks:
        if not task.cancelled():
            # Marks the exception of a call that failed after the one raised (or while the
            # consumer left) as retrieved: no "exception was never retrieved" log. CPython's
            # cancel() of a finished task happens to do the same; this does not rely on it.
            task.exception()
    if interrupted is not None:
        raise interrupted


class _OrderedMap(Generic[K, R]):
    """One run of `ordered_map`: a feeder task, one task per key, and the consumer.

    Invariants:

    * ``_pending`` holds, in key order, every call task not yet handed out, then possibly one
      marker (``_KeySourceFailed`` or ``_EXHAUSTED``) after which the feeder adds nothing.
    * ``_window`` is the number of tasks started and not yet handed out; the feeder starts a
      call only while ``_window < limiter.limit``, and the consumer decrements it the moment
      it yields. Hence at most ``limit`` calls in flight plus results buffered, together.
    * Only the consumer (the generator's frame) removes from ``_pending``; only the feeder
      appends. Both run on one loop, so neither needs a lock.
    """

    __slots__ = (
        "_consumer_waiter",
        "_feeder_waiter",
        "_func",
        "_is_last",
        "_keys",
        "_limiter",
        "_pending",
        "_window",
        "_yield_exceptions",
    )

    def __init__(
        self,
        func: Callable[[K], Awaitable[R]],
        keys: Iterable[K] | AsyncIterable[K],
        limiter: Limiter,
        is_last: Callable[[R], bool] | None,
        yield_exceptions: tuple[type[BaseException], ...],
    ) -> None:
        self._func = func
        self._keys = keys
        self._limiter = limiter
        self._is_last = is_last
        self._yield_exceptions = yield_exceptions
        self._pending: deque[asyncio.Task[R] | _KeySourceFailed | _KeysExhausted] = deque()
        self._window = 0
        self._consumer_waiter: asyncio.Future[None] | None = None
        self._feeder_waiter: asyncio.Future[None] | None = None

    def _wake_consumer(self, _: object = None) -> None:
        waiter = self._consumer_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_feeder(self) -> None:
        waiter = self._feeder_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _consumer_sleep(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._consumer_waiter = waiter
        try:
            await waiter
        finally:
            self._consumer_waiter = None

    async def _wait_for_room(self) -> None:
        # A loop, not a single wait: a wake-up (limit raised, result handed out) may still
        # leave the window full if the limit was lowered meanwhile.
        while self._window >= self._limiter.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._feeder_waiter = waiter
            try:
                await waiter
            finally:
                self._feeder_waiter = None

    def _push(self, item: asyncio.Task[R] | _KeySourceFailed | _KeysExhausted) -> None:
        was_empty = not self._pending
        self._pending.append(item)
        # The consumer sleeps on an empty queue or on the head task; only the former needs
        # this wake-up (the head task wakes it through its own done callback).
        if was_empty:
            self._wake_consumer()

    async def _call(self, key: K) -> R:
        # Inside the task, so that a func that raises before returning an awaitable fails at
        # its key's position like any other call.
        return await self._func(key)

    async def _feed(self) -> None:
        """Pull keys lazily and start one task per key while the window has room."""
        keys = self._keys
        async_keys: AsyncIterator[K] | None = None
        sync_keys: Iterator[K] = iter(())
        if isinstance(keys, AsyncIterable):
            async_keys = aiter(keys)
        else:
            sync_keys = iter(keys)
        finished = False
        try:
            while True:
                # Room first, key second: a key is pulled (and, for get_many, validated) only
                # when its call can start, which keeps the lookahead at exactly the window.
                await self._wait_for_room()
                try:
                    key = next(sync_keys) if async_keys is None else await anext(async_keys)
                except (StopIteration, StopAsyncIteration):
                    finished = True
                    self._push(_EXHAUSTED)
                    return
                except Exception as error:
                    finished = True
                    self._push(_KeySourceFailed(error))
                    return
                # The limit may have dropped while an async key source was blocked.
                await self._wait_for_room()
                self._window += 1
                self._push(asyncio.get_running_loop().create_task(self._call(key)))
        finally:
            if not finished:
                # Stopped early (cancelled): run a generator source's cleanup now, in this
                # task, rather than at garbage collection in a task nobody awaits.
                if inspect.isasyncgen(async_keys):
                    await async_keys.aclose()
                elif inspect.isgenerator(sync_keys):
                    sync_keys.close()

    def _cancel_after_head(self, feeder: asyncio.Task[None]) -> None:
        feeder.cancel()
        for index, item in enumerate(self._pending):
            if index and isinstance(item, asyncio.Task):
                item.cancel()

    async def _shutdown(self, feeder: asyncio.Task[None]) -> None:
        self._limiter._listeners.discard(self._wake_feeder)
        tasks: list[asyncio.Task[Any]] = [t for t in self._pending if isinstance(t, asyncio.Task)]
        self._pending.clear()
        tasks.append(feeder)
        for task in tasks:
            task.cancel()
        await _await_all(tasks)

    async def run(self) -> AsyncGenerator[R | BaseException, None]:
        """Yield each key's outcome in key order; see `ordered_map` for the contract."""
        feeder = asyncio.get_running_loop().create_task(self._feed())
        # A feeder that ends without a marker (cancelled from outside, or a key source that
        # raised CancelledError) must still wake a consumer sleeping on the empty queue.
        feeder.add_done_callback(self._wake_consumer)
        self._limiter._listeners.add(self._wake_feeder)
        pending = self._pending
        is_last = self._is_last
        yield_exceptions = self._yield_exceptions
        try:
            while True:
                if not pending:
                    if feeder.done():
                        feeder.result()
                        return
                    await self._consumer_sleep()
                    continue
                head = pending[0]
                if not isinstance(head, asyncio.Task):
                    if isinstance(head, _KeySourceFailed):
                        raise head.error
                    return
                if not head.done():
                    head.add_done_callback(self._wake_consumer)
                    try:
                        await self._consumer_sleep()
                    finally:
                        head.remove_done_callback(self._wake_consumer)
                    continue
                error = _exception_of(head)
                if error is not None and not isinstance(error, yield_exceptions):
                    # Leaves via finally, which cancels and awaits everything after it.
                    raise error
                last = error is None and is_last is not None and is_last(head.result())
                del head, error
                if last:
                    # Stop pulling keys and cancel the calls after this one now, while the
                    # consumer still holds the last result; finally awaits them.
                    self._cancel_after_head(feeder)
                else:
                    # Handed out from here on: the window has room for one more call.
                    self._window -= 1
                    if self._feeder_waiter is not None:
                        self._wake_feeder()
                # Popped inside the yield expression, so that once the consumer drops the
                # result nothing in this frame keeps it alive.
                yield _outcome(cast("asyncio.Task[R]", pending.popleft()))
                if last:
                    return
        finally:
            await self._shutdown(feeder)


@overload
def ordered_map(
    func: Callable[[K], Awaitable[R]],
    keys: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int | Limiter,
    is_last: Callable[[R], bool] | None = ...,
) -> AsyncGenerator[R, None]: ...


@overload
def ordered_map(
    func: Callable[[K], Awaitable[R]],
    keys: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int | Limiter,
    is_last: Callable[[R], bool] | None = ...,
    yield_exceptions: tuple[type[E], ...],
) -> AsyncGenerator[R | E, None]: ...


def ordered_map(
    func: Callable[[K], Awaitable[R]],
    keys: Iterable[K] | AsyncIterable[K],
    *,
    concurrency: int | Limiter,
    is_last: Callable[[R], bool] | None = None,
    yield_exceptions: tuple[type[BaseException], ...] = (),
) -> AsyncGenerator[R | BaseException, None]:
    """Await ``func(key)`` for each key, concurrently, and yield the outcomes in key order.

    A feeder task pulls keys lazily, concurrently with the consumer, and starts one task per
    key while the window has room. The window is the number of keys whose call has started
    and whose outcome has not been yielded yet; it never exceeds the concurrency limit, and an
    outcome leaves the window the moment it is yielded. So while the consumer holds the
    outcome of key ``k``, calls up to key ``k + limit`` may have started, never beyond.

    Errors:

    * A call that raises an instance of one of ``yield_exceptions`` has that exception
      yielded in its key's place, and the iteration goes on.
    * Any other exception from a call is raised at its key's position: every earlier outcome
      has been yielded, none after it.
    * An exception raised while pulling a key is raised at that position too, and no further
      key is pulled. It is always raised, even if its type is in ``yield_exceptions``: a key
      source that fails has no more keys to give.

    Ending: at the key whose result satisfies ``is_last`` (that result is yielded, later calls
    are cancelled and their results discarded), at the end of the keys, or at an exception.
    Leaving early (``aclose()``, ``break`` followed by finalisation, the consuming task
    cancelled) works the same way: every task the engine made (the feeder and the calls) is
    cancelled and awaited before the generator finishes closing. A key source that is a
    generator (sync or async) and was not exhausted is closed then too. A call that ignores
    cancellation delays that close until it ends.

    The engine keeps no reference to an outcome once it is yielded. It validates its own
    arguments when called; the iteration (and any call) starts at the first ``__anext__``.

    Args:
        func: The call to make for each key.
        keys: The keys, an iterable or an async iterable; pulled only when their call can
            start.
        concurrency: A fixed limit (int >= 1), or a `Limiter` read before every start.
        is_last: Called on each result (never on a yielded exception) in key order; True ends
            the iteration after that result.
        yield_exceptions: Exception types yielded in place of a result instead of raised.

    Returns:
        An async generator of the outcomes, in key order.

    Raises:
        AnamValidationError: ``concurrency`` is neither an int >= 1 nor a `Limiter` (raised by
            this call, before any iteration).
    """
    if isinstance(concurrency, Limiter):
        limiter = concurrency
    else:
        check_int("concurrency", concurrency, 1)
        limiter = Limiter(concurrency)
    return _OrderedMap(func, keys, limiter, is_last, yield_exceptions).run()
