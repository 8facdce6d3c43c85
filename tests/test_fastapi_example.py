"""The FastAPI guide's example app (docs/examples/fastapi_app.py), run against FakeAnamAPI.

httpx's ``ASGITransport`` does not run the lifespan, so the tests enter
``app.router.lifespan_context(app)`` themselves. It also buffers the whole response body
(httpx 0.28), so the disconnect test drives the ASGI app directly with its own
``receive``/``send`` pair.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from anam_async import AnamClient, AnamError
from anam_async.testing import FakeAnamAPI, StatusFault

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "fastapi_app.py"
LINKS = 250  # three pages of 100 for the export


@pytest.fixture
def example() -> Iterator[ModuleType]:
    """A fresh import of the example module, so no test sees another's app state."""
    name = "fastapi_app_under_test"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAnamAPI]:
    """A fake API, with the environment the example's lifespan reads pointing at it."""
    async with FakeAnamAPI(links=LINKS) as server:
        monkeypatch.setenv("ANAM_API_KEY", server.api_key)
        monkeypatch.setenv("ANAM_BASE_URL", server.url)
        yield server


@pytest.fixture
async def app(example: ModuleType, api: FakeAnamAPI) -> AsyncIterator[FastAPI]:
    """The example app with its lifespan running."""
    application: FastAPI = example.app
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_page_endpoint_returns_one_page_in_wire_shape(
    http: httpx.AsyncClient, api: FakeAnamAPI
) -> None:
    response = await http.get("/share-links", params={"page": 2, "per_page": 10})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert [link["id"] for link in body["data"]] == [link["id"] for link in api.links[10:20]]
    assert body["meta"]["currentPage"] == 2
    assert body["meta"]["perPage"] == 10
    assert "personaId" in body["data"][0]


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page": "two"}, {"per_page": 0}, {"per_page": 101}],
)
async def test_bad_query_values_are_422_and_send_nothing(
    http: httpx.AsyncClient, api: FakeAnamAPI, params: dict[str, Any]
) -> None:
    response = await http.get("/share-links", params=params)
    assert response.status_code == 422
    assert api.requests == []


async def test_malformed_persona_id_is_400_with_the_library_message(
    http: httpx.AsyncClient, api: FakeAnamAPI
) -> None:
    response = await http.get("/share-links", params={"persona_id": "not-a-uuid"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("persona_id=")
    assert api.requests == []


async def test_api_status_error_is_502_with_the_message(
    http: httpx.AsyncClient, api: FakeAnamAPI
) -> None:
    api.add_fault(StatusFault(403, body={"message": "plan does not allow this"}), operation="list")
    response = await http.get("/share-links")
    assert response.status_code == 502
    assert response.json()["detail"] == "Anam API: 403 plan does not allow this"


async def test_export_streams_every_link_in_order(
    http: httpx.AsyncClient, api: FakeAnamAPI
) -> None:
    response = await http.get("/share-links/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = response.text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [link["id"] for link in api.links]
    assert len(lines) == LINKS


async def test_one_client_is_shared_across_requests(
    example: ModuleType, app: FastAPI, http: httpx.AsyncClient
) -> None:
    seen: list[AnamClient] = []

    def recording_get_client(request: Request) -> AnamClient:
        client: AnamClient = example.get_client(request)
        seen.append(client)
        return client

    app.dependency_overrides[example.get_client] = recording_get_client
    assert (await http.get("/share-links")).status_code == 200
    assert (await http.get("/share-links", params={"page": 2})).status_code == 200
    assert len(seen) == 2
    assert seen[0] is seen[1] is app.state.anam


async def test_client_is_closed_at_shutdown(example: ModuleType, api: FakeAnamAPI) -> None:
    application: FastAPI = example.app
    async with application.router.lifespan_context(application):
        client: AnamClient = application.state.anam
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            assert (await http.get("/share-links")).status_code == 200
        assert not client.closed
    assert client.closed
    # No public accessor for the owned aiohttp session: peek, to prove it was closed too.
    assert client._session is not None
    assert client._session.closed
    with pytest.raises(AnamError, match="closed"):
        await client.share_links.list()


def _client_tasks() -> list[asyncio.Task[Any]]:
    """Tasks running the library's client or page engine (not the fake server's handlers)."""
    tasks = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is not None and Path(code.co_filename).name in {"_client.py", "_paging.py"}:
            tasks.append(task)
    return tasks


async def test_disconnect_mid_stream_cancels_upstream_requests(
    app: FastAPI, api: FakeAnamAPI
) -> None:
    # Page 1 answers; pages 2 and 3 are parked at the fake until the client has gone.
    gates = [api.hold(operation="list", page=n) for n in (2, 3)]
    first_chunk = asyncio.Event()
    disconnect = asyncio.Event()
    messages: list[MutableMapping[str, Any]] = []
    request_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and message.get("body"):
            first_chunk.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/share-links/export",
        "raw_path": b"/share-links/export",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "server": ("test", 80),
        "client": ("127.0.0.1", 50000),
    }
    async with asyncio.timeout(10):
        call = asyncio.create_task(app(scope, receive, send))
        await first_chunk.wait()
        for gate in gates:
            await gate.wait_for_waiting(1)
        parked = sum(gate.waiting for gate in gates)
        assert parked == 2

        disconnect.set()
        await call
        # The stream was closed before the app returned: no client task outlives it.
        assert _client_tasks() == []
        # And the fake saw both parked requests abandoned by the client.
        await api.wait_for_disconnects(parked)
        await api.wait_for_idle()

    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert all(m.get("more_body") for m in bodies), "the response must not have completed"
    lines = b"".join(m["body"] for m in bodies).splitlines()
    assert [json.loads(line)["id"] for line in lines] == [link["id"] for link in api.links[:100]]
    assert not any(gate.released for gate in gates)


# ------------------------------------------------------------------ the guide's commands


def _guide_commands() -> list[str]:
    """The bash block of docs/fastapi.md that runs the app against the fake server."""
    text = (EXAMPLE.parents[1] / "fastapi.md").read_text()
    block = text.split("from the repository root:\n\n```bash\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", command],
        cwd=EXAMPLE.parents[2],
        # Its own process group, so that Ctrl-C (SIGINT) reaches the command behind bash.
        start_new_session=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_line(process: subprocess.Popen[str], marker: str) -> str:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError(f"process ended before printing {marker!r}: {''.join(seen)}")


def _run(command: str, env: dict[str, str]) -> str:
    assert shutil.which("curl"), "the guide's commands use curl: install it to run this test"
    result = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def _stop(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def test_the_guides_commands_work_as_written_from_the_repository_root() -> None:
    fake_cmd, app_cmd, page_curl, export_curl = _guide_commands()
    fake_port, app_port = _free_port(), _free_port()

    def ports(command: str) -> str:
        return command.replace("8000", str(fake_port)).replace("8001", str(app_port))

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("ANAM_API_KEY", None)
    env.pop("ANAM_BASE_URL", None)
    fake = _start(ports(fake_cmd), env)
    try:
        _wait_for_line(fake, "Press Ctrl-C to stop")
        app = _start(ports(app_cmd), env)
        try:
            _wait_for_line(app, "Application startup complete")
            page = json.loads(_run(ports(page_curl), env))
            assert len(page["data"]) == 5
            assert page["meta"]["total"] == 1000
            lines = _run(ports(export_curl), env).splitlines()
            assert len(lines) == 1000
            assert len({json.loads(line)["id"] for line in lines}) == 1000
        finally:
            _stop(app)
    finally:
        _stop(fake)
