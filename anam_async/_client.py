"""``AnamClient`` (lifecycle and configuration) and the share-links resource, wiring the layers.

The layers below do the work: ``_wire`` validates and builds requests and parses responses,
``_retry`` decides about failures, ``_transport`` does the I/O, ``_paging`` runs the ordered
concurrent engine. This module holds the state that ties them together: the session, the
client-wide pause after a 429, and the set of requests in flight.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import platform
import re
import threading
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Mapping,
)
from contextlib import aclosing
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar, overload

import aiohttp
import msgspec
from yarl import URL

from . import _retry, _wire
from ._paging import Limiter, PageInfo, iterate_pages, ordered_map
from ._transport import send
from ._types import (
    Page,
    PersonaShareLink,
    ShareLink,
    ShareLinkPage,
    delete_response_decoder,
    persona_share_link_decoder,
    share_link_decoder,
    share_link_page_decoder,
)
from ._version import __version__
from .errors import (
    AnamError,
    AnamValidationError,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
)

__all__ = ["AnamClient", "ShareLinks"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT", bound="Page[Any]")

logger: Final = logging.getLogger("anam_async")

DEFAULT_BASE_URL: Final = "https://api.anam.ai"
_OVERLOAD_STATUSES: Final = frozenset({429, 503})
_IPV4_LOOPBACK: Final = ipaddress.IPv4Network("127.0.0.0/8")
_IPV6_LOOPBACK: Final = ipaddress.IPv6Address("::1")
# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than HTAB (RFC 9110 section 5.5), and DEL.
_BAD_VALUE_CHARS: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The headers that carry the key, frame or route the request, or say what its body is.
_RESERVED_HEADERS: Final = {
    "authorization": "cannot be set: the client sends the key itself (pass api_key)",
    "content-length": "cannot be set: it frames the request, and aiohttp sets it",
    "transfer-encoding": "cannot be set: it frames the request, and aiohttp sets it",
    "host": "cannot be set: it routes the request; it comes from base_url",
    "connection": "cannot be set: aiohttp manages the connection",
    "content-type": "cannot be set: bodies are JSON and labelled so; another label would "
    "make the API ignore them",
}
#: Pages in a row whose items were all yielded already, after which a stream gives up.
STALE_PAGES_LIMIT: Final = 3
# Control characters and whitespace would let a key split a header or smuggle another one.
_BAD_KEY_CHARS: Final = re.compile(r"[\s\x00-\x1f\x7f]")
_USER_AGENT: Final = (
    f"anam-async/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)

# Indirection so that retry tests can patch the waits (``anam_async._client._sleep``).
_sleep = asyncio.sleep


def _is_loopback(host: str) -> bool:
    # Exactly localhost, 127.0.0.0/8 and ::1 on every Python version: ip_address's
    # is_loopback also takes ::ffff:127.0.0.1 from 3.13 on, and a scoped ::1%eth0.
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return address.scope_id is None and address == _IPV6_LOOPBACK
    return address in _IPV4_LOOPBACK


def _check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    # The value is never shown: a key passed here by mistake, or credentials in the URL,
    # must not reach a message.
    def refuse(rule: str) -> AnamValidationError:
        return AnamValidationError(f"base_url is invalid: {rule}")

    if not isinstance(base_url, str):
        raise refuse(f"must be an http(s) URL string, not {type(base_url).__name__}")
    if re.search(r"[\x00-\x20\x7f]", base_url):
        raise refuse("must not contain spaces or control characters")
    try:
        # yarl is what aiohttp will send with: its reading of the host is the one that counts
        # (urlsplit reads "http://[::1].evil.test" as the loopback host "::1").
        url = URL(base_url)
        host = url.raw_host
        url.port  # noqa: B018 -- reading it validates the port number
    except (ValueError, TypeError):
        raise refuse("not a valid URL") from None
    if url.scheme not in ("http", "https") or not host:
        raise refuse("must be an http(s) URL with a host")
    # An empty "?" or "#" would still swallow the path appended after the base URL.
    if "?" in base_url or "#" in base_url or url.raw_user is not None or url.raw_password:
        raise refuse("must not carry a query, a fragment or credentials")
    try:
        host.encode("idna")
    except UnicodeError:
        raise refuse(
            "its host name cannot be encoded (a label longer than 63 characters?)"
        ) from None
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise refuse(
            "plain http is allowed only to loopback hosts (localhost, 127.0.0.0/8, ::1); "
            "use https, or pass allow_insecure_http=True to send the key in clear on purpose"
        )
    return base_url.rstrip("/")


def _check_timeout(timeout: object) -> aiohttp.ClientTimeout:
    if isinstance(timeout, aiohttp.ClientTimeout):
        for field in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(timeout, field)
            if value is not None and not (
                isinstance(value, int | float) and value > 0 and math.isfinite(value)
            ):
                raise _wire.invalid("timeout", timeout, f"{field} must be finite and > 0, or None")
        return timeout
    rule = "must be a finite number of seconds > 0"
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise _wire.invalid("timeout", timeout, rule)
    try:
        seconds = float(timeout)
    except OverflowError:
        raise _wire.invalid("timeout", timeout, rule) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise _wire.invalid("timeout", timeout, rule)
    return aiohttp.ClientTimeout(total=seconds)


def _check_api_key(api_key: object) -> str:
    # The value is never shown: the messages describe what is wrong without echoing it.
    if not isinstance(api_key, str):
        raise AnamValidationError(
            f"api_key is invalid: must be a str, not {type(api_key).__name__}"
        )
    if not api_key:
        raise AnamValidationError("api_key is invalid: it is empty")
    if _BAD_KEY_CHARS.search(api_key) or not (api_key.isascii() and api_key.isprintable()):
        raise AnamValidationError(
            "api_key is invalid: it contains whitespace, control or non-ASCII characters"
        )
    return api_key


def _check_headers(headers: object) -> dict[str, str]:
    """The extra headers, keyed by lowercase name. Values are never shown in a message."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise AnamValidationError(
            f"headers is invalid: must be a mapping of str to str, not {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise AnamValidationError("headers is invalid: names and values must be str")
        if not _TOKEN.fullmatch(name):
            # Not shown: a name such as "Authorization:Bearer <key>" would carry the key.
            raise AnamValidationError(
                "headers is invalid: a header name must be an RFC 9110 token "
                "(letters, digits and !#$%&'*+-.^_`|~, not empty)"
            )
        lower = name.lower()
        if lower in _RESERVED_HEADERS:
            raise AnamValidationError(f"headers is invalid: {name} {_RESERVED_HEADERS[lower]}")
        if _BAD_VALUE_CHARS.search(value):
            raise AnamValidationError(
                f"headers is invalid: the value of {name} holds a control character"
            )
        if lower in checked:
            raise AnamValidationError(f"headers is invalid: {name} is given twice")
        checked[lower] = value
        names[lower] = name
    return {names[lower]: value for lower, value in checked.items()}


