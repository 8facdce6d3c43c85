"""``max_response_bytes``: a body too large is refused with bounded memory and never retried.

The bombs (a 100 MB body with and without ``Content-Length``, an endless chunked body, 1 MB
of gzip that expands to 1 GiB) run against a client in a subprocess under an address-space
limit, which reports its peak RSS: the body must never be held whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import pytest

from anam_async import AnamClient, AnamValidationError, APIResponseValidationError
from anam_async.testing import FakeAnamAPI

MiB = 1024 * 1024
LIMIT = 8 * MiB
KEY = "sk-size-test-key"
LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS, /proc and ru_maxrss in KiB"
)

Respond = Callable[[asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A loopback HTTP/1.1 server that answers each request with ``respond`` and counts them.

    Every handler stops by itself: once its response is written, or when the client goes
    away mid-body (a refused bomb), and at the latest after the bounded bodies below.
    """

    def __init__(self, respond: Respond) -> None:
        self._respond = respond
        self._handlers: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        await self._server.wait_closed()
        await asyncio.gather(*self._handlers)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request_head = await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            for line in request_head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            await self._respond(writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client refused the body and dropped the connection: the point
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()


def head(*lines: str, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + "".join(f"{line}\r\n" for line in lines)
        + "\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


BLOCK = b"x" * MiB


async def with_content_length(writer: asyncio.StreamWriter) -> None:
    writer.write(head(f"Content-Length: {100 * MiB}"))
    for _ in range(100):
        writer.write(BLOCK)
        await writer.drain()


async def chunked_100mb(writer: asyncio.StreamWriter) -> None:
    writer.write(head("Transfer-Encoding: chunked"))
    for _ in range(100):
        writer.write(chunk(BLOCK))
        await writer.drain()
    writer.write(b"0\r\n\r\n")


async def chunked_endless(writer: asyncio.StreamWriter) -> None:
    writer.write(head("Transfer-Encoding: chunked"))
    # "Endless" to the client; bounded here (64 GiB) so that the handler surely ends.
    for _ in range(64 * 1024):
        writer.write(chunk(BLOCK))
        await writer.drain()
    writer.write(b"0\r\n\r\n")


async def gzip_bomb(writer: asyncio.StreamWriter) -> None:
    """≈1 MB of gzip that expands to 1 GiB of zeros, compressed as it is sent."""
    writer.write(head("Content-Encoding: gzip", "Transfer-Encoding: chunked"))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    for _ in range(1024):
        out = compressor.compress(zeros)
        if out:
            writer.write(chunk(out))
            await writer.drain()
    writer.write(chunk(compressor.flush()) + b"0\r\n\r\n")


# The client, in a subprocess: it limits its own address space first (512 MiB: an unbounded
# read of the gzip bomb dies of MemoryError), then reports its RSS before the call and its
# peak RSS after it. The peak is VmHWM, the high-water mark of this process's own memory:
# ru_maxrss would do on its own, but after a fork and exec Linux carries the parent's (pytest's,
# larger) high-water mark over into it. It is reported too.
CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))
import asyncio, json
from anam_async import AnamClient, APIError

def status(field):
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

