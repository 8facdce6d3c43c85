"""The share-links resource, ``client.share_links``: wiring only.

Each method checks its arguments, builds its request with ``_wire`` and sends it through the
client's attempt loop (``AnamClient._request``) or its listing engine (``AnamClient._list``);
nothing here touches the network, the retry policy or the paging algorithm.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Literal, overload

from . import _wire
from ._ordered import ordered_map
from ._paging import check_list_args, list_items
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
from .errors import APIError

if TYPE_CHECKING:
    from ._client import AnamClient

__all__ = ["ShareLinks"]


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
