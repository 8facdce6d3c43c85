"""The key never leaks through the transport: malformed responses and servers that echo it.

aiohttp's exception for a malformed response holds the request's headers (``RequestInfo``,
``Authorization: Bearer <key>`` included) and quotes the offending status or header line,
where a server may have echoed the key. Every error path below is tried for a GET (whose
connection errors are retried, so the WARNING line is written too) and a POST, with every
record of the ``anam_async`` logger captured at DEBUG; the key must show nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import pytest

from anam_async import (
    AnamClient,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
)
from anam_async._transport import redact
from tests.conftest import SleepRecorder

from ._leaks import SECRET, leaking_records, leaks

K = SECRET.encode()
MiB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One hostile answer (the same for every attempt) and what the client makes of it."""

    payload: bytes
    error: type[APIError]
    #: Whether a GET / a POST meeting it is retried (so that a WARNING line is written).
    get_retried: bool
    post_retried: bool = False


def answer(status: str, *lines: bytes, body: bytes = b"") -> bytes:
    head = b"".join(line + b"\r\n" for line in lines)
    length = b"Content-Length: %d\r\n" % len(body)
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\nConnection: close\r\n"
        + length
        + head
        + b"\r\n"
        + body
    )


CASES: dict[str, Case] = {
    # Malformed: aiohttp raises ClientResponseError (RequestInfo with the key), quoting the line.
    "garbage-status-line": Case(b"GARBAGE " + K + b"\r\n\r\n", APIConnectionError, True),
    "http-0.9": Case(b"<html>" + K + b"</html>", APIConnectionError, True),
    "status-line-echo": Case(b"HTTP/1.1 20x " + K + b"\r\n\r\n", APIConnectionError, True),
    "bad-version-echo": Case(b"HTTP/9." + K + b" 200 OK\r\n\r\n", APIConnectionError, True),
    "header-line-echo": Case(
        b"HTTP/1.1 200 OK\r\n" + K + b"\r\nContent-Length: 0\r\n\r\n", APIConnectionError, True
    ),
    "header-name-echo": Case(
        b"HTTP/1.1 200 OK\r\nX " + K + b": v\r\n\r\n", APIConnectionError, True
    ),
    "header-value-nul": Case(
        b"HTTP/1.1 200 OK\r\nX-Echo: Bearer " + K + b"\x00\r\nContent-Length: 0\r\n\r\n",
        APIConnectionError,
        True,
    ),
    "1mb-header": Case(
        b"HTTP/1.1 200 OK\r\nX-Big: " + K + b"a" * MiB + b"\r\n\r\n", APIConnectionError, True
    ),
    # aiohttp cuts the quoted line at 100 characters: here inside the key.
    "1mb-header-cut-in-key": Case(
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 80 + K + b"a" * MiB + b"\r\n\r\n",
        APIConnectionError,
        True,
    ),
    "1mb-status-line": Case(
        b"HTTP/1.1 200 " + b"a" * 70 + K + b"a" * MiB + b"\r\n\r\n", APIConnectionError, True
    ),
    "content-length-and-transfer-encoding": Case(
        b"HTTP/1.1 200 OK\r\nX-Echo: " + K + b"\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        APIConnectionError,
        True,
    ),
    "content-length-echo": Case(
        b"HTTP/1.1 200 OK\r\nContent-Length: " + K + b"\r\n\r\n", APIConnectionError, True
    ),
    "chunk-size-echo": Case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + K + b"\r\n\r\n",
        APIConnectionError,
        True,
    ),
    "chunk-extension-echo": Case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"
        + K
        + b"\x01\r\nhello\r\n0\r\n\r\n",
        APIConnectionError,
        True,
    ),
    "trailer-echo": Case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + K + b"\r\n\r\n",
        APIConnectionError,
        True,
    ),
    "bad-gzip-echo": Case(
        answer("200 OK", b"Content-Encoding: gzip", b"X-Echo: " + K, body=K),
        APIConnectionError,
        True,
    ),
    "body-cut-short": Case(
        b"HTTP/1.1 200 OK\r\nX-Echo: " + K + b"\r\nContent-Length: 1000\r\n\r\n" + K,
        APIConnectionError,
        True,
    ),
    # Well-formed answers that echo the key: into headers, the reason phrase, the body.
    "retried-503-echo": Case(
        answer(
            "503 " + SECRET,
            b"Retry-After: 0",
            b"X-Echo: Bearer " + K,
            b"WWW-Authenticate: Bearer error=" + K,
            K + b": name",
            body=b'{"message": "bad key ' + K + b'"}',
        ),
        APIStatusError,
        True,
    ),
    "retried-429-echo": Case(
        answer("429 " + SECRET, b"Retry-After: 0", b"X-Echo: " + K, body=K),
        APIStatusError,
        True,
        post_retried=True,
    ),
    "redirect-echo": Case(
        answer("302 Found", b"Location: https://elsewhere.test/?key=" + K), APIStatusError, False
    ),
    "transfer-encoding-echo": Case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + K + b"\r\n\r\n",
        APIResponseValidationError,
        False,
    ),
    "undecodable-body-echo": Case(
        answer("200 OK", b"X-Echo: " + K, body=b"not json " + K), APIResponseValidationError, False
    ),
    "too-large-body-echo": Case(
        answer(
            "200 OK", b"X-Echo: " + K, body=b'{"k": "' + K + b'", "pad": "' + b"x" * MiB + b'"}'
        ),
        APIResponseValidationError,
        False,
    ),
    "too-large-gzip-echo": Case(
        answer(
            "200 OK",
            b"Content-Encoding: gzip",
            body=zlib.compress(K + b"x" * MiB, wbits=31),
        ),
        APIResponseValidationError,
        False,
    ),
}


