"""get, create, update and delete end to end over FakeAnamAPI: typed results, spec defaults."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from anam_async import (
    AnamClient,
    AnamValidationError,
    APIStatusError,
    NotFoundError,
    PermissionDeniedError,
    PersonaShareLink,
    ShareLink,
)
from anam_async.testing import DropFault, FakeAnamAPI, StatusFault

from .conftest import SleepRecorder


async def test_get_returns_the_link_with_persona_details(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    wire = api.links[5]
    link = await client.share_links.get(wire["id"])
    assert isinstance(link, PersonaShareLink)
    assert link.id == uuid.UUID(wire["id"])
    assert link.persona_id == uuid.UUID(wire["personaId"])
    assert link.persona_name == wire["personaName"]
    assert link.organization_id == wire["organizationId"]
    assert link.token == wire["token"]


async def test_get_of_unknown_id_is_not_found(api: FakeAnamAPI, client: AnamClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.share_links.get(uuid.uuid4())
    assert caught.value.status == 404
    assert caught.value.message


async def test_create_uses_the_spec_defaults_and_lists_first(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    persona = api.personas[1]["id"]
    before = datetime.now(UTC)
    link = await client.share_links.create(persona_id=persona)
    assert type(link) is ShareLink
    assert link.usage_limit == 10
    assert link.usage_count == 0
    assert link.token.startswith("sh_")
    assert link.expires_at is not None
    lifetime = link.expires_at - link.created_at
    assert timedelta(hours=167, minutes=59) < lifetime <= timedelta(hours=168, seconds=1)
    assert link.created_at >= before - timedelta(seconds=1)
    first = (await client.share_links.list(per_page=1)).data[0]
    assert first.id == link.id
    assert first.persona_id == uuid.UUID(persona)


async def test_create_sends_given_limits(api: FakeAnamAPI, client: AnamClient) -> None:
    link = await client.share_links.create(
        persona_id=api.personas[0]["id"], expires_in_hours=2, usage_limit=3
    )
    assert link.usage_limit == 3
    assert link.expires_at is not None
    assert abs(link.expires_at - link.created_at - timedelta(hours=2)) < timedelta(seconds=2)
    assert api.requests[-1].json() == {
        "personaId": api.personas[0]["id"],
        "expiresInHours": 2,
        "usageLimit": 3,
    }


async def test_update_changes_only_what_was_sent(api: FakeAnamAPI, client: AnamClient) -> None:
    wire = api.links[0]
    link = await client.share_links.update(wire["id"], usage_limit=50)
    assert type(link) is ShareLink
    assert link.usage_limit == 50
    assert link.expires_at == (await client.share_links.get(wire["id"])).expires_at
    assert (await client.share_links.get(wire["id"])).usage_limit == 50


async def test_update_with_nothing_returns_the_link_as_it_is(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    before = await client.share_links.get(api.links[3]["id"])
    after = await client.share_links.update(before.id)
    assert api.requests[-1].body == b"{}"
    assert (after.id, after.usage_limit, after.expires_at, after.token) == (
        before.id,
        before.usage_limit,
        before.expires_at,
        before.token,
    )


async def test_update_of_unknown_id_is_not_found(api: FakeAnamAPI, client: AnamClient) -> None:
    with pytest.raises(NotFoundError):
        await client.share_links.update(uuid.uuid4(), usage_limit=1)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"expires_in_hours": 0}, "expires_in_hours"),
        ({"expires_in_hours": float("inf")}, "expires_in_hours"),
        ({"usage_limit": -1}, "usage_limit"),
        ({"usage_limit": True}, "usage_limit"),
    ],
)
async def test_bad_create_and_update_arguments_send_nothing(
    api: FakeAnamAPI, client: AnamClient, kwargs: dict[str, object], parameter: str
) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{parameter}="):
        await client.share_links.create(persona_id=api.personas[0]["id"], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(AnamValidationError, match=rf"^{parameter}="):
        await client.share_links.update(api.links[0]["id"], **kwargs)  # type: ignore[arg-type]
    assert api.requests == []


# ------------------------------------------------------------------ delete


async def test_delete_removes_the_link_and_returns_none(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    link_id = api.links[4]["id"]
    assert await client.share_links.delete(link_id) is None
    assert link_id not in [link["id"] for link in api.links]
    with pytest.raises(NotFoundError):
        await client.share_links.get(link_id)
    assert api.requests[0].method == "DELETE"
    assert api.requests[0].path == f"/v1/share-links/{link_id}"
    assert api.requests[0].body == b""


async def test_delete_of_an_unknown_id_is_not_found(api: FakeAnamAPI, client: AnamClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.share_links.delete(uuid.uuid4())
    assert caught.value.method == "DELETE"
    assert len(api.requests) == 1


async def test_delete_whose_first_attempt_landed_returns_normally_on_the_404_of_its_retry(
    api: FakeAnamAPI, client: AnamClient, sleeps: SleepRecorder
) -> None:
    """The first attempt deletes the link but its answer is cut short; the retry meets 404."""
    link_id = api.links[4]["id"]
    api.add_fault(DropFault(after_headers=True), operation="delete")
    assert await client.share_links.delete(link_id) is None
    assert [r.operation for r in api.requests] == ["delete", "delete"]
    assert link_id not in [link["id"] for link in api.links]
    assert len(sleeps.waits) == 1


async def test_delete_retried_after_a_5xx_returns_normally_on_a_404(
    api: FakeAnamAPI, client: AnamClient, sleeps: SleepRecorder
) -> None:
    api.add_fault(StatusFault(502), operation="delete")
    assert await client.share_links.delete(uuid.uuid4()) is None
    assert len(api.requests) == 2


async def test_delete_retried_after_a_429_still_raises_not_found(
    api: FakeAnamAPI, client: AnamClient, sleeps: SleepRecorder
) -> None:
    """A 429 says the first attempt did nothing, so a 404 after it is a real 404."""
    api.add_fault(StatusFault(429, retry_after=0), operation="delete")
    with pytest.raises(NotFoundError):
        await client.share_links.delete(uuid.uuid4())
    assert len(api.requests) == 2


async def test_delete_without_permission_is_permission_denied(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    api.add_fault(StatusFault(403), operation="delete")
    with pytest.raises(PermissionDeniedError) as caught:
        await client.share_links.delete(api.links[0]["id"])
    assert caught.value.status == 403
    assert len(api.links) == 120


@pytest.mark.parametrize("bad", ["nope", 5, None, "{" + str(uuid.UUID(int=1)) + "}"])
async def test_delete_with_a_malformed_id_sends_nothing(
    api: FakeAnamAPI, client: AnamClient, bad: object
) -> None:
    with pytest.raises(AnamValidationError, match="share_link_id"):
        await client.share_links.delete(bad)  # type: ignore[arg-type]
    assert api.requests == []


async def test_create_for_an_unknown_persona_is_not_found(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    with pytest.raises(NotFoundError, match="Persona"):
        await client.share_links.create(persona_id=uuid.uuid4())
    assert len(api.links) == 120


@pytest.mark.parametrize("operation", ["list", "get", "create", "update", "delete"])
async def test_every_operation_maps_403_to_permission_denied(
    api: FakeAnamAPI, client: AnamClient, operation: str
) -> None:
    api.add_fault(StatusFault(403), operation=operation)  # type: ignore[arg-type]
    link_id, persona_id = api.links[0]["id"], api.personas[0]["id"]
    calls = {
        "list": lambda: client.share_links.list(),
        "get": lambda: client.share_links.get(link_id),
        "create": lambda: client.share_links.create(persona_id=persona_id),
        "update": lambda: client.share_links.update(link_id, usage_limit=5),
        "delete": lambda: client.share_links.delete(link_id),
    }
    with pytest.raises(PermissionDeniedError):
        await calls[operation]()


async def test_update_really_changes_the_link_on_a_server_that_reads_only_json(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    """The fake ignores (415) a body not labelled JSON, as a JSON API's parser would."""
    link_id = api.links[2]["id"]
    updated = await client.share_links.update(link_id, usage_limit=5, expires_in_hours=2)
    assert updated.usage_limit == 5
    assert api.get_link(link_id)["usageLimit"] == 5
    assert api.requests[-1].headers["Content-Type"] == "application/json"


