"""Behaviour of anam_async.testing.FakeAnamAPI, exercised with plain aiohttp requests."""

from __future__ import annotations

import asyncio
import io
import re
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
import pytest

from anam_async.testing import (
    DelayFault,
    DropFault,
    FakeAnamAPI,
    MalformedFault,
    RecordedRequest,
    RecordedResponse,
    StatusFault,
)

LIST = "/v1/share-links"
FIXED_NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
NANOID_RE = re.compile(r"[A-Za-z0-9_-]{21}")
SHARE_LINK_KEYS = {
    "id",
    "token",
    "type",
    "expiresAt",
    "usageLimit",
    "usageCount",
    "allowedOrigins",
    "allowAllOrigins",
    "removeWatermark",
    "enabled",
    "isPrimary",
    "createdAt",
}
PERSONA_LINK_KEYS = SHARE_LINK_KEYS | {"personaId", "personaName", "organizationId"}


@pytest.fixture
async def api() -> AsyncIterator[FakeAnamAPI]:
    async with FakeAnamAPI(clock=lambda: FIXED_NOW) as fake:
        yield fake


@pytest.fixture
async def http(api: FakeAnamAPI) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {api.api_key}"}
    async with aiohttp.ClientSession(base_url=api.url, headers=headers) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    *,
    params: Any = None,
    json: Any = None,
    data: Any = None,
) -> tuple[int, Any]:
    async with http.request(method, path, params=params, json=json, data=data) as resp:
        return resp.status, await resp.json()


async def list_page(http: aiohttp.ClientSession, **params: Any) -> dict[str, Any]:
    status, body = await call(http, "GET", LIST, params={k: str(v) for k, v in params.items()})
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def persona_id(api: FakeAnamAPI, index: int = 0) -> str:
    return api.personas[index]["id"]


# ------------------------------------------------------------------ lifecycle and basics


async def test_no_arg_construction_serves_on_loopback_with_a_generated_key() -> None:
    async with FakeAnamAPI() as api:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api.url)
        assert re.fullmatch(r"anam_test_[0-9a-f]+", api.api_key)
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {api.api_key}"}
            async with http.get(api.url + LIST, headers=headers) as resp:
                assert resp.status == 200
                assert (await resp.json())["meta"]["total"] == 120


async def test_explicit_api_key_is_the_accepted_key() -> None:
    async with FakeAnamAPI(api_key="sk-mine") as api:
        assert api.api_key == "sk-mine"
        headers = {"Authorization": "Bearer sk-mine"}
        async with (
            aiohttp.ClientSession(base_url=api.url) as http,
            http.get(LIST, headers=headers) as r,
        ):
            assert r.status == 200


async def test_start_and_close_are_idempotent_and_a_closed_fake_cannot_restart() -> None:
    api = FakeAnamAPI()
    await api.start()
    url = api.url
    await api.start()
    assert api.url == url
    await api.close()
    await api.close()
    with pytest.raises(RuntimeError, match="closed"):
        await api.start()


async def test_url_before_start_raises() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeAnamAPI().url


async def test_repr_never_shows_the_key() -> None:
    api = FakeAnamAPI(api_key="anam_test_secret")
    assert "secret" not in repr(api)


async def test_missing_key_is_401_json(api: FakeAnamAPI) -> None:
    async with aiohttp.ClientSession() as http, http.get(api.url + LIST) as resp:
        body = await resp.json()
    assert resp.status == 401
    assert body == {"message": body["message"], "error": "Unauthorized", "statusCode": 401}


@pytest.mark.parametrize("value", ["Bearer wrong", "bearer {key}", "Bearer  {key}", "{key}"])
async def test_wrong_key_is_401_json(api: FakeAnamAPI, value: str) -> None:
    headers = {"Authorization": value.format(key=api.api_key)}
    async with aiohttp.ClientSession() as http, http.get(api.url + LIST, headers=headers) as r:
        assert r.status == 401
        assert (await r.json())["statusCode"] == 401


