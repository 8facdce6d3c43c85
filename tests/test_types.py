"""The msgspec Structs of ``anam_async._types``: wire names, types, required fields, decoding."""

from __future__ import annotations

import copy
import inspect
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from anam_async import (
    Page,
    Pagination,
    PersonaShareLink,
    ShareLink,
    ShareLinkPage,
    ShareLinkType,
    _types,
    _wire,
)

ZERO = "00000000-0000-0000-0000-000000000000"
LINK_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
PERSONA_ID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

# The example body of the spec's listShareLinks 200 response.
SPEC_EXAMPLE: dict[str, Any] = {
    "data": [
        {
            "id": ZERO,
            "token": "sh_2kL9pQxYzR4vN8mBwHfJc",
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
            "personaId": ZERO,
            "personaName": "Cara",
            "organizationId": ZERO,
        }
    ],
    "meta": {
        "total": 1,
        "lastPage": 1,
        "currentPage": 1,
        "perPage": 20,
        "prev": None,
        "next": None,
    },
}

FULL_LINK: dict[str, Any] = {
    "id": LINK_ID,
    "token": "tok_abc",
    "type": "PLAYER_EMBED",
    "expiresAt": "2026-05-01T12:30:00+02:00",
    "usageLimit": 50,
    "usageCount": 7,
    "allowedOrigins": ["https://example.com", "https://app.example.com"],
    "allowAllOrigins": True,
    "removeWatermark": True,
    "enabled": False,
    "isPrimary": True,
    "createdAt": "2026-04-20T10:00:00.123456Z",
    "personaId": PERSONA_ID,
    "personaName": "Cara",
    "organizationId": "V1StGXR8_Z5jdHi6B-myT",
}

MINIMAL_LINK: dict[str, Any] = {
    "id": LINK_ID,
    "token": "tok",
    "type": "LINK",
    "createdAt": "2026-04-20T10:00:00Z",
}
MINIMAL_PERSONA_LINK: dict[str, Any] = {**MINIMAL_LINK, "personaId": PERSONA_ID}
MINIMAL_META: dict[str, Any] = {"total": 0, "lastPage": 0, "currentPage": 1, "perPage": 20}
MINIMAL_PAGE: dict[str, Any] = {"data": [MINIMAL_PERSONA_LINK], "meta": MINIMAL_META}

REQUIRED: dict[type[msgspec.Struct], tuple[dict[str, Any], list[str]]] = {
    ShareLink: (MINIMAL_LINK, ["id", "token", "type", "createdAt"]),
    PersonaShareLink: (MINIMAL_PERSONA_LINK, ["id", "token", "type", "createdAt", "personaId"]),
    Pagination: (MINIMAL_META, ["total", "lastPage", "currentPage", "perPage"]),
    ShareLinkPage: (MINIMAL_PAGE, ["data", "meta"]),
}
STRUCTS = [ShareLink, PersonaShareLink, Pagination, Page, ShareLinkPage]


def _enc(value: object) -> bytes:
    return json.dumps(value).encode()


def _decode(value: object, type_: type[Any]) -> Any:
    return msgspec.json.decode(_enc(value), type=type_)


def _link(**changes: Any) -> PersonaShareLink:
    return _decode({**MINIMAL_PERSONA_LINK, **changes}, PersonaShareLink)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# The spec example and the wire names


def test_spec_example_body_decodes_to_the_documented_values() -> None:
    page = _decode(SPEC_EXAMPLE, ShareLinkPage)
    assert isinstance(page, ShareLinkPage)
    [link] = page.data
    assert isinstance(link, PersonaShareLink)
    assert link.id == uuid.UUID(ZERO)
    assert link.token == "sh_2kL9pQxYzR4vN8mBwHfJc"
    assert link.type == ShareLinkType.LINK
    assert link.expires_at == datetime(2026, 4, 27, 10, tzinfo=UTC)
    assert (link.usage_limit, link.usage_count) == (10, 3)
    assert link.allowed_origins == []
    assert (link.allow_all_origins, link.remove_watermark) == (False, False)
    assert (link.enabled, link.is_primary) == (True, False)
    assert link.created_at == datetime(2026, 4, 20, 10, tzinfo=UTC)
    assert link.persona_id == uuid.UUID(ZERO)
    assert link.persona_name == "Cara"
    assert link.organization_id == ZERO
    assert page.meta == Pagination(
        total=1, last_page=1, current_page=1, per_page=20, prev=None, next=None
    )


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("id", uuid.UUID(LINK_ID)),
        ("token", "tok_abc"),
        ("type", "PLAYER_EMBED"),
        ("expires_at", datetime(2026, 5, 1, 10, 30, tzinfo=UTC)),
        ("usage_limit", 50),
        ("usage_count", 7),
        ("allowed_origins", ["https://example.com", "https://app.example.com"]),
        ("allow_all_origins", True),
        ("remove_watermark", True),
        ("enabled", False),
        ("is_primary", True),
        ("created_at", datetime(2026, 4, 20, 10, 0, 0, 123456, tzinfo=UTC)),
        ("persona_id", uuid.UUID(PERSONA_ID)),
        ("persona_name", "Cara"),
        ("organization_id", "V1StGXR8_Z5jdHi6B-myT"),
    ],
)
def test_snake_case_attribute_is_read_from_its_camel_case_wire_field(
    attribute: str, expected: object
) -> None:
    """Every field differs from its default in FULL_LINK, so a wrong wire name shows."""
    link = _decode(FULL_LINK, PersonaShareLink)
    assert getattr(link, attribute) == expected


