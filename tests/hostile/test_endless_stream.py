"""A lying server cannot hold a stream forever: three pages of nothing new end it.

The server answers every page with the same item, its ``currentPage`` the page asked for
and ``lastPage`` 10**12, so neither the page-number check nor the end of the listing
stops the stream; only the guard on pages that bring nothing new does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from anam_async import AnamClient, APIResponseValidationError

ITEM = {
    "id": str(uuid.UUID(int=7)),
    "token": "sh_same",
    "type": "LINK",
    "createdAt": "2026-04-20T10:00:00.000Z",
    "personaId": str(uuid.UUID(int=8)),
}


class LyingServer:
    """Every page holds ``ITEM`` (and ``fresh`` new items on the first ``fresh_pages``)."""

    def __init__(self, *, fresh_pages: int = 1) -> None:
        self.requests = 0
        self.fresh_pages = fresh_pages

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        page = int(request.query.get("page", "1"))
        data: list[dict[str, Any]] = [ITEM]
        if 1 < page <= self.fresh_pages:
            data = [{**ITEM, "id": str(uuid.UUID(int=1000 + page))}]
        meta = {"total": 10**14, "lastPage": 10**12, "currentPage": page, "perPage": 1}
        meta |= {"prev": page - 1 or None, "next": page + 1}
        return web.Response(
            body=msgspec.json.encode({"data": data, "meta": meta}),
            content_type="application/json",
        )


@pytest.fixture
async def lying() -> AsyncIterator[tuple[LyingServer, str]]:
    server = LyingServer()
    app = web.Application()
    app.router.add_get("/v1/share-links", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("limit", [None, 5])
async def test_stream_ends_after_three_pages_that_bring_nothing_new(
    lying: tuple[LyingServer, str], concurrency: int, limit: int | None
) -> None:
    server, url = lying
    got: list[uuid.UUID] = []

    async def consume(client: AnamClient) -> None:
        stream = client.share_links.stream(per_page=1, concurrency=concurrency, limit=limit)
        async for link in stream:
            got.append(link.id)

    async with AnamClient("k", base_url=url) as client:
        with pytest.raises(APIResponseValidationError, match="3 pages in a row") as caught:
            await consume(client)
    assert got == [uuid.UUID(int=7)]
    assert "only items already yielded" in str(caught.value)
    # Page 1, then pages 2..4 of repeats; at most `concurrency` more were already asked for.
    assert 4 <= server.requests <= 4 + concurrency + 1
    print(f"\nlying stream, concurrency={concurrency}, limit={limit}: {server.requests} requests")


async def test_pages_end_the_same_way(lying: tuple[LyingServer, str]) -> None:
    _, url = lying
    sizes: list[int] = []

    async def consume(client: AnamClient) -> None:
        async for page in client.share_links.pages(per_page=1, concurrency=2):
            sizes.append(len(page.data))

    async with AnamClient("k", base_url=url) as client:
        with pytest.raises(APIResponseValidationError, match="3 pages in a row"):
            await consume(client)
    assert sizes == [1, 0, 0]


async def test_a_repeat_now_and_then_is_not_an_endless_stream(
    lying: tuple[LyingServer, str],
) -> None:
    """Two stale pages in a row, then fresh items: the count starts over."""
    server, url = lying
    server.fresh_pages = 10**12  # every page from 2 on brings a new item...
    async with AnamClient("k", base_url=url) as client:
        got = [link.id async for link in client.share_links.stream(per_page=1, limit=20)]
    assert len(got) == 20
    assert len(set(got)) == 20
