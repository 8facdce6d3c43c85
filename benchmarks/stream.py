"""Concurrent streaming: wall time, throughput, client CPU and memory of ``stream()``.

The fake server (``FakeAnamAPI``) runs in a separate process on loopback, so the client's
CPU is measured alone. Scenarios (one table):

* S1 latency-bound: a listing of 100 pages x 100 items with 50 ms fake latency per request.
  Wall time of ``stream(concurrency=8)`` against the ideal ``50 ms x (1 + ceil(99 / 8))`` =
  700 ms (the engine sends a speculative first wave of ``concurrency`` pages before page 1
  answers, so its floor is ``50 ms x ceil(100 / 8)`` = 650 ms, below that ideal), and
  against ``concurrency=1`` and a sequential httpx + pydantic v2 paginator.
* S1b ``get_many``: 500 ids at 50 ms latency, concurrency 8, against ``50 ms x ceil(500/8)``.
* S2 CPU-bound: 500 pages x 100 items, no latency, concurrency 4. Items per second and the
  client process's CPU seconds of ``stream()`` against a plain aiohttp + msgspec loop bounded
  by ``asyncio.Semaphore(4)`` (gather in order, decode into the same Structs): the practical
  limit of this stack.
* S3 memory: 2,000 pages x 100 items with a slow consumer (``sleep(0)`` per item, 1 ms per
  page). Peak RSS (``VmHWM``) of a fresh client process per variant: ``stream()`` at
  concurrency 4, a plain sequential aiohttp + msgspec loop (nothing kept), and gather-all
  (every page fetched and kept); ``stream()`` again on the 500-page listing to show growth.

``--quick`` (CI) shrinks everything: S1 20 pages at 20 ms, S1b 100 ids, S2 100 pages, S3 200
pages, one run each. ``--chart [PATH]`` also measures S1 at concurrency 2, 4 and 16 and draws
wall time against concurrency (default PATH: docs/img/concurrency.png); skipped with --quick.

The server is the plain ``FakeAnamAPI``: it computes a page's links from their position,
so a page costs the same whatever the listing's size (see ``scale.py`` for its own limits).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
from decode import PydanticPage, print_table

from anam_async import AnamClient, ShareLinkPage
from anam_async._paging import dedupe_window

ROOT = Path(__file__).resolve().parent.parent
PER_PAGE = 100
SERVER_LIFETIME = 1800.0  # seconds: the server process ends by itself after this, whatever

SERVER_SCRIPT = r"""
import asyncio, contextlib, json, sys, threading
from anam_async.testing import FakeAnamAPI


async def main(links, latency, lifetime):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def wait_for_stdin_eof():
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_stdin_eof, daemon=True).start()
    async with FakeAnamAPI(links=links, latency=latency, seed=1) as api:
        print(json.dumps({"url": api.url, "key": api.api_key}), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lifetime)


asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])))
"""

# One S3 variant in a fresh process: prints a JSON line with its peak RSS.
CHILD_SCRIPT = r"""
import asyncio, json, sys, time
import aiohttp, msgspec
from anam_async import AnamClient, ShareLinkPage


def status_mb(field):
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent, so a
    # child of a big parent would report the parent's peak. VmHWM is this image's own peak.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


