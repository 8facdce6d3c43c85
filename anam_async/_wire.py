"""The sans-I/O layer: validate arguments, build requests, turn responses into data or errors.

Nothing here touches the network or imports aiohttp: every function takes plain values and
returns plain values, so the whole request/response contract is testable synchronously.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import quote, urlencode

import msgspec

from ._redact import redact_bytes, redact_decoded, redact_headers
from ._retry import retry_after_seconds
from ._types import CreateShareLinkBody, UpdateShareLinkBody
from ._validate import check_int, check_positive_number, check_search, check_uuid
from .errors import APIResponseValidationError, APIStatusError, RateLimitError, _class_for_status

__all__ = [
    "Request",
    "create_share_link",
    "decipher",
    "delete_share_link",
    "get_share_link",
    "list_request_builder",
    "list_share_links",
    "snippet",
    "update_share_link",
]

T = TypeVar("T")

SHARE_LINKS_PATH: Final = "/v1/share-links"
SNIPPET_CHARS: Final = 200


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
# Request builders.


_encoder: Final = msgspec.json.Encoder()


def list_request_builder(
    *, per_page: object, search: object, persona_id: object
) -> Callable[[int], Request]:
    """Validate the list filters once; return the builder of page ``n``'s request.

    A stream asks for many pages with the same filters: only the page number changes, so the
    rest of the query is checked and encoded here, once.

    Raises:
        AnamValidationError: a filter breaks its rule.
    """
    pairs: list[tuple[str, object]] = [("perPage", check_int("per_page", per_page, 1, 100))]
    checked_search = check_search(search)
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
    return list_request_builder(per_page=per_page, search=search, persona_id=persona_id)(
        checked_page
    )


def get_share_link(share_link_id: object) -> Request:
    """Validate the id and build ``GET /v1/share-links/{id}``."""
    return Request("GET", f"{SHARE_LINKS_PATH}/{check_uuid('share_link_id', share_link_id)}")


def create_share_link(
    *, persona_id: object, expires_in_hours: object, usage_limit: object
) -> Request:
    """Validate the arguments and build ``POST /v1/share-links`` with its JSON body."""
    body = CreateShareLinkBody(
        persona_id=check_uuid("persona_id", persona_id),
        expires_in_hours=check_positive_number("expires_in_hours", expires_in_hours),
        usage_limit=check_positive_number("usage_limit", usage_limit),
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
    body = UpdateShareLinkBody(
        expires_in_hours=check_positive_number("expires_in_hours", expires_in_hours),
        usage_limit=check_positive_number("usage_limit", usage_limit),
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


def decipher(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    decoder: msgspec.json.Decoder[T],
    *,
    method: str,
    url: str,
    secret: str | None = None,
) -> T:
    """Turn a final response into the decoded Struct, or raise the matching error.

    Args:
        status: The HTTP status.
        headers: The response headers.
        body: The raw body.
        decoder: The typed decoder for a 2xx body (204 No Content is decoded as ``null``).
        method: The request method, for the error.
        url: The request URL, for the error (never holds the key).
        secret: The API key, replaced by ``***`` wherever the server echoed it.

    Raises:
        APIStatusError: for a non-2xx status (the subclass for that status; a
            ``RateLimitError`` carries the server's ``Retry-After`` as ``retry_after``).
        APIResponseValidationError: a 2xx body that is not JSON or not the documented shape.
    """
    if not 200 <= status < 300:
        raise _status_exception(status, headers, body, method=method, url=url, secret=secret)
    if status == 204:
        # No Content: the decoder says whether nothing is a valid answer here.
        body = b"null"
    try:
        return decoder.decode(body)
    # msgspec raises RecursionError for absurdly deep nesting; it is a bad body all the same.
    except (msgspec.DecodeError, RecursionError) as exc:
        # msgspec's message names the field path, e.g. "at `$.data[0].createdAt`". The whole
        # body is redacted before it is cut: a key across the cut stays hidden.
        raise APIResponseValidationError(
            f"invalid response body for {method} {url}: {exc}",
            method=method,
            url=url,
            status=status,
            body_snippet=snippet(redact_bytes(body, secret)),
        ) from None


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


def _status_exception(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    url: str,
    secret: str | None,
) -> APIStatusError:
    """Build the exception for a non-2xx response (``.body`` is the JSON, else the text).

    ``secret`` (the API key) is replaced by ``***`` wherever the server echoed it: in the
    raw body, in the decoded JSON (where unicode escapes may have spelled it), in the message
    and in the headers.
    """
    body = redact_bytes(body, secret)
    headers = redact_headers(headers, secret)
    decoded: Any
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        decoded = body.decode("utf-8", errors="replace")
    if secret:
        decoded = redact_decoded(decoded, secret)
    error = _class_for_status(status)(
        _error_message(decoded, body),
        method=method,
        url=url,
        status=status,
        body=decoded,
        headers=headers,
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after_seconds(headers)
    return error