@asynccontextmanager
async def hostile_server(payload: bytes) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server that answers every request with ``payload`` and then closes."""
    requests: list[int] = []
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            request_head = await reader.readuntil(b"\r\n\r\n")
            requests.append(1)
            for line in request_head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", requests
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers)


def fragments(text: str, width: int = 12) -> list[str]:
    """The runs of ``width`` characters of the key found in ``text`` (a key cut short)."""
    return [
        SECRET[i : i + width]
        for i in range(len(SECRET) - width + 1)
        if SECRET[i : i + width] in text
    ]


async def call(client: AnamClient, method: str) -> Any:
    if method == "POST":
        return await client.share_links.create(persona_id=uuid.uuid4())
    return await client.share_links.list()


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_no_error_path_leaks_the_key(
    case: Case, method: str, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    retried = case.get_retried if method == "GET" else case.post_retried
    with caplog.at_level(logging.DEBUG, logger="anam_async"):
        async with (
            hostile_server(case.payload) as (url, requests),
            AnamClient(SECRET, base_url=url, max_retries=1, max_response_bytes=MiB) as client,
        ):
            with pytest.raises(APIError) as caught:
                await call(client, method)
    error = caught.value
    assert type(error) is case.error or isinstance(error, case.error), repr(error)
    assert len(requests) == (2 if retried else 1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == (1 if retried else 0)
    # The DEBUG line of every attempt that got a response was captured as well.
    assert caplog.records or case.error is APIResponseValidationError

    assert leaks(error) == []
    assert leaking_records(caplog.records) == []
    shown = "".join(traceback.format_exception(error))
    assert fragments(shown) == []
    assert all(fragments(r.getMessage()) == [] for r in caplog.records)
    if isinstance(error, APIConnectionError):
        # Nothing of aiohttp's is kept: not as the cause, not as the context.
        assert error.__cause__ is None
        assert error.__context__ is None
        # Still useful: aiohttp's class name and its (redacted) reason.
        assert "ClientResponseError: 400" in str(error) or "ClientPayloadError" in str(error)
    if isinstance(error, APIStatusError):
        assert all(SECRET not in f"{name}: {value}" for name, value in error.headers.items())


def test_redact_hides_the_key_raw_escaped_and_in_part() -> None:
    key = "sk-ab'c\\def-0123456789"
    assert redact(f"x {key} y", key) == "x *** y"
    for quoted in (repr(f"x {key} y"), repr(f"x {key} y".encode()), repr(f"'\" {key}")):
        assert "***" in redact(quoted, key)
        assert "0123456789" not in redact(quoted, key)
    assert redact(f"cut at {key[:-5]}...", key) == "cut at ***..."
    assert redact(f"cut at ...{key[9:]}", key) == "cut at ...***"
    assert redact("nothing here", key) == "nothing here"
    assert redact("short key", "") == "short key"
