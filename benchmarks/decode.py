"""Cost of decoding one 100-item share-links page: the client's decode path against baselines.

The page body is a real ``GET /v1/share-links?perPage=100`` answer from ``FakeAnamAPI`` (all
fields present, a mix of null and set values), decoded by:

* the client path: ``anam_async._wire.decipher(200, headers, body,
  share_link_page_decoder, method="GET", url=...)``, exactly what ``AnamClient`` runs;
* (a) ``msgspec.json.decode(body, type=ShareLinkPage)``: plain msgspec, same Structs;
* (b) a reused ``msgspec.json.Decoder(ShareLinkPage)``: the floor for these Structs;
* (c) an equivalent pydantic v2 model (camelCase aliases, ``UUID``, ``AwareDatetime``, the
  same required/optional fields, ``type`` kept as a plain string: pydantic has no open enum)
  through ``model_validate_json``.

Every variant is timed with ``timeit`` (GC off during a repeat, as timeit does), the repeats
of all variants interleaved so that machine noise hits them alike; the median of the
repeats is reported in microseconds per page.

Run: ``python benchmarks/decode.py`` (``--quick`` for CI: fewer, shorter repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import timeit
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec
import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from anam_async import ShareLinkPage
from anam_async._types import share_link_page_decoder
from anam_async._wire import decipher
from anam_async.testing import FakeAnamAPI

PER_PAGE = 100


# --- The equivalent pydantic v2 model (also used by stream.py's httpx baseline) -------------


class PydanticPagination(BaseModel):
    """``Pagination``: total, lastPage, currentPage, perPage required; prev/next nullable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    total: int
    last_page: int
    current_page: int
    per_page: int
    prev: int | None = None
    next: int | None = None


