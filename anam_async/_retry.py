"""The retry policy, as pure decisions: retry this outcome or not, and how long to wait first.

The whole policy is here:

- Retried: connection errors (a body cut short included), timeouts, and the statuses 408,
  429, 500, 502, 503 and 504, for idempotent requests (GET, PUT). A POST is retried only on
  429 and on errors raised before the request was sent (failure to connect, connect timeout):
  a create is never sent twice by accident.
- Never retried: any other status (400, 401, 403, 404, ...), bodies that do not decode or
  exceed ``max_response_bytes`` (the transport raises those as ``APIResponseValidationError``,
  which is not a connection error), and errors that are not transient (a TLS certificate that
  does not verify, a failed TLS handshake): ``decide_error`` stops on ``transient=False``.
- The n-th wait is uniform in [b/2, b] with b = min(8, 0.5 * 2 ** (n - 1)) seconds.
- ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP date), replaces that wait when
  it is at most 60 s; a longer one ends the retries at once, whatever the status.
- A 429 whose wait is taken pauses the whole client for that wait (`ClientPause`): no
  request of that client starts before it is over.
- Overload, which makes a stream lower its concurrency: 429 and 503 (`is_overload`).
- A DELETE that meets a 404 on a retry, after an earlier attempt that may have reached the
  server (a connection error once the request was sent, a 5xx), has removed its target all
  the same (`gone_anyway`).

`set_testing` turns every wait off (the documented switch for tests, as stamina's): the
decisions are the same, the client just does not wait them out.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Final

__all__ = [
    "MAX_HONOURED_WAIT",
    "OVERLOAD_STATUSES",
    "RETRYABLE_STATUSES",
    "ClientPause",
    "Decision",
    "WaitSetting",
    "backoff",
    "decide_error",
    "decide_status",
    "gone_anyway",
    "is_overload",
    "is_testing",
    "may_have_landed",
    "retry_after_seconds",
    "set_testing",
    "wait",
]

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
#: The statuses that say "too much": a stream halves its concurrency on each (AIMD).
OVERLOAD_STATUSES: Final = frozenset({429, 503})
MAX_HONOURED_WAIT: Final = 60.0
_MAX_BACKOFF: Final = 8.0
_FIRST_BACKOFF: Final = 0.5
_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failed attempt.

    Attributes:
        retry: Whether to make another attempt.
        wait: Seconds to wait before it (0 when not retrying).
        pause_client: Whether the wait holds back every request of the client (a 429).
        reason: Why, for the log line.
    """

    retry: bool
    wait: float = 0.0
    pause_client: bool = False
    reason: str = ""


STOP: Final = Decision(retry=False)


def backoff(retry_number: int, rand: Callable[[], float] = random.random) -> float:
    """The jittered wait before retry number ``retry_number`` (1 for the first retry)."""
    # The exponent is capped so that a large retry number cannot overflow the float.
    ceiling = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2.0 ** min(retry_number - 1, 64))
    return ceiling / 2 + (ceiling / 2) * rand()


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The wait the server asked for, in seconds, or None when it asked for none we can read.

    ``retry-after-ms`` wins over ``Retry-After``; ``Retry-After`` is a number of seconds or an
    HTTP date (a date in the past means 0). A wait too large for a float (a number of
    hundreds of digits, a date far in the future) is ``math.inf``: it is still "longer than
    60 s", so retries end. Anything else (negative, "inf", "nan", garbage) is ignored.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        ms = _number(raw_ms)
        if ms is not None:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    except OverflowError:
        return math.inf


def _number(text: str) -> float | None:
    """The header's decimal number (``inf`` when too large for a float), else None.

    Only digits with an optional fraction: ``float()`` alone would also take "inf", "nan",
    "1e400" and "-5", none of which a server means as a wait.
    """
    if _DECIMAL.fullmatch(text.strip()) is None:
        return None
    return float(text)


