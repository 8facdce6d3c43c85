"""TLS failures that trying again cannot fix raise ``APIConnectionError`` at once.

A certificate that does not verify (self-signed here) and a handshake that fails (a peer that
does not speak TLS) are not transient: one connection, no retry, POST or GET, and the message
says what went wrong. A connection reset during the handshake stays a retried connection error.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import shutil
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from anam_async import AnamClient, APIConnectionError
from anam_async._transport import send
from tests.conftest import SleepRecorder

KEY = "sk-tls-0123456789"


def _write_cert_with_cryptography(cert: Path, key: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def server_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        _write_cert_with_cryptography(cert, key)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("neither the cryptography package nor openssl is available")
        subprocess.run(
            [
                *(
                    openssl,
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ),
                *("-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
                *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Counting(asyncio.Protocol):
    """Answers a request that gets through with a 204; the handshake decides whether one does."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        self.transport.close()


@asynccontextmanager
async def tls_server(context: ssl.SSLContext) -> AsyncIterator[tuple[str, list[int]]]:
    """An https server on 127.0.0.1: its URL and the list of accepted connections."""
    accepts: list[int] = []

    def factory() -> Counting:
        # asyncio makes the protocol when it accepts the connection, before the handshake.
        accepts.append(1)
        return Counting()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", accepts
    finally:
        server.close()
        await server.wait_closed()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def plain_server(answer: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A plain TCP server that ``answer``s each connection; its https URL and its accepts."""
    accepts: list[int] = []
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        accepts.append(1)
        try:
            await answer(reader, writer)
        except ConnectionError:
            pass
        finally:
            writer.close()
            with suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", accepts
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.gather(*handlers)


async def call(client: AnamClient, method: str) -> Any:
    if method == "POST":
        return await client.share_links.create(persona_id=uuid.uuid4())
    return await client.share_links.list()


@pytest.fixture
def retry_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="anam_async"):
        yield caplog


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_self_signed_certificate_fails_at_once_saying_certificate(
    method: str,
    server_context: ssl.SSLContext,
    sleeps: SleepRecorder,
    retry_log: pytest.LogCaptureFixture,
) -> None:
    async with (
        tls_server(server_context) as (url, accepts),
        AnamClient(KEY, base_url=url, max_retries=5) as client,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await call(client, method)
    error = caught.value
    assert type(error) is APIConnectionError
    assert "TLS certificate verification failed" in str(error)
    assert "not retried" in str(error)
    assert "self-signed certificate" in str(error)  # OpenSSL's reason, kept
    assert error.transient is False
    assert error.request_sent is False
    assert error.method == method
    assert error.__cause__ is None
    assert error.__context__ is None
    assert accepts == [1]
    assert sleeps.waits == []
    assert retries_logged(retry_log) == []


async def test_the_same_server_is_reached_with_a_context_that_trusts_it(
    server_context: ssl.SSLContext,
) -> None:
    # The control: the failure above is the certificate's, not the server's.
    async with tls_server(server_context) as (url, accepts):
        connector = aiohttp.TCPConnector(ssl=False)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            AnamClient(KEY, base_url=url, session=session) as client,
        ):
            assert await client.share_links.delete(uuid.uuid4()) is None
    assert accepts == [1]


async def _not_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(16)  # the ClientHello
    writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
    await writer.drain()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_failed_handshake_fails_at_once(
    method: str, sleeps: SleepRecorder, retry_log: pytest.LogCaptureFixture
) -> None:
    async with (
        plain_server(_not_tls) as (url, accepts),
        AnamClient(KEY, base_url=url, max_retries=5) as client,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await call(client, method)
    assert "TLS handshake failed (not retried)" in str(caught.value)
    assert "WRONG_VERSION_NUMBER" in str(caught.value)
    assert caught.value.transient is False
    assert accepts == [1]
    assert sleeps.waits == []
    assert retries_logged(retry_log) == []


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(16)
    transport = writer.transport
    assert isinstance(transport, asyncio.Transport)
    transport.abort()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_handshake_cut_by_a_reset_is_still_retried(
    method: str, sleeps: SleepRecorder, retry_log: pytest.LogCaptureFixture
) -> None:
    # Nothing was sent yet, so even a POST is retried: an overloaded balancer, not a bad setup.
    async with (
        plain_server(_reset) as (url, accepts),
        AnamClient(KEY, base_url=url, max_retries=2) as client,
    ):
        with pytest.raises(APIConnectionError) as caught:
            await call(client, method)
    assert str(caught.value).startswith(f"cannot connect for {method} ")
    assert caught.value.transient is True
    assert len(accepts) == 3
    assert len(sleeps.waits) == 2
    assert len(retries_logged(retry_log)) == 2


class FailingSession:
    """Stands in for a ClientSession whose request raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


KEY_OF_CONNECTION = aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("os_error", "transient"),
    [
        (ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] handshake failure"), False),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), True),
        (ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"), True),
    ],
    ids=["alert", "eof", "zero-return"],
)
async def test_which_handshake_failures_count_as_transient(
    os_error: ssl.SSLError, transient: bool
) -> None:
    with pytest.raises(APIConnectionError) as caught:
        await send(
            FailingSession(aiohttp.ClientConnectorSSLError(KEY_OF_CONNECTION, os_error)),  # type: ignore[arg-type]
            "POST",
            URL("https://api.example.test/v1/share-links"),
            headers={"Authorization": f"Bearer {KEY}"},
            body=b"{}",
            client_timeout=aiohttp.ClientTimeout(total=1),
            secret=KEY,
        )
    assert caught.value.transient is transient
    assert caught.value.request_sent is False
    assert ("TLS handshake failed" in str(caught.value)) is not transient
