"""The sans-I/O layer: validate arguments, build requests, turn responses into data or errors.

Nothing here touches the network or imports aiohttp: every function takes plain values and
returns plain values, so the whole request/response contract is testable synchronously.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard, TypeVar
from urllib.parse import quote, urlencode

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from .errors import (
    AnamValidationError,
    APIResponseValidationError,
    APIStatusError,
    RateLimitError,
    status_error,
)

__all__ = [
    "Request",
    "check_bool",
    "check_int",
    "check_optional_int",
    "check_uuid",
    "create_share_link",
    "delete_share_link",
    "get_share_link",
    "list_share_links",
    "parse_response",
    "share_links_pages",
    "update_share_link",
]

T = TypeVar("T")

SHARE_LINKS_PATH: Final = "/v1/share-links"
#: Every request body is JSON, and says so: a JSON API ignores a body labelled otherwise.
JSON_CONTENT_TYPE: Final = "application/json"
SNIPPET_CHARS: Final = 200
_VALUE_CHARS: Final = 60
_MAX_SAFE_INT: Final = 2**53
#: The largest int any parameter takes.
MAX_INT: Final = 2**63 - 1
REDACTED: Final = "***"

_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}"
)


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, described without doing it.

    Attributes:
        method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
        path: The path below the base URL, starting with ``/``.
        query: The URL-encoded query string, without ``?`` ("" for none).
        body: The JSON body, or None; one is sent as ``Content-Type: application/json``.
        idempotent: Whether a retry after the request may have reached the server is safe.
            A POST is not: it is retried only when it surely was not sent, or on a 429.
    """

    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    idempotent: bool = True

    @property
    def target(self) -> str:
        """The path and query, as they go on the request line."""
        return f"{self.path}?{self.query}" if self.query else self.path


# ---------------------------------------------------------------------------------------------
# Argument validation. Every message names the Python parameter, shows the value (shortened)
# and states the rule, so a user can fix the call without reading this code.


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        # An int past Python's digit limit, or an object whose repr raises: the message must
        # still be an AnamValidationError naming the parameter.
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__name__} object>"
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - 3] + "..."
    return text


def invalid(name: str, value: object, rule: str) -> AnamValidationError:
    """Build the validation error for parameter ``name``: ``name=value is invalid: rule``."""
    return AnamValidationError(f"{name}={_shown(value)} is invalid: {rule}")


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, but page=True is a bug, never a page number.
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) in ``low..high``; else raise.

    Without ``high`` the bound is ``2**63 - 1``: no parameter of the API is larger, and a
    huge int would fail later (formatting it into a URL) with Python's own ValueError.
    """
    top = MAX_INT if high is None else high
    if not _is_int(value) or not low <= value <= top:
        raise invalid(name, value, _int_rule(low, high))
    return value


def check_optional_int(name: str, value: object, low: int) -> int | None:
    """Like ``check_int`` with no upper bound, but ``None`` passes."""
    if value is None:
        return None
    if not _is_int(value) or not low <= value <= MAX_INT:
        raise invalid(name, value, _int_rule(low, None) + " or None")
    return value


def _int_rule(low: int, high: int | None) -> str:
    if high is not None:
        return f"must be an int in {low}..{high}"
    return f"must be an int >= {low} (at most 2**63 - 1)"


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool; else raise."""
    if not isinstance(value, bool):
        raise invalid(name, value, "must be a bool")
    return value


def _check_search(value: object) -> str | None:
    if value is not None:
        if not isinstance(value, str):
            raise invalid("search", value, "must be a str or None")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate cannot be URL-encoded; refuse it here, not at send time.
            raise invalid("search", value, "must be valid Unicode text") from None
    return value


def check_uuid(name: str, value: object) -> str:
    """Return the canonical lowercase hyphenated form of a UUID given as UUID or str.

    A string must be the 36-character hyphenated form or 32 hex digits (any case); braces,
    ``urn:uuid:`` and anything else are refused, so an id reaches a URL path only once it is
    known to be exactly 32 hex digits.
    """
    if isinstance(value, uuid.UUID):
        # From the value, never from str(): a subclass's __str__ could put anything in the path.
        return str(uuid.UUID(int=value.int))
    if isinstance(value, str) and _UUID_RE.fullmatch(value):
        return str(uuid.UUID(value))
    raise invalid(
        name, value, "must be a uuid.UUID or a UUID string (36-char hyphenated or 32 hex digits)"
    )


