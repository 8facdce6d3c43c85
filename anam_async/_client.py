"""``AnamClient``: the lifecycle, the attempt loop and the listing engine's wiring.

The layers below do the work: ``_config`` checks the constructor's arguments, ``_wire``
builds requests and deciphers responses, ``_retry`` decides about failures and holds the
client-wide pause, ``_transport`` does the I/O, ``_paging`` runs the listings. This module
holds the state that ties them together: the session, the pause, and the calls in flight.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import aiohttp
import msgspec
from yarl import URL

from . import _retry, _wire
from ._config import JSON_CONTENT_TYPE, Config
from ._paging import list_pages
from ._share_links import ShareLinks
from ._transport import RawResponse, send
from ._types import (
    ShareLinkPage,
)
from ._validate import invalid
from .errors import AnamError, APIConnectionError, APIResponseValidationError

__all__ = ["AnamClient"]

T = TypeVar("T")
PageT = TypeVar("PageT", bound=ShareLinkPage)

logger: Final = logging.getLogger("anam_async")
_JSON_BODY: Final = {"Content-Type": JSON_CONTENT_TYPE}


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
        # The tasks inside a call now, and what close() waits on until they have all left.
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._drained: asyncio.Future[None] | None = None
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
        for task in in_flight:
            # The caller's task, cancelled inside the call only: `_request` takes this
            # cancellation back (uncancel) and raises AnamError in its place.
            task.cancel()
        try:
            if in_flight:
                self._drained = loop.create_future()
                await asyncio.shield(self._drained)
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
                        # The client's headers are the owned session's defaults, which
                        # costs less per request than merging them into each one.
                        self._session = aiohttp.ClientSession(headers=self._config.headers)
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

        The calling task is registered while it is inside the call, so that ``close()`` can
        cancel it there; the cancellation is then taken back and the caller gets
        ``AnamError``, while any other cancellation of the task goes on as it came. (No task
        of its own per call: that costs more than the rest of the call's own work.)
        """
        session = self._ensure_session()
        task = asyncio.current_task()
        if task is None:  # not inside a task (a bare coroutine driven by hand): no way to cancel
            return await self._attempts(session, request, decoder, on_overload)
        self._in_flight.add(task)
        try:
            return await self._attempts(session, request, decoder, on_overload)
        except asyncio.CancelledError:
            # close() cancelled this task once; taking that back leaves what others asked.
            if self._closed and task.uncancel() == 0:
                raise AnamError(
                    "the AnamClient was closed while this request was in flight"
                ) from None
            raise
        finally:
            self._in_flight.discard(task)
            drained = self._drained
            if not self._in_flight and drained is not None and not drained.done():
                drained.set_result(None)

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
            if self._pause.active(loop.time()):
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
                headers=self._headers_for(request),
                body=request.body,
                client_timeout=config.timeout,
                max_response_bytes=config.max_response_bytes,
                secret=config.key,
            )
        except (APIConnectionError, APIResponseValidationError) as exc:
            # A body over max_response_bytes is a validation error: never retried.
            _log_attempt(request, f"{type(exc).__name__} after", started, attempt)
            raise
        _log_attempt(request, f"{raw.status} in", started, attempt)
        return raw

    def _headers_for(self, request: _wire.Request) -> Mapping[str, str] | None:
        """This request's headers: only what the owned session lacks, or all of them."""
        config = self._config
        if self._owns_session:
            return None if request.body is None else _JSON_BODY
        return config.headers if request.body is None else config.json_headers

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


def _log_attempt(request: _wire.Request, outcome: str, started: float, attempt: int) -> None:
    if not logger.isEnabledFor(logging.DEBUG):
        return
    logger.debug(
        "%s %s -> %s %.1f ms (attempt %d)",
        request.method,
        request.target,
        outcome,
        (asyncio.get_running_loop().time() - started) * 1000,
        attempt,
    )
