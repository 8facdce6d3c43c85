"""Scale: a million links streamed and exported, the per-call path, and the fake's own limits.

One server for everything: ``anam-async fake-server --links N`` in its own process (so the
benchmark process's ``process_time()`` is the client's CPU alone). Scenarios (one table,
ratios against a baseline measured in the same run, medians of ``--runs``):

* S4 a long stream: every link of the N-link listing, ``stream(per_page=100,
  concurrency=4)`` against a raw aiohttp + msgspec loop (four pages in flight in a sliding
  window, decoded into the same Structs, nothing kept), each in a fresh process: items per
  second, and RSS growth (peak ``VmHWM`` minus ``VmRSS`` once connected).
* S5 the per-call path of an async service: ``get()`` and ``list(per_page=10)`` awaited
  ``calls`` times on one client, 100 and 1,000 at a time, against the same calls through a
  bare ``aiohttp.ClientSession`` with an ``asyncio.Semaphore`` and the same decoders: client
  CPU per call, median of 7 interleaved rounds.
* S6 the fake itself: seconds from starting ``anam-async fake-server --links N`` to its URL
  on stdout, its RSS then and at the end, and the links per second it served in S4.
* S7 export: ``anam-async share-links export -o FILE`` (a fresh process) against a raw loop
  writing the same JSON lines (sliding window of four pages, ``msgspec.json.encode`` per
  link): links per second, and the export process's peak RSS.

``--quick`` (CI): N = 50,000, 1,000 calls, one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from decode import print_table

from anam_async import AnamClient, PersonaShareLink, ShareLinkPage

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
# Interleaved rounds of S5 per measurement.
ROUNDS = 7

# One S4 or S7 variant in a fresh process; prints a JSON line.
CHILD_SCRIPT = r"""
import asyncio, collections, json, sys, time
import aiohttp, msgspec
from anam_async import AnamClient, ShareLinkPage


def status_mb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


async def raw(url, key, out):
    decoder = msgspec.json.Decoder(ShareLinkPage)
    encode = msgspec.json.Encoder().encode
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def get_page(number):
            params = {"page": number, "perPage": 100}
            async with http.get(f"{url}/v1/share-links", params=params) as response:
                response.raise_for_status()
                return decoder.decode(await response.read())

        await get_page(1)
        base, started, items = status_mb("VmRSS"), time.perf_counter(), 0
        first = await get_page(1)
        last, number = first.meta.last_page, 2
        window = collections.deque()
        page = first
        while True:
            while len(window) < 4 and number <= last:
                window.append(asyncio.ensure_future(get_page(number)))
                number += 1
            items += len(page.data)
            if out is not None:
                out.write(b"".join(encode(link) + b"\n" for link in page.data))
            if not window:
                break
            page = await window.popleft()
    return items, base, time.perf_counter() - started


async def stream(url, key):
    async with AnamClient(key, base_url=url) as client:
        await client.share_links.list(per_page=1)
        base, started, items = status_mb("VmRSS"), time.perf_counter(), 0
        async for _link in client.share_links.stream(per_page=100, concurrency=4):
            items += 1
    return items, base, time.perf_counter() - started


def main(variant, url, key, path):
    if variant == "stream":
        items, base, seconds = asyncio.run(stream(url, key))
    elif variant == "export":
        from anam_async.cli import main as cli

        base, started = status_mb("VmRSS"), time.perf_counter()
        argv = ["--base-url", url, "--api-key", key, "share-links", "export", "-o", path]
        if cli(argv) != 0:
            raise SystemExit("export failed")
        seconds = time.perf_counter() - started
        with open(path, "rb") as exported:
            items = sum(1 for _ in exported)
    else:
        writing = variant == "raw-export"
        with open(path if writing else "/dev/null", "wb") as out:
            items, base, seconds = asyncio.run(raw(url, key, out if writing else None))
    peak = status_mb("VmHWM")
    result = {"items": items, "seconds": seconds, "growth_mb": peak - base, "peak_mb": peak}
    print(json.dumps(result))