@pytest.mark.parametrize(
    ("attribute", "wire"),
    [
        ("last_page", "lastPage"),
        ("current_page", "currentPage"),
        ("per_page", "perPage"),
    ],
)
def test_pagination_reads_camel_case_fields(attribute: str, wire: str) -> None:
    meta = _decode({**MINIMAL_META, wire: 42}, Pagination)
    assert getattr(meta, attribute) == 42


def test_snake_case_keys_on_the_wire_are_not_read() -> None:
    link = _link(usage_count=9, is_primary=True)
    assert (link.usage_count, link.is_primary) == (0, False)


@pytest.mark.parametrize("struct", [ShareLink, PersonaShareLink, Pagination])
def test_encoding_uses_camel_case_wire_names(struct: type[msgspec.Struct]) -> None:
    minimal = REQUIRED[struct][0]
    encoded = json.loads(msgspec.json.encode(_decode(minimal, struct)))
    assert set(minimal) <= set(encoded)
    assert all("_" not in key for key in encoded)


# ---------------------------------------------------------------------------------------------
# Field types


@pytest.mark.parametrize("form", [LINK_ID, LINK_ID.upper(), LINK_ID.replace("-", "")])
def test_id_and_persona_id_decode_to_uuid(form: str) -> None:
    link = _link(id=form, personaId=form)
    assert isinstance(link.id, uuid.UUID)
    assert isinstance(link.persona_id, uuid.UUID)
    assert link.id == link.persona_id == uuid.UUID(LINK_ID)


@pytest.mark.parametrize("field", ["id", "personaId"])
def test_id_that_is_not_a_uuid_is_a_validation_error(field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        _link(**{field: "not-a-uuid"})


@pytest.mark.parametrize(
    "organization_id",
    [
        "V1StGXR8_Z5jdHi6B-myT",  # nanoid
        "org_abc123",
        ZERO,
        LINK_ID,
        LINK_ID.upper(),
        LINK_ID.replace("-", ""),
    ],
)
def test_organization_id_stays_the_exact_string(organization_id: str) -> None:
    link = _link(organizationId=organization_id)
    assert type(link.organization_id) is str
    assert link.organization_id == organization_id


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2026-04-20T10:00:00Z", timedelta(0)),
        ("2026-04-20T10:00:00.000Z", timedelta(0)),
        ("2026-04-20T10:00:00+00:00", timedelta(0)),
        ("2026-04-20T10:00:00+05:30", timedelta(hours=5, minutes=30)),
        ("2026-04-20T10:00:00-08:00", timedelta(hours=-8)),
        ("2026-04-20T10:00:00.5-03:45", timedelta(hours=-3, minutes=-45)),
    ],
)
@pytest.mark.parametrize("field", ["createdAt", "expiresAt"])
def test_timestamps_decode_timezone_aware_with_their_offset(
    field: str, text: str, offset: timedelta
) -> None:
    link = _link(**{field: text})
    value = link.created_at if field == "createdAt" else link.expires_at
    assert value is not None
    assert value.tzinfo is not None
    assert value.utcoffset() == offset