async def main(url, limit, key):
    async with AnamClient(key, base_url=url, max_retries=5, max_response_bytes=limit) as client:
        baseline = status("VmRSS")
        try:
            await client.share_links.list()
        except APIError as exc:
            outcome = {"type": type(exc).__name__, "message": str(exc)}
        except MemoryError:
            outcome = {"type": "MemoryError", "message": ""}
        else:
            outcome = {"type": None, "message": ""}
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({**outcome, "baseline": baseline, "peak": status("VmHWM"), "maxrss": maxrss}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


async def run_child(url: str, limit: int) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        str(limit),
        KEY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode(errors="replace")
    result: dict[str, Any] = json.loads(out)
    return result


@LINUX_ONLY
@pytest.mark.parametrize(
    ("respond", "why"),
    [
        (with_content_length, f"Content-Length is {100 * MiB}; not read"),
        (chunked_100mb, "after decompression; reading stopped"),
        (chunked_endless, "after decompression; reading stopped"),
        (gzip_bomb, "after decompression; reading stopped"),
    ],
    ids=["100mb-content-length", "100mb-chunked", "endless-chunked", "gzip-1mb-to-1gib"],
)
async def test_bombs_are_refused_with_bounded_memory_and_not_retried(
    respond: Respond, why: str
) -> None:
    async with RawServer(respond) as server:
        result = await run_child(server.url, LIMIT)
    assert result["type"] == "APIResponseValidationError", result
    assert f"larger than max_response_bytes={LIMIT}" in result["message"]
    assert why in result["message"]
    assert "GET " + server.url + "/v1/share-links" in result["message"]
    assert result["peak"] <= result["baseline"] + LIMIT + 30 * MiB, result
    assert server.requests == 1


async def small_body(writer: asyncio.StreamWriter, status: str, body: bytes) -> None:
    writer.write(head(f"Content-Length: {len(body)}", status=status) + body)


def page_body(padding: int) -> bytes:
    meta = b'"meta":{"total":0,"lastPage":1,"currentPage":1,"perPage":20,"prev":null,"next":null}'
    return b'{"data":[],' + meta + b',"pad":"' + b"p" * padding + b'"}'


@asynccontextmanager
async def serve_body(body: bytes, status: str = "200 OK") -> AsyncIterator[RawServer]:
    async def respond(writer: asyncio.StreamWriter) -> None:
        await small_body(writer, status, body)

    async with RawServer(respond) as server:
        yield server


async def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    body = page_body(1000)
    async with serve_body(body) as server:
        async with AnamClient(KEY, base_url=server.url, max_response_bytes=len(body)) as client:
            page = await client.share_links.list()
        assert page.data == []
        async with AnamClient(KEY, base_url=server.url, max_response_bytes=len(body) - 1) as client:
            with pytest.raises(APIResponseValidationError) as caught:
                await client.share_links.list()
        assert f"Content-Length is {len(body)}" in str(caught.value)
        assert caught.value.status == 200


@pytest.mark.parametrize("compressed", [False, True], ids=["chunked", "gzip"])
async def test_the_count_is_of_decompressed_bytes_without_content_length(
    compressed: bool,
) -> None:
    body = page_body(5000)

    async def respond(writer: asyncio.StreamWriter) -> None:
        if compressed:
            data = zlib.compress(body, wbits=31)
            writer.write(head("Content-Encoding: gzip", "Transfer-Encoding: chunked"))
        else:
            data = body
            writer.write(head("Transfer-Encoding: chunked"))
        writer.write(chunk(data) + b"0\r\n\r\n")

    async with RawServer(respond) as server:
        async with AnamClient(KEY, base_url=server.url, max_response_bytes=len(body)) as client:
            assert (await client.share_links.list()).data == []
        async with AnamClient(KEY, base_url=server.url, max_response_bytes=4096) as client:
            with pytest.raises(APIResponseValidationError) as caught:
                await client.share_links.list()
    message = str(caught.value)
    assert "larger than max_response_bytes=4096" in message
    assert "more than 4096 bytes after decompression" in message
    assert caught.value.body_snippet.startswith('{"data":[]')
    assert server.requests == 2


async def test_a_too_large_error_body_is_not_retried_even_on_a_retryable_status() -> None:
    async with serve_body(b'{"message": "' + b"e" * 5000 + b'"}', "503 Unavailable") as server:
        async with AnamClient(
            KEY, base_url=server.url, max_retries=3, max_response_bytes=1000
        ) as client:
            with pytest.raises(APIResponseValidationError) as caught:
                await client.share_links.list()
        assert caught.value.status == 503
        assert server.requests == 1


async def test_a_too_large_post_is_not_retried() -> None:
    async with serve_body(page_body(5000), "201 Created") as server:
        async with AnamClient(
            KEY, base_url=server.url, max_retries=3, max_response_bytes=1000
        ) as client:
            with pytest.raises(APIResponseValidationError):
                await client.share_links.create(persona_id="0" * 32)
        assert server.requests == 1


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "8", None])
def test_max_response_bytes_must_be_an_int_of_at_least_one(value: object) -> None:
    with pytest.raises(
        AnamValidationError, match=r"^max_response_bytes=.* is invalid: must be an int >= 1"
    ):
        AnamClient(KEY, max_response_bytes=value)  # type: ignore[arg-type]


async def test_an_attempt_that_ends_in_the_size_error_has_its_debug_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="anam_async")
    api = FakeAnamAPI(links=30)
    async with api, AnamClient(api.api_key, base_url=api.url, max_response_bytes=100) as client:
        with pytest.raises(APIResponseValidationError, match="max_response_bytes"):
            await client.share_links.list()
    lines = [r.getMessage() for r in caplog.records if r.name == "anam_async"]
    assert len(lines) == 1
    assert "APIResponseValidationError" in lines[0]
    assert "(attempt 1)" in lines[0]