main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
"""


def status_mb(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


class FakeServer:
    """``anam-async fake-server --links N`` in its own process, timed until it listens."""

    def __init__(self, links: int) -> None:
        started = time.perf_counter()
        command = [sys.executable, "-m", "anam_async", "fake-server", "--port", "0"]
        command += ["--links", str(links), "--api-key", KEY]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if found:
                self.url = found.group(0)
                break
        else:
            raise RuntimeError("the fake server did not start")
        self.ready_seconds = time.perf_counter() - started
        self.ready_rss = status_mb(self.process.pid, "VmRSS")

    def close(self) -> tuple[float, float]:
        """Stop it (Ctrl-C); returns its RSS and peak RSS just before, in MiB."""
        rss = status_mb(self.process.pid, "VmRSS"), status_mb(self.process.pid, "VmHWM")
        self.process.send_signal(2)
        self.process.wait(timeout=30)
        return rss


def child(variant: str, url: str, path: str = "-") -> dict[str, float]:
    """Run one S4/S7 variant in a fresh process and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT, variant, url, KEY, path],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- S5: the per-call path ---------------------------------------------------------------------


async def per_call_cpu(
    url: str, ids: list[str], in_flight: int, operation: str
) -> tuple[float, float]:
    """Client CPU microseconds per call: (AnamClient, raw aiohttp), interleaved."""
    link_decoder = msgspec.json.Decoder(PersonaShareLink)
    page_decoder = msgspec.json.Decoder(ShareLinkPage)

    async def run(call: Callable[[int], Awaitable[Any]]) -> float:
        semaphore = asyncio.Semaphore(in_flight)

        async def one(index: int) -> None:
            async with semaphore:
                await call(index)

        cpu = time.process_time()
        await asyncio.gather(*(one(i) for i in range(len(ids))))
        return (time.process_time() - cpu) / len(ids) * 1e6

    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        AnamClient(KEY, base_url=url) as client,
        aiohttp.ClientSession(headers=headers) as http,
    ):

        async def raw_get(index: int) -> Any:
            async with http.get(f"{url}/v1/share-links/{ids[index]}") as response:
                response.raise_for_status()
                return link_decoder.decode(await response.read())

        async def raw_list(index: int) -> Any:
            params = {"page": index % 50 + 1, "perPage": 10}
            async with http.get(f"{url}/v1/share-links", params=params) as response:
                response.raise_for_status()
                return page_decoder.decode(await response.read())

        async def client_get(index: int) -> Any:
            return await client.share_links.get(ids[index])

        async def client_list(index: int) -> Any:
            return await client.share_links.list(page=index % 50 + 1, per_page=10)

        ours, theirs = (client_get, raw_get) if operation == "get" else (client_list, raw_list)
        await run(theirs)  # warm both connection pools
        await run(ours)
        # Interleaved rounds, so that noise from the shared machine hits both alike.
        mine, raw = [], []
        for _ in range(ROUNDS):
            mine.append(await run(ours))
            raw.append(await run(theirs))
        return statistics.median(mine), statistics.median(raw)


