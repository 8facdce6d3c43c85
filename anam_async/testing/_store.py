"""The fake's data and the API's rules over it, with no socket: seeding, ordering, the five
share-links operations and their input checks.

`ShareLinkStore.answer` takes what a request carries (operation, id, query, body) and returns
the status and JSON body the real API would send, so the rules can be tested directly; the
server in `_server` does the HTTP around it (routing, the bearer key, faults, gates).
"""

from __future__ import annotations

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

__all__ = ["Reply", "ShareLinkStore", "canonical_uuid", "copy_link", "requested_page"]

# The spec's "format: uuid": the 36-character hyphenated form, any case (RFC 4122's string
# representation, as JSON Schema's format checkers read it); 32 bare hex digits are refused.
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_DIGITS_RE: Final = re.compile(r"[0-9]{1,20}")
_URL_SAFE: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# The real API runs on JavaScript numbers: a larger page cannot be represented exactly.
_MAX_PAGE: Final = 2**53 - 1
# usageLimit is a Postgres int column upstream.
_MAX_USAGE_LIMIT: Final = 2**31 - 1
_DEFAULT_EXPIRES_IN_HOURS: Final = 168
_DEFAULT_USAGE_LIMIT: Final = 10
_PERSONA_NAMES: Final = ("Cara", "Leo", "Maya", "Noah", "Iris", "Theo", "Zara", "Finn")
_ORIGINS: Final = (
    "https://example.com",
    "https://app.example.org",
    "https://shop.example.net",
    "http://localhost:3000",
)
_SEED_EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)
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


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def canonical_uuid(text: str) -> str | None:
    """The lower-case hyphenated form of a spec-format UUID, or None when it is not one."""
    if not _UUID_RE.fullmatch(text):
        return None
    return str(uuid.UUID(text))


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _nanoid(rng: random.Random, size: int = 21) -> str:
    return "".join(rng.choice(_URL_SAFE) for _ in range(size))


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


def _random_link(
    rng: random.Random, persona: Mapping[str, str], created_at: datetime
) -> dict[str, Any]:
    kind = rng.choices(["LINK", "PLAYER_EMBED", "ORB_EMBED"], weights=[70, 15, 15])[0]
    expires_at = None
    if rng.random() >= 0.35:
        expires_at = _iso(created_at + timedelta(hours=rng.randrange(24, 24 * 90)))
    usage_limit = None if rng.random() < 0.3 else rng.choice([1, 5, 10, 25, 100, 1000])
    usage_count = rng.randrange(0, (usage_limit if usage_limit is not None else 200) + 1)
    allow_all = rng.random() < 0.15
    origins = [] if rng.random() < 0.5 else rng.sample(_ORIGINS, rng.randrange(1, 4))
    return {
        "id": _uuid4(rng),
        "token": "sh_" + _nanoid(rng),
        "type": kind,
        "expiresAt": expires_at,
        "usageLimit": usage_limit,
        "usageCount": usage_count,
        "allowedOrigins": origins,
        "allowAllOrigins": allow_all,
        "removeWatermark": rng.random() < 0.2,
        "enabled": rng.random() < 0.85,
        "isPrimary": False,
        "createdAt": _iso(created_at),
        "personaId": persona["id"],
        "personaName": persona["name"],
        "organizationId": persona["organizationId"],
    }


