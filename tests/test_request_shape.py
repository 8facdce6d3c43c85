"""The shape of what goes on the wire, checked with aioresponses (no sockets)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

import anam_async
from anam_async import AnamClient, AnamValidationError, APIStatusError

BASE = "https://api.example.test"
KEY = "sk_live_shape_test_key"
PERSONA = "7b1b5a62-6f9b-4e5a-9d8e-1c2b3a4d5e6f"
LINK_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

LINK = {
    "id": LINK_ID,
    "token": "sh_abc",
    "type": "LINK",
    "createdAt": "2026-04-20T10:00:00.000Z",
}
PAGE = {
    "data": [{**LINK, "personaId": PERSONA}],
    "meta": {
        "total": 1,
        "lastPage": 1,
        "currentPage": 1,
        "perPage": 20,
        "prev": None,
        "next": None,
    },
}
ANY_URL = re.compile(r"^https://api\.example\.test/.*$")


class _WriterStub:
    output_size = 0


class _CompatResponse(ClientResponse):
    """aiohttp 3.14 made ``stream_writer`` a required argument that aioresponses 0.7.x does not
    pass (pnuckowski/aioresponses#289, still open); give it a finished writer's stand-in."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _WriterStub())
        super().__init__(*args, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatResponse)
    with aioresponses() as mock:
        yield mock


@pytest.fixture
async def client() -> AsyncIterator[AnamClient]:
    async with AnamClient(KEY, base_url=BASE, max_retries=0) as anam:
        yield anam


def sent(mocked: Any) -> list[tuple[str, Any, Any]]:
    """Every request aioresponses saw, as (method, URL, call kwargs)."""
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mocked.requests.items()
        for call in calls
    ]


async def test_list_sends_bearer_accept_and_user_agent(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    await client.share_links.list()
    [(_, _, kwargs)] = sent(mocked)
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith(f"anam-async/{anam_async.__version__} ")


async def test_extra_headers_are_sent_beside_the_defaults(mocked: Any) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    async with AnamClient(KEY, base_url=BASE, headers={"X-Request-Source": "tests"}) as anam:
        await anam.share_links.list()
    [(_, _, kwargs)] = sent(mocked)
    assert kwargs["headers"]["X-Request-Source"] == "tests"
    assert kwargs["headers"]["Authorization"] == f"Bearer {KEY}"


async def test_list_uses_spec_wire_names(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    await client.share_links.list(page=3, per_page=50, persona_id=uuid.UUID(PERSONA))
    [(method, url, _)] = sent(mocked)
    assert method == "GET"
    assert url.path == "/v1/share-links"
    assert parse_qs(url.query_string) == {
        "page": ["3"],
        "perPage": ["50"],
        "personaId": [PERSONA],
    }


async def test_search_with_ampersand_is_one_parameter(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    await client.share_links.list(search="a&perPage=1000")
    [(_, url, _)] = sent(mocked)
    query = parse_qs(url.query_string, keep_blank_values=True)
    assert query["search"] == ["a&perPage=1000"]
    assert query["perPage"] == ["20"]


async def test_empty_search_is_sent_as_empty_value(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    await client.share_links.list(search="")
    [(_, url, _)] = sent(mocked)
    assert "search=" in url.query_string.split("&")


async def test_persona_id_is_sent_canonical_lowercase(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    await client.share_links.list(persona_id=PERSONA.replace("-", "").upper())
    [(_, url, _)] = sent(mocked)
    assert parse_qs(url.query_string)["personaId"] == [PERSONA]


async def test_base_url_path_prefix_is_kept_and_trailing_slash_ignored(mocked: Any) -> None:
    mocked.get(re.compile(r"^https://gw\.example\.test/anam/v1/share-links.*$"), payload=PAGE)
    async with AnamClient(KEY, base_url="https://gw.example.test/anam/") as anam:
        await anam.share_links.list()
    [(_, url, _)] = sent(mocked)
    assert url.path == "/anam/v1/share-links"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"page": 0}, "page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": True}, "per_page"),
        ({"search": 5}, "search"),
        ({"persona_id": "{" + PERSONA + "}"}, "persona_id"),
    ],
)
async def test_invalid_list_arguments_send_nothing(
    mocked: Any, client: AnamClient, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{parameter}="):
        await client.share_links.list(**kwargs)
    assert sent(mocked) == []


async def test_redirect_is_not_followed(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, status=302, headers={"Location": "https://elsewhere.example.test/steal"})
    with pytest.raises(APIStatusError) as caught:
        await client.share_links.list()
    assert type(caught.value) is APIStatusError
    assert caught.value.status == 302
    [(_, _, kwargs)] = sent(mocked)
    assert kwargs["allow_redirects"] is False


async def test_get_puts_canonical_id_in_path(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload={**LINK, "personaId": PERSONA})
    link = await client.share_links.get(LINK_ID.upper())
    [(method, url, _)] = sent(mocked)
    assert (method, url.path) == ("GET", f"/v1/share-links/{LINK_ID}")
    assert link.id == uuid.UUID(LINK_ID)


async def test_get_with_malformed_id_sends_nothing(mocked: Any, client: AnamClient) -> None:
    with pytest.raises(AnamValidationError, match=r"^share_link_id="):
        await client.share_links.get("../../v1/secret")
    assert sent(mocked) == []


async def test_create_sends_camel_case_body_without_unset_fields(
    mocked: Any, client: AnamClient
) -> None:
    mocked.post(ANY_URL, status=201, payload=LINK)
    await client.share_links.create(persona_id=PERSONA, usage_limit=5)
    [(method, url, kwargs)] = sent(mocked)
    assert (method, url.path) == ("POST", "/v1/share-links")
    assert json.loads(kwargs["data"]) == {"personaId": PERSONA, "usageLimit": 5}


async def test_update_with_no_fields_sends_empty_object(mocked: Any, client: AnamClient) -> None:
    mocked.put(ANY_URL, payload=LINK)
    await client.share_links.update(LINK_ID)
    [(method, url, kwargs)] = sent(mocked)
    assert (method, url.path) == ("PUT", f"/v1/share-links/{LINK_ID}")
    assert json.loads(kwargs["data"]) == {}


async def test_update_sends_only_given_fields(mocked: Any, client: AnamClient) -> None:
    mocked.put(ANY_URL, payload=LINK)
    await client.share_links.update(LINK_ID, expires_in_hours=1.5)
    [(_, _, kwargs)] = sent(mocked)
    assert json.loads(kwargs["data"]) == {"expiresInHours": 1.5}


async def test_query_never_holds_the_key(mocked: Any, client: AnamClient) -> None:
    mocked.get(ANY_URL, payload=PAGE)
    await client.share_links.list(search="x")
    [(_, url, _)] = sent(mocked)
    assert KEY not in str(url)
    assert urlsplit(str(url)).username is None