def _optional_number(name: str, value: object) -> float | int | msgspec.UnsetType:
    """A positive finite number, or UNSET for None (left out of the JSON body)."""
    if value is None:
        return msgspec.UNSET
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name, value, "must be a positive finite number or None")
    # An int is checked against the largest integer JSON numbers carry exactly (math.isfinite
    # would overflow on a huge int); a float against inf and nan.
    if value <= 0 or (
        value > _MAX_SAFE_INT if isinstance(value, int) else not math.isfinite(value)
    ):
        raise invalid(name, value, "must be a positive finite number (at most 2**53) or None")
    return value


# ---------------------------------------------------------------------------------------------
# Request builders.


class _CreateBody(msgspec.Struct, kw_only=True, rename="camel"):
    persona_id: str
    expires_in_hours: float | int | msgspec.UnsetType = msgspec.UNSET
    usage_limit: float | int | msgspec.UnsetType = msgspec.UNSET


class _UpdateBody(msgspec.Struct, kw_only=True, rename="camel"):
    # UNSET (left out of the JSON) means "leave unchanged", which is what the spec's PUT does
    # with an omitted field; there is no way to send null, and the spec has no use for one.
    expires_in_hours: float | int | msgspec.UnsetType = msgspec.UNSET
    usage_limit: float | int | msgspec.UnsetType = msgspec.UNSET


_encoder: Final = msgspec.json.Encoder()


def share_links_pages(
    *, per_page: object, search: object, persona_id: object
) -> Callable[[int], Request]:
    """Validate the list filters once; return the builder of page ``n``'s request.

    A stream asks for many pages with the same filters: only the page number changes, so the
    rest of the query is checked and encoded here, once.

    Raises:
        AnamValidationError: a filter breaks its rule.
    """
    pairs: list[tuple[str, object]] = [("perPage", check_int("per_page", per_page, 1, 100))]
    checked_search = _check_search(search)
    if checked_search is not None:
        pairs.append(("search", checked_search))
    if persona_id is not None:
        pairs.append(("personaId", check_uuid("persona_id", persona_id)))
    # quote (not quote_plus) percent-encodes "&", "=", "+" and spaces, so a search term can
    # never become a second parameter.
    rest = urlencode(pairs, quote_via=quote)

    def page_request(page: int) -> Request:
        return Request("GET", SHARE_LINKS_PATH, f"page={page}&{rest}")

    return page_request


def list_share_links(
    *, page: object, per_page: object, search: object, persona_id: object
) -> Request:
    """Validate the list arguments and build ``GET /v1/share-links``.

    Raises:
        AnamValidationError: an argument breaks its rule; nothing is built.
    """
    checked_page = check_int("page", page, 1)
    return share_links_pages(per_page=per_page, search=search, persona_id=persona_id)(checked_page)


def get_share_link(share_link_id: object) -> Request:
    """Validate the id and build ``GET /v1/share-links/{id}``."""
    return Request("GET", f"{SHARE_LINKS_PATH}/{check_uuid('share_link_id', share_link_id)}")


def create_share_link(
    *, persona_id: object, expires_in_hours: object, usage_limit: object
) -> Request:
    """Validate the arguments and build ``POST /v1/share-links`` with its JSON body."""
    body = _CreateBody(
        persona_id=check_uuid("persona_id", persona_id),
        expires_in_hours=_optional_number("expires_in_hours", expires_in_hours),
        usage_limit=_optional_number("usage_limit", usage_limit),
    )
    return Request("POST", SHARE_LINKS_PATH, body=_encoder.encode(body), idempotent=False)


def update_share_link(
    share_link_id: object, *, expires_in_hours: object, usage_limit: object
) -> Request:
    """Validate the arguments and build ``PUT /v1/share-links/{id}``.

    With neither field the body is ``{}``: the spec requires a body, and an empty one changes
    nothing.
    """
    path = f"{SHARE_LINKS_PATH}/{check_uuid('share_link_id', share_link_id)}"
    body = _UpdateBody(
        expires_in_hours=_optional_number("expires_in_hours", expires_in_hours),
        usage_limit=_optional_number("usage_limit", usage_limit),
    )
    return Request("PUT", path, body=_encoder.encode(body))