async def main(variant, url, key, concurrency, pause):
    headers = {"Authorization": f"Bearer {key}"}
    list_url = f"{url}/v1/share-links"
    decoder = msgspec.json.Decoder(ShareLinkPage)
    items = 0

    async def get_page(http, number):
        params = {"page": number, "perPage": 100}
        async with http.get(list_url, params=params) as response:
            response.raise_for_status()
            return decoder.decode(await response.read())

    if variant == "stream":
        async with AnamClient(key, base_url=url) as client:
            await client.share_links.list(per_page=1)
            base = status_mb("VmRSS")
            started = time.perf_counter()
            async for _link in client.share_links.stream(per_page=100, concurrency=concurrency):
                items += 1
                await asyncio.sleep(0)
                if items % 100 == 0:
                    await asyncio.sleep(pause)
    else:
        async with aiohttp.ClientSession(headers=headers) as http:
            await get_page(http, 1)
            base = status_mb("VmRSS")
            started = time.perf_counter()
            if variant == "sequential":
                number = 1
                while True:
                    page = await get_page(http, number)
                    for _link in page.data:
                        items += 1
                        await asyncio.sleep(0)
                    await asyncio.sleep(pause)
                    if page.meta.next is None:
                        break
                    number += 1
                    del page
            else:
                semaphore = asyncio.Semaphore(concurrency)

                async def bounded(number):
                    async with semaphore:
                        return await get_page(http, number)

                first = await get_page(http, 1)
                numbers = range(2, first.meta.last_page + 1)
                pages = [first, *await asyncio.gather(*(bounded(n) for n in numbers))]
                for page in pages:
                    for _link in page.data:
                        items += 1
                        await asyncio.sleep(0)
                    await asyncio.sleep(pause)
    elapsed = time.perf_counter() - started
    peak = status_mb("VmHWM")
    print(json.dumps({"items": items, "base_mb": base, "peak_mb": peak, "seconds": elapsed}))


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
"""


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


class Server:
    """A ``FakeAnamAPI`` in its own process; stops when its stdin closes (or after a while)."""

    def __init__(self, links: int, latency: float) -> None:
        self.links = links
        self.latency = latency
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(links), str(latency), str(SERVER_LIFETIME)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=_env(),
            text=True,
        )
        self._info: dict[str, str] | None = None

    def ready(self) -> Server:
        """Wait until the server listens (seeding a big listing takes a while)."""
        if self._info is None:
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the fake server ({self.links} links) failed to start")
            self._info = json.loads(line)
        return self

    @property
    def url(self) -> str:
        assert self._info is not None
        return self._info["url"]

    @property
    def key(self) -> str:
        assert self._info is not None
        return self._info["key"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- S1 / S1b: latency-bound -------------------------------------------------------------------


async def stream_items(server: Server, concurrency: int) -> tuple[int, float, float]:
    """Run ``stream()`` to the end: (items, wall seconds, client CPU seconds)."""
    async with AnamClient(server.key, base_url=server.url) as client:
        await client.share_links.list(per_page=1)  # open a connection first
        cpu, started = time.process_time(), time.perf_counter()
        items = 0
        async for _link in client.share_links.stream(per_page=PER_PAGE, concurrency=concurrency):
            items += 1
        return items, time.perf_counter() - started, time.process_time() - cpu


async def httpx_pydantic_items(server: Server) -> tuple[int, float, float]:
    """What users write today: httpx + pydantic, one page at a time until ``next`` is null."""
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        (await http.get("/v1/share-links", params={"perPage": 1})).raise_for_status()
        cpu, started = time.process_time(), time.perf_counter()
        items, number = 0, 1
        while True:
            response = await http.get(
                "/v1/share-links", params={"page": number, "perPage": PER_PAGE}
            )
            response.raise_for_status()
            page = PydanticPage.model_validate_json(response.content)
            for _link in page.data:
                items += 1
            if page.meta.next is None:
                break
            number = page.meta.next
        return items, time.perf_counter() - started, time.process_time() - cpu


async def some_ids(server: Server, count: int) -> list[str]:
    async with AnamClient(server.key, base_url=server.url) as client:
        return [str(link.id) async for link in client.share_links.stream(limit=count)]


async def get_many_items(
    server: Server, ids: list[str], concurrency: int
) -> tuple[int, float, float]:
    async with AnamClient(server.key, base_url=server.url) as client:
        await client.share_links.list(per_page=1)
        cpu, started = time.process_time(), time.perf_counter()
        items = 0
        async for _link in client.share_links.get_many(ids, concurrency=concurrency):
            items += 1
        return items, time.perf_counter() - started, time.process_time() - cpu


# --- S2: CPU-bound -----------------------------------------------------------------------------


async def aiohttp_msgspec_items(server: Server, concurrency: int) -> tuple[int, float, float]:
    """The practical limit: aiohttp + a reused msgspec Decoder, Semaphore-bounded gather."""
    decoder = msgspec.json.Decoder(ShareLinkPage)
    list_url = f"{server.url}/v1/share-links"
    headers = {"Authorization": f"Bearer {server.key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        semaphore = asyncio.Semaphore(concurrency)

        async def get_page(number: int) -> ShareLinkPage:
            async with (
                semaphore,
                http.get(list_url, params={"page": number, "perPage": PER_PAGE}) as response,
            ):
                response.raise_for_status()
                body = await response.read()
            return decoder.decode(body)

        await get_page(1)  # open a connection first
        cpu, started = time.process_time(), time.perf_counter()
        first = await get_page(1)
        rest = await asyncio.gather(*(get_page(n) for n in range(2, first.meta.last_page + 1)))
        items = 0
        for page in [first, *rest]:
            for _link in page.data:
                items += 1
        return items, time.perf_counter() - started, time.process_time() - cpu


# --- S3: memory --------------------------------------------------------------------------------


def child_peak(server: Server, variant: str, concurrency: int, pause: float) -> dict[str, Any]:
    """Run one S3 variant in a fresh process and return its report."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD_SCRIPT,
            variant,
            server.url,
            server.key,
            str(concurrency),
            str(pause),
        ],
        capture_output=True,
        cwd=ROOT,
        env=_env(),
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def dedupe_set_mb(count: int) -> float:
    """What a set of ``count`` 128-bit ints (stream()'s dedupe window) holds, via tracemalloc."""
    rng = random.Random(0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        seen = {rng.getrandbits(128) for _ in range(count)}
        held = tracemalloc.get_traced_memory()[0] - before
        del seen
    finally:
        tracemalloc.stop()
    return held / 2**20


# --- Running -----------------------------------------------------------------------------------


@dataclass
class Sizes:
    s1_pages: int
    s1_latency: float
    s1b_ids: int
    s2_pages: int
    s3_pages: int
    runs: int


FULL = Sizes(s1_pages=100, s1_latency=0.05, s1b_ids=500, s2_pages=500, s3_pages=2000, runs=5)
QUICK = Sizes(s1_pages=20, s1_latency=0.02, s1b_ids=100, s2_pages=100, s3_pages=200, runs=1)

Measure = Callable[[], Awaitable[tuple[int, float, float]]]


def interleaved(
    variants: dict[str, Measure], runs: int, expected: dict[str, int]
) -> dict[str, list[tuple[float, float]]]:
    """Run every variant ``runs`` times, round-robin: (wall, cpu) per run."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, measure in variants.items():
            items, wall, cpu = asyncio.run(measure())
            if items != expected[name]:
                raise RuntimeError(f"{name}: got {items} items, expected {expected[name]}")
            results[name].append((wall, cpu))
    return results


def med(runs: list[tuple[float, float]], index: int = 0) -> float:
    return statistics.median(run[index] for run in runs)


def draw_chart(path: Path, walls: dict[int, float], sizes: Sizes, sequential_httpx: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    levels = sorted(walls)
    latency_ms = sizes.s1_latency * 1000
    pages = sizes.s1_pages
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    ax.plot(levels, [walls[c] * 1000 for c in levels], "o-", label="stream() measured (median)")
    ax.plot(
        levels,
        [latency_ms * (1 + math.ceil((pages - 1) / c)) for c in levels],
        "--",
        label="ideal: latency x (1 + ceil(99 / c))",
    )
    ax.plot(
        levels,
        [latency_ms * math.ceil(pages / c) for c in levels],
        ":",
        label="floor with speculative first wave: latency x ceil(100 / c)",
    )
    ax.axhline(sequential_httpx * 1000, color="grey", lw=1, label="httpx + pydantic, sequential")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.set_xlabel("concurrency")
    ax.set_ylabel("wall time (ms, log scale)")
    # Plain milliseconds on both major and minor ticks, not matplotlib's 6x10^3.
    plain_ms = FuncFormatter(lambda value, _: f"{value:,.0f}")
    ax.yaxis.set_major_formatter(plain_ms)
    ax.yaxis.set_minor_formatter(plain_ms)
    ax.set_title(
        f"stream(): {pages} pages x {PER_PAGE} items, {latency_ms:.0f} ms latency per request"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI mode: small sizes, one run")
    parser.add_argument(
        "--chart",
        nargs="?",
        const="docs/img/concurrency.png",
        default=None,
        metavar="PATH",
        help="also draw S1 wall time against concurrency into PATH (PNG)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chart = None if args.quick or args.chart is None else Path(args.chart)
    if args.quick and args.chart is not None:
        print("(--chart is skipped with --quick)", file=sys.stderr)
    runs = sizes.runs
    lat_ms = sizes.s1_latency * 1000
    s1_items = sizes.s1_pages * PER_PAGE
    rows: list[list[str]] = []
    servers: list[Server] = []
    try:
        # S1 / S1b: one server with latency.
        s1 = Server(s1_items, sizes.s1_latency)
        servers.append(s1)
        s1.ready()
        c8 = 8
        s1_variants: dict[str, Measure] = {
            "c8": lambda: stream_items(s1, c8),
            "c1": lambda: stream_items(s1, 1),
            "httpx": lambda: httpx_pydantic_items(s1),
        }
        levels = [2, 4, 16] if chart is not None else []
        for level in levels:
            s1_variants[f"c{level}"] = lambda level=level: stream_items(s1, level)
        s1_res = interleaved(s1_variants, runs, dict.fromkeys(s1_variants, s1_items))
        ids = asyncio.run(some_ids(s1, sizes.s1b_ids))
        s1b_res = interleaved(
            {"get_many": lambda: get_many_items(s1, ids, c8)}, runs, {"get_many": len(ids)}
        )

        # S2 and S3 servers seed in parallel (a big listing takes a while), then S2 runs alone.
        s2 = Server(sizes.s2_pages * PER_PAGE, 0.0)
        s3 = Server(sizes.s3_pages * PER_PAGE, 0.0)
        servers += [s2, s3]
        s2.ready()
        s3.ready()
        s2_items = sizes.s2_pages * PER_PAGE
        # One untimed pass fills the server's page cache so every timed run sees the same server.
        asyncio.run(aiohttp_msgspec_items(s2, 4))
        s2_res = interleaved(
            {
                "limit": lambda: aiohttp_msgspec_items(s2, 4),
                "stream": lambda: stream_items(s2, 4),
            },
            runs,
            {"limit": s2_items, "stream": s2_items},
        )

        # S3: one fresh process per variant.
        pause = 0.001
        s3_pages = sizes.s3_pages
        s3_res = {
            "sequential": child_peak(s3, "sequential", 1, pause),
            "gather": child_peak(s3, "gather", 4, pause),
            "stream": child_peak(s3, "stream", 4, pause),
            "stream-small": child_peak(s2, "stream", 4, pause),
        }
    finally:
        for server in servers:
            server.close()

    # --- S1 rows
    wall = {name: med(res) for name, res in s1_res.items()}
    ideal = lat_ms * (1 + math.ceil((sizes.s1_pages - 1) / c8)) / 1000
    floor = lat_ms * math.ceil(sizes.s1_pages / c8) / 1000
    s1_size = f"{sizes.s1_pages}p x {PER_PAGE}, {lat_ms:.0f} ms"
    rows.append(
        [
            "S1",
            "stream() concurrency=8",
            s1_size,
            "wall ms",
            f"{wall['c8'] * 1000:.0f}",
            f"ideal {ideal * 1000:.0f} (1st-wave floor {floor * 1000:.0f})",
            f"{wall['c8'] / ideal:.2f}x ideal",
            "<= 1.10x ideal",
        ]
    )
    for level in levels:
        level_ideal = lat_ms * (1 + math.ceil((sizes.s1_pages - 1) / level)) / 1000
        rows.append(
            [
                "S1",
                f"stream() concurrency={level}",
                s1_size,
                "wall ms",
                f"{wall[f'c{level}'] * 1000:.0f}",
                f"ideal {level_ideal * 1000:.0f}",
                f"{wall[f'c{level}'] / level_ideal:.2f}x ideal",
                "",
            ]
        )
    rows.append(
        [
            "S1",
            "stream() concurrency=1",
            s1_size,
            "wall ms",
            f"{wall['c1'] * 1000:.0f}",
            "stream() c=8",
            f"c=8 {wall['c1'] / wall['c8']:.1f}x faster",
            "",
        ]
    )
    rows.append(
        [
            "S1",
            "httpx + pydantic, sequential",
            s1_size,
            "wall ms",
            f"{wall['httpx'] * 1000:.0f}",
            "stream() c=8",
            f"c=8 {wall['httpx'] / wall['c8']:.1f}x faster",
            "",
        ]
    )
    # --- S1b
    gm = med(s1b_res["get_many"])
    gm_ideal = lat_ms * math.ceil(len(ids) / c8) / 1000
    rows.append(
        [
            "S1b",
            "get_many() concurrency=8",
            f"{len(ids)} ids, {lat_ms:.0f} ms",
            "wall ms",
            f"{gm * 1000:.0f}",
            f"ideal {gm_ideal * 1000:.0f}",
            f"{gm / gm_ideal:.2f}x ideal",
            "",
        ]
    )
    # --- S2
    s2_size = f"{sizes.s2_pages}p x {PER_PAGE}, 0 ms"
    limit_rate = s2_items / med(s2_res["limit"])
    stream_rate = s2_items / med(s2_res["stream"])
    limit_cpu = med(s2_res["limit"], 1)
    stream_cpu = med(s2_res["stream"], 1)
    limit_name = "aiohttp+msgspec, Semaphore(4) gather"
    rows += [
        ["S2", limit_name, s2_size, "items/s", f"{limit_rate:,.0f}", "(the limit)", "1.00x", ""],
        [
            "S2",
            "stream() concurrency=4",
            s2_size,
            "items/s",
            f"{stream_rate:,.0f}",
            "the limit",
            f"{stream_rate / limit_rate:.2f}x limit",
            ">= 0.80x limit",
        ],
        ["S2", limit_name, s2_size, "client CPU s", f"{limit_cpu:.2f}", "(the limit)", "1.00x", ""],
        [
            "S2",
            "stream() concurrency=4",
            s2_size,
            "client CPU s",
            f"{stream_cpu:.2f}",
            "the limit",
            f"{stream_cpu / limit_cpu:.2f}x limit",
            "",
        ],
    ]
    # --- S3
    plain_peak = s3_res["sequential"]["peak_mb"]

    def s3_row(name: str, label: str, pages: int, goal: str = "") -> list[str]:
        report = s3_res[name]
        if report["items"] != pages * PER_PAGE:
            raise RuntimeError(f"S3 {name}: {report['items']} items, expected {pages * PER_PAGE}")
        grown = report["peak_mb"] - report["base_mb"]
        return [
            "S3",
            label,
            f"{pages}p x {PER_PAGE}, slow consumer",
            "peak RSS MB",
            f"{report['peak_mb']:.1f} (+{grown:.1f} in run)",
            "sequential loop",
            f"{report['peak_mb'] - plain_peak:+.1f} MB",
            goal,
        ]

    rows += [
        s3_row("sequential", "aiohttp+msgspec sequential, nothing kept", s3_pages),
        s3_row("gather", "gather-all (Semaphore(4)), pages kept", s3_pages),
        s3_row("stream-small", "stream() concurrency=4", sizes.s2_pages, "flat"),
        s3_row("stream", "stream() concurrency=4", s3_pages, "<= +10 MB, flat"),
        [
            "S3",
            "(of which stream()'s dedupe window, est.)",
            f"{dedupe_window(4) * PER_PAGE:,} ids",
            "tracemalloc MB",
            f"{dedupe_set_mb(dedupe_window(4) * PER_PAGE):.1f}",
            "",
            "bounded",
            "",
        ],
    ]

    mode = "quick" if args.quick else "full"
    print_table(
        f"anam-async stream benchmark ({mode}): server FakeAnamAPI in its own process on "
        f"loopback; S1/S1b/S2 median of {runs} interleaved run(s), wall = perf_counter, "
        f"CPU = process_time of the client process; S3 one fresh process per variant, "
        f"peak = VmHWM; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        ["scen", "variant", "size", "measure", "median", "baseline", "ratio", "goal"],
        rows,
        align="<<<<><<<",
    )
    if chart is not None:
        walls = {1: wall["c1"], 8: wall["c8"], **{c: wall[f"c{c}"] for c in levels}}
        draw_chart(chart, walls, sizes, wall["httpx"])
        print(f"chart: {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
