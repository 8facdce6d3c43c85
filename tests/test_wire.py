"""The sans-I/O layer ``anam_async._wire``: argument rules, request shapes, response parsing."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anam_async import AnamClient, _types, _validate, _wire
from anam_async.errors import (
    AnamError,
    AnamValidationError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
URL = "https://api.anam.ai/v1/share-links"
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

UUID_ACCEPTED: list[object] = [
    uuid.UUID(ID),
    ID,
    ID.upper(),
    "3F2504e0-4f89-11D3-9a0c-0305E82C3301",
    ID.replace("-", ""),
    ID.replace("-", "").upper(),
]
UUID_REFUSED: list[object] = [
    "{" + ID + "}",
    "urn:uuid:" + ID,
    ID[:-1],  # 35 characters
    ID + "0",  # 37 characters
    ID.replace("-", "")[:-1],  # 31 hex digits
    ID[:-1] + "g",  # not hex
    ID.replace("-", "")[:-1] + "z",
    "3f2504e04f89-11d3-9a0c-0305e82c3301-",  # hyphens in the wrong places
    "3f2504e0-4f8911d3-9a0c-0305e82c3301",
    " " + ID,
    ID + " ",
    ID + "\n",
    "\n" + ID,
    ID.replace("-", "") + "\n",
    "../../v1/personas",
    "",
    uuid.UUID(ID).int,
    uuid.UUID(ID).bytes,
    ID.encode(),
    1,
    True,
    ["" + ID],
    "\uff13f2504e0-4f89-11d3-9a0c-0305e82c3301",  # fullwidth digit three
]


def _list(**kwargs: object) -> _wire.Request:
    args: dict[str, object] = {"page": 1, "per_page": 20, "search": None, "persona_id": None}
    return _wire.list_share_links(**{**args, **kwargs})  # type: ignore[arg-type]


def _create(**kwargs: object) -> _wire.Request:
    args: dict[str, object] = {"persona_id": ID, "expires_in_hours": None, "usage_limit": None}
    return _wire.create_share_link(**{**args, **kwargs})  # type: ignore[arg-type]


def _update(share_link_id: object = ID, **kwargs: object) -> _wire.Request:
    args: dict[str, object] = {"expires_in_hours": None, "usage_limit": None}
    return _wire.update_share_link(share_link_id, **{**args, **kwargs})  # type: ignore[arg-type]


def _query(request: _wire.Request) -> dict[str, list[str]]:
    return parse_qs(request.query, keep_blank_values=True, strict_parsing=True)


def _json(request: _wire.Request) -> Any:
    assert request.body is not None
    return json.loads(request.body)


# ---------------------------------------------------------------------------------------------
# Query validation: page, per_page, search


@pytest.mark.parametrize("page", [1, 2, 100, 10**6])
def test_page_accepts_an_int_of_at_least_one(page: int) -> None:
    assert _query(_list(page=page))["page"] == [str(page)]


@pytest.mark.parametrize("page", [0, -1, 1.0, "1", None, True, False, 2.5])
def test_page_refuses_anything_but_an_int_of_at_least_one(page: object) -> None:
    with pytest.raises(AnamValidationError, match=r"^page=.* is invalid: must be an int >= 1"):
        _list(page=page)


@pytest.mark.parametrize("per_page", [1, 20, 99, 100])
def test_per_page_accepts_an_int_in_1_to_100(per_page: int) -> None:
    assert _query(_list(per_page=per_page))["perPage"] == [str(per_page)]


@pytest.mark.parametrize("per_page", [0, 101, -1, 1000, 20.0, "20", None, True, False])
def test_per_page_refuses_anything_but_an_int_in_1_to_100(per_page: object) -> None:
    with pytest.raises(AnamValidationError, match=r"^per_page=.* is invalid: .*1\.\.100"):
        _list(per_page=per_page)


@pytest.mark.parametrize("name", ["page", "per_page"])
@pytest.mark.parametrize("value", [True, False])
def test_bool_is_not_an_int_here(name: str, value: bool) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{name}={value} is invalid"):
        _list(**{name: value})


@pytest.mark.parametrize("search", [None, "", "cara", "a&b", "日本"])
def test_search_accepts_str_or_none(search: str | None) -> None:
    _list(search=search)


@pytest.mark.parametrize("search", [1, 0, b"cara", ["cara"], True, 1.5])
def test_search_refuses_anything_but_str_or_none(search: object) -> None:
    with pytest.raises(AnamValidationError, match=r"^search=.* is invalid: must be a str or None"):
        _list(search=search)


def test_search_that_cannot_be_url_encoded_is_a_validation_error() -> None:
    """A lone surrogate has no UTF-8 form: refuse it as a bad argument, not a UnicodeError."""
    with pytest.raises(AnamValidationError, match=r"^search="):
        _list(search="bad \ud800 term")


@pytest.mark.parametrize("method", ["stream", "pages"])
def test_stream_refuses_a_search_that_cannot_be_url_encoded_when_called(method: str) -> None:
    """stream()/pages() validate when called, so the surrogate must not wait for page 1."""
    client = AnamClient(api_key="sk-test", base_url="http://127.0.0.1:9")
    with pytest.raises(AnamValidationError, match=r"^search="):
        getattr(client.share_links, method)(search="bad \ud800 term")


# ---------------------------------------------------------------------------------------------
# Query validation: ids


@pytest.mark.parametrize("value", UUID_ACCEPTED, ids=repr)
def test_uuid_forms_are_accepted_and_canonicalised(value: object) -> None:
    assert _validate.check_uuid("persona_id", value) == ID


@pytest.mark.parametrize("value", UUID_REFUSED, ids=repr)
@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("persona_id", lambda v: _list(persona_id=v)),
        ("persona_id", lambda v: _create(persona_id=v)),
        ("share_link_id", _wire.get_share_link),
        ("share_link_id", _update),
    ],
    ids=["list", "create", "get", "update"],
)
def test_malformed_id_is_refused_naming_the_parameter(
    name: str, call: Callable[[object], object], value: object
) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{name}=.* is invalid: .*UUID"):
        call(value)


@pytest.mark.parametrize("value", UUID_ACCEPTED, ids=repr)
def test_list_sends_persona_id_in_canonical_form(value: object) -> None:
    assert _query(_list(persona_id=value))["personaId"] == [ID]


@pytest.mark.parametrize("value", UUID_ACCEPTED, ids=repr)
def test_get_path_holds_the_canonical_id(value: object) -> None:
    assert _wire.get_share_link(value).path == f"/v1/share-links/{ID}"


@pytest.mark.parametrize("value", UUID_ACCEPTED, ids=repr)
def test_update_path_holds_the_canonical_id(value: object) -> None:
    assert _update(value).path == f"/v1/share-links/{ID}"


@pytest.mark.parametrize("value", UUID_ACCEPTED, ids=repr)
def test_create_body_holds_the_canonical_persona_id(value: object) -> None:
    assert _json(_create(persona_id=value))["personaId"] == ID


def test_create_requires_a_persona_id() -> None:
    with pytest.raises(AnamValidationError, match=r"^persona_id=None is invalid"):
        _create(persona_id=None)


# ---------------------------------------------------------------------------------------------
# Query validation: expires_in_hours, usage_limit


NUMBER_ACCEPTED = [1, 168, 0.5, 1.5, 1e-9, 10**6, 1e6]
NUMBER_REFUSED = [
    0,
    0.0,
    -0.0,
    -1,
    -0.5,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    "5",
    b"5",
    [5],
]


@pytest.mark.parametrize("value", NUMBER_ACCEPTED)
@pytest.mark.parametrize(
    ("name", "wire"), [("expires_in_hours", "expiresInHours"), ("usage_limit", "usageLimit")]
)
@pytest.mark.parametrize("build", [_create, _update], ids=["create", "update"])
def test_positive_finite_number_is_sent_as_is(
    build: Callable[..., _wire.Request], name: str, wire: str, value: float
) -> None:
    body = _json(build(**{name: value}))
    assert body[wire] == value
    assert type(body[wire]) is type(value)


@pytest.mark.parametrize("value", NUMBER_REFUSED, ids=repr)
@pytest.mark.parametrize("name", ["expires_in_hours", "usage_limit"])
@pytest.mark.parametrize("build", [_create, _update], ids=["create", "update"])
def test_number_that_is_not_positive_and_finite_is_refused(
    build: Callable[..., _wire.Request], name: str, value: object
) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{name}=.* is invalid: .*positive finite"):
        build(**{name: value})


@pytest.mark.parametrize("name", ["expires_in_hours", "usage_limit"])
@pytest.mark.parametrize("build", [_create, _update], ids=["create", "update"])
def test_huge_int_is_sent_or_refused_never_an_overflow(
    build: Callable[..., _wire.Request], name: str
) -> None:
    """10**400 is a positive finite int: it may be refused, but only as a bad argument."""
    with contextlib.suppress(AnamValidationError):
        build(**{name: 10**400})


# ---------------------------------------------------------------------------------------------
# The message


def test_message_has_the_documented_format() -> None:
    with pytest.raises(AnamValidationError) as info:
        _list(per_page=101)
    assert str(info.value) == "per_page=101 is invalid: must be an int in 1..100"


@pytest.mark.parametrize(
    ("kwargs", "prefix"),
    [
        ({"page": 0}, "page=0 is invalid: "),
        ({"page": "2"}, "page='2' is invalid: "),
        ({"per_page": 0}, "per_page=0 is invalid: "),
        ({"search": 5}, "search=5 is invalid: "),
        ({"persona_id": "nope"}, "persona_id='nope' is invalid: "),
    ],
)
def test_message_names_the_parameter_and_shows_the_value(
    kwargs: dict[str, object], prefix: str
) -> None:
    with pytest.raises(AnamValidationError) as info:
        _list(**kwargs)
    assert str(info.value).startswith(prefix)
    assert len(str(info.value)) > len(prefix) + 5  # the rule follows


def test_message_shortens_a_long_value() -> None:
    value = "x" * 10_000
    with pytest.raises(AnamValidationError) as info:
        _list(persona_id=value)
    message = str(info.value)
    assert message.startswith("persona_id='xxxx")
    assert "..." in message
    assert len(message) < 300
    assert "UUID" in message


def test_validation_error_is_a_value_error_and_an_anam_error() -> None:
    with pytest.raises(AnamValidationError) as info:
        _list(page=0)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AnamError)


# ---------------------------------------------------------------------------------------------
# Request building


def test_list_defaults_build_a_plain_get() -> None:
    request = _list()
    assert (request.method, request.path, request.body) == ("GET", "/v1/share-links", None)
    assert request.idempotent is True
    assert _query(request) == {"page": ["1"], "perPage": ["20"]}


def test_list_query_uses_the_spec_wire_names() -> None:
    request = _list(page=3, per_page=50, search="cara", persona_id=ID)
    assert _query(request) == {
        "page": ["3"],
        "perPage": ["50"],
        "search": ["cara"],
        "personaId": [ID],
    }
    assert request.target == f"/v1/share-links?{request.query}"


def test_none_search_is_left_out_of_the_query() -> None:
    assert "search" not in _list(search=None).query


def test_empty_search_is_sent_as_an_empty_value() -> None:
    request = _list(search="")
    assert "search=" in request.query.split("&")
    assert _query(request)["search"] == [""]


@pytest.mark.parametrize(
    "search", ["a&perPage=1000", "a=b", "x&page=9&personaId=" + ID, "%26", "a#b", "a?b"]
)
def test_search_with_url_syntax_is_one_encoded_value(search: str) -> None:
    query = _query(_list(search=search))
    assert query["search"] == [search]
    assert query["perPage"] == ["20"]
    assert query["page"] == ["1"]
    assert "personaId" not in query


@pytest.mark.parametrize("search", ["a+b", "a b", "a +b"])
def test_search_plus_and_space_survive_the_round_trip(search: str) -> None:
    assert _query(_list(search=search))["search"] == [search]


@pytest.mark.parametrize("search", ["café", "日本語", "emoji 🎭", "Ωμέγα"])
def test_unicode_search_is_percent_encoded_utf8(search: str) -> None:
    request = _list(search=search)
    assert request.query.isascii()
    assert _query(request)["search"] == [search]


def test_get_builds_an_idempotent_get_without_body() -> None:
    request = _wire.get_share_link(uuid.UUID(ID))
    assert (request.method, request.path, request.query, request.body) == (
        "GET",
        f"/v1/share-links/{ID}",
        "",
        None,
    )
    assert request.idempotent is True
    assert request.target == f"/v1/share-links/{ID}"


def test_create_is_a_non_idempotent_post() -> None:
    request = _create()
    assert (request.method, request.path, request.query) == ("POST", "/v1/share-links", "")
    assert request.idempotent is False


def test_create_body_leaves_unset_fields_out() -> None:
    assert _json(_create()) == {"personaId": ID}


def test_create_body_is_camel_case_json() -> None:
    body = _json(_create(expires_in_hours=24, usage_limit=5))
    assert body == {"personaId": ID, "expiresInHours": 24, "usageLimit": 5}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"expires_in_hours": 2.5}, {"personaId": ID, "expiresInHours": 2.5}),
        ({"usage_limit": 3}, {"personaId": ID, "usageLimit": 3}),
    ],
)
def test_create_body_holds_only_the_given_fields(
    kwargs: dict[str, object], expected: dict[str, object]
) -> None:
    assert _json(_create(**kwargs)) == expected


def test_update_with_neither_field_sends_exactly_an_empty_object() -> None:
    request = _update()
    assert request.body == b"{}"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"expires_in_hours": 48}, {"expiresInHours": 48}),
        ({"usage_limit": 50}, {"usageLimit": 50}),
        ({"expires_in_hours": 1.5, "usage_limit": 2}, {"expiresInHours": 1.5, "usageLimit": 2}),
    ],
)
def test_update_body_holds_only_the_given_fields(
    kwargs: dict[str, object], expected: dict[str, object]
) -> None:
    assert _json(_update(**kwargs)) == expected


def test_update_is_an_idempotent_put() -> None:
    request = _update(usage_limit=1)
    assert (request.method, request.path, request.query) == ("PUT", f"/v1/share-links/{ID}", "")
    assert request.idempotent is True


# ---------------------------------------------------------------------------------------------
# decipher: 2xx

LINK: dict[str, Any] = {
    "id": ID,
    "token": "tok",
    "type": "LINK",
    "expiresAt": "2026-04-27T10:00:00.000Z",
    "usageLimit": 10,
    "usageCount": 3,
    "allowedOrigins": [],
    "allowAllOrigins": False,
    "removeWatermark": False,
    "enabled": True,
    "isPrimary": False,
    "createdAt": "2026-04-20T10:00:00.000Z",
    "personaId": ID,
    "personaName": "Cara",
    "organizationId": "org_1",
}
META: dict[str, Any] = {
    "total": 1,
    "lastPage": 1,
    "currentPage": 1,
    "perPage": 20,
    "prev": None,
    "next": None,
}
PAGE: dict[str, Any] = {"data": [LINK], "meta": META}


def _parse(
    body: bytes,
    status: int = 200,
    decoder: msgspec.json.Decoder[Any] = _types.share_link_page_decoder,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Any:
    return _wire.decipher(status, headers or {}, body, decoder, method=method, url=URL)


def _enc(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize("status", [200, 201, 299])
def test_2xx_page_body_decodes_into_the_struct(status: int) -> None:
    page = _parse(_enc(PAGE), status)
    assert isinstance(page, _types.ShareLinkPage)
    assert page.data[0].id == uuid.UUID(ID)
    assert page.meta.total == 1


@pytest.mark.parametrize(
    ("decoder", "struct"),
    [
        (_types.share_link_decoder, _types.ShareLink),
        (_types.persona_share_link_decoder, _types.PersonaShareLink),
    ],
)
def test_2xx_link_body_decodes_into_the_struct(
    decoder: msgspec.json.Decoder[Any], struct: type
) -> None:
    link = _parse(_enc(LINK), 201, decoder)
    assert type(link) is struct
    assert link.token == "tok"


def _without_created_at() -> dict[str, Any]:
    page = copy.deepcopy(PAGE)
    del page["data"][0]["createdAt"]
    return page


def _with(path: tuple[Any, ...], value: object) -> dict[str, Any]:
    page = copy.deepcopy(PAGE)
    target: Any = page
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return page


MALFORMED_2XX: list[tuple[str, bytes, str | None]] = [
    ("not-json", b"not json at all", None),
    ("html", b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", None),
    ("empty", b"", None),
    ("truncated", _enc(PAGE)[:40], None),
    ("array", b"[]", None),
    ("null", b"null", None),
    ("data-null", _enc({"data": None, "meta": META}), "$.data"),
    ("data-object", _enc({"data": {}, "meta": META}), "$.data"),
    ("meta-missing", _enc({"data": []}), "meta"),
    ("created-at-int", _enc(_with(("data", 0, "createdAt"), 5)), "$.data[0].createdAt"),
    (
        "created-at-naive",
        _enc(_with(("data", 0, "createdAt"), "2026-04-20T10:00:00")),
        "$.data[0].createdAt",
    ),
    ("created-at-missing", _enc(_without_created_at()), "createdAt"),
    ("id-not-uuid", _enc(_with(("data", 0, "id"), "abc")), "$.data[0].id"),
    ("usage-count-str", _enc(_with(("data", 0, "usageCount"), "3")), "$.data[0].usageCount"),
    ("total-null", _enc(_with(("meta", "total"), None)), "$.meta.total"),
    ("origins-int", _enc(_with(("data", 0, "allowedOrigins"), [1])), "$.data[0].allowedOrigins[0]"),
]


@pytest.mark.parametrize(
    ("body", "path"), [c[1:] for c in MALFORMED_2XX], ids=[c[0] for c in MALFORMED_2XX]
)
def test_2xx_body_that_does_not_decode_is_a_response_validation_error(
    body: bytes, path: str | None
) -> None:
    with pytest.raises(APIResponseValidationError) as info:
        _parse(body)
    if path is not None:
        assert path in info.value.message


@pytest.mark.parametrize("status", [200, 201])
def test_response_validation_error_carries_status_snippet_method_and_url(status: int) -> None:
    body = b"<html>" + b"x" * 1000 + b"</html>"
    with pytest.raises(APIResponseValidationError) as info:
        _parse(body, status, method="POST")
    error = info.value
    assert error.status == status
    assert error.body_snippet == body[:200].decode()
    assert (error.method, error.url) == ("POST", URL)
    assert str(status) in str(error)
    assert "<html>" in str(error)


def test_response_validation_error_is_not_retried_as_a_status_error() -> None:
    with pytest.raises(APIResponseValidationError) as info:
        _parse(b"{")
    assert not isinstance(info.value, APIStatusError)


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_2xx_body_is_a_response_validation_error(depth: int) -> None:
    """No exception type other than APIResponseValidationError escapes from decoding."""
    body = b'{"x":' + b"[" * depth + b"]" * depth + b',"data":[],"meta":{}}'
    with pytest.raises(APIResponseValidationError):
        _parse(body)


# ---------------------------------------------------------------------------------------------
# decipher: non-2xx


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
        (501, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (599, InternalServerError),
        (408, APIStatusError),
        (409, APIStatusError),
        (422, APIStatusError),
        (302, APIStatusError),
        (301, APIStatusError),
        (304, APIStatusError),
        (100, APIStatusError),
    ],
)
def test_non_2xx_status_maps_to_exactly_its_class(status: int, cls: type[APIStatusError]) -> None:
    with pytest.raises(APIStatusError) as info:
        _parse(b'{"message": "nope"}', status)
    assert type(info.value) is cls
    assert info.value.status == status


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({}, None),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "7.5"}, 7.5),
        ({"retry-after": "3600"}, 3600.0),
        ({"retry-after": "7", "retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "soon"}, None),
    ],
)
def test_rate_limit_error_carries_the_servers_retry_after(
    headers: dict[str, str], retry_after: float | None
) -> None:
    with pytest.raises(RateLimitError) as info:
        _parse(b"{}", 429, headers=headers)
    assert info.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"message": "bad page"}', "bad page"),
        (
            b'{"message": ["page must be >= 1", "perPage too big"]}',
            "page must be >= 1; perPage too big",
        ),
        (b'{"message": ["only one"]}', "only one"),
        (b'{"error": "Unauthorized"}', "Unauthorized"),
        (b'{"message": "from message", "error": "from error"}', "from message"),
        (b'{"statusCode": 500}', '{"statusCode": 500}'),
        (b'{"message": 5, "error": "from error"}', "from error"),
        (b"Bad Gateway", "Bad Gateway"),
        (b"<html><body>oops</body></html>", "<html><body>oops</body></html>"),
        (b"x" * 500, "x" * 200),
        (b"", ""),
    ],
    ids=[
        "message",
        "list",
        "list-of-one",
        "error",
        "message-first",
        "no-keys",
        "message-not-str",
        "text",
        "html",
        "long-text",
        "empty",
    ],
)
def test_status_error_message(body: bytes, message: str) -> None:
    with pytest.raises(APIStatusError) as info:
        _parse(body, 500)
    assert info.value.message == message


def test_status_error_message_is_the_first_200_characters_not_bytes() -> None:
    text = "é" * 300 + "日本" * 100
    with pytest.raises(APIStatusError) as info:
        _parse(text.encode(), 502)
    assert info.value.message == text[:200]


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (b'{"message": "m", "code": 7}', {"message": "m", "code": 7}),
        (b'["a", "b"]', ["a", "b"]),
        (b'"just a string"', "just a string"),
        (b"Not Found", "Not Found"),
        (b"<html>502</html>", "<html>502</html>"),
        (b"", ""),
    ],
)
def test_status_error_body_is_the_decoded_json_else_the_text(body: bytes, decoded: object) -> None:
    with pytest.raises(APIStatusError) as info:
        _parse(body, 404)
    assert info.value.body == decoded


def test_status_error_str_shows_status_and_message() -> None:
    with pytest.raises(APIStatusError) as info:
        _parse(b'{"message": "Share link not found"}', 404)
    text = str(info.value)
    assert "404" in text
    assert "Share link not found" in text


def test_status_error_carries_method_url_and_headers() -> None:
    headers = {"x-request-id": "abc", "content-type": "application/json"}
    with pytest.raises(APIStatusError) as info:
        _parse(b"{}", 403, headers=headers, method="PUT")
    error = info.value
    assert (error.method, error.url) == ("PUT", URL)
    assert dict(error.headers) == headers


@pytest.mark.parametrize("depth", [10_000, 200_000])
def test_deeply_nested_error_body_still_gives_the_status_error(depth: int) -> None:
    body = b'{"message":"m","x":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(InternalServerError):
        _parse(body, 500)


# ---------------------------------------------------------------------------------------------
# Property: any invalid argument is refused naming its parameter

HEX = set(string.hexdigits)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid_form(value: object) -> bool:
    if isinstance(value, uuid.UUID):
        return True
    if not isinstance(value, str):
        return False
    if len(value) == 32:
        return set(value) <= HEX
    if len(value) == 36:
        groups = value.split("-")
        return [len(g) for g in groups] == [8, 4, 4, 4, 12] and set("".join(groups)) <= HEX
    return False


VALID: dict[str, Callable[[object], bool]] = {
    "page": lambda v: _is_int(v) and 1 <= v <= 2**63 - 1,  # type: ignore[operator]
    "per_page": lambda v: _is_int(v) and 1 <= v <= 100,  # type: ignore[operator]
    "search": lambda v: v is None or isinstance(v, str),
    "persona_id": lambda v: v is None or _is_uuid_form(v),
    "concurrency": lambda v: _is_int(v) and 1 <= v <= 64,  # type: ignore[operator]
    "limit": lambda v: v is None or (_is_int(v) and 1 <= v <= 2**63 - 1),  # type: ignore[operator]
    "start_page": lambda v: _is_int(v) and 1 <= v <= 2**63 - 1,  # type: ignore[operator]
}

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.text(alphabet="0123456789abcdefABCDEF-{}:urn \n", min_size=30, max_size=40),
    st.uuids().map(str).map(lambda s: s + " "),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: u.int),
    st.uuids().map(lambda u: u.bytes),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.decimals(allow_nan=False),
)


def _call_list(name: str, value: object) -> None:
    _list(**{name: value})


def _client() -> AnamClient:
    return AnamClient(api_key="sk-test", base_url="http://127.0.0.1:9")


@PROPERTY
@given(name=st.sampled_from(["page", "per_page", "search", "persona_id"]), value=JUNK)
def test_property_invalid_list_argument_is_refused_naming_it(name: str, value: object) -> None:
    if VALID[name](value):
        _list(**{name: value})
        return
    with pytest.raises(AnamValidationError) as info:
        _list(**{name: value})
    assert str(info.value).startswith(f"{name}=")
    assert "is invalid: " in str(info.value)


@PROPERTY
@given(
    method=st.sampled_from(["stream", "pages"]),
    name=st.sampled_from(
        ["per_page", "search", "persona_id", "concurrency", "limit", "start_page"]
    ),
    value=JUNK,
)
def test_property_invalid_stream_argument_is_refused_when_called(
    method: str, name: str, value: object
) -> None:
    client = _client()
    if VALID[name](value):
        return
    with pytest.raises(AnamValidationError) as info:
        getattr(client.share_links, method)(**{name: value})
    assert str(info.value).startswith(f"{name}=")


@PROPERTY
@given(name=st.sampled_from(["expires_in_hours", "usage_limit"]), value=JUNK)
def test_property_invalid_number_is_refused_naming_it(name: str, value: object) -> None:
    valid = value is None or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
        and (_is_int(value) or math.isfinite(value))  # type: ignore[arg-type]
        # JSON numbers carry ints exactly up to 2**53 only: larger ones are refused.
        and not (_is_int(value) and value > 2**53)  # type: ignore[operator]
    )
    if valid:
        _create(**{name: value})
        return
    if _is_int(value) and value > 2**63:  # type: ignore[operator]
        return  # huge ints are covered by test_huge_int_is_sent_or_refused_never_an_overflow
    with pytest.raises(AnamValidationError) as info:
        _create(**{name: value})
    assert str(info.value).startswith(f"{name}=")


# ---------------------------------------------------------------------------------------------
# Property: any spec-valid page decodes


def _timestamp(seconds: int, micros: int, offset_minutes: int) -> str:
    zone = timezone(timedelta(minutes=offset_minutes))
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros).astimezone(zone)
    return moment.isoformat().replace("+00:00", "Z")


# Any instant from 1970 to 9998, with any whole-minute offset, as the API writes them.
TIMESTAMPS = st.builds(
    _timestamp,
    st.integers(min_value=0, max_value=253_370_000_000),
    st.sampled_from([0, 0, 123_000, 999_999]),
    st.one_of(st.just(0), st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59)),
)
UUID_STRINGS = st.uuids().flatmap(lambda u: st.sampled_from([str(u), str(u).upper(), u.hex]))
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=8)
)
UNKNOWN_KEYS = ["links", "theme", "newField", "x-extra", "persona", "_v", "from", "to"]
EXTRA = st.dictionaries(
    st.sampled_from(UNKNOWN_KEYS),
    st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2)),
    max_size=2,
)
INT = st.integers(min_value=0, max_value=2**31)
OPTIONAL_LINK_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "expiresAt": st.one_of(st.none(), TIMESTAMPS),
    "usageLimit": st.one_of(st.none(), INT),
    "usageCount": INT,
    "allowedOrigins": st.lists(st.text(max_size=10), max_size=2),
    "allowAllOrigins": st.booleans(),
    "removeWatermark": st.booleans(),
    "enabled": st.booleans(),
    "isPrimary": st.booleans(),
    "personaName": st.one_of(st.none(), st.text(max_size=10)),
    "organizationId": st.one_of(
        st.none(), st.uuids().map(str), st.text(alphabet=string.ascii_letters + "_-", max_size=21)
    ),
}
LINK_TYPES = st.one_of(st.sampled_from(["LINK", "PLAYER_EMBED", "ORB_EMBED"]), st.text(max_size=12))


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


LINKS = st.builds(
    _merge,
    EXTRA,
    st.fixed_dictionaries(
        {
            "id": UUID_STRINGS,
            "token": st.text(max_size=10),
            "type": LINK_TYPES,
            "createdAt": TIMESTAMPS,
            "personaId": UUID_STRINGS,
        },
        optional=OPTIONAL_LINK_FIELDS,
    ),
)
METAS = st.builds(
    _merge,
    EXTRA,
    st.fixed_dictionaries(
        {"total": INT, "lastPage": INT, "currentPage": INT, "perPage": INT},
        optional={"prev": st.one_of(st.none(), INT), "next": st.one_of(st.none(), INT)},
    ),
)
PAGES = st.builds(
    _merge, EXTRA, st.fixed_dictionaries({"data": st.lists(LINKS, max_size=2), "meta": METAS})
)


@PROPERTY
@given(page=PAGES)
def test_property_any_spec_valid_page_decodes(page: dict[str, Any]) -> None:
    decoded = _parse(_enc(page))
    assert isinstance(decoded, _types.ShareLinkPage)
    assert len(decoded.data) == len(page["data"])
    for item, wire in zip(decoded.data, page["data"], strict=True):
        assert item.id == uuid.UUID(wire["id"])
        assert item.persona_id == uuid.UUID(wire["personaId"])
        assert item.created_at.tzinfo is not None
        assert item.created_at == datetime.fromisoformat(wire["createdAt"])
        assert item.type == wire["type"]
        assert item.organization_id == wire.get("organizationId")
    assert decoded.meta.total == page["meta"]["total"]
    assert decoded == msgspec.json.decode(_enc(page), type=_types.ShareLinkPage)


# ---------------------------------------------------------------------------------------------
# Property: any malformed body gives APIResponseValidationError and nothing else

JSON_VALUES = st.recursive(
    JSON_SCALARS | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["data", "meta", "total", "id", "x"]), inner, max_size=3)
    ),
    max_leaves=6,
)


def _expect_response_validation_error(body: bytes) -> None:
    caught: Exception | None = None
    try:
        _parse(body)
    except Exception as error:
        caught = error
    if caught is None:
        pytest.fail("a malformed body decoded without error")
    if not isinstance(caught, APIResponseValidationError):
        pytest.fail(f"{type(caught).__name__} escaped from decoding: {caught}")
    assert caught.status == 200
    assert caught.body_snippet


@PROPERTY
@given(body=st.binary(max_size=200))
def test_property_random_bytes_never_raise_another_exception(body: bytes) -> None:
    with contextlib.suppress(APIResponseValidationError):
        _parse(body)


@PROPERTY
@given(value=JSON_VALUES)
def test_property_random_json_is_a_response_validation_error(value: object) -> None:
    _expect_response_validation_error(_enc(value))


def _corrupt(page: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Replace one required or typed field with a value of a wrong type."""
    page = copy.deepcopy(page)
    targets: list[tuple[Any, str, st.SearchStrategy[Any]]] = [
        (page, "data", st.sampled_from([None, {}, "x", 1])),
        (page, "meta", st.sampled_from([None, [], "x", 1])),
        *(
            (page["meta"], key, st.sampled_from([None, "1", 1.5, [], {}]))
            for key in ("total", "lastPage", "currentPage", "perPage")
        ),
    ]
    for link in page["data"]:
        targets += [
            (link, "id", st.sampled_from([None, 1, "not-a-uuid", "{" + ID + "}", []])),
            (link, "personaId", st.sampled_from([None, 1, "zz", {}])),
            (link, "token", st.sampled_from([None, 1, [], {}])),
            (link, "type", st.sampled_from([None, 1, [], {}])),
            (link, "createdAt", st.sampled_from([None, 1, "yesterday", "2026-04-20T10:00:00"])),
            (link, "usageCount", st.sampled_from([None, "1", 1.5, []])),
            (link, "enabled", st.sampled_from([None, "true", 1, []])),
            (link, "allowedOrigins", st.sampled_from([None, "x", [1], {}])),
            (link, "expiresAt", st.sampled_from([1, "soon", "2026-04-20T10:00:00", []])),
        ]
    container, key, wrong = data.draw(st.sampled_from(targets))
    container[key] = data.draw(wrong)
    return page


@PROPERTY
@given(page=PAGES, data=st.data())
def test_property_page_with_one_corrupted_field_is_a_response_validation_error(
    page: dict[str, Any], data: st.DataObject
) -> None:
    _expect_response_validation_error(_enc(_corrupt(page, data)))