class ShareLinkStore:
    """Personas and share links in memory, seeded deterministically, with the API's rules.

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
        self._personas: list[dict[str, str]] = []
        self._links: dict[str, dict[str, Any]] = {}
        self._ordered: list[dict[str, Any]] | None = None
        self._newest: datetime = _SEED_EPOCH
        self._seed(random.Random(seed), links, personas)

    def __len__(self) -> int:
        """How many links are stored."""
        return len(self._links)

    @property
    def personas(self) -> list[dict[str, str]]:
        """Copies of the personas: dicts with ``id``, ``name`` and ``organizationId``."""
        return [dict(persona) for persona in self._personas]

    def ordered(self) -> list[dict[str, Any]]:
        """The stored links in listing order: newest ``createdAt`` first, then ``id``."""
        if self._ordered is None:
            by_id = sorted(self._links.values(), key=lambda link: link["id"])
            # Stable sort: equal createdAt keeps the id order from the first pass.
            self._ordered = sorted(by_id, key=lambda link: link["createdAt"], reverse=True)
        return self._ordered

    def get_link(self, link_id: str | uuid.UUID) -> dict[str, Any]:
        """A copy of one link; raises KeyError when there is none."""
        return copy_link(self._links[str(uuid.UUID(str(link_id)))])

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
            link = _random_link(self._runtime_rng, owner, self._next_created_at())
            self._store(link)
            inserted.append(copy_link(link))
        return inserted

    def delete_links(self, target: int | Iterable[str | uuid.UUID]) -> list[str]:
        """Delete the ``target`` newest links or the given ids; see `FakeAnamAPI.delete_links`."""
        if isinstance(target, int):
            if target < 0:
                raise ValueError(f"target={target!r} is invalid: must be >= 0")
            ids = [link["id"] for link in self.ordered()[:target]]
        else:
            ids = [str(uuid.UUID(str(link_id))) for link_id in target]
            missing = [link_id for link_id in ids if link_id not in self._links]
            if missing:
                raise KeyError(missing[0])
        for link_id in ids:
            self._links.pop(link_id, None)
        self._ordered = None
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
        selected = [
            link
            for link in self.ordered()
            if (persona_id is None or link["personaId"] == persona_id)
            and (
                not needle
                or needle in link["personaName"].casefold()
                or needle in link["token"].casefold()
            )
        ]
        total = len(selected)
        last_page = math.ceil(total / per_page)
        start = (page - 1) * per_page
        meta = {
            "total": total,
            "lastPage": last_page,
            "currentPage": page,
            "perPage": per_page,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < last_page else None,
        }
        return Reply(200, _encode({"data": selected[start : start + per_page], "meta": meta}))

    @staticmethod
    def _link_for(raw_id: str) -> str:
        link_id = canonical_uuid(raw_id)
        if link_id is None:
            raise _BadRequest(f"id must be a UUID, got {raw_id[:40]!r}")
        return link_id

    def _get(self, link_id: str) -> Reply:
        link = self._links.get(link_id)
        if link is None:
            return _error(404, f"Share link {link_id} not found")
        return Reply(200, _encode(link))

    def _delete(self, link_id: str) -> Reply:
        if link_id not in self._links:
            return _error(404, f"Share link {link_id} not found")
        self.delete_links([link_id])
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
        link: dict[str, Any] = {
            "id": _uuid4(self._runtime_rng),
            "token": "sh_" + _nanoid(self._runtime_rng),
            "type": "LINK",
            "expiresAt": expires_at,
            "usageLimit": usage_limit if usage_limit is not None else _DEFAULT_USAGE_LIMIT,
            "usageCount": 0,
            "allowedOrigins": [],
            "allowAllOrigins": False,
            "removeWatermark": False,
            "enabled": True,
            "isPrimary": False,
            "createdAt": _iso(created_at),
            "personaId": persona["id"],
            "personaName": persona["name"],
            "organizationId": persona["organizationId"],
        }
        self._store(link)
        return Reply(201, _encode(_share_link_view(link)))

    def _update(self, link_id: str, body: bytes) -> Reply:
        payload = _json_object(body)
        hours = _positive_number(payload, "expiresInHours")
        usage_limit = _usage_limit(payload)
        expires_at = self._expires_at(hours) if hours is not None else None
        link = self._links.get(link_id)
        if link is None:
            return _error(404, f"Share link {link_id} not found")
        if expires_at is not None:
            link["expiresAt"] = expires_at
        if usage_limit is not None:
            link["usageLimit"] = usage_limit
        return Reply(200, _encode(_share_link_view(link)))

    # ----------------------------------------------------------------- helpers

    def _seed(self, rng: random.Random, links: int, personas: int) -> None:
        organizations = [_uuid4(rng), _nanoid(rng)]
        for index in range(personas):
            name = _PERSONA_NAMES[index % len(_PERSONA_NAMES)]
            if index >= len(_PERSONA_NAMES):
                name = f"{name} {index // len(_PERSONA_NAMES) + 1}"
            self._personas.append(
                {"id": _uuid4(rng), "name": name, "organizationId": organizations[index % 2]}
            )
        created: list[datetime] = []
        span_ms = 300 * 24 * 3600 * 1000
        for index in range(links):
            if index and rng.random() < 0.05:
                # Equal createdAt on purpose: the listing must break ties by id.
                created.append(created[-1])
            else:
                created.append(_SEED_EPOCH + timedelta(milliseconds=rng.randrange(span_ms)))
        for moment in sorted(created):
            self._store(_random_link(rng, rng.choice(self._personas), moment))
        for persona in self._personas:
            own = [link for link in self._links.values() if link["personaId"] == persona["id"]]
            if own and rng.random() < 0.8:
                rng.choice(own)["isPrimary"] = True

    def _store(self, link: dict[str, Any]) -> None:
        self._links[link["id"]] = link
        self._newest = max(self._newest, _parse_iso(link["createdAt"]))
        self._ordered = None

    def _next_created_at(self) -> datetime:
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return max(now, self._newest + timedelta(milliseconds=1))

    def _persona(self, persona_id: str) -> dict[str, str] | None:
        return next((p for p in self._personas if p["id"] == persona_id), None)

    def _expires_at(self, hours: float) -> str:
        try:
            return _iso(self._clock().astimezone(UTC) + timedelta(hours=hours))
        except (OverflowError, ValueError):
            raise _BadRequest("expiresInHours is too large") from None