# ------------------------------------------------------------------ Content-Type on the wire


class HeaderRecorder:
    """A raw HTTP server that reads each request's header block off the socket as it comes."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            length = re.search(rb"(?im)^content-length:\s*(\d+)\r$", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            body = b"{}"
            writer.write(
                b"HTTP/1.1 418 I'm a teapot\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()


def _content_types(head: bytes) -> list[str]:
    return [m.decode() for m in re.findall(rb"(?im)^content-type:\s*(.*?)\r$", head)]


async def test_requests_with_a_body_are_labelled_json_on_the_wire_and_others_are_not() -> None:
    recorder = HeaderRecorder()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    some_id = uuid.uuid4()
    try:
        async with AnamClient("k", base_url=f"http://127.0.0.1:{port}", max_retries=0) as c:
            calls = [
                c.share_links.create(persona_id=some_id),
                c.share_links.update(some_id, usage_limit=5),
                c.share_links.update(some_id),
                c.share_links.get(some_id),
                c.share_links.list(),
                c.share_links.delete(some_id),
            ]
            for call in calls:
                with pytest.raises(APIStatusError):
                    await call
    finally:
        server.close()
        await server.wait_closed()
    labels = [_content_types(head) for head in recorder.heads]
    methods = [head.split(b" ", 1)[0] for head in recorder.heads]
    assert methods == [b"POST", b"PUT", b"PUT", b"GET", b"GET", b"DELETE"]
    assert labels == [["application/json"]] * 3 + [[]] * 3
