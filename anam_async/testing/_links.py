"""The fake's link records: the seeded ones, computed from their slot on demand, and random
ones for links inserted later.

A million links in little memory: seeded links are never stored. Link ``slot`` (0 is the
newest) comes from a keyed hash of its slot, and its id is an invertible mix of the slot,
so an id leads back to its slot without an index. Startup costs only the personas.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = [
    "SEED_EPOCH",
    "Seeded",
    "iso",
    "make_link",
    "nanoid",
    "parse_iso",
    "random_link",
    "seed_personas",
    "uuid4",
]

_URL_SAFE: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_PERSONA_NAMES: Final = ("Cara", "Leo", "Maya", "Noah", "Iris", "Theo", "Zara", "Finn")
_ORIGINS: Final = (
    "https://example.com",
    "https://app.example.org",
    "https://shop.example.net",
    "http://localhost:3000",
)
SEED_EPOCH: Final = datetime(2025, 1, 1, tzinfo=UTC)
_SPAN_MS: Final = 300 * 24 * 3600 * 1000
_KINDS: Final = ("LINK", "PLAYER_EMBED", "ORB_EMBED")
_USAGE_LIMITS: Final = (1, 5, 10, 25, 100, 1000)
# The 122 random bits of a version-4 UUID, and the odd multipliers of the id mix.
_BITS: Final = 122
_MASK: Final = (1 << _BITS) - 1


def iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def nanoid(rng: random.Random, size: int = 21) -> str:
    return "".join(rng.choice(_URL_SAFE) for _ in range(size))


def seed_personas(rng: random.Random, count: int) -> list[dict[str, str]]:
    organizations = [uuid4(rng), nanoid(rng)]
    personas = []
    for index in range(count):
        name = _PERSONA_NAMES[index % len(_PERSONA_NAMES)]
        if index >= len(_PERSONA_NAMES):
            name = f"{name} {index // len(_PERSONA_NAMES) + 1}"
        personas.append(
            {"id": uuid4(rng), "name": name, "organizationId": organizations[index % 2]}
        )
    return personas


def random_link(
    rng: random.Random, persona: Mapping[str, str], created_at: datetime
) -> dict[str, Any]:
    kind = rng.choices(_KINDS, weights=[70, 15, 15])[0]
    expires_at = None
    if rng.random() >= 0.35:
        expires_at = iso(created_at + timedelta(hours=rng.randrange(24, 24 * 90)))
    usage_limit = None if rng.random() < 0.3 else rng.choice(_USAGE_LIMITS)
    usage_count = rng.randrange(0, (usage_limit if usage_limit is not None else 200) + 1)
    origins = [] if rng.random() < 0.5 else rng.sample(_ORIGINS, rng.randrange(1, 4))
    return make_link(
        link_id=uuid4(rng),
        token="sh_" + nanoid(rng),
        kind=kind,
        expires_at=expires_at,
        usage_limit=usage_limit,
        usage_count=usage_count,
        origins=origins,
        flags=(rng.random() < 0.15, rng.random() < 0.2, rng.random() < 0.85),
        created_at=created_at,
        persona=persona,
    )


def make_link(
    *,
    link_id: str,
    token: str,
    kind: str,
    expires_at: str | None,
    usage_limit: int | None,
    usage_count: int,
    origins: list[str],
    flags: tuple[bool, bool, bool],
    created_at: datetime,
    persona: Mapping[str, str],
) -> dict[str, Any]:
    allow_all, remove_watermark, enabled = flags
    return {
        "id": link_id,
        "token": token,
        "type": kind,
        "expiresAt": expires_at,
        "usageLimit": usage_limit,
        "usageCount": usage_count,
        "allowedOrigins": origins,
        "allowAllOrigins": allow_all,
        "removeWatermark": remove_watermark,
        "enabled": enabled,
        "isPrimary": False,
        "createdAt": iso(created_at),
        "personaId": persona["id"],
        "personaName": persona["name"],
        "organizationId": persona["organizationId"],
    }


class Seeded:
    """The ``count`` seeded links, each computed from its slot (0 = newest) on demand.

    Position and slot differ only inside a pair of slots ``(2m, 2m + 1)`` that share a
    ``createdAt`` (one pair in twenty): the listing breaks that tie by id, so the pair is
    listed in id order. `at` maps a position to its slot and is its own inverse.
    """

    def __init__(self, count: int, seed: int, personas: list[dict[str, str]]) -> None:
        keys = random.Random(f"anam-fake-slots-{seed}")
        self.count = count
        self._key = keys.randbytes(32)
        self._mul = keys.getrandbits(_BITS) | 1
        self._mul2 = keys.getrandbits(_BITS) | 1
        self._xor = keys.getrandbits(_BITS)
        self._inv = pow(self._mul, -1, 1 << _BITS)
        self._inv2 = pow(self._mul2, -1, 1 << _BITS)
        self._personas = personas
        self._primary: set[int] = set()
        # 80% of personas have a primary link: their newest one.
        rolls = keys.choices([False, True], [20, 80], k=len(personas))
        wanted = {persona["id"] for persona, roll in zip(personas, rolls, strict=True) if roll}
        for position in range(count):
            if not wanted:
                break
            slot = self.at(position)
            owner = self.persona_of(slot)["id"]
            if owner in wanted:
                wanted.discard(owner)
                self._primary.add(slot)

    def _digest(self, slot: int) -> bytes:
        return hashlib.blake2b(slot.to_bytes(8, "big"), key=self._key, digest_size=48).digest()

    def _persona(self, digest: bytes) -> dict[str, str]:
        return self._personas[int.from_bytes(digest[36:40], "big") % len(self._personas)]

    def id_int(self, slot: int) -> int:
        """The UUID (as an int) of the link in ``slot``: a version-4 layout of a mix of it."""
        mixed = (((slot * self._mul) & _MASK) ^ self._xor) * self._mul2 & _MASK
        return (
            (mixed >> 74) << 80
            | 0x4 << 76
            | ((mixed >> 62) & 0xFFF) << 64
            | 0b10 << 62
            | (mixed & ((1 << 62) - 1))
        )

    def slot_of(self, id_int: int) -> int | None:
        """The slot whose link has this id, or None when no seeded link has it."""
        if (id_int >> 76) & 0xF != 4 or (id_int >> 62) & 0b11 != 0b10:
            return None
        mixed = (id_int >> 80) << 74 | ((id_int >> 64) & 0xFFF) << 62 | (id_int & ((1 << 62) - 1))
        slot = (((mixed * self._inv2) & _MASK) ^ self._xor) * self._inv & _MASK
        return slot if slot < self.count else None

    def _tied(self, pair: int) -> bool:
        return 2 * pair + 1 < self.count and self._digest(2 * pair)[40] < 13

    def at(self, position: int) -> int:
        """The slot listed at ``position`` (and, being an involution, the reverse)."""
        pair = position // 2
        if self._tied(pair) and self.id_int(2 * pair) > self.id_int(2 * pair + 1):
            return position ^ 1
        return position

    def created_at(self, slot: int) -> datetime:
        """When the link in ``slot`` was created: newer for lower slots, tied in pairs."""
        if slot % 2 and self._tied(slot // 2):
            slot -= 1
        offset = (self.count - slot) * _SPAN_MS // (self.count + 1)
        return SEED_EPOCH + timedelta(milliseconds=offset)

    def persona_of(self, slot: int) -> dict[str, str]:
        """The persona the link in ``slot`` belongs to."""
        return self._persona(self._digest(slot))

    def link(self, slot: int) -> dict[str, Any]:
        """The link in ``slot``, computed afresh (the caller may keep or change it)."""
        digest = self._digest(slot)
        created_at = self.created_at(slot)
        b = digest
        kind_roll = int.from_bytes(b[0:2], "big") % 100
        kind = _KINDS[0] if kind_roll < 70 else _KINDS[1] if kind_roll < 85 else _KINDS[2]
        expires_at = None
        if b[2] >= 90:
            hours = 24 + int.from_bytes(b[3:5], "big") % (24 * 89)
            expires_at = iso(created_at + timedelta(hours=hours))
        usage_limit = None if b[5] < 77 else _USAGE_LIMITS[b[6] % len(_USAGE_LIMITS)]
        usage_count = int.from_bytes(b[7:9], "big") % ((usage_limit or 200) + 1)
        origins: list[str] = []
        if b[10] >= 128:
            start = b[12] % len(_ORIGINS)
            origins = [_ORIGINS[(start + k) % len(_ORIGINS)] for k in range(1 + b[11] % 3)]
        link = make_link(
            link_id=str(uuid.UUID(int=self.id_int(slot))),
            token="sh_" + "".join(_URL_SAFE[byte & 63] for byte in b[15:36]),
            kind=kind,
            expires_at=expires_at,
            usage_limit=usage_limit,
            usage_count=usage_count,
            origins=origins,
            flags=(b[9] < 38, b[13] < 51, b[14] < 217),
            created_at=created_at,
            persona=self._persona(digest),
        )
        link["isPrimary"] = slot in self._primary
        return link

    def matches(self, slot: int, persona_id: str | None, needle: str) -> bool:
        """Whether the link in ``slot`` passes the list filters (without building it)."""
        digest = self._digest(slot)
        persona = self._persona(digest)
        if persona_id is not None and persona["id"] != persona_id:
            return False
        if not needle or needle in persona["name"].casefold():
            return True
        token = "sh_" + "".join(_URL_SAFE[byte & 63] for byte in digest[15:36])
        return needle in token.casefold()