class PydanticShareLink(BaseModel):
    """``PersonaShareLink``: the same fields, the same required ones, the same defaults."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    id: uuid.UUID
    token: str
    type: str
    expires_at: AwareDatetime | None = None
    usage_limit: int | None = None
    usage_count: int = 0
    allowed_origins: list[str] = Field(default_factory=list)
    allow_all_origins: bool = False
    remove_watermark: bool = False
    enabled: bool = True
    is_primary: bool = False
    created_at: AwareDatetime
    persona_id: uuid.UUID
    persona_name: str | None = None
    organization_id: str | None = None


class PydanticPage(BaseModel):
    """``ShareLinkPage``: ``{data, meta}``, both required."""

    model_config = ConfigDict(frozen=True)

    data: list[PydanticShareLink]
    meta: PydanticPagination


# --- The page body -----------------------------------------------------------------------------


async def fetch_page_body(per_page: int = PER_PAGE) -> tuple[bytes, Any, str]:
    """One real page body, its headers and URL, as ``FakeAnamAPI`` serves them."""
    async with (
        FakeAnamAPI(links=per_page * 3, seed=7) as api,
        aiohttp.ClientSession() as http,
    ):
        url = f"{api.url}/v1/share-links?page=2&perPage={per_page}"
        headers = {"Authorization": f"Bearer {api.api_key}"}
        async with http.get(url, headers=headers) as response:
            response.raise_for_status()
            return await response.read(), response.headers, url


def describe(body: bytes) -> str:
    """Count nulls in the page so the header can show the data is mixed."""
    raw = msgspec.json.decode(body)
    items = raw["data"]
    nulls = sum(value is None for item in items for value in item.values())
    fields = sum(len(item) for item in items)
    return f"{len(items)} items, {len(body)} bytes, {nulls}/{fields} field values null"


# --- Timing ------------------------------------------------------------------------------------


def measure(
    variants: dict[str, Callable[[], object]], repeats: int, min_time: float
) -> dict[str, list[float]]:
    """Seconds per call for each variant, one value per repeat, repeats interleaved."""
    timers = {name: timeit.Timer(func) for name, func in variants.items()}
    loops: dict[str, int] = {}
    for name, timer in timers.items():
        number, elapsed = timer.autorange()
        # Scale the loop count so that one repeat lasts about min_time.
        loops[name] = max(1, int(number * min_time / max(elapsed, 1e-9)))
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, timer in timers.items():
            results[name].append(timer.timeit(loops[name]) / loops[name])
    return results


def print_table(
    header: str, columns: list[str], rows: list[list[str]], align: str | None = None
) -> None:
    """Print a one-line header and an aligned plain-text table.

    ``align`` has one character per column, ``<`` (left) or ``>`` (right); by default the
    first column is left-aligned and the others right-aligned.
    """
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
    align = align or "<" + ">" * (len(columns) - 1)

    def line(cells: list[str]) -> str:
        parts = [
            cell.ljust(width) if how == "<" else cell.rjust(width)
            for cell, width, how in zip(cells, widths, align, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(header)
    print(line(columns))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI mode: fewer, shorter repeats")
    args = parser.parse_args(argv)
    repeats, min_time = (7, 0.03) if args.quick else (41, 0.1)

    body, headers, url = asyncio.run(fetch_page_body())

    # All paths must give the same thing before their speed means anything.
    client_page = decipher(200, headers, body, share_link_page_decoder, method="GET", url=url)
    reused = msgspec.json.Decoder(ShareLinkPage)
    assert client_page == msgspec.json.decode(body, type=ShareLinkPage) == reused.decode(body)
    model = PydanticPage.model_validate_json(body)
    assert [str(item.id) for item in model.data] == [str(item.id) for item in client_page.data]
    assert [item.type for item in model.data] == [item.type for item in client_page.data]
    assert [item.expires_at for item in model.data] == [i.expires_at for i in client_page.data]

    variants: dict[str, Callable[[], object]] = {
        "client path: _wire.decipher": lambda: decipher(
            200, headers, body, share_link_page_decoder, method="GET", url=url
        ),
        "(a) msgspec.json.decode(type=ShareLinkPage)": lambda: msgspec.json.decode(
            body, type=ShareLinkPage
        ),
        "(b) reused msgspec.json.Decoder(ShareLinkPage)": lambda: reused.decode(body),
        "(c) pydantic v2 model_validate_json": lambda: PydanticPage.model_validate_json(body),
    }
    results = measure(variants, repeats, min_time)
    median = {name: statistics.median(times) * 1e6 for name, times in results.items()}
    client = median["client path: _wire.decipher"]
    plain = median["(a) msgspec.json.decode(type=ShareLinkPage)"]
    goals = {
        "client path: _wire.decipher": ("x plain", client / plain, "<= 1.10x"),
        "(c) pydantic v2 model_validate_json": (
            "/ client",
            median["(c) pydantic v2 model_validate_json"] / client,
            ">= 2.5x",
        ),
    }
    rows = []
    for name in variants:
        times = [t * 1e6 for t in results[name]]
        goal_of, goal_ratio, goal = goals.get(name, ("", 0.0, ""))
        rows.append(
            [
                name,
                f"{median[name]:.1f}",
                f"{min(times):.1f}",
                f"{max(times):.1f}",
                f"{median[name] / PER_PAGE * 1000:.0f}",
                f"{median[name] / plain:.2f}x",
                f"{median[name] / client:.2f}x",
                f"{goal_ratio:.2f}x {goal_of} (goal {goal})" if goal else "",
            ]
        )
    print_table(
        f"decode one page ({describe(body)}): timeit, {repeats} interleaved repeats of "
        f"~{min_time * 1000:.0f} ms each, median; msgspec {msgspec.__version__}, "
        f"pydantic {pydantic.VERSION}, Python {sys.version.split()[0]}",
        [
            "variant",
            "median us/page",
            "min",
            "max",
            "ns/item",
            "vs (a)",
            "vs client",
            "goal",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