# --- the table -----------------------------------------------------------------------------


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI mode: 50,000 links, one run")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median)")
    args = parser.parse_args(argv)
    links, calls, runs = (50_000, 1_000, 1) if args.quick else (1_000_000, 5_000, args.runs)

    server = FakeServer(links)
    try:
        s4: dict[str, list[dict[str, float]]] = {"raw": [], "stream": []}
        s7: dict[str, list[dict[str, float]]] = {"raw-export": [], "export": []}
        with tempfile.TemporaryDirectory() as tmp:
            target = str(Path(tmp) / "links.jsonl")
            for _ in range(runs):
                for variant in s4:
                    s4[variant].append(child(variant, server.url))
                for variant in s7:
                    s7[variant].append(child(variant, server.url, target))
        ids = asyncio.run(_first_ids(server.url, calls))
        s5 = {
            (operation, in_flight): [
                asyncio.run(per_call_cpu(server.url, ids, in_flight, operation))
                for _ in range(runs)
            ]
            for operation in ("get", "list")
            for in_flight in (100, 1000)
        }
    finally:
        rss, peak = server.close()

    def med(results: list[dict[str, float]], key: str) -> float:
        return statistics.median(result[key] for result in results)

    rows = []
    raw_rate = med(s4["raw"], "items") / med(s4["raw"], "seconds")
    stream_rate = med(s4["stream"], "items") / med(s4["stream"], "seconds")
    size = f"{links:,} links"
    rows.append(
        ["S4", "raw aiohttp+msgspec, 4 in flight", size, "items/s", f"{raw_rate:,.0f}", "1.00x", ""]
    )
    rows.append(
        [
            "S4",
            "stream() concurrency=4",
            size,
            "items/s",
            f"{stream_rate:,.0f}",
            ratio(stream_rate, raw_rate),
            ">= 0.90x raw",
        ]
    )
    for variant, name in (("raw", "raw aiohttp+msgspec"), ("stream", "stream() concurrency=4")):
        growth = med(s4[variant], "growth_mb")
        extra = growth - med(s4["raw"], "growth_mb")
        goal = "<= raw + 10 MiB" if variant == "stream" else ""
        rows.append(
            ["S4", name, size, "RSS growth MiB", f"{growth:+.1f}", f"{extra:+.1f} vs raw", goal]
        )
    for (operation, in_flight), results in s5.items():
        ours = statistics.median(r[0] for r in results)
        theirs = statistics.median(r[1] for r in results)
        name = "get()" if operation == "get" else "list(per_page=10)"
        what = f"{calls:,} calls, {in_flight} at once"
        rows.append(
            ["S5", f"raw aiohttp {operation}", what, "CPU us/call", f"{theirs:.0f}", "1.00x", ""]
        )
        rows.append(
            [
                "S5",
                f"AnamClient {name}",
                what,
                "CPU us/call",
                f"{ours:.0f}",
                ratio(ours, theirs),
                "<= 1.05x raw",
            ]
        )
    rows.append(
        [
            "S6",
            "fake-server start",
            size,
            "seconds to URL",
            f"{server.ready_seconds:.2f}",
            "",
            "<= 5 s",
        ]
    )
    rows.append(
        [
            "S6",
            "fake-server RSS at start / end",
            size,
            "MiB",
            f"{server.ready_rss:.0f} / {rss:.0f}",
            f"peak {peak:.0f}",
            "<= 500 MiB",
        ]
    )
    rows.append(
        [
            "S6",
            "fake-server serving one client",
            size,
            "links/s",
            f"{raw_rate:,.0f}",
            "(S4 raw)",
            ">= 20,000",
        ]
    )
    raw_export = med(s7["raw-export"], "items") / med(s7["raw-export"], "seconds")
    export = med(s7["export"], "items") / med(s7["export"], "seconds")
    rows.append(
        ["S7", "raw loop writing JSONL", size, "links/s", f"{raw_export:,.0f}", "1.00x", ""]
    )
    rows.append(
        [
            "S7",
            "anam-async share-links export",
            size,
            "links/s",
            f"{export:,.0f}",
            ratio(export, raw_export),
            ">= 0.80x raw",
        ]
    )
    rows.append(
        [
            "S7",
            "anam-async share-links export",
            size,
            "peak RSS MiB",
            f"{med(s7['export'], 'peak_mb'):.0f}",
            f"raw {med(s7['raw-export'], 'peak_mb'):.0f}",
            "flat",
        ]
    )
    header = (
        f"anam-async scale benchmark{' (quick)' if args.quick else ''}: fake-server --links "
        f"{links:,} in its own process; medians of {runs} run(s); S4/S7 one fresh process per "
        f"variant and run (RSS from /proc: VmHWM - VmRSS once connected); S5 client CPU = "
        f"process_time; Python {sys.version.split()[0]}"
    )
    columns = ["scen", "variant", "size", "measure", "median", "ratio", "goal"]
    print_table(header, columns, rows, align="<<<<><<")
    return 0


async def _first_ids(url: str, count: int) -> list[str]:
    """``count`` link ids from the head of the listing (for S5's ``get()`` calls)."""
    async with AnamClient(KEY, base_url=url) as client:
        ids = []
        async for link in client.share_links.stream(per_page=100, limit=count):
            ids.append(str(link.id))
        return ids


if __name__ == "__main__":
    raise SystemExit(main())
