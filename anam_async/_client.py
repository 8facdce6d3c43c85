"""``AnamClient`` (lifecycle) and the share-links resource, wiring the layers.

The layers below do the work: ``_config`` checks the constructor's arguments, ``_wire``
builds requests and deciphers responses, ``_retry`` decides about failures and holds the
client-wide pause, ``_transport`` does the I/O, ``_paging`` runs the listings. This module
holds the state that ties them together: the session, the pause, and the calls in flight.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar, overload

import aiohttp
import msgspec
from yarl import URL

from . import _retry, _wire
from ._config import Config
from ._ordered import ordered_map
from ._paging import check_list_args, list_items, list_pages
from ._transport import RawResponse, send
from ._types import (
    PersonaShareLink,
    ShareLink,
    ShareLinkPage,
    delete_response_decoder,
    persona_share_link_decoder,
    share_link_decoder,
    share_link_page_decoder,
)
from ._validate import check_bool, check_int, invalid
from .errors import AnamError, APIConnectionError, APIError, APIResponseValidationError

__all__ = ["AnamClient", "ShareLinks"]

T = TypeVar("T")
PageT = TypeVar("PageT", bound=ShareLinkPage)

logger: Final = logging.getLogger("anam_async")


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
        self._config = Config.resolve(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            allow_insecure_http=allow_insecure_http,
            max_response_bytes=max_response_bytes,
        )
        if session is not None:
            if not isinstance(session, aiohttp.ClientSession):
                raise invalid("session", session, "must be an aiohttp.ClientSession or None")
            if session.auth is not None:
                # aiohttp refuses an Authorization header beside session-level auth.
                raise invalid(
                    "session", session, "must not carry auth=: the client sends its own key"
                )
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Guards the lazy creation of the owned session against a first call from two threads.
        self._session_lock = threading.Lock()
        self._closed = False
        self._close_done: asyncio.Future[None] | None = None
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._pause = _retry.ClientPause()
        self.share_links: ShareLinks = ShareLinks(self)

    @property
    def base_url(self) -> str:
        """The API root every request goes to, without a trailing slash."""
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return self._config.max_retries

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has been called."""
        return self._closed

    def __repr__(self) -> str:
        # The key is deliberately absent.
        state = "closed" if self._closed else "open"
        return f"<AnamClient base_url={self._config.base_url!r} {state}>"

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

    async def _attempts(
        self,
        session: aiohttp.ClientSession,
        request: _wire.Request,
        decoder: msgspec.json.Decoder[T],
        on_overload: Callable[[], None] | None,
    ) -> T:
        config = self._config
        loop = asyncio.get_running_loop()
        url = config.base_url + request.target
        retries = 0
        # Whether an earlier attempt may have reached the server and done its work.
        landed = False
        while True:
            await self._pause.wait_out(loop)
            self._check_open()
            if session.closed:
                raise AnamError("the aiohttp session this AnamClient uses was closed")
            try:
                raw = await self._send(session, request, url, attempt=retries + 1)
            except APIConnectionError as exc:
                decision = _retry.decide_error(
                    sent=exc.request_sent,
                    transient=exc.transient,
                    idempotent=request.idempotent,
                    retries_done=retries,
                    max_retries=config.max_retries,
                    reason=str(exc),
                )
                if not decision.retry:
                    raise
                landed = landed or exc.request_sent
            else:
                decision = _retry.STOP
                if not 200 <= raw.status < 300:
                    decision = _retry.decide_status(
                        raw.status,
                        _retry.retry_after_seconds(raw.headers),
                        idempotent=request.idempotent,
                        retries_done=retries,
                        max_retries=config.max_retries,
                    )
                if not decision.retry:
                    if _retry.gone_anyway(request.method, raw.status, landed_before=landed):
                        return decoder.decode(b"null")
                    return _wire.decipher(
                        raw.status,
                        raw.headers,
                        raw.body,
                        decoder,
                        method=request.method,
                        url=url,
                        secret=config.key,
                    )
                if on_overload is not None and _retry.is_overload(raw.status):
                    on_overload()
                landed = landed or _retry.may_have_landed(raw.status)
            retries += 1
            await self._before_retry(request, decision, retries, loop)

    async def _send(
        self, session: aiohttp.ClientSession, request: _wire.Request, url: str, *, attempt: int
    ) -> RawResponse:
        """One attempt, with its DEBUG line: the status, or the error that ended it."""
        config = self._config
        started = asyncio.get_running_loop().time()
        try:
            raw = await send(
                session,
                request.method,
                URL(url, encoded=True),
                headers=config.headers if request.body is None else config.json_headers,
                body=request.body,
                client_timeout=config.timeout,
                max_response_bytes=config.max_response_bytes,
            )
        except (APIConnectionError, APIResponseValidationError) as exc:
            # A body over max_response_bytes is a validation error: never retried.
            _log_attempt(request, f"{type(exc).__name__} after", started, attempt)
            raise
        _log_attempt(request, f"{raw.status} in", started, attempt)
        return raw

    async def _before_retry(
        self,
        request: _wire.Request,
        decision: _retry.Decision,
        retries: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        logger.warning(
            "retrying %s %s in %.2f s (retry %d of %d) after %s",
            request.method,
            request.target,
            decision.wait,
            retries,
            self._config.max_retries,
            decision.reason,
        )
        if decision.pause_client:
            # The wait becomes the client's pause, which the next attempt waits out at the
            # top of the loop together with every other request of this client.
            self._pause.extend(decision.wait, loop.time())
        else:
            await _retry.wait(decision.wait)

    def _list(
        self,
        page_request: Callable[[int], _wire.Request],
        decoder: msgspec.json.Decoder[PageT],
        concurrency: int,
        limit: int | None,
        start_page: int,
    ) -> AsyncGenerator[PageT, None]:
        """A listing's pages through this client (``_paging.list_pages`` wired to requests)."""
        self._check_open()

        async def fetch(number: int, on_overload: Callable[[], None]) -> PageT:
            return await self._request(page_request(number), decoder, on_overload=on_overload)

        def url_of(number: int) -> str:
            return self._config.base_url + page_request(number).target

        return list_pages(
            fetch, url_of=url_of, concurrency=concurrency, limit=limit, start_page=start_page
        )


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
        page_request = _wire.list_request_builder(
            per_page=per_page, search=search, persona_id=persona_id
        )
        concurrency, limit, start_page = check_list_args(concurrency, limit, start_page)
        return self._client._list(
            page_request, share_link_page_decoder, concurrency, limit, start_page
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
        page_request = _wire.list_request_builder(
            per_page=per_page, search=search, persona_id=persona_id
        )
        concurrency, limit, start_page = check_list_args(concurrency, limit, start_page)
        pages = self._client._list(
            page_request, share_link_page_decoder, concurrency, None, start_page
        )
        return list_items(pages, limit)

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
            raise invalid(
                "share_link_ids", share_link_ids, "must be an iterable of ids, not a single value"
            )
        concurrency = check_int("concurrency", concurrency, 1, 64)
        check_bool("return_exceptions", return_exceptions)
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

        results = ordered_map(
            fetch,
            _get_requests(share_link_ids),
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


def _log_attempt(request: _wire.Request, outcome: str, started: float, attempt: int) -> None:
    logger.debug(
        "%s %s -> %s %.1f ms (attempt %d)",
        request.method,
        request.target,
        outcome,
        (asyncio.get_running_loop().time() - started) * 1000,
        attempt,
    )


# The ids are validated as the engine pulls them, so an invalid one fails at its position
# before its request exists. Leaving early closes the caller's iterator too: an abandoned
# async generator would otherwise be finalised later, in a task nobody awaits.
async def _get_requests(
    share_link_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID],
) -> AsyncGenerator[_wire.Request, None]:
    iterator: Iterator[str | uuid.UUID] | AsyncIterable[str | uuid.UUID]
    close: Callable[[], object] | None
    if isinstance(share_link_ids, AsyncIterable):
        iterator = aiter(share_link_ids)
        close = getattr(iterator, "aclose", None)
    else:
        iterator = iter(share_link_ids)
        close = getattr(iterator, "close", None)
    try:
        if isinstance(iterator, AsyncIterable):
            async for share_link_id in iterator:
                yield _wire.get_share_link(share_link_id)
        else:
            for share_link_id in iterator:
                yield _wire.get_share_link(share_link_id)
    finally:
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