async def test_unknown_path_is_404_json(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", "/v1/personas")
    assert status == 404
    assert body["message"]


async def test_wrong_method_is_405_json_with_allow_header(http: aiohttp.ClientSession) -> None:
    async with http.delete(LIST) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, POST"
        assert (await resp.json())["message"]


# ------------------------------------------------------------------ list: pagination


async def test_list_defaults_to_page_1_of_20(http: aiohttp.ClientSession) -> None:
    page = await list_page(http)
    assert len(page["data"]) == 20
    assert page["meta"] == {
        "total": 120,
        "lastPage": 6,
        "currentPage": 1,
        "perPage": 20,
        "prev": None,
        "next": 2,
    }


async def test_list_items_have_the_persona_share_link_shape(http: aiohttp.ClientSession) -> None:
    for link in (await list_page(http, perPage=100))["data"]:
        assert set(link) == PERSONA_LINK_KEYS
        assert ISO_RE.fullmatch(link["createdAt"])
        assert re.fullmatch(r"sh_[A-Za-z0-9_-]{21}", link["token"])


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (1, {"currentPage": 1, "prev": None, "next": 2}),
        (4, {"currentPage": 4, "prev": 3, "next": 5}),
        (10, {"currentPage": 10, "prev": 9, "next": None}),
        (12, {"currentPage": 12, "prev": 11, "next": None}),
    ],
    ids=["first", "middle", "last", "past-the-end"],
)
async def test_list_meta_is_exact(
    http: aiohttp.ClientSession, page: int, expected: dict[str, Any]
) -> None:
    body = await list_page(http, page=page, perPage=13)
    assert body["meta"] == {"total": 120, "lastPage": 10, "perPage": 13, **expected}


async def test_list_last_page_holds_the_remainder(http: aiohttp.ClientSession) -> None:
    body = await list_page(http, page=10, perPage=13)
    assert len(body["data"]) == 120 - 9 * 13
    assert body["meta"]["next"] is None
    assert body["meta"]["prev"] == 9


async def test_list_past_the_end_is_empty(http: aiohttp.ClientSession) -> None:
    body = await list_page(http, page=12, perPage=13)
    assert body["data"] == []
    assert body["meta"] == {
        "total": 120,
        "lastPage": 10,
        "currentPage": 12,
        "perPage": 13,
        "prev": 11,
        "next": None,
    }


async def test_empty_listing_reports_total_0_and_last_page_0(
    http: aiohttp.ClientSession,
) -> None:
    body = await list_page(http, search="no link has this")
    assert body == {
        "data": [],
        "meta": {
            "total": 0,
            "lastPage": 0,
            "currentPage": 1,
            "perPage": 20,
            "prev": None,
            "next": None,
        },
    }


async def test_pages_concatenate_to_the_whole_listing_in_order(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    ids = []
    for page in range(1, 6):
        ids += [link["id"] for link in (await list_page(http, page=page, perPage=25))["data"]]
    assert ids == [link["id"] for link in api.links]


async def test_listing_is_newest_first_with_ties_broken_by_id(api: FakeAnamAPI) -> None:
    keys = [(link["createdAt"], link["id"]) for link in api.links]
    assert keys == sorted(keys, key=lambda key: (_negate(key[0]), key[1]))
    created = [key[0] for key in keys]
    assert len(set(created)) < len(created), "the seeded data should contain ties"


def _negate(timestamp: str) -> float:
    return -datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------ list: validation


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=", "page"),
        ("page=9007199254740992", "page"),
        ("perPage=0", "perPage"),
        ("perPage=101", "perPage"),
        ("perPage=ten", "perPage"),
        ("personaId=not-a-uuid", "personaId"),
        ("personaId={" + str(uuid.UUID(int=1)) + "}", "personaId"),
    ],
)
async def test_invalid_query_is_400_naming_the_parameter(
    http: aiohttp.ClientSession, query: str, parameter: str
) -> None:
    status, body = await call(http, "GET", f"{LIST}?{query}")
    assert status == 400
    assert body["message"].startswith(parameter)
    assert body["statusCode"] == 400


@pytest.mark.parametrize("name", ["page", "perPage", "search", "personaId"])
async def test_repeated_parameter_is_400(
    api: FakeAnamAPI, http: aiohttp.ClientSession, name: str
) -> None:
    value = persona_id(api) if name == "personaId" else "1"
    status, body = await call(http, "GET", LIST, params=[(name, value), (name, value)])
    assert status == 400
    assert name in body["message"]


async def test_unknown_parameters_are_ignored(http: aiohttp.ClientSession) -> None:
    body = await list_page(http, sort="asc", limit=5)
    assert body["meta"]["total"] == 120


async def test_search_term_with_an_ampersand_is_one_parameter(
    http: aiohttp.ClientSession,
) -> None:
    body = await list_page(http, search="a&perPage=1000")
    assert body["meta"]["total"] == 0
    assert body["meta"]["perPage"] == 20


# ------------------------------------------------------------------ list: filters


