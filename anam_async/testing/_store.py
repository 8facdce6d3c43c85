"""The fake's data and the API's rules over it, with no socket: seeding, ordering, the five
share-links operations and their input checks.

`ShareLinkStore.answer` takes what a request carries (operation, id, query, body) and returns
the status and JSON body the real API would send, so the rules can be tested directly; the
server in `_server` does the HTTP around it (routing, the bearer key, faults, gates).

The seeded links are computed from their slot on demand (`_links.Seeded`); only what
changes is stored: links created since (the head, all newer than any seeded link), seeded
links deleted (a set, and their sorted positions) or updated (their new copy). A page is
found by offset in time independent of its number; a filtered listing (``personaId``,
``search``) builds its index once and keeps it until the data changes.
"""

from __future__ import annotations

import bisect
import math
import random
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import msgspec
from multidict import MultiMapping

from ._faults import Operation, error_body
from ._links import (
    SEED_EPOCH,
    Seeded,
    iso,
    make_link,
    nanoid,
    parse_iso,
    random_link,
    seed_personas,
    uuid4,
)

__all__ = ["Reply", "ShareLinkStore", "canonical_uuid", "copy_link", "requested_page"]

# The spec's "format: uuid": the 36-character hyphenated form, any case (RFC 4122's string
# representation, as JSON Schema's format checkers read it); 32 bare hex digits are refused.
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_DIGITS_RE: Final = re.compile(r"[0-9]{1,20}")
# The real API runs on JavaScript numbers: a larger page cannot be represented exactly.
_MAX_PAGE: Final = 2**53 - 1
# usageLimit is a Postgres int column upstream.
_MAX_USAGE_LIMIT: Final = 2**31 - 1
_DEFAULT_EXPIRES_IN_HOURS: Final = 168
_DEFAULT_USAGE_LIMIT: Final = 10
_PERSONA_KEYS: Final = frozenset({"personaId", "personaName", "organizationId"})
_encode = msgspec.json.Encoder().encode


class Reply(NamedTuple):
    """A JSON answer: the status and the encoded body."""

    status: int
    body: bytes


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(status: int, message: str) -> Reply:
    return Reply(status, error_body(status, message))


def canonical_uuid(text: str) -> str | None:
    """The lower-case hyphenated form of a spec-format UUID, or None when it is not one."""
    if not _UUID_RE.fullmatch(text):
        return None
    return str(uuid.UUID(text))


def _share_link_view(link: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in link.items() if key not in _PERSONA_KEYS}