class AnamClient:
    """The async session object for the Anam AI REST API.

    One client per event loop; many concurrent calls on one client are normal. Use it as
    ``async with AnamClient() as client:`` or call ``await client.close()`` when done.

    Args:
        api_key: The API key; else the ``ANAM_API_KEY`` environment variable.
        base_url: The API root; else ``ANAM_BASE_URL``; else ``https://api.anam.ai``.
            A trailing ``/`` is ignored and a path prefix is kept.
        timeout: Seconds per attempt, or an ``aiohttp.ClientTimeout``.
        max_retries: Retries after the first attempt; 0 disables them.
        session: A borrowed ``aiohttp.ClientSession``: used, never closed by the client.
        headers: Extra default headers (not ``Authorization``).
        allow_insecure_http: Allow ``http://`` to hosts that are not loopback.
        max_response_bytes: The largest body one response may hold, counted after
            decompression; a larger one raises ``APIResponseValidationError`` (not retried).

    Attributes:
        share_links: The share-links resource (`ShareLinks`): list, stream, pages, get,
            get_many, create and update.

    Raises:
        AnamValidationError: any bad value, or no key at all.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | aiohttp.ClientTimeout = 30.0,
        max_retries: int = 2,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
        max_response_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("ANAM_API_KEY")
            if api_key is None:
                raise AnamValidationError(
                    "api_key is missing: pass api_key= or set the ANAM_API_KEY environment variable"
                )
        key = _check_api_key(api_key)
        if base_url is None:
            base_url = os.environ.get("ANAM_BASE_URL") or DEFAULT_BASE_URL
        _wire.check_bool("allow_insecure_http", allow_insecure_http)
        self._base_url = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._timeout = _check_timeout(timeout)
        self._max_retries = _wire.check_int("max_retries", max_retries, 0)
        self._max_response_bytes = _wire.check_int("max_response_bytes", max_response_bytes, 1)
        if session is not None:
            if not isinstance(session, aiohttp.ClientSession):
                raise _wire.invalid("session", session, "must be an aiohttp.ClientSession or None")
            if session.auth is not None:
                # aiohttp refuses an Authorization header beside session-level auth.
                raise _wire.invalid(
                    "session", session, "must not carry auth=: the client sends its own key"
                )
        extra = _check_headers(headers)
        lowered = {name.lower(): name for name in extra}
        # A caller's User-Agent is kept after ours rather than replacing it; a caller's
        # Accept replaces ours (names compare case-insensitively: one Accept, never two).
        user_agent = extra.pop(lowered["user-agent"]) if "user-agent" in lowered else None
        accept = extra.pop(lowered["accept"]) if "accept" in lowered else "application/json"
        self._key = key
        self._headers: dict[str, str] = {
            **extra,
            "Accept": accept,
            "User-Agent": f"{_USER_AGENT} {user_agent}" if user_agent else _USER_AGENT,
            "Authorization": f"Bearer {key}",
        }
        self._json_headers = {**self._headers, "Content-Type": _wire.JSON_CONTENT_TYPE}
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards the lazy creation of the owned session against a first call from two threads.
        self._session_lock = threading.Lock()
        self._closed = False
        self._close_done: asyncio.Future[None] | None = None
        self._in_flight: set[asyncio.Future[Any]] = set()
        # Loop time before which no request of this client starts (the 429 pause).
        self._paused_until = 0.0
        self.share_links: ShareLinks = ShareLinks(self)

    @property
    def base_url(self) -> str:
        """The API root every request goes to, without a trailing slash."""
        return self._base_url

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self._max_retries

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def __repr__(self) -> str:
        # The key is deliberately absent.
        state = "closed" if self._closed else "open"
        return f"<AnamClient base_url={self._base_url!r} {state}>"

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client: cancel calls in flight (they raise ``AnamError``) and close an
        owned session. Idempotent; a borrowed session is left open.

        Concurrent calls all return once the session is closed. A client that was never
        used (no session, nothing in flight) closes from any loop; otherwise ``close()``
        belongs to the client's own loop.

        Raises:
            AnamError: called from an event loop other than the client's, while it is still
                open or closing; nothing is changed and the client stays usable there.
        """
        loop = asyncio.get_running_loop()
        # Under the lock that guards the lazy session, so that a first call racing in another
        # thread either binds the client to its loop before this (and this raises) or sees
        # the client closed (and creates no session).
        with self._session_lock:
            done = self._close_done
            if self._loop is not None and loop is not self._loop:
                if self._closed and done is not None and done.done():
                    return  # fully closed already: nothing left to change, from any loop
                # Nothing is changed: the client stays usable, and closable, in its own loop.
                raise AnamError(
                    "close() was called from another event loop than the one this AnamClient "
                    "belongs to; close it in its own loop"
                )
            if self._closed:
                first = False
            else:
                first = True
                self._closed = True
                if self._loop is not None:
                    done = self._close_done = loop.create_future()
        if not first:
            # A concurrent close() returns only once the first one has closed the session;
            # shielded, so that cancelling a waiter never cancels the shared future.
            if done is not None:
                await asyncio.shield(done)
            return
        if done is None:
            # Never used: no session of ours and nothing in flight, so nothing to wait for.
            return
        in_flight = list(self._in_flight)
        for future in in_flight:
            future.cancel()
        try:
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            # Even when this close() is itself cancelled while it waits: the client is marked
            # closed already, so no later close() would get another chance.
            try:
                if self._owns_session and self._session is not None:
                    await self._session.close()
            finally:
                done.set_result(None)

    # -- plumbing ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise AnamError("this AnamClient is closed; create a new one")

    def _ensure_session(self) -> aiohttp.ClientSession:
        """Return the session, creating an owned one lazily inside the running loop.

        The first call binds the client to its loop, under a lock: of several threads racing
        for it, one creates the session and the others get ``AnamError`` (another loop).
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._loop is None:
            with self._session_lock:
                # Again under the lock: a close() from another thread may have come first.
                self._check_open()
                if self._loop is None:
                    if self._session is None:
                        self._session = aiohttp.ClientSession()
                        self._loop = loop
                    else:
                        # aiohttp keeps the loop a session was made in as `_loop` (the public
                        # `loop` property warns); a borrowed session lives there.
                        self._loop = getattr(self._session, "_loop", loop)
        if loop is not self._loop:
            raise AnamError(
                "this AnamClient belongs to another event loop; create one client per loop"
            )
        assert self._session is not None
        if self._session.closed:
            raise AnamError("the aiohttp session this AnamClient uses is closed")
        return self._session

    async def _request(
        self,
        request: _wire.Request,
        decoder: msgspec.json.Decoder[T],
        *,
        on_overload: Callable[[], None] | None = None,
    ) -> T:
        """Make one call (with its retries) and return the decoded body.

        The attempts run in a task of their own so that ``close()`` can cancel them; the
        caller then gets ``AnamError`` rather than a bare cancellation.
        """
        session = self._ensure_session()
        attempts = asyncio.ensure_future(self._attempts(session, request, decoder, on_overload))
        self._in_flight.add(attempts)
        attempts.add_done_callback(self._in_flight.discard)
        try:
            return await attempts
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closed and (current is None or current.cancelling() == 0):
                raise AnamError(
                    "the AnamClient was closed while this request was in flight"
                ) from None
            raise

    async def _wait_out_pause(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            until = self._paused_until
            delay = until - loop.time()
            if delay <= 0:
                return
            await _sleep(delay)
            # Another 429 during the wait may have moved the end further out; otherwise done
            # (re-reading the clock here would spin when tests patch the sleep away).
            if self._paused_until == until:
                return

    async def _attempts(
        self,
        session: aiohttp.ClientSession,
        request: _wire.Request,
        decoder: msgspec.json.Decoder[T],
        on_overload: Callable[[], None] | None,
    ) -> T:
        loop = asyncio.get_running_loop()
        text_url = self._base_url + request.target
        url = URL(text_url, encoded=True)
        retries = 0
        headers = self._headers if request.body is None else self._json_headers
        # Whether an earlier attempt may have reached the server and done its work: a DELETE
        # that then meets a 404 has removed its target all the same.
        may_have_landed = False
        while True:
            await self._wait_out_pause(loop)
            self._check_open()
            if session.closed:
                raise AnamError("the aiohttp session this AnamClient uses was closed")
            attempt = retries + 1
            started = loop.time()
            try:
                raw = await send(
                    session,
                    request.method,
                    url,
                    headers=headers,
                    body=request.body,
                    client_timeout=self._timeout,
                    max_response_bytes=self._max_response_bytes,
                )
            except (APIConnectionError, APIResponseValidationError) as exc:
                logger.debug(
                    "%s %s -> %s after %.1f ms (attempt %d)",
                    request.method,
                    request.target,
                    type(exc).__name__,
                    (loop.time() - started) * 1000,
                    attempt,
                )
                if not isinstance(exc, APIConnectionError):
                    raise  # a body over max_response_bytes: never retried
                decision = _retry.decide_error(
                    sent=exc.request_sent,
                    transient=exc.transient,
                    idempotent=request.idempotent,
                    retries_done=retries,
                    max_retries=self._max_retries,
                    reason=str(exc),
                )
                if not decision.retry:
                    raise
                may_have_landed = may_have_landed or exc.request_sent
            else:
                logger.debug(
                    "%s %s -> %d in %.1f ms (attempt %d)",
                    request.method,
                    request.target,
                    raw.status,
                    (loop.time() - started) * 1000,
                    attempt,
                )
                if 200 <= raw.status < 300:
                    try:
                        return _wire.parse_response(
                            raw.status,
                            raw.headers,
                            raw.body,
                            decoder,
                            method=request.method,
                            url=text_url,
                        )
                    except APIResponseValidationError as exc:
                        # Redact the whole body, then cut: a key across the cut stays hidden.
                        exc.body_snippet = _wire.snippet(_wire.redact_bytes(raw.body, self._key))
                        raise
                retry_after = _retry.retry_after_seconds(raw.headers)
                decision = _retry.decide_status(
                    raw.status,
                    retry_after,
                    idempotent=request.idempotent,
                    retries_done=retries,
                    max_retries=self._max_retries,
                )
                if not decision.retry:
                    if raw.status == 404 and request.method == "DELETE" and may_have_landed:
                        return decoder.decode(b"null")
                    raise _wire.status_exception(
                        raw.status,
                        raw.headers,
                        raw.body,
                        method=request.method,
                        url=text_url,
                        retry_after=retry_after,
                        secret=self._key,
                    )
                if on_overload is not None and raw.status in _OVERLOAD_STATUSES:
                    on_overload()
                # A 5xx may come after the work was done; a 408 or 429 says it was not.
                may_have_landed = may_have_landed or raw.status >= 500
            retries += 1
            logger.warning(
                "retrying %s %s in %.2f s (retry %d of %d) after %s",
                request.method,
                request.target,
                decision.wait,
                retries,
                self._max_retries,
                decision.reason,
            )
            if decision.pause_client:
                # The wait becomes the client's pause, which the next attempt waits out at the
                # top of the loop together with every other request of this client.
                self._paused_until = max(self._paused_until, loop.time() + decision.wait)
            else:
                await _sleep(decision.wait)


class ShareLinks:
    """The share-links resource: ``client.share_links``."""

    def __init__(self, client: AnamClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<ShareLinks of {self._client!r}>"

    async def list(
        self,
        *,
        page: int = 1,
        per_page: int = 20,
        search: str | None = None,
        persona_id: str | uuid.UUID | None = None,
    ) -> ShareLinkPage:
        """Fetch one page of share links (``GET /v1/share-links``).

        Args:
            page: Page number, >= 1.
            per_page: Items per page, 1..100.
            search: Search term (sent URL-encoded); None leaves it out.
            persona_id: Only links of this persona (a UUID or its string form).

        Returns:
            The page, with ``data`` and ``meta``.

        Raises:
            AnamValidationError: a bad argument; nothing is sent.
            APIError: the request failed (see the error tree).
        """
        request = _wire.list_share_links(
            page=page, per_page=per_page, search=search, persona_id=persona_id
        )
        return await self._client._request(request, share_link_page_decoder)

    def pages(
        self,
        *,
        per_page: int = 100,
        search: str | None = None,
        persona_id: str | uuid.UUID | None = None,
        concurrency: int = 4,
        limit: int | None = None,
        start_page: int = 1,
    ) -> AsyncGenerator[ShareLinkPage, None]:
        """Stream whole pages of share links, fetched concurrently and yielded in order.

        The arguments are validated (and the client checked open) now; requests are sent
        only once the iterator is iterated. Items already yielded on an earlier page are
        dropped from a later page's ``data`` (the listing may shift while it is read), so
        flattening ``pages()`` gives exactly ``stream()``; a page this empties is still
        yielded and counts for ``limit``.

        Args:
            per_page: Items per page, 1..100.
            search: Search term, or None.
            persona_id: Only links of this persona.
            concurrency: Requests in flight and pages held ahead of the consumer, 1..64.
            limit: Stop after this many pages (None: all).
            start_page: The first page to fetch, >= 1 (resume a broken run).

        Returns:
            An async generator of pages (an ``AsyncIterator`` with ``aclose()``); leave it
            early with ``aclose()`` (or
            ``contextlib.aclosing``) and everything in flight is cancelled.

        Raises:
            AnamValidationError: a bad argument (raised by this call, before any I/O).
        """
        page_request = _wire.share_links_pages(
            per_page=per_page, search=search, persona_id=persona_id
        )
        concurrency, limit, start_page = _check_stream_args(concurrency, limit, start_page)
        self._client._check_open()
        return _fetch_pages(
            self._client, page_request, share_link_page_decoder, concurrency, limit, start_page
        )

    def stream(
        self,
        *,
        per_page: int = 100,
        search: str | None = None,
        persona_id: str | uuid.UUID | None = None,
        concurrency: int = 4,
        limit: int | None = None,
        start_page: int = 1,
    ) -> AsyncGenerator[PersonaShareLink, None]:
        """Stream every share link across pages, fetched concurrently, yielded in server order.

        At most ``concurrency`` requests are in flight and at most ``concurrency`` pages are
        fetched ahead of the item the consumer holds, so memory stays bounded however long the
        listing. Each link comes out once (deduplicated by id when the listing shifts). A page
        that still fails after retries raises at its position, after every earlier item.

        Args:
            per_page: Items per page, 1..100.
            search: Search term, or None.
            persona_id: Only links of this persona.
            concurrency: Requests in flight and pages held ahead, 1..64; 1 is sequential.
            limit: Stop after this many items (None: all).
            start_page: The first page to fetch, >= 1 (resume a broken run).

        Returns:
            An async generator of links (an ``AsyncIterator`` with ``aclose()``); leaving
            early cancels everything in flight.

        Raises:
            AnamValidationError: a bad argument (raised by this call, before any I/O).
        """
        page_request = _wire.share_links_pages(
            per_page=per_page, search=search, persona_id=persona_id
        )
        concurrency, limit, start_page = _check_stream_args(concurrency, limit, start_page)
        self._client._check_open()
        pages = _fetch_pages(
            self._client, page_request, share_link_page_decoder, concurrency, None, start_page
        )
        return _flatten(pages, limit)

    async def get(self, share_link_id: str | uuid.UUID) -> PersonaShareLink:
        """Fetch one share link by id (``GET /v1/share-links/{id}``).

        Raises:
            AnamValidationError: a malformed id; nothing is sent.
            NotFoundError: no link has this id.
            APIError: any other failure.
        """
        request = _wire.get_share_link(share_link_id)
        return await self._client._request(request, persona_share_link_decoder)

    @overload
    def get_many(
        self,
        share_link_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID],
        *,
        concurrency: int = 8,
        return_exceptions: Literal[False] = False,
    ) -> AsyncGenerator[PersonaShareLink, None]: ...

    @overload
    def get_many(
        self,
        share_link_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID],
        *,
        concurrency: int = 8,
        return_exceptions: Literal[True],
    ) -> AsyncGenerator[PersonaShareLink | APIError, None]: ...

    def get_many(
        self,
        share_link_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID],
        *,
        concurrency: int = 8,
        return_exceptions: bool = False,
    ) -> AsyncGenerator[PersonaShareLink, None] | AsyncGenerator[PersonaShareLink | APIError, None]:
        """Fetch many share links by id, concurrently, yielded in input order.

        Each id is validated as it is taken from ``share_link_ids``, before its request is
        sent; an invalid one raises ``AnamValidationError`` at its position.

        Args:
            share_link_ids: Any iterable or async iterable of ids (a bare ``str`` is refused).
            concurrency: Requests in flight and results held ahead of the consumer, 1..64.
            return_exceptions: Yield an ``APIError`` (a ``NotFoundError`` for a missing id,
                say) in that id's place and go on, instead of raising it.

        Raises:
            AnamValidationError: bad arguments (raised by this call, before any I/O).
        """
        if isinstance(share_link_ids, str | bytes) or not isinstance(
            share_link_ids, Iterable | AsyncIterable
        ):
            raise _wire.invalid(
                "share_link_ids", share_link_ids, "must be an iterable of ids, not a single value"
            )
        concurrency = _wire.check_int("concurrency", concurrency, 1, 64)
        _wire.check_bool("return_exceptions", return_exceptions)
        self._client._check_open()
        return self._get_many(share_link_ids, concurrency, return_exceptions)

    async def _get_many(
        self,
        share_link_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID],
        concurrency: int,
        return_exceptions: bool,
    ) -> AsyncGenerator[PersonaShareLink | APIError, None]:
        client = self._client

        async def fetch(request: _wire.Request) -> PersonaShareLink:
            return await client._request(request, persona_share_link_decoder)

        requests: Iterable[_wire.Request] | AsyncIterable[_wire.Request]
        if isinstance(share_link_ids, AsyncIterable):
            requests = _requests_from_async(share_link_ids)
        else:
            requests = _requests_from(share_link_ids)
        results = ordered_map(
            fetch,
            requests,
            concurrency=concurrency,
            yield_exceptions=(APIError,) if return_exceptions else (),
        )
        async with aclosing(results):
            async for result in results:
                yield result

    async def create(
        self,
        *,
        persona_id: str | uuid.UUID,
        expires_in_hours: float | None = None,
        usage_limit: float | None = None,
    ) -> ShareLink:
        """Create a share link for a persona (``POST /v1/share-links``).

        Retried only on 429 and on errors raised before the request was sent, so a link is
        never created twice by accident.

        Args:
            persona_id: The persona to link to.
            expires_in_hours: Lifetime in hours (the API's default: 168).
            usage_limit: Number of uses allowed (the API's default: 10).

        Raises:
            AnamValidationError: a bad argument; nothing is sent.
            APIError: the request failed.
        """
        request = _wire.create_share_link(
            persona_id=persona_id, expires_in_hours=expires_in_hours, usage_limit=usage_limit
        )
        return await self._client._request(request, share_link_decoder)

    async def update(
        self,
        share_link_id: str | uuid.UUID,
        *,
        expires_in_hours: float | None = None,
        usage_limit: float | None = None,
    ) -> ShareLink:
        """Change a share link (``PUT /v1/share-links/{id}``); None leaves a field as it is.

        With neither field the body is ``{}`` and the link comes back unchanged.

        Raises:
            AnamValidationError: a bad argument; nothing is sent.
            NotFoundError: no link has this id.
            APIError: any other failure.
        """
        request = _wire.update_share_link(
            share_link_id, expires_in_hours=expires_in_hours, usage_limit=usage_limit
        )
        return await self._client._request(request, share_link_decoder)

    async def delete(self, share_link_id: str | uuid.UUID) -> None:
        """Delete a share link (``DELETE /v1/share-links/{id}``); it cannot be undone.

        Retried like ``get``. A 404 to a retry, after an earlier attempt that may have
        reached the server (a dropped connection, a timeout, a 5xx), means the link is gone
        either way, so ``delete`` returns normally; a 404 to the first attempt raises.

        Raises:
            AnamValidationError: a malformed id; nothing is sent.
            NotFoundError: no link has this id.
            PermissionDeniedError: the key may not delete links.
            APIError: any other failure.
        """
        request = _wire.delete_share_link(share_link_id)
        await self._client._request(request, delete_response_decoder)


# The ids are validated as the engine pulls them, so an invalid one fails at its position
# before its request exists. Leaving early closes the caller's iterator too: an abandoned
# async generator would otherwise be finalised later, in a task nobody awaits.


def _requests_from(
    share_link_ids: Iterable[str | uuid.UUID],
) -> Generator[_wire.Request, None, None]:
    iterator = iter(share_link_ids)
    try:
        for share_link_id in iterator:
            yield _wire.get_share_link(share_link_id)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


async def _requests_from_async(
    share_link_ids: AsyncIterable[str | uuid.UUID],
) -> AsyncGenerator[_wire.Request, None]:
    iterator = aiter(share_link_ids)
    try:
        async for share_link_id in iterator:
            yield _wire.get_share_link(share_link_id)
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


# -- the list machinery, generic over the page type ----------------------------------------
# Every Anam list endpoint answers {data, meta} with the same Pagination, so a resource's
# pages()/stream() is: a page-request builder from _wire, its page decoder, and these two.


def _check_stream_args(
    concurrency: object, limit: object, start_page: object
) -> tuple[int, int | None, int]:
    return (
        _wire.check_int("concurrency", concurrency, 1, 64),
        _wire.check_optional_int("limit", limit, 1),
        _wire.check_int("start_page", start_page, 1),
    )


def _page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(is_last=not page.data or page.meta.is_last, last_page=page.meta.last_page)


async def _fetch_pages(
    client: AnamClient,
    page_request: Callable[[int], _wire.Request],
    decoder: msgspec.json.Decoder[PageT],
    concurrency: int,
    limit: int | None,
    start_page: int,
) -> AsyncGenerator[PageT, None]:
    """Fetch pages concurrently through ``client`` and yield them in order, each item once.

    Items whose id was handed out on an earlier page (the listing shifted while it was read)
    are dropped from a page's ``data``; the page is yielded all the same and counts for
    ``limit`` (pages).
    """
    limiter = Limiter(concurrency)

    async def fetch_page(number: int) -> PageT:
        request = page_request(number)
        page = await client._request(request, decoder, on_overload=limiter.on_overload)
        limiter.on_success()
        if page.data and page.meta.current_page != number:
            # A server (or proxy) that ignores `page` would answer page 1 forever, and with
            # every item already seen the stream would never end: fail loudly instead.
            url = client.base_url + request.target
            raise APIResponseValidationError(
                f"invalid response body for GET {url}: asked for page {number}, "
                f"got meta.currentPage={page.meta.current_page}",
                method=request.method,
                url=url,
                status=200,
                body_snippet="",
            )
        return page

    # Ids handed out so far, as 128-bit ints (cheaper to hash and hold than UUID objects).
    # This set is the one part of a stream that grows with its length: about 80 bytes an
    # item, the price of "never the same item twice" when the listing shifts.
    seen: set[int] = set()
    yielded = 0
    stale = 0
    numbered_pages = iterate_pages(
        fetch_page, start_page=start_page, concurrency=limiter, page_info=_page_info
    )
    async with aclosing(numbered_pages):
        async for number, page in numbered_pages:
            keys = [item.id.int for item in page.data]
            before = len(seen)
            # Fast path in C: no id seen before and none twice on this page.
            if seen.isdisjoint(keys):
                seen.update(keys)
                if len(seen) - before != len(keys):
                    seen.difference_update(keys)
                    page = _drop_seen(page, seen)
            else:
                page = _drop_seen(page, seen)
            # A server that keeps sending pages of items already yielded (a lying
            # meta.lastPage, say) would hold the stream forever: a bounded number of such
            # pages in a row ends it. An empty page is the end, never a repeat.
            # Counted from what was dropped, not from how "already yielded" is decided.
            stale = stale + 1 if keys and not page.data else 0
            if stale >= STALE_PAGES_LIMIT:
                url = client.base_url + page_request(number).target
                raise APIResponseValidationError(
                    f"invalid listing for GET {url}: {stale} pages in a row (pages "
                    f"{number - stale + 1}..{number}) brought only items already yielded; "
                    "the server keeps sending the same items",
                    method="GET",
                    url=url,
                    status=200,
                    body_snippet="",
                )
            yielded += 1
            if limit is not None and yielded >= limit:
                await numbered_pages.aclose()
                yield page
                return
            yield page


def _drop_seen(page: PageT, seen: set[int]) -> PageT:
    """Return ``page`` without the items whose id is in ``seen``, adding the rest to it."""
    fresh = []
    for item in page.data:
        key = item.id.int
        if key not in seen:
            seen.add(key)
            fresh.append(item)
    return msgspec.structs.replace(page, data=fresh)


async def _flatten(
    pages: AsyncGenerator[Page[ItemT], None], limit: int | None
) -> AsyncGenerator[ItemT, None]:
    """Yield the items of ``pages`` in order, stopping after ``limit`` items."""
    remaining = limit
    async with aclosing(pages):
        async for page in pages:
            data = page.data
            if remaining is not None and len(data) >= remaining:
                # Cancel what is in flight before handing out the last items, so that the
                # network work stops as soon as the limit is known to be reached.
                await pages.aclose()
                for item in data[:remaining]:
                    yield item
                return
            for item in data:
                yield item
            if remaining is not None:
                remaining -= len(data)