def delete_share_link(share_link_id: object) -> Request:
    """Validate the id and build ``DELETE /v1/share-links/{id}``."""
    return Request("DELETE", f"{SHARE_LINKS_PATH}/{check_uuid('share_link_id', share_link_id)}")


# ---------------------------------------------------------------------------------------------
# Responses.


def snippet(body: bytes) -> str:
    """The first 200 characters of a body as text, for error messages."""
    # Four bytes a character at most: decode enough bytes for 200 whole characters.
    return body[: 4 * SNIPPET_CHARS + 3].decode("utf-8", errors="replace")[:SNIPPET_CHARS]


def parse_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    decoder: msgspec.json.Decoder[T],
    *,
    method: str,
    url: str,
    retry_after: float | None = None,
) -> T:
    """Turn a final response into the decoded Struct, or raise the matching error.

    Args:
        status: The HTTP status.
        headers: The response headers.
        body: The raw body.
        decoder: The typed decoder for a 2xx body.
        method: The request method, for the error.
        url: The request URL, for the error (never holds the key).
        retry_after: The server's requested wait, put on a ``RateLimitError``.

    Raises:
        APIStatusError: for a non-2xx status (the subclass for that status).
        APIResponseValidationError: a 2xx body that is not JSON or not the documented shape.
    """
    if 200 <= status < 300:
        if status == 204:
            # No Content: the decoder says whether nothing is a valid answer here.
            body = b"null"
        try:
            return decoder.decode(body)
        # msgspec raises RecursionError for absurdly deep nesting; it is a bad body all the same.
        except (msgspec.DecodeError, RecursionError) as exc:
            # msgspec's message names the field path, e.g. "at `$.data[0].createdAt`".
            raise APIResponseValidationError(
                f"invalid response body for {method} {url}: {exc}",
                method=method,
                url=url,
                status=status,
                body_snippet=snippet(body),
            ) from None
    raise status_exception(status, headers, body, method=method, url=url, retry_after=retry_after)


def _error_message(decoded: Any, body: bytes) -> str:
    if isinstance(decoded, dict):
        message = decoded.get("message")
        if isinstance(message, list):
            return "; ".join(str(part) for part in message)
        if isinstance(message, str) and message:
            return message
        error = decoded.get("error")
        if isinstance(error, str) and error:
            return error
    return snippet(body)


def redact_bytes(body: bytes, secret: str | None) -> bytes:
    """``body`` with every raw occurrence of ``secret`` replaced by ``***``."""
    return body.replace(secret.encode(), REDACTED.encode()) if secret else body


def _redact_decoded(value: Any, secret: str) -> Any:
    # JSON can spell the key with \u escapes, which only decoding turns back into the key.
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, list):
        return [_redact_decoded(item, secret) for item in value]
    if isinstance(value, dict):
        return {
            _redact_decoded(key, secret): _redact_decoded(item, secret)
            for key, item in value.items()
        }
    return value


def _redact_headers(headers: Mapping[str, str], secret: str | None) -> Mapping[str, str]:
    if not secret or not any(secret in value for value in headers.values()):
        return headers
    redacted: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        redacted.add(name, value.replace(secret, REDACTED))
    return CIMultiDictProxy(redacted)


def status_exception(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    url: str,
    retry_after: float | None = None,
    secret: str | None = None,
) -> APIStatusError:
    """Build the exception for a non-2xx response (``.body`` is the JSON, else the text).

    ``secret`` (the API key) is replaced by ``***`` wherever the server echoed it: in the
    raw body, in the decoded JSON (where unicode escapes may have spelled it), in the message
    and in the headers.
    """
    body = redact_bytes(body, secret)
    headers = _redact_headers(headers, secret)
    decoded: Any
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        decoded = body.decode("utf-8", errors="replace")
    if secret:
        decoded = _redact_decoded(decoded, secret)
    message = _error_message(decoded, body)
    cls = status_error(status)
    if cls is RateLimitError:
        return RateLimitError(
            message,
            method=method,
            url=url,
            status=status,
            body=decoded,
            headers=headers,
            retry_after=retry_after,
        )
    return cls(message, method=method, url=url, status=status, body=decoded, headers=headers)
