"""The paging algorithm: which pages to fetch, in what order, and what a listing yields.

Two layers, both ignorant of HTTP:

* `iterate_pages` feeds `ordered_map` with page numbers that are known to exist, so a
  listing is fetched concurrently without requesting pages past its end.
* The list layer, `list_pages` and `list_items`, is what ``pages()`` and ``stream()`` of
  every resource run: each item once (deduplicated by id while the listing shifts), the
  ``limit``, the check that the server honoured ``page``, and the guard against a server that
  keeps sending items already yielded. A page is whatever ``fetch(n, on_overload)``
  returns: the client wires that to a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, Final, NamedTuple, TypeVar

import msgspec

from ._ordered import Limiter, ordered_map
from ._types import Page
from ._validate import check_int, check_optional_int
from .errors import APIResponseValidationError

__all__ = [
    "STALE_PAGES_LIMIT",
    "PageInfo",
    "check_list_args",
    "dedupe_window",
    "iterate_pages",
    "list_items",
    "list_pages",
]

P = TypeVar("P")
ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT", bound="Page[Any]")

logger: Final = logging.getLogger("anam_async")

#: Pages in a row whose items were all yielded already, after which a stream gives up.
STALE_PAGES_LIMIT: Final = 3


class PageInfo(NamedTuple):
    """What the engine needs to know about one fetched page.

    Attributes:
        is_last: This page ends the listing (empty data, no next page, or
            ``currentPage >= lastPage``: the caller decides).
        last_page: The last page number the page reports, or None if it reports none.
    """

    is_last: bool
    last_page: int | None


class _PageNumbers:
    """Async iterator of the page numbers that may be requested, in order.

    Before any page has answered, the first wave (``start_page`` onwards, one window's worth)
    is handed out speculatively. After that, page ``n`` is handed out only once it is known to
    exist: an answered page reported ``last_page >= n``, or page ``n - 1`` answered without
    being last. No page after a page that answered "last" is ever handed out.

    Progress: the consumer of `iterate_pages` waits for page ``h`` only after page
    ``h - 1`` was handed out and was not last, and its answer (recorded by `learn`
    before its task finished) made ``h`` known; so ``h`` can always be pulled, and the window
    (which then holds no page before ``h``) has room for it. Hence no deadlock.
    """

    __slots__ = ("_changed", "_end", "_first_wave_end", "_known", "_next", "_speculating")

    def __init__(self, start_page: int, first_wave: int) -> None:
        self._next = start_page
        self._first_wave_end = start_page + first_wave - 1
        self._speculating = True
        self._known = start_page
        self._end: int | None = None
        self._changed = asyncio.Event()

    def __aiter__(self) -> _PageNumbers:
        return self

    async def __anext__(self) -> int:
        while True:
            number = self._next
            if self._end is not None and number > self._end:
                raise StopAsyncIteration
            if number <= self._known or (self._speculating and number <= self._first_wave_end):
                self._next = number + 1
                return number
            self._changed.clear()
            await self._changed.wait()

    def learn(self, number: int, info: PageInfo) -> None:
        """Record what page ``number`` said about the listing's extent."""
        self._speculating = False
        if info.is_last:
            # The end comes from what pages return (the listing may have shrunk), and the
            # lowest last page wins: the iteration stops there whatever later pages say.
            if self._end is None or number < self._end:
                self._end = number
        else:
            self._known = max(self._known, number + 1)
        if info.last_page is not None:
            self._known = max(self._known, info.last_page)
        self._changed.set()


def iterate_pages(
    fetch_page: Callable[[int], Awaitable[P]],
    *,
    start_page: int,
    concurrency: int | Limiter,
    page_info: Callable[[P], PageInfo],
) -> AsyncGenerator[tuple[int, P], None]:
    """Fetch a paged listing concurrently and yield ``(page number, page)`` in page order.

    Runs on `ordered_map`, whose keys are the page numbers. A first wave of ``concurrency``
    pages (``start_page`` onwards) is requested before any page answers, which saves a round
    trip on big listings. After that, page ``n`` is requested only once it is known to exist:
    an answered page reported ``last_page >= n``, or page ``n - 1`` answered and was not last;
    and never after a page that answered "last". So a listing of ``N >= concurrency`` pages
    sees no request beyond page ``N``.

    The iteration ends at the first page, in page order, whose ``page_info(page).is_last`` is
    true; pages after it that were fetched are discarded, those in flight cancelled. The end
    comes from what the pages return, not from the first page's ``last_page``: a listing that
    grows keeps going, one that shrinks stops at its first last page.

    Args:
        fetch_page: Fetches one page by number (retries, if any, are its business).
        start_page: The first page to fetch (>= 1).
        concurrency: Requests in flight plus pages buffered, at most: an int >= 1 or a
            `Limiter`. Its value at this call sets the first wave's size.
        page_info: Tells whether a page is the last one and which last page it reports;
            called once when the page arrives and once when it is yielded, so keep it pure.

    Returns:
        An async generator of ``(page number, page)``; ``aclose()`` it to stop early.

    Raises:
        AnamValidationError: ``start_page`` or ``concurrency`` is invalid (raised by this
            call).
        Exception: Whatever ``fetch_page`` or ``page_info`` raises, at that page's position.
    """
    check_int("start_page", start_page, 1)
    if isinstance(concurrency, Limiter):
        first_wave = concurrency.limit
    else:
        first_wave = check_int("concurrency", concurrency, 1)
    numbers = _PageNumbers(start_page, first_wave)

    async def fetch(number: int) -> tuple[int, P]:
        page = await fetch_page(number)
        # Learned when the page arrives, not when it is yielded: pages answering out of
        # order let the key source move on without waiting for the consumer.
        numbers.learn(number, page_info(page))
        return number, page

    def is_last(numbered: tuple[int, P]) -> bool:
        return page_info(numbered[1]).is_last

    return ordered_map(fetch, numbers, concurrency=concurrency, is_last=is_last)


# -- the list layer, generic over the page type ----------------------------------------------
# Every Anam list endpoint answers {data, meta} with the same Pagination, so a resource's
# pages()/stream() is: a page-request builder from _wire, its page decoder, and these.


def check_list_args(
    concurrency: object, limit: object, start_page: object
) -> tuple[int, int | None, int]:
    """Check ``concurrency`` (1..64), ``limit`` (>= 1 or None) and ``start_page`` (>= 1)."""
    return (
        check_int("concurrency", concurrency, 1, 64),
        check_optional_int("limit", limit, 1),
        check_int("start_page", start_page, 1),
    )


def _page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(is_last=not page.data or page.meta.is_last, last_page=page.meta.last_page)


def _listing_error(
    url: str, reason: str, *, what: str = "response body"
) -> APIResponseValidationError:
    return APIResponseValidationError(
        f"invalid {what} for GET {url}: {reason}",
        method="GET",
        url=url,
        status=200,
        body_snippet="",
    )


def dedupe_window(concurrency: int) -> int:
    """How many recently yielded pages the dedupe window holds: ``max(16, 4 * concurrency)``.

    An item yielded on page k comes back on page j only when more than ``(j - k - 1) *
    per_page`` items were inserted ahead of it between the two fetches; the window catches
    every such move up to ``j - k`` = the window, and always covers the pages in flight
    together (at most ``concurrency`` apart), where a deletion can make an item slide onto a
    page that was fetched later.
    """
    return max(16, 4 * concurrency)


class _Dedupe:
    """Drops items yielded on one of the last ``window`` pages, and counts pages that bring
    nothing new.

    Ids are held as 128-bit ints (cheaper to hash and hold than UUID objects), at most
    ``window x per_page`` of them: memory stays flat however long the listing. A move larger
    than the window can catch is detected from ``meta.total`` (see `moved_beyond`).
    """

    __slots__ = ("_floor", "_pages", "_window", "seen", "stale")

    def __init__(self, window: int) -> None:
        self.seen: set[int] = set()
        # The kept ids of the pages in the window, oldest first, each with its page's score
        # (meta.total - number * perPage; see moved_beyond).
        self._pages: deque[tuple[list[int], int]] = deque()
        self._window = window
        # The lowest score of a page that left the window.
        self._floor: int | None = None
        # Pages in a row that brought only items already yielded.
        self.stale = 0

    def fresh(self, number: int, page: PageT) -> PageT:
        """``page`` without the items already yielded (the same object when none were)."""
        seen = self.seen
        keys = [item.id.int for item in page.data]
        before = len(seen)
        # Fast path in C: no id seen before and none twice on this page.
        if seen.isdisjoint(keys):
            seen.update(keys)
            if len(seen) - before == len(keys):
                self.stale = 0
                self._remember(number, page, keys)
                return page
            seen.difference_update(keys)
        kept = []
        kept_keys = []
        for item in page.data:
            key = item.id.int
            if key not in seen:
                seen.add(key)
                kept.append(item)
                kept_keys.append(key)
        # Counted from what was dropped, not from how "already yielded" is decided; an empty
        # page is the end, never a repeat.
        self.stale = self.stale + 1 if keys and not kept else 0
        self._remember(number, page, kept_keys)
        return msgspec.structs.replace(page, data=kept)

    def _remember(self, number: int, page: Page[Any], keys: list[int]) -> None:
        self._pages.append((keys, page.meta.total - number * page.meta.per_page))
        if len(self._pages) > self._window:
            old_keys, score = self._pages.popleft()
            self.seen.difference_update(old_keys)
            self._floor = score if self._floor is None else min(self._floor, score)

    def moved_beyond(self, number: int, page: Page[Any]) -> bool:
        """Whether the listing may have moved an item further than the window catches.

        An item of an earlier page k comes back on page ``number`` only if more than
        ``(number - k - 1) * perPage`` items were inserted ahead of it in between, that is
        if ``total_now - total_k >= (number - k - 1) * perPage + 1``; checked against every
        page that has left the window at once through the lowest ``total_k - k * perPage``.
        Inserts balanced by deletes leave ``total`` as it was and go unseen.
        """
        if self._floor is None:
            return False
        meta = page.meta
        return meta.total - (number - 1) * meta.per_page - 1 >= self._floor


async def list_pages(
    fetch: Callable[[int, Callable[[], None]], Awaitable[PageT]],
    *,
    url_of: Callable[[int], str],
    concurrency: int,
    limit: int | None,
    start_page: int,
) -> AsyncGenerator[PageT, None]:
    """Fetch pages concurrently and yield them in order, each item once.

    Items whose id was handed out on an earlier page (the listing shifted while it was read)
    are dropped from a page's ``data``; the page is yielded all the same and counts for
    ``limit`` (pages).

    Args:
        fetch: ``fetch(n, on_overload)`` returns page ``n``, calling ``on_overload()`` on
            each overloaded attempt it retries (the concurrency then backs off).
        url_of: The URL of page ``n``, for error messages.
        concurrency: The most requests in flight and pages held ahead (AIMD below it).
        limit: Stop after this many pages (None: all).
        start_page: The first page to fetch.

    Raises:
        APIResponseValidationError: the server answered another page than the one asked
            for, or sent `STALE_PAGES_LIMIT` pages in a row of items already yielded.
    """
    limiter = Limiter(concurrency)

    async def fetch_page(number: int) -> PageT:
        page = await fetch(number, limiter.on_overload)
        limiter.on_success()
        if page.data and page.meta.current_page != number:
            # A server (or proxy) that ignores `page` would answer page 1 forever, and with
            # every item already seen the stream would never end: fail loudly instead.
            reason = f"asked for page {number}, got meta.currentPage={page.meta.current_page}"
            raise _listing_error(url_of(number), reason)
        return page

    window = dedupe_window(concurrency)
    dedupe = _Dedupe(window)
    warned = False
    numbered_pages = iterate_pages(
        fetch_page, start_page=start_page, concurrency=limiter, page_info=_page_info
    )
    async with aclosing(numbered_pages):
        yielded = 0
        async for number, page in numbered_pages:
            if not warned and dedupe.moved_beyond(number, page):
                warned = True
                logger.warning(
                    "the listing at %s moved more than the dedupe window of %d pages catches"
                    " (meta.total is now %d at page %d): a link may be yielded twice",
                    url_of(number),
                    window,
                    page.meta.total,
                    number,
                )
            fresh = dedupe.fresh(number, page)
            if dedupe.stale >= STALE_PAGES_LIMIT:
                # A server that keeps sending pages of items already yielded (a lying
                # meta.lastPage, say) would hold the stream forever.
                first = number - dedupe.stale + 1
                raise _listing_error(
                    url_of(number),
                    f"{dedupe.stale} pages in a row (pages {first}..{number}) brought only "
                    "items already yielded; the server keeps sending the same items",
                    what="listing",
                )
            yielded += 1
            if limit is not None and yielded >= limit:
                await numbered_pages.aclose()
                yield fresh
                return
            yield fresh


async def list_items(
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
