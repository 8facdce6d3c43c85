"""The fake's data rules, checked without a socket through `ShareLinkStore.answer`."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from multidict import MultiDict

from anam_async.testing._store import ShareLinkStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _store(links: int = 45) -> ShareLinkStore:
    return ShareLinkStore(links=links, personas=3, seed=7, clock=lambda: NOW)


def _list(store: ShareLinkStore, **query: str) -> tuple[int, dict[str, object]]:
    status, body = store.answer("list", None, MultiDict(query), b"")
    return status, msgspec.json.decode(body)


def test_same_seed_same_data_and_listing_is_newest_first_ties_by_id() -> None:
    first, second = _store(), _store()
    assert first.ordered() == second.ordered()
    keys = [(link["createdAt"], link["id"]) for link in first.ordered()]
    assert keys == sorted(keys, key=lambda k: (-datetime.fromisoformat(k[0]).timestamp(), k[1]))


def test_meta_is_exact_on_the_last_page_and_past_it() -> None:
    store = _store(45)
    status, page = _list(store, page="3", perPage="20")
    assert status == 200
    assert page["meta"] == {
        "total": 45, "lastPage": 3, "currentPage": 3, "perPage": 20, "prev": 2, "next": None
    }  # fmt: skip
    assert len(page["data"]) == 5  # type: ignore[arg-type]
    _, past = _list(store, page="4", perPage="20")
    assert past["data"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [({"page": "0"}, "page"), ({"perPage": "101"}, "perPage"), ({"personaId": "x"}, "personaId")],
)
def test_invalid_query_is_a_400_naming_the_field(query: dict[str, str], field: str) -> None:
    status, body = _list(_store(), **query)
    assert status == 400
    assert str(body["message"]).startswith(field)


def test_create_then_get_then_update_then_delete() -> None:
    store = _store(0)
    persona = store.personas[0]["id"]
    body = msgspec.json.encode({"personaId": persona, "usageLimit": 5})
    status, created = store.answer("create", None, MultiDict(), body)
    assert status == 201
    link_id = msgspec.json.decode(created)["id"]
    assert store.answer("get", link_id, MultiDict(), b"").status == 200
    status, updated = store.answer("update", link_id, MultiDict(), b'{"usageLimit": 9}')
    assert (status, msgspec.json.decode(updated)["usageLimit"]) == (200, 9)
    assert store.answer("delete", link_id, MultiDict(), b"").status == 200
    assert store.answer("get", link_id, MultiDict(), b"").status == 404
    assert len(store) == 0


def test_create_for_an_unknown_persona_is_a_404_and_stores_nothing() -> None:
    store = _store(0)
    body = b'{"personaId": "00000000-0000-4000-8000-000000000000"}'
    assert store.answer("create", None, MultiDict(), body).status == 404
    assert len(store) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "required"),
        (b"[1]", "JSON object"),
        (b'{"usageLimit": 2.5}', "whole number"),
        (b'{"usageLimit": 2147483648}', "greater than"),
        (b'{"expiresInHours": null}', "must be a number"),
    ],
)
def test_bad_update_bodies_are_400s_naming_the_rule(body: bytes, words: str) -> None:
    store = _store(1)
    link_id = store.ordered()[0]["id"]
    status, answer = store.answer("update", link_id, MultiDict(), body)
    assert status == 400
    assert words in msgspec.json.decode(answer)["message"]
