"""The fake's data rules, checked without a socket through `ShareLinkStore.answer`."""

from __future__ import annotations

import itertools
import uuid
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


def test_ids_lead_back_to_their_slot_and_nothing_else() -> None:
    from anam_async.testing._links import Seeded

    seeded = Seeded(1000, seed=3, personas=_store(0).personas)
    for slot in (0, 1, 2, 499, 999):
        id_int = seeded.id_int(slot)
        assert uuid.UUID(int=id_int).version == 4
        assert seeded.slot_of(id_int) == slot
    assert seeded.slot_of(Seeded(1000, seed=4, personas=_store(0).personas).id_int(5)) is None
    assert seeded.slot_of(uuid.uuid4().int) is None


def test_a_page_far_down_a_million_links_builds_only_its_own_links(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Page time does not depend on n: only the page's own links are computed."""
    from anam_async.testing import _links

    store = ShareLinkStore(links=1_000_000, personas=5, seed=0, clock=lambda: NOW)
    built: list[int] = []
    original = _links.Seeded.link
    monkeypatch.setattr(
        _links.Seeded, "link", lambda self, slot: built.append(slot) or original(self, slot)
    )
    status, page = _list(store, page="9000", perPage="100")
    assert status == 200
    assert len(page["data"]) == 100  # type: ignore[arg-type]
    assert len(built) == 100
    assert page["meta"]["total"] == 1_000_000  # type: ignore[index]


def test_deletes_updates_and_inserts_keep_the_listing_exact() -> None:
    store = _store(45)
    before = [link["id"] for link in store.ordered()]
    gone = store.delete_links([before[3], before[30]])
    assert gone == [before[3], before[30]]
    after = [link["id"] for link in store.ordered()]
    assert after == [i for i in before if i not in gone]
    # Offsets skip the deleted links: page 2 of 20 starts at the 21st remaining link.
    _, page2 = _list(store, page="2", perPage="20")
    assert [link["id"] for link in page2["data"]] == after[20:40]  # type: ignore[union-attr]
    _list(store, perPage="20")  # a page answered (and kept) before the update
    status, _ = store.answer("update", before[5], MultiDict(), b'{"usageLimit": 7}')
    assert status == 200
    assert store.get_link(before[5])["usageLimit"] == 7
    _, page1 = _list(store, perPage="20")
    assert [link["usageLimit"] for link in page1["data"] if link["id"] == before[5]] == [7]  # type: ignore[union-attr]
    new = store.insert_links(2, None)
    assert [link["id"] for link in store.ordered()][:2] == [new[1]["id"], new[0]["id"]]


def test_ties_on_created_at_are_listed_by_id() -> None:
    store = _store(2000)
    links = store.ordered()
    ties = [
        (a["id"], b["id"]) for a, b in itertools.pairwise(links) if a["createdAt"] == b["createdAt"]
    ]
    assert ties, "the seeded data has equal createdAt on purpose"
    assert all(a < b for a, b in ties)


def test_a_filtered_index_is_rebuilt_after_a_change() -> None:
    store = _store(200)
    persona = store.personas[0]["id"]
    _, first = _list(store, personaId=persona)
    [link] = store.insert_links(1, persona)
    _, again = _list(store, personaId=persona)
    assert again["meta"]["total"] == first["meta"]["total"] + 1  # type: ignore[index]
    assert again["data"][0]["id"] == link["id"]  # type: ignore[index]
    store.delete_links([link["id"]])
    _, last = _list(store, personaId=persona)
    assert last["meta"] == first["meta"]
