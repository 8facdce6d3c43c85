"""The dedupe window: flat memory, repeats caught within it, one WARNING beyond it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
import pytest

from anam_async import AnamClient, ShareLinkPage
from anam_async._paging import _Dedupe, dedupe_window
from anam_async.testing import FakeAnamAPI, RecordedRequest

PER_PAGE = 10


def page(number: int, ids: list[int], *, total: int) -> ShareLinkPage:
    """A decoded page holding links with these ids (as ints)."""
    data: list[dict[str, Any]] = [
        {"id": str(uuid.UUID(int=i)), "token": f"sh_{i}", "type": "LINK",
         "createdAt": "2026-01-01T00:00:00.000Z", "personaId": str(uuid.UUID(int=1))}
        for i in ids
    ]  # fmt: skip
    last = -(-total // PER_PAGE)
    meta = {"total": total, "lastPage": last, "currentPage": number, "perPage": PER_PAGE}
    meta |= {"prev": number - 1 or None, "next": number + 1 if number < last else None}
    return msgspec.json.decode(
        msgspec.json.encode({"data": data, "meta": meta}), type=ShareLinkPage
    )


def static_page(number: int, total: int = 10**6) -> ShareLinkPage:
    start = (number - 1) * PER_PAGE
    return page(number, list(range(start, start + PER_PAGE)), total=total)


def test_the_window_is_sized_from_concurrency() -> None:
    assert [dedupe_window(c) for c in (1, 4, 5, 64)] == [16, 16, 20, 256]


def test_memory_is_bounded_by_the_window_however_long_the_listing() -> None:
    dedupe = _Dedupe(window=16)
    peak = 0
    for number in range(1, 2001):
        dedupe.fresh(number, static_page(number))
        peak = max(peak, len(dedupe.seen))
    assert peak == 16 * PER_PAGE
    assert not dedupe.moved_beyond(2001, static_page(2001))


@pytest.mark.parametrize("back", [1, 5, 16])
def test_an_item_pushed_back_within_the_window_is_dropped(back: int) -> None:
    """An item of page k reappearing on page k + back (back <= window) is dropped."""
    dedupe = _Dedupe(window=16)
    for number in range(1, 31):
        dedupe.fresh(number, static_page(number))
    repeated = (30 - back) * PER_PAGE  # the first item of page 31 - back
    fresh = dedupe.fresh(31, page(31, [repeated, 10**9], total=10**6))
    assert [item.id.int for item in fresh.data] == [10**9]


def test_an_item_pushed_back_beyond_the_window_comes_again_and_is_detected() -> None:
    dedupe = _Dedupe(window=16)
    for number in range(1, 31):
        dedupe.fresh(number, static_page(number, total=1000))
    # 200 links inserted ahead: page 31 now holds what page 11 held, 20 pages back.
    grown = page(31, list(range(100, 110)), total=1200)
    assert dedupe.moved_beyond(31, grown)
    assert len(dedupe.fresh(31, grown).data) == PER_PAGE  # beyond the window: not caught
    # Growth the window does catch is not reported.
    dedupe = _Dedupe(window=16)
    for number in range(1, 31):
        dedupe.fresh(number, static_page(number, total=1000))
    assert not dedupe.moved_beyond(31, page(31, list(range(300, 310)), total=1000 + 15 * PER_PAGE))


async def _stream(api: FakeAnamAPI, caplog: pytest.LogCaptureFixture) -> list[uuid.UUID]:
    async with AnamClient(api.api_key, base_url=api.url) as client:
        with caplog.at_level(logging.WARNING, logger="anam_async"):
            stream = client.share_links.stream(per_page=PER_PAGE, concurrency=1)
            return [link.id async for link in stream]


async def test_a_drift_the_window_catches_yields_nothing_twice_and_warns_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nine links inserted before each of pages 10..40: 279 in all, 28 pages' worth.

    Every page still brings something new (9 < perPage), and a link comes back at most
    nine pages after it was yielded, inside the 16-page window: all dropped, no warning.
    """
    async with FakeAnamAPI(links=400) as api:

        def insert(record: RecordedRequest) -> None:
            if record.operation == "list" and 10 <= (record.page or 0) <= 40:
                api.insert_links(9)

        api.on_request(insert)
        ids = await _stream(api, caplog)
    assert len(ids) == len(set(ids))
    assert len(ids) >= 400
    assert not [r for r in caplog.records if "dedupe window" in r.getMessage()]


async def test_a_move_beyond_the_window_is_logged_once_per_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """300 links (30 pages) inserted at once before page 20: page 31 holds page 1 again."""
    async with FakeAnamAPI(links=400) as api:
        done = False

        def insert(record: RecordedRequest) -> None:
            nonlocal done
            if record.operation == "list" and record.page == 20 and not done:
                done = True
                api.insert_links(30 * PER_PAGE)

        api.on_request(insert)
        ids = await _stream(api, caplog)
    warnings = [r for r in caplog.records if "dedupe window" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "16 pages" in warnings[0].getMessage()
    # What the warning is about: links pushed back 30 pages come out again.
    assert len(ids) > len(set(ids))
