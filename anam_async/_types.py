"""The data model: msgspec Structs for the wire shapes and the typed decoders built once.

Python attributes are snake_case; ``rename="camel"`` maps them to the wire's camelCase.
The Structs stand on their own: ``msgspec.json.decode(body, type=ShareLinkPage)`` gives
exactly what the client gives, because every rule (time zones, unknown ``type`` values)
lives in the types themselves and not in a decode hook.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Generic, TypeVar

import msgspec

__all__ = [
    "CreateShareLinkBody",
    "DeleteResponse",
    "Page",
    "Pagination",
    "PersonaShareLink",
    "ShareLink",
    "ShareLinkPage",
    "ShareLinkType",
    "UpdateShareLinkBody",
]

T = TypeVar("T")

# A timestamp without a UTC offset is ambiguous; msgspec rejects it with this constraint.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class ShareLinkType(enum.StrEnum):
    """The kind of a share link: a ``str`` Enum that stays open to kinds added later.

    A known wire value decodes to its member (``link.type is ShareLinkType.LINK``). A value
    the enum does not know yet decodes to a pseudo-member of ``ShareLinkType`` that keeps
    its string, so a new kind of link never fails a page: ``isinstance(link.type,
    ShareLinkType)`` holds, ``link.type == "NEW_KIND"`` holds, and it encodes back as
    ``"NEW_KIND"``. Pseudo-members are not cached: ``is`` works for the known members only,
    ``==`` for every value.
    """

    LINK = "LINK"
    PLAYER_EMBED = "PLAYER_EMBED"
    ORB_EMBED = "ORB_EMBED"

    @classmethod
    def _missing_(cls, value: object) -> ShareLinkType | None:
        # msgspec calls this for a string that is not a member's value, as Enum(value) does.
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class ShareLink(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """A shareable link to a persona, as create and update return it.

    Required: ``id``, ``token``, ``type`` and ``created_at``; a body without one of them is an
    ``APIResponseValidationError`` naming the field. Every other field is optional and, when
    the API leaves it out, takes the default shown (the spec's meaning of that value).

    Attributes:
        id: Unique identifier (required).
        token: Opaque token appended to the public URL (required).
        type: The kind of link, a ``ShareLinkType`` (required): a known value is its member
            (``link.type is ShareLinkType.LINK``); a value the enum does not know yet is a
            ``ShareLinkType`` pseudo-member equal to its string, so it never fails a page.
        expires_at: When the link stops working; ``None`` means it never expires.
        usage_limit: Maximum number of uses; ``None`` means unlimited.
        usage_count: Number of times the link has been used.
        allowed_origins: Origins allowed to embed the link (ignored when
            ``allow_all_origins`` is true).
        allow_all_origins: Whether any origin may embed the link.
        remove_watermark: Whether the persona renders without the Anam watermark.
        enabled: Whether the link currently accepts connections.
        is_primary: Whether this is the persona's primary link.
        created_at: When the link was created, timezone-aware (required).
    """

    id: uuid.UUID
    token: str
    type: ShareLinkType
    expires_at: AwareDatetime | None = None
    usage_limit: int | None = None
    usage_count: int = 0
    allowed_origins: list[str] = msgspec.field(default_factory=list)
    allow_all_origins: bool = False
    remove_watermark: bool = False
    enabled: bool = True
    is_primary: bool = False
    created_at: AwareDatetime


class PersonaShareLink(ShareLink, kw_only=True, frozen=True, rename="camel"):
    """A share link as list and get return it, with its persona's details.

    Required: ``id``, ``token``, ``type``, ``created_at`` (as in ``ShareLink``) and
    ``persona_id``. Every other field is optional, with the defaults of ``ShareLink``.

    Attributes:
        persona_id: The persona the link points to (required).
        persona_name: The persona's name when the link was issued.
        organization_id: The owning organization: a UUID or a nanoid-style string,
            depending on the organization's age, so it is kept as ``str``.
    """

    persona_id: uuid.UUID
    persona_name: str | None = None
    organization_id: str | None = None


class Pagination(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """Pagination metadata returned beside the ``data`` array of every list endpoint.

    Required: ``total``, ``last_page``, ``current_page`` and ``per_page``.

    Attributes:
        total: Number of items across all pages (required).
        last_page: Number of the last page; an empty listing may report 0 or 1 (required).
        current_page: Number of this page (required).
        per_page: Items per page (required).
        prev: The previous page's number, ``None`` on the first page.
        next: The next page's number, ``None`` on the last page.
    """

    total: int
    last_page: int
    current_page: int
    per_page: int
    prev: int | None = None
    next: int | None = None

    @property
    def is_last(self) -> bool:
        """Whether this meta marks its page as the last one (``next`` null or past the end)."""
        return self.next is None or self.current_page >= self.last_page


class Page(msgspec.Struct, Generic[T], kw_only=True, frozen=True):
    """One page of any Anam list endpoint: ``{data, meta}`` (both required).

    Generic over the item type so that every list endpoint shares one page type and one
    page engine.
    """

    data: list[T]
    meta: Pagination


class ShareLinkPage(Page[PersonaShareLink], kw_only=True, frozen=True):
    """One page of ``GET /v1/share-links``.

    Attributes:
        data: The share links of this page, in server order (required).
        meta: The pagination metadata (required).
    """


class DeleteResponse(msgspec.Struct, kw_only=True, frozen=True):
    """The body of a successful delete, ``{"message": "..."}``; no field is required."""

    message: str | None = None


# Request bodies. UNSET (left out of the JSON) is how an optional field is not sent.


class CreateShareLinkBody(msgspec.Struct, kw_only=True, rename="camel"):
    """The body of ``POST /v1/share-links``."""

    persona_id: str
    expires_in_hours: float | int | msgspec.UnsetType = msgspec.UNSET
    usage_limit: float | int | msgspec.UnsetType = msgspec.UNSET


class UpdateShareLinkBody(msgspec.Struct, kw_only=True, rename="camel"):
    """The body of ``PUT /v1/share-links/{id}``."""

    # UNSET means "leave unchanged", which is what the spec's PUT does with an omitted field;
    # there is no way to send null, and the spec has no use for one.
    expires_in_hours: float | int | msgspec.UnsetType = msgspec.UNSET
    usage_limit: float | int | msgspec.UnsetType = msgspec.UNSET


# Typed decoders, built once and reused on every response.
# A delete's 200 carries a message, and a 204 (decoded as null) or a 404 to a retried delete
# (see _retry.gone_anyway) carries nothing: both are None.
delete_response_decoder = msgspec.json.Decoder(DeleteResponse | None)
share_link_decoder = msgspec.json.Decoder(ShareLink)
persona_share_link_decoder = msgspec.json.Decoder(PersonaShareLink)
share_link_page_decoder = msgspec.json.Decoder(ShareLinkPage)