def copy_link(link: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a stored link that the caller may change freely."""
    copied = dict(link)
    copied["allowedOrigins"] = list(link["allowedOrigins"])
    return copied


def _positive_number(payload: Mapping[str, Any], name: str) -> float | int | None:
    if name not in payload:
        return None
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadRequest(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _BadRequest(f"{name} must be a finite number")
    if value <= 0:
        raise _BadRequest(f"{name} must be a positive number")
    return value


def _usage_limit(payload: Mapping[str, Any]) -> int | None:
    value = _positive_number(payload, "usageLimit")
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise _BadRequest("usageLimit must be a whole number")
    if value > _MAX_USAGE_LIMIT:
        raise _BadRequest(f"usageLimit must not be greater than {_MAX_USAGE_LIMIT}")
    return int(value)


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _BadRequest("A JSON object body is required")
    try:
        payload = msgspec.json.decode(body)
    except msgspec.MsgspecError:
        raise _BadRequest("The request body is not valid JSON") from None
    except RecursionError:
        raise _BadRequest("The request body is nested too deeply") from None
    if not isinstance(payload, dict):
        raise _BadRequest("The request body must be a JSON object")
    return payload


def _int_param(raw: str | None, name: str, low: int, high: int, *, default: int) -> int:
    if raw is None:
        return default
    if _DIGITS_RE.fullmatch(raw) and low <= int(raw) <= high:
        return int(raw)
    raise _BadRequest(f"{name} must be an integer in {low}..{high}, got {raw[:40]!r}")


def requested_page(query: MultiMapping[str]) -> int | None:
    """The page a list query asks for: 1 when absent, None when not one plain number."""
    values = query.getall("page", [])
    if not values:
        return 1
    if len(values) == 1 and _DIGITS_RE.fullmatch(values[0]):
        return int(values[0])
    return None


# A listing entry: a seeded link's slot, or a created link.
_Entry = int | dict[str, Any]
# Filtered listings kept at once (each is a list of entries, rebuilt after a change).
_MAX_INDEXES: Final = 8
# List answers kept, encoded, until the data changes (a load test asks for the same pages).
_MAX_PAGES: Final = 256


class ShareLinkStore:
    """Personas and share links, seeded deterministically, with the API's rules.

    Args:
        links: How many share links to seed.
        personas: How many personas to seed (at least 1).
        seed: The seed of the data: the same seed gives the same data.
        clock: Returns the current time (timezone-aware) for created and updated links.
    """

    def __init__(
        self, *, links: int, personas: int, seed: int, clock: Callable[[], datetime]
    ) -> None:
        """Seed the data; see the class docstring for the arguments."""
        self._clock = clock
        self._runtime_rng = random.Random(f"anam-fake-runtime-{seed}")
        self._personas = seed_personas(random.Random(seed), personas)
        self._seeded = Seeded(links, seed, self._personas)
        # Created links, oldest first (the listing shows them newest first, before the rest).
        self._head: list[dict[str, Any]] = []
        self._head_ids: dict[str, dict[str, Any]] = {}
        # Seeded links deleted (slots, and their positions sorted) or updated (by slot).
        self._deleted: set[int] = set()
        self._deleted_positions: list[int] = []
        self._updated: dict[int, dict[str, Any]] = {}
        self._newest = self._seeded.created_at(self._seeded.at(0)) if links else SEED_EPOCH
        # Filtered listings' entries, until the data changes.
        self._indexes: dict[tuple[str | None, str], list[_Entry]] = {}
        self._pages: dict[tuple[int, int, str | None, str], bytes] = {}

    def __len__(self) -> int:
        """How many links are stored."""
        return len(self._head) + self._seeded.count - len(self._deleted)

    @property
    def personas(self) -> list[dict[str, str]]:
        """Copies of the personas: dicts with ``id``, ``name`` and ``organizationId``."""
        return [dict(persona) for persona in self._personas]

    def ordered(self) -> list[dict[str, Any]]:
        """Every link in listing order (newest ``createdAt`` first, then ``id``): O(links)."""
        return self._links(self._entries(0, len(self)))

    def get_link(self, link_id: str | uuid.UUID) -> dict[str, Any]:
        """A copy of one link; raises KeyError when there is none."""
        link = self._find(str(uuid.UUID(str(link_id))))
        if link is None:
            raise KeyError(str(link_id))
        return copy_link(link)

    def insert_links(self, n: int, persona: str | uuid.UUID | None) -> list[dict[str, Any]]:
        """Add ``n`` links newer than every other; see `FakeAnamAPI.insert_links`."""
        if n < 0:
            raise ValueError(f"n={n!r} is invalid: must be >= 0")
        chosen: dict[str, str] | None = None
        if persona is not None:
            chosen = self._persona(str(uuid.UUID(str(persona))))
            if chosen is None:
                raise KeyError(str(persona))
        inserted = []
        for _ in range(n):
            owner = chosen if chosen is not None else self._runtime_rng.choice(self._personas)
            link = random_link(self._runtime_rng, owner, self._next_created_at())
            self._add(link)
            inserted.append(copy_link(link))
        return inserted

    def delete_links(self, target: int | Iterable[str | uuid.UUID]) -> list[str]:
        """Delete the ``target`` newest links or the given ids; see `FakeAnamAPI.delete_links`."""
        if isinstance(target, int):
            if target < 0:
                raise ValueError(f"target={target!r} is invalid: must be >= 0")
            ids = [link["id"] for link in self._links(self._entries(0, target))]
        else:
            ids = [str(uuid.UUID(str(link_id))) for link_id in target]
            missing = [link_id for link_id in ids if self._find(link_id) is None]
            if missing:
                raise KeyError(missing[0])
        for link_id in ids:
            self._remove(link_id)
        return ids

    def answer(
        self, operation: Operation, link_id: str | None, query: MultiMapping[str], body: bytes
    ) -> Reply:
        """What the API answers to an authenticated request for ``operation``.

        Args:
            operation: The operation the route names.
            link_id: The id from the path, as sent (get, update, delete).
            query: The query parameters, repeated names kept.
            body: The request body (already known to be labelled JSON when not empty).

        Returns:
            The status and JSON body: ``400`` naming the field for invalid input, ``404``
            for an unknown link or persona.
        """
        try:
            if operation == "list":
                return self._list(query)
            if operation == "create":
                return self._create(body)
            link = self._link_for(link_id or "")
            if operation == "get":
                return self._get(link)
            if operation == "delete":
                return self._delete(link)
            return self._update(link, body)
        except _BadRequest as exc:
            return _error(400, exc.message)

    # ----------------------------------------------------------------- the operations

    def _list(self, query: MultiMapping[str]) -> Reply:
        for name in ("page", "perPage", "search", "personaId"):
            if len(query.getall(name, [])) > 1:
                raise _BadRequest(f"{name} must be given at most once")
        page = _int_param(query.get("page"), "page", 1, _MAX_PAGE, default=1)
        per_page = _int_param(query.get("perPage"), "perPage", 1, 100, default=20)
        persona_id: str | None = None
        if "personaId" in query:
            persona_id = canonical_uuid(query["personaId"])
            if persona_id is None:
                raise _BadRequest("personaId must be a UUID")
        needle = query.get("search", "").casefold()
        key = (page, per_page, persona_id, needle)
        cached = self._pages.get(key)
        if cached is None:
            cached = self._page(page, per_page, persona_id, needle)
            if len(self._pages) >= _MAX_PAGES:
                del self._pages[next(iter(self._pages))]
            self._pages[key] = cached
        return Reply(200, cached)

    def _page(self, page: int, per_page: int, persona_id: str | None, needle: str) -> bytes:
        start = (page - 1) * per_page
        if persona_id is None and not needle:
            total = len(self)
            entries = self._entries(start, per_page) if start < total else []
        else:
            index = self._index(persona_id, needle)
            total = len(index)
            entries = index[start : start + per_page]
        last_page = math.ceil(total / per_page)
        meta = {
            "total": total,
            "lastPage": last_page,
            "currentPage": page,
            "perPage": per_page,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < last_page else None,
        }
        return _encode({"data": self._links(entries), "meta": meta})

    @staticmethod
    def _link_for(raw_id: str) -> str:
        link_id = canonical_uuid(raw_id)
        if link_id is None:
            raise _BadRequest(f"id must be a UUID, got {raw_id[:40]!r}")
        return link_id

    def _get(self, link_id: str) -> Reply:
        link = self._find(link_id)
        if link is None:
            return _error(404, f"Share link {link_id} not found")
        return Reply(200, _encode(link))

    def _delete(self, link_id: str) -> Reply:
        if self._find(link_id) is None:
            return _error(404, f"Share link {link_id} not found")
        self._remove(link_id)
        return Reply(200, _encode({"message": "Share link deleted successfully"}))

    def _create(self, body: bytes) -> Reply:
        payload = _json_object(body)
        raw_persona = payload.get("personaId")
        if raw_persona is None:
            raise _BadRequest("personaId is required")
        persona_id = canonical_uuid(raw_persona) if isinstance(raw_persona, str) else None
        if persona_id is None:
            raise _BadRequest("personaId must be a UUID")
        hours = _positive_number(payload, "expiresInHours")
        usage_limit = _usage_limit(payload)
        persona = self._persona(persona_id)
        if persona is None:
            return _error(404, f"Persona {persona_id} not found")
        created_at = self._next_created_at()
        expires_at = self._expires_at(hours if hours is not None else _DEFAULT_EXPIRES_IN_HOURS)
        link = make_link(
            link_id=uuid4(self._runtime_rng),
            token="sh_" + nanoid(self._runtime_rng),
            kind="LINK",
            expires_at=expires_at,
            usage_limit=usage_limit if usage_limit is not None else _DEFAULT_USAGE_LIMIT,
            usage_count=0,
            origins=[],
            flags=(False, False, True),
            created_at=created_at,
            persona=persona,
        )
        self._add(link)
        return Reply(201, _encode(_share_link_view(link)))

    def _update(self, link_id: str, body: bytes) -> Reply:
        payload = _json_object(body)
        hours = _positive_number(payload, "expiresInHours")
        usage_limit = _usage_limit(payload)
        expires_at = self._expires_at(hours) if hours is not None else None
        link = self._find(link_id, to_change=True)
        if link is None:
            return _error(404, f"Share link {link_id} not found")
        if expires_at is not None:
            link["expiresAt"] = expires_at
        if usage_limit is not None:
            link["usageLimit"] = usage_limit
        self._pages.clear()
        return Reply(200, _encode(_share_link_view(link)))

    # ----------------------------------------------------------------- the data

    def _position(self, offset: int) -> int:
        """The position of the ``offset``-th seeded link still listed (deletions skipped)."""
        deleted = self._deleted_positions
        position = offset + bisect.bisect_right(deleted, offset)
        while (moved := offset + bisect.bisect_right(deleted, position)) != position:
            position = moved
        return position

    def _entries(self, start: int, count: int) -> list[_Entry]:
        """``count`` entries of the whole listing from ``start`` (fewer at its end)."""
        head = self._head
        entries: list[_Entry] = [head[-1 - i] for i in range(start, min(start + count, len(head)))]
        seeded = self._seeded
        position = self._position(max(0, start - len(head)))
        while len(entries) < count and position < seeded.count:
            slot = seeded.at(position)
            if slot not in self._deleted:
                entries.append(slot)
            position += 1
        return entries

    def _index(self, persona_id: str | None, needle: str) -> list[_Entry]:
        """The entries a filtered listing holds, built once until the data changes."""
        key = (persona_id, needle)
        index = self._indexes.get(key)
        if index is None:
            index = [
                link
                for link in reversed(self._head)
                if (persona_id is None or link["personaId"] == persona_id)
                and (
                    not needle
                    or needle in link["personaName"].casefold()
                    or needle in link["token"].casefold()
                )
            ]
            seeded = self._seeded
            for position in range(seeded.count):
                slot = seeded.at(position)
                if slot not in self._deleted and seeded.matches(slot, persona_id, needle):
                    index.append(slot)
            if len(self._indexes) >= _MAX_INDEXES:
                del self._indexes[next(iter(self._indexes))]
            self._indexes[key] = index
        return index

    def _links(self, entries: list[_Entry]) -> list[dict[str, Any]]:
        updated, seeded = self._updated, self._seeded
        return [
            entry
            if isinstance(entry, dict)
            else updated[entry]
            if entry in updated
            else seeded.link(entry)
            for entry in entries
        ]

    def _find(self, link_id: str, *, to_change: bool = False) -> dict[str, Any] | None:
        """The link with this id, or None; ``to_change`` keeps a seeded one as stored."""
        link = self._head_ids.get(link_id)
        if link is not None:
            return link
        slot = self._seeded.slot_of(uuid.UUID(link_id).int)
        if slot is None or slot in self._deleted:
            return None
        if slot in self._updated:
            return self._updated[slot]
        link = self._seeded.link(slot)
        if to_change:
            self._updated[slot] = link
        return link

    def _add(self, link: dict[str, Any]) -> None:
        self._head.append(link)
        self._head_ids[link["id"]] = link
        self._newest = max(self._newest, parse_iso(link["createdAt"]))
        self._changed()

    def _remove(self, link_id: str) -> None:
        link = self._head_ids.pop(link_id, None)
        if link is not None:
            self._head.remove(link)
        else:
            slot = self._seeded.slot_of(uuid.UUID(link_id).int)
            assert slot is not None
            self._deleted.add(slot)
            bisect.insort(self._deleted_positions, self._seeded.at(slot))
            self._updated.pop(slot, None)
        self._changed()

    def _changed(self) -> None:
        """Forget what was built from the data: the filter indexes and the encoded pages."""
        self._indexes.clear()
        self._pages.clear()

    def _next_created_at(self) -> datetime:
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return max(now, self._newest + timedelta(milliseconds=1))

    def _persona(self, persona_id: str) -> dict[str, str] | None:
        return next((p for p in self._personas if p["id"] == persona_id), None)

    def _expires_at(self, hours: float) -> str:
        try:
            return iso(self._clock().astimezone(UTC) + timedelta(hours=hours))
        except (OverflowError, ValueError):
            raise _BadRequest("expiresInHours is too large") from None
