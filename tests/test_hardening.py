"""Edge cases found in review: odd headers, borrowed sessions, broken servers, odd input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from anam_async import (
    AnamClient,
    AnamError,
    AnamValidationError,
    APIResponseValidationError,
    AuthenticationError,
    NotFoundError,
    PersonaShareLink,
    RateLimitError,
)
from anam_async._retry import retry_after_seconds, set_testing
from anam_async.testing import FakeAnamAPI, MalformedFault, StatusFault

from .conftest import SleepRecorder

# -- Retry-After extremes --------------------------------------------------------------------


def test_retry_after_of_hundreds_of_digits_is_an_infinite_wait() -> None:
    assert retry_after_seconds({"retry-after": "1" + "0" * 400}) == float("inf")


def test_retry_after_date_beyond_the_calendar_is_ignored() -> None:
    assert retry_after_seconds({"retry-after": "Mon, 01 Jan 99999999999 00:00:00 GMT"}) is None


async def test_huge_retry_after_ends_retries_at_once(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(429, retry_after="1" + "0" * 400))
    async with AnamClient(api.api_key, base_url=api.url, max_retries=3) as anam:
        with pytest.raises(RateLimitError) as caught:
            await anam.share_links.list()
    assert caught.value.retry_after == float("inf")
    assert len(api.requests) == 1


# -- borrowed sessions -----------------------------------------------------------------------


async def test_borrowed_session_raising_for_status_does_not_change_errors(
    api: FakeAnamAPI,
) -> None:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        AnamClient(api.api_key, base_url=api.url, session=session) as anam,
    ):
        with pytest.raises(NotFoundError):
            await anam.share_links.get("00000000-0000-0000-0000-000000000000")
    assert len(api.requests) == 1


async def test_borrowed_session_with_auth_is_refused() -> None:
    # Session-level auth is deprecated in aiohttp 3.14, but still accepted, so still refused.
    with pytest.warns(DeprecationWarning, match="deprecated"):
        session = aiohttp.ClientSession(auth=aiohttp.BasicAuth("u", "p"))
    async with session:
        with pytest.raises(AnamValidationError, match=r"^session="):
            AnamClient("k", session=session)


async def test_borrowed_session_closed_during_a_retry_wait_raises_anam_error(
    api: FakeAnamAPI,
) -> None:
    session = aiohttp.ClientSession()
    closing: list[asyncio.Task[None]] = []

    def close_session_during_the_wait(seconds: float) -> None:
        # The skipped wait yields to the loop once: the close task runs before the retry.
        closing.append(asyncio.ensure_future(session.close()))

    api.add_fault(StatusFault(503))
    with set_testing(True, on_wait=close_session_during_the_wait):
        async with AnamClient(api.api_key, base_url=api.url, session=session) as anam:
            with pytest.raises(AnamError, match="session"):
                await anam.share_links.list()
    await asyncio.gather(*closing)
    assert len(closing) == 1
    assert len(api.requests) == 1


# -- a server that ignores `page` ------------------------------------------------------------


async def test_stream_fails_loudly_when_the_server_ignores_page(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    page_one = {
        "data": api.links[:2],
        "meta": {
            "total": 4,
            "lastPage": 2,
            "currentPage": 1,
            "perPage": 2,
            "prev": None,
            "next": 2,
        },
    }
    api.add_fault(MalformedFault(json.dumps(page_one).encode()), operation="list", times=None)
    got: list[PersonaShareLink] = []

    async def drain() -> None:
        async for link in client.share_links.stream(per_page=2, concurrency=2):
            got.append(link)

    with pytest.raises(APIResponseValidationError, match="asked for page 2"):
        await drain()
    assert len(got) == 2


# -- odd arguments ---------------------------------------------------------------------------


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


async def test_invalid_values_that_cannot_be_shown_still_name_the_parameter(
    client: AnamClient, api: FakeAnamAPI
) -> None:
    with pytest.raises(AnamValidationError, match=r"^page=<int of \d+ bits> is invalid"):
        await client.share_links.list(page=-(10**5000))
    with pytest.raises(AnamValidationError, match=r"^per_page=<BadRepr object> is invalid"):
        await client.share_links.list(per_page=BadRepr())  # type: ignore[arg-type]
    assert api.requests == []


def test_huge_timeout_is_a_validation_error() -> None:
    with pytest.raises(AnamValidationError, match=r"^timeout="):
        AnamClient("k", timeout=10**400)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8/a b",
        "http://127.0.0.1:8/a\r\nX-Evil: 1",
        "http://[::1].evil.test",
        "https://api.example.test?",
        "https://api.example.test#",
    ],
)
def test_base_url_that_would_garble_requests_is_refused(url: str) -> None:
    with pytest.raises(AnamValidationError, match=r"^base_url is invalid: "):
        AnamClient("k", base_url=url)


@pytest.mark.parametrize("char", ["\x85", "\x9b", "\u200b", "\ufeff", "é"])
def test_key_with_invisible_or_non_ascii_characters_is_refused(char: str) -> None:
    with pytest.raises(AnamValidationError, match="api_key"):
        AnamClient(f"sk_{char}_key")


# -- close() cancelled -----------------------------------------------------------------------


async def test_close_cancelled_while_waiting_still_closes_the_session(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    gate = api.hold()
    call = asyncio.ensure_future(client.share_links.list())
    await gate.wait_for_waiting(1)
    session = client._session
    assert session is not None
    closer = asyncio.ensure_future(client.close())
    await asyncio.sleep(0)  # let close() cancel the call and start waiting for it
    closer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert session.closed
    with pytest.raises(AnamError):
        await call
    gate.release()


# -- get_many closes the caller's iterator ---------------------------------------------------


async def test_get_many_closes_the_callers_async_generator_when_left_early(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    closed = asyncio.Event()
    ids = [link["id"] for link in api.links[:30]]

    async def produce() -> AsyncIterator[str]:
        try:
            for link_id in ids:
                yield link_id
        finally:
            closed.set()

    results = client.share_links.get_many(produce(), concurrency=4)
    await anext(results)
    await results.aclose()
    assert closed.is_set()


# -- a server that echoes the key ------------------------------------------------------------


async def test_key_echoed_by_the_server_is_redacted_from_errors(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    echo = json.dumps({"message": f"bad key {api.api_key}"}).encode()
    api.add_fault(StatusFault(401, body=echo))
    with pytest.raises(AuthenticationError) as caught:
        await client.share_links.list()
    assert api.api_key not in str(caught.value) + repr(caught.value) + str(caught.value.body)
    assert "bad key ***" in caught.value.message

    api.add_fault(MalformedFault(f"<html>{api.api_key}</html>".encode(), content_type="text/html"))
    with pytest.raises(APIResponseValidationError) as invalid:
        await client.share_links.list()
    assert api.api_key not in str(invalid.value)
    assert "***" in invalid.value.body_snippet