def test_timestamps_with_different_offsets_compare_as_instants() -> None:
    link = _link(createdAt="2026-04-20T15:30:00+05:30")
    assert link.created_at == datetime(2026, 4, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-04-20T10:00:00", "2026-04-20T10:00:00.000"])
@pytest.mark.parametrize("field", ["createdAt", "expiresAt"])
def test_timestamp_without_offset_is_a_validation_error_naming_the_field(
    field: str, text: str
) -> None:
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        _link(**{field: text})


def test_unknown_fields_are_ignored() -> None:
    body = {
        **MINIMAL_PAGE,
        "links": {"self": "/v1/share-links"},
        "meta": {**MINIMAL_META, "from": 1, "to": 20, "extra": [1, {"a": None}]},
        "data": [{**MINIMAL_PERSONA_LINK, "newField": {"nested": [1, 2]}, "theme": "dark"}],
    }
    assert _decode(body, ShareLinkPage) == _decode(MINIMAL_PAGE, ShareLinkPage)


@pytest.mark.parametrize("value", ["HOLOGRAM", "link", "", "ORB_EMBED_V2"])
def test_unknown_type_decodes_to_a_pseudo_member_that_keeps_its_string(value: str) -> None:
    link = _link(type=value)
    assert isinstance(link.type, ShareLinkType)
    assert link.type == value
    assert link.type.value == value
    assert link.type not in list(ShareLinkType)
    assert msgspec.json.decode(msgspec.json.encode(link))["type"] == value


def test_unknown_type_in_a_page_does_not_fail_the_page() -> None:
    body = {**MINIMAL_PAGE, "data": [MINIMAL_PERSONA_LINK, {**MINIMAL_PERSONA_LINK, "type": "X"}]}
    page = _decode(body, ShareLinkPage)
    assert [item.type for item in page.data] == [ShareLinkType.LINK, "X"]


@pytest.mark.parametrize("member", list(ShareLinkType), ids=str)
def test_known_type_decodes_to_its_member(member: ShareLinkType) -> None:
    link = _link(type=member.value)
    assert link.type is member
    assert link.type == member.value


def test_share_link_type_called_with_an_unknown_string_gives_a_pseudo_member() -> None:
    assert ShareLinkType("NEW_KIND") == "NEW_KIND"
    assert isinstance(ShareLinkType("NEW_KIND"), ShareLinkType)
    with pytest.raises(ValueError, match="5"):
        ShareLinkType(5)  # type: ignore[arg-type]


def test_link_type_compares_equal_to_the_string_link() -> None:
    link = _link(type="LINK")
    assert link.type == "LINK"
    assert link.type == ShareLinkType.LINK
    assert isinstance(ShareLinkType.LINK, str)


def test_share_link_type_has_exactly_the_spec_values() -> None:
    assert [m.value for m in ShareLinkType] == ["LINK", "PLAYER_EMBED", "ORB_EMBED"]


@pytest.mark.parametrize("value", [1, None, ["LINK"]])
def test_type_that_is_not_a_string_is_a_validation_error(value: object) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.type"):
        _link(type=value)


@pytest.mark.parametrize(
    ("wire", "attribute"),
    [
        ("expiresAt", "expires_at"),
        ("usageLimit", "usage_limit"),
        ("personaName", "persona_name"),
        ("organizationId", "organization_id"),
    ],
)
def test_nullable_field_sent_as_null_is_none(wire: str, attribute: str) -> None:
    assert getattr(_link(**{wire: None}), attribute) is None


@pytest.mark.parametrize("wire", ["prev", "next"])
def test_nullable_page_numbers_sent_as_null_are_none(wire: str) -> None:
    assert getattr(_decode({**MINIMAL_META, wire: None}, Pagination), wire) is None


@pytest.mark.parametrize(
    ("attribute", "default"),
    [
        ("expires_at", None),
        ("usage_limit", None),
        ("usage_count", 0),
        ("allowed_origins", []),
        ("allow_all_origins", False),
        ("remove_watermark", False),
        ("enabled", True),
        ("is_primary", False),
        ("persona_name", None),
        ("organization_id", None),
    ],
)
def test_absent_optional_field_takes_its_documented_default(
    attribute: str, default: object
) -> None:
    assert getattr(_link(), attribute) == default


# ---------------------------------------------------------------------------------------------
# Required fields


def _required_cases() -> list[tuple[type[msgspec.Struct], str]]:
    return [(struct, field) for struct, (_, fields) in REQUIRED.items() for field in fields]


@pytest.mark.parametrize(
    ("struct", "field"), _required_cases(), ids=lambda v: getattr(v, "__name__", v)
)
def test_missing_required_field_is_an_error_naming_it(
    struct: type[msgspec.Struct], field: str
) -> None:
    body = copy.deepcopy(REQUIRED[struct][0])
    del body[field]
    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{field}`"):
        _decode(body, struct)


@pytest.mark.parametrize(
    ("struct", "field"), _required_cases(), ids=lambda v: getattr(v, "__name__", v)
)
def test_required_field_sent_as_null_is_an_error_naming_it(
    struct: type[msgspec.Struct], field: str
) -> None:
    body = copy.deepcopy(REQUIRED[struct][0])
    body[field] = None
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        _decode(body, struct)


@pytest.mark.parametrize("struct", list(REQUIRED), ids=lambda s: s.__name__)
def test_minimal_body_with_only_required_fields_decodes(struct: type[msgspec.Struct]) -> None:
    assert isinstance(_decode(REQUIRED[struct][0], struct), struct)


@pytest.mark.parametrize("struct", list(REQUIRED), ids=lambda s: s.__name__)
def test_fields_without_default_are_exactly_the_required_ones(
    struct: type[msgspec.Struct],
) -> None:
    no_default = {f.encode_name for f in msgspec.structs.fields(struct) if f.required}
    assert no_default == set(REQUIRED[struct][1])


def _doc_entries(struct: type) -> list[str]:
    doc = inspect.getdoc(struct) or ""
    # One entry per paragraph and per "name: ..." attribute entry, whitespace collapsed.
    chunks = re.split(r"\n\s*\n|\n(?=\s*\w+: )", doc)
    return [" ".join(chunk.split()) for chunk in chunks]


@pytest.mark.parametrize("struct", STRUCTS, ids=lambda s: s.__name__)
def test_struct_docstring_names_each_required_field_with_the_word_required(
    struct: type[msgspec.Struct],
) -> None:
    required = [f.name for f in msgspec.structs.fields(struct) if f.required]
    assert required
    entries = _doc_entries(struct)
    missing = [
        name
        for name in required
        if not any(
            re.search(rf"\b{name}\b", entry) and re.search(r"\brequired\b", entry, re.I)
            for entry in entries
        )
    ]
    assert missing == [], f"{struct.__name__} docstring does not call these required: {missing}"


# ---------------------------------------------------------------------------------------------
# Standing on their own, frozen, is_last


@pytest.mark.parametrize(
    "body",
    [
        SPEC_EXAMPLE,
        MINIMAL_PAGE,
        {"data": [FULL_LINK, {**FULL_LINK, "type": "NEW"}], "meta": MINIMAL_META},
    ],
    ids=["spec", "minimal", "full"],
)
def test_plain_msgspec_decode_equals_what_the_client_parser_gives(body: dict[str, Any]) -> None:
    raw = _enc(body)
    by_user = msgspec.json.decode(raw, type=ShareLinkPage)
    by_client = _wire.decipher(
        200, {}, raw, _types.share_link_page_decoder, method="GET", url="https://api.anam.ai/x"
    )
    assert by_user == by_client
    assert [type(item.type) for item in by_user.data] == [
        type(item.type) for item in by_client.data
    ]


@pytest.mark.parametrize(
    ("struct", "attribute"),
    [
        (ShareLink, "token"),
        (PersonaShareLink, "persona_name"),
        (Pagination, "total"),
        (ShareLinkPage, "data"),
    ],
)
def test_structs_are_frozen(struct: type[msgspec.Struct], attribute: str) -> None:
    value = _decode(REQUIRED[struct][0], struct)
    with pytest.raises(AttributeError):
        setattr(value, attribute, None)


def test_decoded_structs_are_hashable_values() -> None:
    assert hash(_decode(MINIMAL_META, Pagination)) == hash(_decode(MINIMAL_META, Pagination))


def test_persona_share_link_is_a_share_link() -> None:
    assert issubclass(PersonaShareLink, ShareLink)


def test_share_link_page_is_the_generic_page_of_persona_share_links() -> None:
    assert issubclass(ShareLinkPage, Page)
    assert msgspec.structs.fields(ShareLinkPage)[0].type == list[PersonaShareLink]


@pytest.mark.parametrize(
    ("current", "last", "next_", "is_last"),
    [
        (1, 3, 2, False),
        (2, 3, 3, False),
        (3, 3, None, True),
        (3, 3, 4, True),  # currentPage >= lastPage wins over a stray next
        (5, 3, 6, True),  # past the end
        (2, 3, None, True),  # next null wins over lastPage
        (1, 0, None, True),  # empty listing, lastPage 0
        (1, 1, None, True),  # empty listing, lastPage 1
        (1, 0, 2, True),
        (1, 1, 2, True),
    ],
)
def test_pagination_is_last(current: int, last: int, next_: int | None, is_last: bool) -> None:
    meta = Pagination(total=0, last_page=last, current_page=current, per_page=20, next=next_)
    assert meta.is_last is is_last
