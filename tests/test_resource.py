"""get, create and update end to end over FakeAnamAPI: typed results, the spec's defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from anam_async import (
    AnamClient,
    AnamValidationError,
    BadRequestError,
    NotFoundError,
    PersonaShareLink,
    ShareLink,
)
from anam_async.testing import FakeAnamAPI


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


async def test_create_for_unknown_persona_is_bad_request(
    api: FakeAnamAPI, client: AnamClient
) -> None:
    with pytest.raises(BadRequestError, match="persona"):
        await client.share_links.create(persona_id=uuid.uuid4())


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