async def test_search_matches_persona_name_case_insensitively(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    name = api.personas[0]["name"]
    body = await list_page(http, search=name.upper(), perPage=100)
    expected = [link["id"] for link in api.links if name.lower() in link["personaName"].lower()]
    assert expected
    assert [link["id"] for link in body["data"]] == expected


async def test_search_matches_a_token_substring(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    target = api.links[7]
    body = await list_page(http, search=target["token"][3:12].lower())
    assert [link["id"] for link in body["data"]] == [target["id"]]


async def test_persona_filter_keeps_only_that_persona(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    wanted = persona_id(api, 2)
    body = await list_page(http, personaId=wanted, perPage=100)
    expected = [link["id"] for link in api.links if link["personaId"] == wanted]
    assert [link["id"] for link in body["data"]] == expected
    assert body["meta"]["total"] == len(expected) > 0


async def test_persona_filter_accepts_any_case(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    canonical = await list_page(http, personaId=persona_id(api, 1))
    assert await list_page(http, personaId=persona_id(api, 1).upper()) == canonical


async def test_persona_filter_refuses_32_bare_hex_digits_as_the_spec_does(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    """The spec's format: uuid is the hyphenated form; the client always sends that."""
    bare = persona_id(api, 1).replace("-", "")
    status, body = await call(http, "GET", LIST, params={"personaId": bare})
    assert status == 400
    assert body["message"].startswith("personaId")


async def test_unknown_persona_filter_gives_an_empty_listing(
    http: aiohttp.ClientSession,
) -> None:
    body = await list_page(http, personaId=str(uuid.UUID(int=7)))
    assert body["meta"]["total"] == 0


async def test_search_and_persona_filter_combine(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    other = api.personas[1]
    body = await list_page(http, personaId=persona_id(api, 0), search=other["name"])
    assert body["meta"]["total"] == 0


# ------------------------------------------------------------------ get


async def test_get_returns_the_persona_share_link(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    link = api.links[3]
    status, body = await call(http, "GET", f"{LIST}/{link['id']}")
    assert status == 200
    assert body == link


async def test_get_accepts_an_uppercase_id(api: FakeAnamAPI, http: aiohttp.ClientSession) -> None:
    link = api.links[0]
    status, body = await call(http, "GET", f"{LIST}/{link['id'].upper()}")
    assert (status, body["id"]) == (200, link["id"])


async def test_get_unknown_id_is_404_json(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", f"{LIST}/{uuid.uuid4()}")
    assert status == 404
    assert "not found" in body["message"]


async def test_get_malformed_id_is_400(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", f"{LIST}/not-a-uuid")
    assert status == 400
    assert body["message"].startswith("id")


# ------------------------------------------------------------------ create


async def test_create_answers_201_with_spec_defaults(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "POST", LIST, json={"personaId": persona_id(api)})
    assert status == 201
    assert set(body) == SHARE_LINK_KEYS
    assert body["usageLimit"] == 10
    assert body["usageCount"] == 0
    assert body["type"] == "LINK"
    assert body["createdAt"] == "2026-03-01T12:00:00.000Z"
    assert body["expiresAt"] == "2026-03-08T12:00:00.000Z"
    assert re.fullmatch(r"sh_[A-Za-z0-9_-]{21}", body["token"])


async def test_create_uses_the_given_hours_and_limit(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    payload = {"personaId": persona_id(api), "expiresInHours": 1.5, "usageLimit": 3.0}
    status, body = await call(http, "POST", LIST, json=payload)
    assert status == 201
    assert body["expiresAt"] == "2026-03-01T13:30:00.000Z"
    assert body["usageLimit"] == 3


async def test_created_link_lists_first_with_its_persona(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    persona = api.personas[3]
    _, created = await call(http, "POST", LIST, json={"personaId": persona["id"]})
    first = (await list_page(http))["data"][0]
    assert first == {
        **created,
        "personaId": persona["id"],
        "personaName": persona["name"],
        "organizationId": persona["organizationId"],
    }
    assert (await list_page(http))["meta"]["total"] == 121


async def test_created_link_is_newest_even_when_the_clock_is_behind() -> None:
    async with FakeAnamAPI(clock=lambda: datetime(2020, 1, 1, tzinfo=UTC)) as api:
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with aiohttp.ClientSession(base_url=api.url, headers=headers) as http:
            _, created = await call(http, "POST", LIST, json={"personaId": persona_id(api)})
            assert api.links[0]["id"] == created["id"]
            assert created["createdAt"] > api.links[1]["createdAt"]


async def test_create_with_unknown_persona_is_404(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    unknown = str(uuid.uuid4())
    status, body = await call(http, "POST", LIST, json={"personaId": unknown})
    assert status == 404
    assert unknown in body["message"]
    assert len(api.links) == 120


@pytest.mark.parametrize(
    ("payload", "parameter"),
    [
        ({}, "personaId"),
        ({"personaId": 5}, "personaId"),
        ({"personaId": "nope"}, "personaId"),
        ({"expiresInHours": 0}, "expiresInHours"),
        ({"expiresInHours": -2}, "expiresInHours"),
        ({"expiresInHours": "24"}, "expiresInHours"),
        ({"expiresInHours": True}, "expiresInHours"),
        ({"expiresInHours": None}, "expiresInHours"),
        ({"expiresInHours": 1e300}, "expiresInHours"),
        ({"usageLimit": 0}, "usageLimit"),
        ({"usageLimit": 2.5}, "usageLimit"),
        ({"usageLimit": "10"}, "usageLimit"),
        ({"usageLimit": 2**31}, "usageLimit"),
    ],
)
async def test_create_with_invalid_field_is_400_naming_it(
    api: FakeAnamAPI, http: aiohttp.ClientSession, payload: dict[str, Any], parameter: str
) -> None:
    body = {"personaId": persona_id(api), **payload} if parameter != "personaId" else payload
    status, answer = await call(http, "POST", LIST, json=body)
    assert status == 400
    assert answer["message"].startswith(parameter)
    assert len(api.links) == 120


JSON_LABEL = {"Content-Type": "application/json"}


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b'"text"', b"{", b"null"])
async def test_create_with_a_body_that_is_not_a_json_object_is_400(
    http: aiohttp.ClientSession, data: bytes
) -> None:
    async with http.post(LIST, data=data, headers=JSON_LABEL) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_body_nested_too_deeply_is_a_json_400_not_a_500(
    api: FakeAnamAPI, http: aiohttp.ClientSession, method: str
) -> None:
    path = LIST if method == "POST" else f"{LIST}/{api.links[0]['id']}"
    deep = b"[" * 100_000 + b"]" * 100_000
    async with http.request(method, path, data=deep, headers=JSON_LABEL) as resp:
        assert resp.status == 400
        assert "nested" in (await resp.json())["message"]


async def test_a_body_over_one_mebibyte_is_a_json_413(http: aiohttp.ClientSession) -> None:
    big = b'{"personaId": "' + b"a" * (1024 * 1024) + b'"}'
    async with http.post(LIST, data=io.BytesIO(big), headers=JSON_LABEL) as resp:
        assert resp.status == 413
        assert "larger than" in (await resp.json())["message"]


@pytest.mark.parametrize(
    "content_type",
    [None, "application/octet-stream", "text/plain", "application/x-www-form-urlencoded"],
)
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_body_not_labelled_json_is_a_json_415_and_changes_nothing(
    api: FakeAnamAPI, http: aiohttp.ClientSession, method: str, content_type: str | None
) -> None:
    before = api.links
    path = LIST if method == "POST" else f"{LIST}/{before[0]['id']}"
    payload = msgspec.json.encode({"personaId": persona_id(api), "usageLimit": 5})
    headers = {"Content-Type": content_type} if content_type else {}
    # aiohttp labels a bytes body application/octet-stream unless told otherwise.
    async with http.request(method, path, data=payload, headers=headers) as resp:
        assert resp.status == 415
        assert resp.content_type == "application/json"
        assert "application/json" in (await resp.json())["message"]
    assert api.links == before


async def test_a_json_label_with_a_charset_is_accepted(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    payload = msgspec.json.encode({"personaId": persona_id(api)})
    headers = {"Content-Type": "application/json; charset=utf-8"}
    async with http.post(LIST, data=payload, headers=headers) as resp:
        assert resp.status == 201


# ------------------------------------------------------------------ update


async def test_update_changes_only_the_usage_limit(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    before = api.links[5]
    status, body = await call(http, "PUT", f"{LIST}/{before['id']}", json={"usageLimit": 50})
    assert status == 200
    assert set(body) == SHARE_LINK_KEYS
    assert body == {
        **{key: before[key] for key in SHARE_LINK_KEYS},
        "usageLimit": 50,
    }


async def test_update_recomputes_expiry_from_now(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    link_id = api.links[5]["id"]
    _, body = await call(http, "PUT", f"{LIST}/{link_id}", json={"expiresInHours": 48})
    assert body["expiresAt"] == "2026-03-03T12:00:00.000Z"
    assert api.get_link(link_id)["expiresAt"] == body["expiresAt"]


async def test_update_with_empty_object_changes_nothing(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    before = api.links[9]
    status, body = await call(http, "PUT", f"{LIST}/{before['id']}", json={})
    assert status == 200
    assert body == {key: before[key] for key in SHARE_LINK_KEYS}
    assert api.links[9] == before


async def test_wrong_method_on_an_item_is_405_listing_get_put_delete(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    async with http.patch(f"{LIST}/{api.links[0]['id']}", json={}) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, PUT, DELETE"


# ------------------------------------------------------------------ delete


async def test_delete_removes_the_link_and_answers_200_with_a_message(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    link_id = api.links[3]["id"]
    status, body = await call(http, "DELETE", f"{LIST}/{link_id}")
    assert (status, body) == (200, {"message": "Share link deleted successfully"})
    assert link_id not in [link["id"] for link in api.links]
    assert (await list_page(http))["meta"]["total"] == 119
    assert (await call(http, "GET", f"{LIST}/{link_id}"))[0] == 404
    assert [r.operation for r in api.requests[-3:]] == ["delete", "list", "get"]


async def test_delete_of_an_unknown_id_is_404(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "DELETE", f"{LIST}/{uuid.uuid4()}")
    assert status == 404
    assert body["message"]
    assert len(api.links) == 120


async def test_delete_of_a_malformed_id_is_400(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "DELETE", f"{LIST}/not-a-uuid")
    assert status == 400
    assert body["message"].startswith("id")


async def test_delete_without_the_key_is_401_and_deletes_nothing(api: FakeAnamAPI) -> None:
    async with aiohttp.ClientSession(base_url=api.url) as anonymous:
        status, _ = await call(anonymous, "DELETE", f"{LIST}/{api.links[0]['id']}")
    assert status == 401
    assert len(api.links) == 120


# ------------------------------------------------------------------ the request log


async def test_the_request_log_keeps_only_the_latest_requests_but_counts_all() -> None:
    async with FakeAnamAPI(max_recorded_requests=3) as api:
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with aiohttp.ClientSession(base_url=api.url, headers=headers) as http:
            for page in range(1, 8):
                await list_page(http, page=page)
        assert [record.page for record in api.requests] == [5, 6, 7]
        assert [record.number for record in api.requests] == [5, 6, 7]
        assert [r.page for r in await api.wait_for_requests(7, operation="list")] == [5, 6, 7]


async def test_the_request_log_can_be_turned_off() -> None:
    async with FakeAnamAPI(max_recorded_requests=0) as api:
        async with aiohttp.ClientSession(base_url=api.url) as http:
            await call(http, "GET", LIST)
        assert api.requests == []
        await api.wait_for_requests(1)


@pytest.mark.parametrize("value", [-1, 1.5, True, None])
def test_max_recorded_requests_must_be_an_int_at_least_0(value: Any) -> None:
    with pytest.raises(ValueError, match="max_recorded_requests"):
        FakeAnamAPI(max_recorded_requests=value)


async def test_update_unknown_id_is_404(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "PUT", f"{LIST}/{uuid.uuid4()}", json={})
    assert status == 404
    assert body["message"]


async def test_update_malformed_id_is_400(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "PUT", f"{LIST}/123", json={})
    assert status == 400
    assert body["message"].startswith("id")


@pytest.mark.parametrize("data", [b"", b"nope", b"[]"])
async def test_update_without_a_json_object_body_is_400(
    api: FakeAnamAPI, http: aiohttp.ClientSession, data: bytes
) -> None:
    async with http.put(f"{LIST}/{api.links[0]['id']}", data=data, headers=JSON_LABEL) as resp:
        assert resp.status == 400
        assert (await resp.json())["message"]


async def test_update_with_invalid_usage_limit_is_400_and_changes_nothing(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    before = api.links[2]
    payload = {"usageLimit": -1, "expiresInHours": 5}
    status, body = await call(http, "PUT", f"{LIST}/{before['id']}", json=payload)
    assert status == 400
    assert body["message"].startswith("usageLimit")
    assert api.links[2] == before


# ------------------------------------------------------------------ faults


async def test_status_fault_sends_retry_after_headers_and_a_json_message(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(StatusFault(429, retry_after=2, retry_after_ms=1500))
    async with http.get(LIST) as resp:
        body = await resp.json()
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "2"
    assert resp.headers["retry-after-ms"] == "1500"
    assert body["statusCode"] == 429
    assert body["message"]


async def test_status_fault_sends_an_http_date_retry_after_as_given(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    api.add_fault(StatusFault(503, retry_after=date, headers={"X-Trace": "t1"}))
    async with http.get(LIST) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == date
        assert resp.headers["X-Trace"] == "t1"
        assert "retry-after-ms" not in resp.headers


async def test_status_fault_with_custom_body(api: FakeAnamAPI, http: aiohttp.ClientSession) -> None:
    api.add_fault(StatusFault(500, body={"message": ["a", "b"]}))
    assert await call(http, "GET", LIST) == (500, {"message": ["a", "b"]})


async def test_status_fault_is_used_once_by_default(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(StatusFault(500))
    assert (await call(http, "GET", LIST))[0] == 500
    assert (await call(http, "GET", LIST))[0] == 200


async def test_fault_times_none_lasts_until_cleared(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(StatusFault(502), times=None)
    assert [(await call(http, "GET", LIST))[0] for _ in range(3)] == [502, 502, 502]
    api.clear_faults()
    assert (await call(http, "GET", LIST))[0] == 200


async def test_fault_matches_operation_and_page_only(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(StatusFault(500), operation="list", page=2)
    assert (await call(http, "GET", f"{LIST}/{api.links[0]['id']}"))[0] == 200
    assert (await call(http, "GET", LIST, params={"page": "1"}))[0] == 200
    assert (await call(http, "GET", LIST, params={"page": "2"}))[0] == 500


async def test_fault_matches_request_number(api: FakeAnamAPI, http: aiohttp.ClientSession) -> None:
    api.add_fault(StatusFault(418), request_number=3)
    statuses = [(await call(http, "GET", LIST))[0] for _ in range(4)]
    assert statuses == [200, 200, 418, 200]


async def test_malformed_fault_sends_the_bytes_as_given(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(MalformedFault(b"<html>bad gateway</html>", content_type="text/html"))
    async with http.get(LIST) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert await resp.read() == b"<html>bad gateway</html>"


async def test_drop_fault_before_response_raises_server_disconnected(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    # times=2: aiohttp resends an idempotent request once after such a drop.
    api.add_fault(DropFault(), times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "GET", LIST)
    assert [r.operation for r in api.requests] == ["list", "list"]
    assert (await call(http, "GET", LIST))[0] == 200


async def test_drop_fault_on_create_is_not_resent(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(DropFault(), operation="create")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await call(http, "POST", LIST, json={"personaId": persona_id(api)})
    assert len(api.requests) == 1


async def test_drop_fault_after_headers_cuts_the_body_short(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(DropFault(after_headers=True))
    async with http.get(LIST) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    assert api.disconnects == 0


async def test_delay_fault_delays_then_answers_normally(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(DelayFault(0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _ = await call(http, "GET", LIST)
    assert status == 200
    assert loop.time() - started >= 0.2


async def test_delay_fault_trips_a_client_timeout(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.add_fault(DelayFault(5))
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(LIST, timeout=aiohttp.ClientTimeout(total=0.05)):
            pass


async def test_latency_is_added_to_every_response(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.latency = 0.15
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await call(http, "GET", "/nowhere"))[0] == 404
    assert loop.time() - started >= 0.15


@pytest.mark.parametrize(
    "make",
    [
        lambda: StatusFault(99),
        lambda: StatusFault(500, delay=-1),
        lambda: DelayFault(float("nan")),
        lambda: MalformedFault(b"", status=100),
    ],
)
def test_invalid_fault_arguments_raise_value_error(make: Any) -> None:
    with pytest.raises(ValueError, match="invalid"):
        make()


async def _statuses_with_error_rate(seed: int) -> list[int]:
    async with FakeAnamAPI(seed=seed) as api:
        api.set_error_rate(0.3, [StatusFault(500), StatusFault(503), MalformedFault(b"{")])
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with aiohttp.ClientSession(base_url=api.url, headers=headers) as http:
            statuses = []
            for _ in range(40):
                async with http.get(LIST) as resp:
                    body = await resp.read()
                    statuses.append(-1 if body == b"{" else resp.status)
            return statuses


async def test_error_rate_is_reproducible_per_seed() -> None:
    first = await _statuses_with_error_rate(seed=7)
    assert first == await _statuses_with_error_rate(seed=7)
    assert 0 < sum(status != 200 for status in first) < 40
    assert set(first) <= {200, 500, 503, -1}
    assert len(set(first)) >= 3
    assert first != await _statuses_with_error_rate(seed=8)


async def test_error_rate_only_touches_the_chosen_operations(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    api.set_error_rate(1.0, operations=["get"])
    assert (await call(http, "GET", LIST))[0] == 200
    assert (await call(http, "GET", f"{LIST}/{api.links[0]['id']}"))[0] == 500
    api.set_error_rate(0)
    assert (await call(http, "GET", f"{LIST}/{api.links[0]['id']}"))[0] == 200


# ------------------------------------------------------------------ data changes and hooks


async def test_hook_inserting_links_before_page_2_shifts_the_listing(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    def insert_before_page_2(record: RecordedRequest) -> None:
        if record.operation == "list" and record.page == 2:
            api.insert_links(5)

    api.on_request(insert_before_page_2)
    first = await list_page(http, page=1, perPage=10)
    second = await list_page(http, page=2, perPage=10)
    assert [link["id"] for link in second["data"][:5]] == [link["id"] for link in first["data"][5:]]
    assert second["meta"]["total"] == 125


async def test_async_hook_runs_before_the_answer(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    async def delete_newest(record: RecordedRequest) -> None:
        await asyncio.sleep(0)
        api.delete_links(3)

    api.on_request(delete_newest)
    assert (await list_page(http))["meta"]["total"] == 117
    api.remove_request_hook(delete_newest)
    assert (await list_page(http))["meta"]["total"] == 117


async def test_failing_hook_answers_500_and_close_reraises() -> None:
    api = FakeAnamAPI()
    await api.start()

    @api.on_request
    def broken(record: RecordedRequest) -> None:
        raise LookupError("hook bug")

    async with aiohttp.ClientSession() as http, http.get(api.url + LIST) as resp:
        assert resp.status == 500
    with pytest.raises(LookupError, match="hook bug"):
        await api.close()


async def test_insert_links_adds_newest_links_for_a_persona(api: FakeAnamAPI) -> None:
    persona = api.personas[4]
    inserted = api.insert_links(3, persona=persona["id"])
    assert [link["id"] for link in api.links[:3]] == [link["id"] for link in inserted[::-1]]
    assert {link["personaName"] for link in inserted} == {persona["name"]}


async def test_delete_links_by_count_removes_the_newest(api: FakeAnamAPI) -> None:
    before = api.links
    deleted = api.delete_links(4)
    assert deleted == [link["id"] for link in before[:4]]
    assert api.links == before[4:]


async def test_delete_links_by_id(api: FakeAnamAPI) -> None:
    target = api.links[10]["id"]
    assert api.delete_links([target]) == [target]
    with pytest.raises(KeyError):
        api.get_link(target)
    with pytest.raises(KeyError):
        api.delete_links([target])


# ------------------------------------------------------------------ request record


async def test_requests_are_recorded_in_order_with_their_details(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    await call(http, "GET", LIST, params={"page": "3", "search": "a b"})
    payload = {"personaId": persona_id(api)}
    await call(http, "POST", LIST, json=payload)
    listed, created = api.requests
    assert (listed.number, listed.method, listed.path) == (1, "GET", LIST)
    assert listed.query == {"page": "3", "search": "a b"}
    assert listed.query_string == "page=3&search=a+b"
    assert (listed.operation, listed.page, listed.body) == ("list", 3, b"")
    assert listed.headers["authorization"] == f"Bearer {api.api_key}"
    assert (created.number, created.operation, created.page) == (2, "create", None)
    assert created.json() == payload


async def test_list_without_page_is_recorded_as_page_1(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    await call(http, "GET", LIST)
    await call(http, "GET", LIST, params={"page": "x"})
    assert [r.page for r in api.requests] == [1, None]


async def test_reset_requests_restarts_numbering(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    await call(http, "GET", LIST)
    api.reset_requests()
    assert api.requests == []
    await call(http, "GET", "/elsewhere")
    assert [(r.number, r.operation) for r in api.requests] == [(1, None)]


async def test_wait_for_requests_returns_once_they_arrived(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    gate = api.hold()
    tasks = [asyncio.create_task(call(http, "GET", LIST)) for _ in range(3)]
    arrived = await api.wait_for_requests(3, operation="list")
    assert len(arrived) == 3
    gate.release()
    assert [status for status, _ in await asyncio.gather(*tasks)] == [200, 200, 200]


# ------------------------------------------------------------------ hold gate and concurrency


async def test_hold_gate_parks_requests_until_released(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    gate = api.hold(operation="list")
    task = asyncio.create_task(call(http, "GET", LIST))
    await gate.wait_for_waiting(1)
    assert (gate.waiting, api.in_flight, task.done()) == (1, 1, False)
    gate.release()
    assert (await task)[0] == 200
    assert (gate.waiting, gate.held, gate.released) == (0, 1, True)


async def test_hold_gate_only_parks_its_page(api: FakeAnamAPI, http: aiohttp.ClientSession) -> None:
    async with api.hold(page=2) as gate:
        held = asyncio.create_task(call(http, "GET", LIST, params={"page": "2"}))
        await gate.wait_for_waiting(1)
        assert (await call(http, "GET", LIST, params={"page": "3"}))[0] == 200
        assert not held.done()
    assert (await held)[0] == 200


async def test_max_in_flight_records_the_peak(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    gate = api.hold()
    tasks = [asyncio.create_task(call(http, "GET", LIST)) for _ in range(4)]
    await gate.wait_for_waiting(4)
    assert api.in_flight == 4
    gate.release()
    await asyncio.gather(*tasks)
    await api.wait_for_idle()
    assert (api.in_flight, api.max_in_flight) == (0, 4)


async def test_client_cancellation_is_counted_as_a_disconnect(
    api: FakeAnamAPI, http: aiohttp.ClientSession
) -> None:
    gate = api.hold()
    task = asyncio.create_task(call(http, "GET", LIST))
    await gate.wait_for_waiting(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await api.wait_for_disconnects(1)
    await api.wait_for_idle()
    assert (api.disconnects, gate.waiting) == (1, 0)


async def test_close_with_a_parked_request_does_not_hang() -> None:
    api = FakeAnamAPI()
    await api.start()
    gate = api.hold()
    async with aiohttp.ClientSession() as http:
        task = asyncio.create_task(http.get(api.url + LIST))
        await gate.wait_for_waiting(1)
        async with asyncio.timeout(5):
            await api.close()
        with pytest.raises(aiohttp.ClientError):
            await task
    assert (api.in_flight, api.disconnects) == (0, 0)
    assert asyncio.all_tasks() == {asyncio.current_task()}


# ------------------------------------------------------------------ seeded data


def test_same_seed_gives_the_same_data() -> None:
    first, second = FakeAnamAPI(seed=3), FakeAnamAPI(seed=3)
    assert first.links == second.links
    assert first.personas == second.personas
    assert FakeAnamAPI(seed=4).links != first.links


def test_seeded_data_covers_the_shapes_a_client_must_handle() -> None:
    links = FakeAnamAPI().links
    org_ids = {link["organizationId"] for link in links}
    assert any(_is_uuid(org) for org in org_ids)
    assert any(NANOID_RE.fullmatch(org) and not _is_uuid(org) for org in org_ids)
    assert {link["type"] for link in links} == {"LINK", "PLAYER_EMBED", "ORB_EMBED"}
    for key in ("expiresAt", "usageLimit"):
        values = [link[key] for link in links]
        assert None in values
        assert any(value is not None for value in values)
    assert {bool(link["allowedOrigins"]) for link in links} == {True, False}
    for key in ("allowAllOrigins", "removeWatermark", "enabled"):
        assert {link[key] for link in links} == {True, False}
    assert all(ISO_RE.fullmatch(link["expiresAt"]) for link in links if link["expiresAt"])


def test_at_most_one_primary_link_per_persona() -> None:
    api = FakeAnamAPI(links=300)
    primaries = [link["personaId"] for link in api.links if link["isPrimary"]]
    assert primaries
    assert len(primaries) == len(set(primaries))


def test_link_count_and_persona_count_are_configurable() -> None:
    api = FakeAnamAPI(links=0, personas=9)
    assert api.links == []
    assert len({persona["id"] for persona in api.personas}) == 9


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


# ------------------------------------------------------------------ synchronous use


def test_run_in_thread_serves_synchronous_clients() -> None:
    api = FakeAnamAPI(links=3)
    with api.run_in_thread() as running:
        request = urllib.request.Request(
            running.url + LIST, headers={"Authorization": f"Bearer {running.api_key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
    with pytest.raises(RuntimeError, match="closed"), api.run_in_thread():
        pass


async def test_on_response_sees_every_answer_and_its_fault() -> None:
    seen: list[RecordedResponse] = []
    async with FakeAnamAPI(links=3) as api, aiohttp.ClientSession() as http:

        async def record(response: RecordedResponse) -> None:  # async hooks are awaited
            seen.append(response)

        api.on_response(record)
        api.add_fault(StatusFault(503), operation="list")
        headers = {"Authorization": f"Bearer {api.api_key}"}
        for _ in range(2):
            async with http.get(f"{api.url}/v1/share-links", headers=headers) as resp:
                await resp.read()
        api.remove_response_hook(record)
        async with http.get(f"{api.url}/v1/share-links", headers=headers) as resp:
            await resp.read()
    assert [(r.status, r.fault_injected) for r in seen] == [(503, True), (200, False)]
    assert seen[0].fault == StatusFault(503)
    assert seen[1].content_type.startswith("application/json")
    assert b'"total":3' in seen[1].body
    assert [r.request.number for r in seen] == [1, 2]


async def test_a_response_hook_that_raises_is_reraised_by_close() -> None:
    api = FakeAnamAPI(links=1)
    async with api, aiohttp.ClientSession() as http:

        @api.on_response
        def broken(response: RecordedResponse) -> None:
            raise RuntimeError("hook broke")

        async with http.get(f"{api.url}/v1/share-links") as resp:
            assert resp.status == 401  # the answer is unchanged
            await resp.read()
        with pytest.raises(RuntimeError, match="hook broke"):
            await api.close()
