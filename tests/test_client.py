"""AnamClient end to end over the real FakeAnamAPI on a socket: lifecycle, errors, retries."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid

import aiohttp
import pytest

from anam_async import (
    AnamClient,
    AnamError,
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PersonaShareLink,
    RateLimitError,
    ShareLinkPage,
)
from anam_async.testing import DropFault, FakeAnamAPI, MalformedFault, StatusFault

from .conftest import SleepRecorder

# -- list ------------------------------------------------------------------------------------


async def test_list_returns_first_page_with_exact_meta(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    page = await client.share_links.list(per_page=7)
    assert isinstance(page, ShareLinkPage)
    assert len(page.data) == 7
    assert all(isinstance(link, PersonaShareLink) for link in page.data)
    total = page.meta.total
    assert total == len(api.links)
    assert (page.meta.current_page, page.meta.per_page, page.meta.prev) == (1, 7, None)
    assert page.meta.last_page == -(-total // 7)
    assert page.meta.next == 2


async def test_list_pages_cover_the_listing_once(api: FakeAnamAPI, client: AnamClient) -> None:
    first = await client.share_links.list(per_page=50)
    ids = []
    for number in range(1, first.meta.last_page + 1):
        ids += [link.id for link in (await client.share_links.list(page=number, per_page=50)).data]
    assert len(ids) == len(set(ids)) == first.meta.total


async def test_list_filters_by_persona(api: FakeAnamAPI, client: AnamClient) -> None:
    persona = (await client.share_links.list()).data[0].persona_id
    page = await client.share_links.list(persona_id=persona, per_page=100)
    assert page.data
    assert {link.persona_id for link in page.data} == {persona}


async def test_list_search_matches_persona_name(api: FakeAnamAPI, client: AnamClient) -> None:
    name = (await client.share_links.list()).data[0].persona_name
    assert name
    page = await client.share_links.list(search=name.upper(), per_page=100)
    assert page.data
    assert all(link.persona_name == name for link in page.data)


async def test_wrong_key_is_authentication_error(api: FakeAnamAPI) -> None:
    async with AnamClient("wrong_key", base_url=api.url) as anam:
        with pytest.raises(AuthenticationError) as caught:
            await anam.share_links.list()
    assert caught.value.status == 401
    assert "wrong_key" not in str(caught.value)


async def test_every_request_carries_the_key(api: FakeAnamAPI, client: AnamClient) -> None:
    await client.share_links.list()
    assert api.requests[-1].headers["Authorization"] == f"Bearer {api.api_key}"


# -- lifecycle -------------------------------------------------------------------------------


async def test_owned_session_is_created_lazily_and_closed(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    assert client._session is None
    await client.share_links.list()
    session = client._session
    assert session is not None
    await client.close()
    assert session.closed


async def test_close_is_idempotent(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    await client.share_links.list()
    await client.close()
    await client.close()
    assert client.closed


async def test_call_on_closed_client_raises(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    await client.close()
    with pytest.raises(AnamError, match="closed"):
        await client.share_links.list()
    assert api.requests == []


async def test_borrowed_session_is_used_and_never_closed(api: FakeAnamAPI) -> None:
    async with aiohttp.ClientSession() as session:
        async with AnamClient(api.api_key, base_url=api.url, session=session) as anam:
            await anam.share_links.list()
            assert anam._session is session
        assert not session.closed
        assert len(api.requests) == 1


async def test_closed_borrowed_session_raises_anam_error(api: FakeAnamAPI) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    client = AnamClient(api.api_key, base_url=api.url, session=session)
    with pytest.raises(AnamError, match="session"):
        await client.share_links.list()
    await client.close()


async def test_close_while_in_flight_raises_anam_error(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    gate = api.hold()
    call = asyncio.ensure_future(client.share_links.list())
    await gate.wait_for_waiting(1)
    await client.close()
    with pytest.raises(AnamError, match="closed while"):
        await call
    gate.release()


async def test_call_from_another_loop_raises(api: FakeAnamAPI) -> None:
    client = AnamClient(api.api_key, base_url=api.url)
    await client.share_links.list()
    errors: list[BaseException] = []

    def other_loop() -> None:
        try:
            asyncio.run(client.share_links.list())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.to_thread(thread.join)
    await client.close()
    assert len(errors) == 1
    assert isinstance(errors[0], AnamError)
    assert "event loop" in str(errors[0])


# -- errors ----------------------------------------------------------------------------------


async def test_not_found_is_not_retried(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    async with AnamClient(api.api_key, base_url=api.url, max_retries=3) as anam:
        with pytest.raises(NotFoundError) as caught:
            await anam.share_links.get(uuid.uuid4())
    assert caught.value.status == 404
    assert len(api.requests) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_never_retried(
    api: FakeAnamAPI, sleeps: SleepRecorder, status: int
) -> None:
    api.add_fault(StatusFault(status), times=5)
    async with AnamClient(api.api_key, base_url=api.url, max_retries=3) as anam:
        with pytest.raises(APIStatusError) as caught:
            await anam.share_links.list()
    assert caught.value.status == status
    assert len(api.requests) == 1


async def test_error_message_comes_from_json_body(api: FakeAnamAPI, client: AnamClient) -> None:
    api.add_fault(StatusFault(400, body=b'{"message": ["perPage too big", "page bad"]}'))
    with pytest.raises(BadRequestError) as caught:
        await client.share_links.list()
    assert caught.value.message == "perPage too big; page bad"
    assert str(caught.value) == "400 perPage too big; page bad"
    assert caught.value.method == "GET"
    assert caught.value.url.startswith(api.url + "/v1/share-links?")


async def test_malformed_body_is_response_validation_error_not_retried(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    api.add_fault(MalformedFault(b"<html>oops</html>", content_type="text/html"), times=5)
    async with AnamClient(api.api_key, base_url=api.url, max_retries=3) as anam:
        with pytest.raises(APIResponseValidationError) as caught:
            await anam.share_links.list()
    assert caught.value.status == 200
    assert caught.value.body_snippet.startswith("<html>")
    assert len(api.requests) == 1


async def test_data_null_names_the_field(api: FakeAnamAPI, client: AnamClient) -> None:
    api.add_fault(MalformedFault(b'{"data": null, "meta": {}}'))
    with pytest.raises(APIResponseValidationError, match=r"\$\.data"):
        await client.share_links.list()


# -- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_status_is_retried_then_succeeds(
    api: FakeAnamAPI, sleeps: SleepRecorder, status: int
) -> None:
    api.add_fault(StatusFault(status), times=2)
    async with AnamClient(api.api_key, base_url=api.url, max_retries=2) as anam:
        page = await anam.share_links.list()
    assert page.data
    assert len(api.requests) == 3
    assert len(sleeps.waits) == 2
    assert 0.25 <= sleeps.waits[0] <= 0.5
    assert 0.5 <= sleeps.waits[1] <= 1.0


async def test_retries_exhausted_raise_the_last_status(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(503), times=3)
    async with AnamClient(api.api_key, base_url=api.url, max_retries=2) as anam:
        with pytest.raises(InternalServerError) as caught:
            await anam.share_links.list()
    assert caught.value.status == 503
    assert len(api.requests) == 3


async def test_max_retries_zero_disables_retries(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    api.add_fault(StatusFault(500))
    async with AnamClient(api.api_key, base_url=api.url, max_retries=0) as anam:
        with pytest.raises(InternalServerError):
            await anam.share_links.list()
    assert len(api.requests) == 1
    assert sleeps.waits == []


async def test_retry_after_header_replaces_backoff(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    api.add_fault(StatusFault(503, retry_after=7))
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        await anam.share_links.list()
    assert sleeps.waits == [7.0]


async def test_retry_after_ms_wins_over_retry_after(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(503, retry_after=7, retry_after_ms=1500))
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        await anam.share_links.list()
    assert sleeps.waits == [1.5]


async def test_long_retry_after_raises_at_once_with_retry_after(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(429, retry_after=120))
    async with AnamClient(api.api_key, base_url=api.url, max_retries=2) as anam:
        with pytest.raises(RateLimitError) as caught:
            await anam.share_links.list()
        assert caught.value.retry_after == 120.0
        assert len(api.requests) == 1
        assert sleeps.waits == []
        # A 429 that is raised pauses nothing: the next call goes straight out.
        await anam.share_links.list()
    assert sleeps.waits == []


async def test_429_pauses_every_request_of_the_client(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    link_id = api.links[0]["id"]
    api.add_fault(StatusFault(429, retry_after=3), operation="list")
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        await anam.share_links.list()
        # A different call, started while the pause lasts (the sleeps are patched, so almost
        # no time has passed), waits out the rest of it before its request goes out.
        await anam.share_links.get(link_id)
    assert sleeps.waits[0] == pytest.approx(3.0, abs=0.05)
    assert len(sleeps.waits) == 2
    assert 2.5 < sleeps.waits[1] <= 3.0
    assert [r.operation for r in api.requests] == ["list", "list", "get"]


async def test_dropped_connection_is_retried(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    api.add_fault(DropFault())
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        page = await anam.share_links.list()
    assert page.data
    assert len(api.requests) == 2


async def test_body_cut_short_is_connection_error(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    api.add_fault(DropFault(after_headers=True), times=3)
    async with AnamClient(api.api_key, base_url=api.url, max_retries=2) as anam:
        with pytest.raises(APIConnectionError):
            await anam.share_links.list()
    assert len(api.requests) == 3


async def test_refused_connection_is_connection_error(sleeps: SleepRecorder) -> None:
    async with FakeAnamAPI() as api:
        url, key = api.url, api.api_key
    async with AnamClient(key, base_url=url, max_retries=1) as anam:
        with pytest.raises(APIConnectionError) as caught:
            await anam.share_links.list()
    assert caught.value.request_sent is False
    assert len(sleeps.waits) == 1


async def test_timeout_is_api_timeout_error(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    gate = api.hold()
    async with AnamClient(api.api_key, base_url=api.url, timeout=0.05, max_retries=1) as anam:
        with pytest.raises(APITimeoutError):
            await anam.share_links.list()
    gate.release()
    assert len(api.requests) == 2


async def test_create_is_not_retried_after_it_may_have_been_sent(
    api: FakeAnamAPI, sleeps: SleepRecorder
) -> None:
    persona = api.personas[0]["id"]
    api.add_fault(StatusFault(500), operation="create")
    async with AnamClient(api.api_key, base_url=api.url, max_retries=3) as anam:
        with pytest.raises(InternalServerError):
            await anam.share_links.create(persona_id=persona)
        api.add_fault(DropFault(), operation="create")
        with pytest.raises(APIConnectionError):
            await anam.share_links.create(persona_id=persona)
    assert [r.operation for r in api.requests] == ["create", "create"]


async def test_create_is_retried_on_429(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    persona = api.personas[0]["id"]
    api.add_fault(StatusFault(429), operation="create")
    async with AnamClient(api.api_key, base_url=api.url, max_retries=3) as anam:
        link = await anam.share_links.create(persona_id=persona)
    assert [r.operation for r in api.requests] == ["create", "create"]
    assert link.usage_limit == 10


# -- logging and secrets ---------------------------------------------------------------------


async def test_logging_lines_never_hold_the_key(
    api: FakeAnamAPI, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="anam_async")
    api.add_fault(StatusFault(503))
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        await anam.share_links.list(page=2, per_page=5)
    records = [r for r in caplog.records if r.name == "anam_async"]
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    warning = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert debug[0].startswith("GET /v1/share-links?page=2&perPage=5 -> 503 in ")
    assert debug[0].endswith("(attempt 1)")
    assert debug[1].endswith("(attempt 2)")
    assert len(warning) == 1
    assert "HTTP 503" in warning[0]
    assert "retry 1 of 2" in warning[0]
    for record in records:
        assert api.api_key not in record.getMessage()


async def test_exceptions_never_hold_the_key(api: FakeAnamAPI, sleeps: SleepRecorder) -> None:
    api.add_fault(StatusFault(500, body=b"boom"), times=3)
    async with AnamClient(api.api_key, base_url=api.url) as anam:
        with pytest.raises(InternalServerError) as caught:
            await anam.share_links.list()
    text = str(caught.value) + repr(caught.value) + repr(caught.value.__dict__)
    assert api.api_key not in text
