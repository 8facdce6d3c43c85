"""A FastAPI service in front of the Anam share-links API, built on one shared AnamClient.

Run it from the repository root with
``ANAM_API_KEY=... uvicorn --app-dir docs/examples fastapi_app:app --port 8001``
(``ANAM_BASE_URL`` is optional); docs/fastapi.md shows it against the built-in fake server.

- ``GET /share-links?page=&per_page=`` returns one page, as the API's own camelCase JSON.
- ``GET /share-links/export`` streams every share link as NDJSON, one link per line.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from anam_async import AnamClient, AnamValidationError, APIStatusError

EXPORT_PAGE_SIZE = 100
EXPORT_CONCURRENCY = 4

_encode = msgspec.json.Encoder().encode


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One client for the whole process: it owns one aiohttp connection pool, and the 429
    # pause it applies after a rate limit then covers every request the service makes.
    async with AnamClient() as client:  # configured from ANAM_API_KEY / ANAM_BASE_URL
        app.state.anam = client
        yield


app = FastAPI(title="Share links", lifespan=lifespan)


def get_client(request: Request) -> AnamClient:
    """The AnamClient the lifespan created, shared by every request."""
    client: AnamClient = request.app.state.anam
    return client


Client = Annotated[AnamClient, Depends(get_client)]


@app.get("/share-links")
async def list_share_links(
    client: Client,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    persona_id: str | None = None,
) -> Response:
    """One page of share links, in the API's JSON shape (``{data, meta}``, camelCase)."""
    try:
        result = await client.share_links.list(page=page, per_page=per_page, persona_id=persona_id)
    except AnamValidationError as exc:
        # FastAPI already checked page and per_page; the library checks the rest (persona_id).
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except APIStatusError as exc:
        raise HTTPException(status_code=502, detail=f"Anam API: {exc}") from exc
    # msgspec encodes the Struct with its wire (camelCase) names, straight to bytes.
    return Response(_encode(result), media_type="application/json")


@app.get("/share-links/export")
async def export_share_links(client: Client) -> StreamingResponse:
    """Every share link as NDJSON, streamed while the pages are fetched concurrently."""
    links = client.share_links.stream(per_page=EXPORT_PAGE_SIZE, concurrency=EXPORT_CONCURRENCY)

    async def ndjson() -> AsyncIterator[bytes]:
        # When the HTTP client goes away, Starlette cancels this generator; aclosing() then
        # closes the stream at once, which cancels the page requests it has in flight.
        async with contextlib.aclosing(links) as stream:
            async for link in stream:
                yield _encode(link) + b"\n"

    return StreamingResponse(ndjson(), media_type="application/x-ndjson")
