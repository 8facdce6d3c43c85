"""The retry policy of ``anam_async._retry``: backoff bounds, server waits, decision tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from multidict import CIMultiDict

from anam_async._retry import backoff, decide_error, decide_status, retry_after_seconds

RETRYABLE = [408, 429, 500, 502, 503, 504]
NEVER_RETRIED = [400, 401, 403, 404, 409, 422, 302, 501, 505]
JUST_BELOW_ONE = 1.0 - 2**-53
NOW = datetime(2026, 4, 20, 10, 0, 0, tzinfo=UTC)


def _ceiling(n: int) -> float:
    return min(8.0, 0.5 * 2 ** (n - 1))


def _headers(**pairs: str) -> CIMultiDict[str]:
    return CIMultiDict((name.replace("_", "-"), value) for name, value in pairs.items())


# ---------------------------------------------------------------------------------------------
# backoff


@pytest.mark.parametrize("n", range(1, 11))
def test_backoff_with_rand_zero_is_half_the_ceiling(n: int) -> None:
    assert backoff(n, lambda: 0.0) == pytest.approx(_ceiling(n) / 2)


@pytest.mark.parametrize("n", range(1, 11))
def test_backoff_with_rand_just_below_one_is_within_the_ceiling(n: int) -> None:
    wait = backoff(n, lambda: JUST_BELOW_ONE)
    assert _ceiling(n) / 2 <= wait <= _ceiling(n)
    assert wait == pytest.approx(_ceiling(n))


@pytest.mark.parametrize(
    ("n", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (10, 8.0)]
)
def test_backoff_ceiling_doubles_then_caps_at_eight_seconds(n: int, ceiling: float) -> None:
    assert backoff(n, lambda: JUST_BELOW_ONE) == pytest.approx(ceiling)


@pytest.mark.parametrize("n", range(1, 11))
def test_backoff_with_default_jitter_stays_in_bounds(n: int) -> None:
    for _ in range(50):
        assert _ceiling(n) / 2 <= backoff(n) <= _ceiling(n)


@pytest.mark.parametrize("n", [64, 1024, 1100, 5000])
def test_backoff_for_a_very_late_retry_is_capped_not_an_overflow(n: int) -> None:
    """max_retries has no upper bound, so the n-th wait must exist for any n: b = 8."""
    assert 4.0 <= backoff(n, lambda: 0.5) <= 8.0


# ---------------------------------------------------------------------------------------------
# retry_after_seconds


def test_no_retry_headers_means_no_server_wait() -> None:
    assert retry_after_seconds(_headers()) is None


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ("5", 5.0), ("1.5", 1.5), ("120", 120.0)]
)
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(_headers(Retry_After=value)) == seconds


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("1500", 1.5), ("250.5", 0.2505)])
def test_retry_after_ms_in_milliseconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(_headers(retry_after_ms=value)) == pytest.approx(seconds)


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = _headers(Retry_After="30", retry_after_ms="2000")
    assert retry_after_seconds(headers) == pytest.approx(2.0)


def test_header_names_are_case_insensitive_as_aiohttp_gives_them() -> None:
    assert retry_after_seconds(CIMultiDict({"RETRY-AFTER": "7"})) == 7.0
    assert retry_after_seconds({"retry-after": "7"}) == 7.0


def test_retry_after_http_date_in_the_future_is_the_seconds_until_then() -> None:
    header = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(_headers(Retry_After=header), now=NOW) == pytest.approx(30.0)


def test_retry_after_http_date_in_the_past_means_no_wait() -> None:
    header = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds(_headers(Retry_After=header), now=NOW) == 0.0


def test_retry_after_http_date_with_numeric_offset() -> None:
    header = "Mon, 20 Apr 2026 12:01:00 +0200"  # 10:01:00 UTC
    assert retry_after_seconds(_headers(Retry_After=header), now=NOW) == pytest.approx(60.0)


@pytest.mark.parametrize(
    "value", ["-1", "-0.5", "nan", "NaN", "inf", "-inf", "1e400", "soon", "", "5 seconds", "1,5"]
)
def test_unreadable_retry_after_is_ignored(value: str) -> None:
    assert retry_after_seconds(_headers(Retry_After=value), now=NOW) is None


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "garbage", ""])
def test_unreadable_retry_after_ms_falls_back_to_retry_after(value: str) -> None:
    headers = _headers(retry_after_ms=value, Retry_After="4")
    assert retry_after_seconds(headers, now=NOW) == 4.0


@pytest.mark.parametrize("value", ["-1", "nan", "garbage"])
def test_unreadable_retry_after_ms_alone_is_ignored(value: str) -> None:
    assert retry_after_seconds(_headers(retry_after_ms=value), now=NOW) is None


# ---------------------------------------------------------------------------------------------
# decide_status


def _status(
    status: int,
    retry_after: float | None = None,
    *,
    idempotent: bool = True,
    retries_done: int = 0,
    max_retries: int = 2,
    rand: float = 0.0,
):  # type: ignore[no-untyped-def]
    return decide_status(
        status,
        retry_after,
        idempotent=idempotent,
        retries_done=retries_done,
        max_retries=max_retries,
        rand=lambda: rand,
    )


@pytest.mark.parametrize("status", RETRYABLE)
def test_retryable_status_is_retried_for_idempotent_requests(status: int) -> None:
    assert _status(status, idempotent=True).retry is True


@pytest.mark.parametrize(("status", "retried"), [(s, s == 429) for s in RETRYABLE])
def test_post_is_retried_on_429_only(status: int, retried: bool) -> None:
    assert _status(status, idempotent=False).retry is retried


@pytest.mark.parametrize("idempotent", [True, False])
@pytest.mark.parametrize("status", NEVER_RETRIED)
def test_other_statuses_are_never_retried(status: int, idempotent: bool) -> None:
    decision = _status(status, idempotent=idempotent)
    assert decision.retry is False
    assert decision.pause_client is False


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried_even_with_a_short_retry_after(status: int) -> None:
    assert _status(status, 1.0).retry is False


@pytest.mark.parametrize(
    ("retries_done", "max_retries", "retried"),
    [
        (0, 0, False),
        (0, 1, True),
        (1, 1, False),
        (0, 2, True),
        (1, 2, True),
        (2, 2, False),
        (3, 2, False),
        (9, 10, True),
        (10, 10, False),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_status_retries_end_at_max_retries(
    status: int, retries_done: int, max_retries: int, retried: bool
) -> None:
    decision = _status(status, retries_done=retries_done, max_retries=max_retries)
    assert decision.retry is retried


@pytest.mark.parametrize("retries_done", [0, 1, 2, 3, 4, 5])
def test_without_a_server_wait_the_status_wait_is_the_nth_backoff(retries_done: int) -> None:
    decision = _status(503, retries_done=retries_done, max_retries=10, rand=0.0)
    assert decision.wait == pytest.approx(_ceiling(retries_done + 1) / 2)


@pytest.mark.parametrize("retry_after", [0.0, 0.25, 12.5, 59.9, 60.0])
@pytest.mark.parametrize("status", RETRYABLE)
def test_server_wait_up_to_sixty_seconds_replaces_the_backoff(
    status: int, retry_after: float
) -> None:
    decision = _status(status, retry_after, rand=0.999)
    assert decision.retry is True
    assert decision.wait == retry_after


@pytest.mark.parametrize("retry_after", [60.001, 61.0, 3600.0])
@pytest.mark.parametrize(("status", "idempotent"), [*((s, True) for s in RETRYABLE), (429, False)])
def test_server_wait_over_sixty_seconds_stops_retries_for_any_status(
    status: int, idempotent: bool, retry_after: float
) -> None:
    decision = _status(status, retry_after, idempotent=idempotent)
    assert decision.retry is False
    assert decision.pause_client is False


@pytest.mark.parametrize("retry_after", [None, 3.0])
@pytest.mark.parametrize(("status", "pauses"), [(s, s == 429) for s in RETRYABLE])
def test_only_a_retried_429_pauses_the_client(
    status: int, pauses: bool, retry_after: float | None
) -> None:
    decision = _status(status, retry_after)
    assert decision.retry is True
    assert decision.pause_client is pauses


def test_a_429_on_post_that_is_retried_pauses_the_client() -> None:
    decision = _status(429, 2.0, idempotent=False)
    assert (decision.retry, decision.wait, decision.pause_client) == (True, 2.0, True)


def test_an_exhausted_429_pauses_nothing() -> None:
    decision = _status(429, 2.0, retries_done=2, max_retries=2)
    assert decision.retry is False
    assert decision.pause_client is False


def test_a_stop_decision_waits_zero() -> None:
    assert _status(404).wait == 0.0


# ---------------------------------------------------------------------------------------------
# decide_error


def _error(*, sent: bool, idempotent: bool, retries_done: int = 0, max_retries: int = 2):  # type: ignore[no-untyped-def]
    return decide_error(
        sent=sent,
        idempotent=idempotent,
        retries_done=retries_done,
        max_retries=max_retries,
        reason="connection reset",
        rand=lambda: 0.0,
    )


@pytest.mark.parametrize(
    ("sent", "idempotent", "retried"),
    [(False, True, True), (False, False, True), (True, True, True), (True, False, False)],
)
def test_connection_error_retry_table(sent: bool, idempotent: bool, retried: bool) -> None:
    assert _error(sent=sent, idempotent=idempotent).retry is retried


@pytest.mark.parametrize(
    ("retries_done", "max_retries", "retried"),
    [(0, 0, False), (0, 1, True), (1, 1, False), (1, 2, True), (2, 2, False), (5, 2, False)],
)
@pytest.mark.parametrize(("sent", "idempotent"), [(False, False), (True, True), (False, True)])
def test_connection_error_retries_end_at_max_retries(
    sent: bool, idempotent: bool, retries_done: int, max_retries: int, retried: bool
) -> None:
    decision = _error(
        sent=sent, idempotent=idempotent, retries_done=retries_done, max_retries=max_retries
    )
    assert decision.retry is retried


@pytest.mark.parametrize("retries_done", [0, 1, 2, 3, 4])
def test_connection_error_waits_the_nth_backoff_and_never_pauses_the_client(
    retries_done: int,
) -> None:
    decision = _error(sent=True, idempotent=True, retries_done=retries_done, max_retries=10)
    assert decision.wait == pytest.approx(_ceiling(retries_done + 1) / 2)
    assert decision.pause_client is False


def test_connection_error_decision_carries_the_reason() -> None:
    assert _error(sent=False, idempotent=True).reason == "connection reset"