def decide_status(
    status: int,
    retry_after: float | None,
    *,
    idempotent: bool,
    retries_done: int,
    max_retries: int,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Decide about a non-2xx response.

    Args:
        status: The HTTP status.
        retry_after: The server's requested wait (``retry_after_seconds``), or None.
        idempotent: False for POST.
        retries_done: Retries already made for this call.
        max_retries: The client's ``max_retries``.
        rand: The source of jitter, in [0, 1).
    """
    if status not in RETRYABLE_STATUSES or retries_done >= max_retries:
        return STOP
    if not idempotent and status != 429:
        return STOP
    if retry_after is not None:
        if retry_after > MAX_HONOURED_WAIT:
            return STOP
        wait = retry_after
    else:
        wait = backoff(retries_done + 1, rand)
    return Decision(retry=True, wait=wait, pause_client=status == 429, reason=f"HTTP {status}")


def decide_error(
    *,
    sent: bool,
    idempotent: bool,
    retries_done: int,
    max_retries: int,
    reason: str,
    transient: bool = True,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Decide about a connection error or timeout.

    Args:
        sent: Whether the request may have reached the server.
        idempotent: False for POST, which is retried only when ``sent`` is False.
        retries_done: Retries already made for this call.
        max_retries: The client's ``max_retries``.
        reason: The error, for the log line.
        transient: False when trying again cannot help (``APIConnectionError.transient``):
            never retried, whatever the method.
        rand: The source of jitter, in [0, 1).
    """
    if not transient or retries_done >= max_retries or (sent and not idempotent):
        return STOP
    return Decision(retry=True, wait=backoff(retries_done + 1, rand), reason=reason)


def is_overload(status: int) -> bool:
    """Whether a retried ``status`` says the server is overloaded (429, 503)."""
    return status in OVERLOAD_STATUSES


def may_have_landed(status: int) -> bool:
    """Whether a failed attempt that got ``status`` may still have done its work.

    A 5xx may come after the work was done; a 408 or 429 says it was not.
    """
    return status >= 500


def gone_anyway(method: str, status: int, *, landed_before: bool) -> bool:
    """Whether a final ``status`` to ``method`` means success all the same.

    A DELETE answered 404 after an earlier attempt that may have landed: the target is gone
    either way, and saying "not found" would report a failure that did not happen.
    """
    return method == "DELETE" and status == 404 and landed_before


# ------------------------------------------------------------------------------------------
# Waiting, and the switch that turns it off for tests.


class WaitSetting:
    """What `set_testing` set; restores the earlier setting when used as a context manager."""

    __slots__ = ("_previous", "on_wait", "testing")

    def __init__(
        self,
        testing: bool,
        on_wait: Callable[[float], object] | None,
        previous: WaitSetting | None = None,
    ) -> None:
        """Hold a setting; made by `set_testing`, not directly."""
        self.testing = testing
        self.on_wait = on_wait
        self._previous = previous

    def __repr__(self) -> str:
        """Show the setting: ``WaitSetting(testing=True, on_wait=...)``."""
        return f"WaitSetting(testing={self.testing!r}, on_wait={self.on_wait!r})"

    def __enter__(self) -> WaitSetting:
        """Return the setting itself; the earlier one comes back on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Put back the setting that was in force before this one."""
        global _mode
        if self._previous is not None:
            _mode = self._previous


_mode = WaitSetting(False, None)


def set_testing(testing: bool, *, on_wait: Callable[[float], object] | None = None) -> WaitSetting:
    """Turn the client's waits off (``True``) or back on, process-wide.

    With testing on, every wait the client would make (a retry's backoff, a ``Retry-After``,
    the client-wide pause after a 429) returns at once, after calling ``on_wait(seconds)``:
    retries, their order and their number are unchanged, only the time is gone. Use it as a
    context manager to restore the earlier setting on exit, or call it alone.

    Args:
        testing: Whether waits are skipped.
        on_wait: Called with each skipped wait, in seconds (testing on only), to check them.

    Returns:
        A context manager that puts the earlier setting back.
    """
    global _mode
    if not isinstance(testing, bool):
        raise TypeError(f"testing={testing!r} is invalid: must be a bool")
    previous = _mode
    _mode = WaitSetting(testing, on_wait if testing else None, previous)
    return _mode


def is_testing() -> bool:
    """Whether `set_testing` turned the waits off."""
    return _mode.testing


async def wait(seconds: float) -> None:
    """Wait ``seconds``, or, with testing on, report the wait and only yield to the loop."""
    mode = _mode
    if not mode.testing:
        await asyncio.sleep(seconds)
        return
    if mode.on_wait is not None:
        mode.on_wait(seconds)
    await asyncio.sleep(0)


class ClientPause:
    """The client-wide pause after a 429: no request of the client starts before it ends."""

    __slots__ = ("_until",)

    def __init__(self) -> None:
        # Loop time before which no request starts.
        self._until = 0.0

    def extend(self, seconds: float, now: float) -> None:
        """Pause until ``now + seconds`` at least (a pause never shrinks)."""
        self._until = max(self._until, now + seconds)

    def active(self, now: float) -> bool:
        """Whether a pause is running at loop time ``now`` (checked before awaiting one)."""
        return self._until > now

    async def wait_out(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once the pause is over, waiting again if another 429 extended it."""
        while True:
            until = self._until
            delay = until - loop.time()
            if delay <= 0:
                return
            await wait(delay)
            # One wait covers the pause as it stood; only an extension calls for another.
            # (The clock is not read again: with testing on, waits take no time.)
            if self._until == until:
                return
