"""The only module that touches aiohttp: send one request, return status, headers and body.

aiohttp's exceptions are translated here into the library's, with a note of whether the
request may have reached the server and whether trying again may help (the retry policy
needs both). Three rules hold for every error that leaves this module:

- It is raised outside the ``except`` block, so neither ``__cause__`` nor ``__context__``
  holds aiohttp's exception: that one carries ``RequestInfo``, whose headers hold
  ``Authorization: Bearer <key>``.
- The text taken from aiohttp's exception (which may quote a status or header line that a
  server echoed the key into) has the key, and any run of 8 or more of its characters, replaced
  by ``***``. Header values of a response are redacted the same way (the whole key).
- A body is read in chunks and counted after decompression; past ``max_response_bytes``
  (or with a larger ``Content-Length``) reading stops and ``APIResponseValidationError``
  is raised, which the client never retries.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from ._redact import redact
from ._wire import snippet
from .errors import APIConnectionError, APIError, APIResponseValidationError, APITimeoutError

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "RawResponse", "send"]

#: The default bound on one response body, after decompression.
DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
_CHUNK_BYTES: Final = 64 * 1024
#: How much of aiohttp's exception text is looked at, and how much of it is shown.
_SCANNED_CHARS: Final = 4096
_DETAIL_CHARS: Final = 500
_WHITESPACE: Final = re.compile(r"\s+")
# Peers that close or reset during the handshake (an overloaded load balancer) surface as
# these; they may well succeed next time, unlike a certificate or a protocol mismatch.
_TRANSIENT_SSL: Final = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A whole response: status, headers (as sent: `_wire` redacts what an error carries)
    and the body read to the end."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def _describe(exc: BaseException, secret: str) -> str:
    """aiohttp's exception as one line of bounded, redacted text, led by its class name."""
    text = str(exc)[:_SCANNED_CHARS]
    text = _WHITESPACE.sub(" ", redact(text, secret)).strip()
    if len(text) > _DETAIL_CHARS:
        text = text[:_DETAIL_CHARS] + "..."
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _classify(exc: BaseException) -> tuple[type[APIConnectionError], str, bool, bool]:
    """What aiohttp's error means: (class to raise, words, request sent, worth retrying)."""
    # Failing to connect, or timing out while connecting, happens before a byte of the request
    # is sent: the only errors after which even a POST may be retried.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError, "connect timeout", False, True
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # Not transient: a certificate that does not verify will not verify next time either.
        why = "TLS certificate verification failed (a certificate problem, not retried)"
        return APIConnectionError, why, False, False
    if isinstance(exc, aiohttp.ClientConnectorSSLError) and not isinstance(
        exc.os_error, _TRANSIENT_SSL
    ):
        # A protocol or cipher mismatch, or a peer that does not speak TLS: as deterministic
        # as a bad certificate. A handshake cut short by the peer stays retryable (below).
        return APIConnectionError, "TLS handshake failed (not retried)", False, False
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError, "cannot connect", False, True
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return APITimeoutError, "timeout", True, True
    return APIConnectionError, "connection error", True, True


def _translate(exc: BaseException, *, method: str, url: str, secret: str) -> APIConnectionError:
    """The library's error for one of aiohttp's (or a timeout), never holding a reference to it."""
    cls, what, sent, transient = _classify(exc)
    error = cls(f"{what} for {method} {url}: {_describe(exc, secret)}", method=method, url=url)
    error.request_sent = sent
    error.transient = transient
    return error


def _too_large(
    response: aiohttp.ClientResponse,
    *,
    method: str,
    url: str,
    limit: int,
    why: str,
    start: bytes,
    secret: str,
) -> APIResponseValidationError:
    # Redact before cutting, so that a key across the cut cannot show in part.
    shown = redact(start[: 4 * 256].decode("utf-8", errors="replace"), secret)
    return APIResponseValidationError(
        f"response body for {method} {url} is larger than max_response_bytes={limit}: {why}",
        method=method,
        url=url,
        status=response.status,
        body_snippet=snippet(shown.encode()),
    )


async def _read_bounded(
    response: aiohttp.ClientResponse, *, method: str, url: str, limit: int, secret: str
) -> bytes:
    """The whole body (decompressed: aiohttp decodes it as it arrives), at most ``limit`` bytes."""
    length = response.content_length
    if length is not None and length <= limit and "Content-Encoding" not in response.headers:
        # The common case: an identity body of known length within the limit, read whole.
        return await response.read()
    if length is not None and length > limit:
        response.close()  # drop the connection: not a byte of that body is read
        raise _too_large(
            response,
            method=method,
            url=url,
            limit=limit,
            why=f"Content-Length is {length}; not read",
            start=b"",
            secret=secret,
        )
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            response.close()
            raise _too_large(
                response,
                method=method,
                url=url,
                limit=limit,
                why=f"more than {limit} bytes after decompression; reading stopped there",
                start=chunks[0] if chunks else chunk,
                secret=secret,
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    client_timeout: aiohttp.ClientTimeout,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    secret: str,
) -> RawResponse:
    """Send one request and read the whole response.

    Redirects are never followed: a 3xx comes back as it is, so the key never follows one.
    ``headers`` are this request's (None: the session's own); ``secret`` is the API key, kept
    out of every error text.

    Raises:
        APITimeoutError: the attempt ran out of time.
        APIConnectionError: the connection failed or dropped (a body cut short included);
            ``.transient`` is False for a TLS certificate or handshake failure.
        APIResponseValidationError: the body is larger than ``max_response_bytes``.
    """
    shown = str(url)
    failure: APIError
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=body,
            timeout=client_timeout,
            allow_redirects=False,
            # A borrowed session may raise for status by default; statuses are ours to map.
            raise_for_status=False,
        ) as response:
            content = await _read_bounded(
                response, method=method, url=shown, limit=max_response_bytes, secret=secret
            )
            return RawResponse(response.status, response.headers, content)
    except (aiohttp.ClientError, TimeoutError) as exc:
        failure = _translate(exc, method=method, url=shown, secret=secret)
    # Raised here, outside the handler, so that aiohttp's exception (and the RequestInfo with
    # the Authorization header it holds) is neither the cause nor the context of ours.
    raise failure
