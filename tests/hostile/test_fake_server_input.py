"""FakeAnamAPI as a server facing hostile input: JSON errors, never a 500, and flat memory.

Users run it as ``anam-async fake-server`` for load tests and demos, so it must neither
fall over on a crafted body nor keep every request it has seen.
"""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from anam_async.testing import FakeAnamAPI

MiB = 1024 * 1024


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


@pytest.fixture
def fake_server() -> Iterator[tuple[str, int]]:
    """``anam-async fake-server`` in a subprocess on a free port: its URL and pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "anam_async", "fake-server", "--port", "0", "--links", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("FakeAnamAPI serving"), first
        url = first.rsplit(" at ", 1)[1].strip()
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


async def test_unauthenticated_large_posts_do_not_grow_the_cli_server(
    fake_server: tuple[str, int],
) -> None:
    url, pid = fake_server
    body = b'{"personaId": "' + b"x" * (MiB - 32) + b'"}'
    async with aiohttp.ClientSession() as http:
        # Warm up: the first few requests allocate what the server keeps for good.
        for _ in range(20):
            async with http.post(f"{url}/v1/share-links", data=io.BytesIO(body)) as resp:
                assert resp.status == 401
        before = _rss_mib(pid)
        for _ in range(300):
            async with http.post(f"{url}/v1/share-links", data=io.BytesIO(body)) as resp:
                assert resp.status == 401
                assert (await resp.json())["message"]
        after = _rss_mib(pid)
    print(f"\nfake-server RSS: {before:.1f} MiB -> {after:.1f} MiB after 300 x 1 MiB POSTs")
    assert after - before < 30, (before, after)


@pytest.mark.parametrize("depth", [1_000, 100_000, 1_000_000])
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_deeply_nested_bodies_get_a_json_400(method: str, depth: int) -> None:
    async with FakeAnamAPI(links=3) as api:
        path = "/v1/share-links" if method == "POST" else f"/v1/share-links/{api.links[0]['id']}"
        headers = {"Authorization": f"Bearer {api.api_key}", "Content-Type": "application/json"}
        nested = b'{"usageLimit": ' * depth + b"1" + b"}" * depth
        deep = nested if len(nested) < MiB else b"[" * (MiB - 1)
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, api.url + path, data=io.BytesIO(deep), headers=headers) as resp,
        ):
            assert resp.status == 400
            assert (await resp.json())["message"]
        assert len(api.links) == 3


async def test_a_flood_of_requests_keeps_only_the_configured_log() -> None:
    async with FakeAnamAPI(links=1, max_recorded_requests=5) as api:
        async with aiohttp.ClientSession() as http:
            for _ in range(50):
                async with http.post(api.url + "/v1/share-links", data=io.BytesIO(b"x" * 1000)):
                    pass
        assert len(api.requests) == 5
        assert api.requests[-1].number == 50
        await asyncio.wait_for(api.wait_for_requests(50), timeout=5)
