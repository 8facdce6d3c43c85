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
- A 429 whose wait is taken pauses the whole client for that wait.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = [
    "MAX_HONOURED_WAIT",
    "RETRYABLE_STATUSES",
    "Decision",
    "backoff",
    "decide_error",
    "decide_status",
    "retry_after_seconds",
]

RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
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
