"""Stoplight Prism as an independent oracle: every operation against Prism's mock and proxy.

Prism (pinned in ``tests/prism/package.json``; ``npm ci`` there on first use, see
``tests/prism/_server.py``) runs three ways for the whole module, each on a free
``127.0.0.1`` port:

- static mock: the spec's examples, else Prism's samples of the schemas;
- dynamic mock (``-d``): random data generated from the schemas, new on every request;
- validating proxy (``prism proxy --errors``) in front of `FakeAnamAPI`, which paginates for
  real, so ``stream()`` and ``pages()`` run across many pages through Prism's validator.

Every request the client sends is recorded with the response Prism served (a ``TraceConfig``
on a borrowed session). Each exchange must pass Prism's validator (no ``sl-violations``
header, no error Prism made itself) and have the expected status; each decoded value must
equal, field by field, the JSON Prism served, read through the spec's own schemas (``uuid``
and ``date-time`` formats; an absent optional field at the Struct's default). Error statuses
come from Prism on request (``Prefer: code=N``). If Prism cannot be installed or started, the
tests fail saying why: they are never skipped. The closing summary counts the checks.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import msgspec
import pytest
import yaml
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from anam_async import (
    AnamClient,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
)
from anam_async.testing import FakeAnamAPI

from .conftest import SleepRecorder
from .prism._server import SPEC, PrismError, PrismServer, ensure_prism, start_all

SPEC_DOC: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
SCHEMAS: dict[str, Any] = SPEC_DOC["components"]["schemas"]


def _response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    operation = SPEC_DOC["paths"][path][method]
    return dict(operation["responses"][status]["content"]["application/json"]["schema"])


PAGE_SCHEMA = _response_schema("/v1/share-links", "get", "200")
GET_SCHEMA = _response_schema("/v1/share-links/{id}", "get", "200")
CREATE_SCHEMA = _response_schema("/v1/share-links", "post", "201")
UPDATE_SCHEMA = _response_schema("/v1/share-links/{id}", "put", "200")

API_KEY = "anam_test_prism_oracle"
UPSTREAM_LINKS = 230
LINK_ID = uuid.UUID("3f9022ed-781c-4e62-a680-92cfd8ff7ef5")
PERSONA_ID = uuid.UUID("4bd9bed0-dbc8-426a-986d-c9e7ff88406a")
DYNAMIC_ROUNDS = 12
RELAY_TIMEOUT = 30.0
# Hop-by-hop and framing headers: each side of the relay sets its own.
HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}
)
# Headers aiohttp would add on its own: the relay sends only what the client sent.
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    500: InternalServerError,
}


# ------------------------------------------------------------------- the closing summary


class _Summary:
    """A pytest plugin, registered by the Prism fixture: one closing line with the count."""

    name = "anam-async-prism-summary"

    def __init__(self) -> None:
        self.checks = 0
        self.version = "?"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.checks:
            terminalreporter.write_line(
                f"test_prism: {self.checks} Prism checks (requests and responses validated by "
                f"Prism), Prism {self.version}"
            )


SUMMARY = _Summary()


# ------------------------------------------------------------------- the Prism processes


@dataclass
class Prisms:
    """The module's three Prism processes and the fake behind the proxy."""

    static: PrismServer
    dynamic: PrismServer
    proxy: PrismServer
    upstream: FakeAnamAPI
    version: str


@pytest.fixture(scope="module")
def prism(request: pytest.FixtureRequest) -> Iterator[Prisms]:
    """Prism's static mock, dynamic mock and validating proxy (in front of a FakeAnamAPI)."""
    manager = request.config.pluginmanager
    if not manager.has_plugin(_Summary.name):
        manager.register(SUMMARY, _Summary.name)
    try:
        SUMMARY.version = ensure_prism()
    except PrismError as exc:
        pytest.fail(f"Prism is needed by these tests and could not be installed: {exc}", False)
    upstream = FakeAnamAPI(links=UPSTREAM_LINKS, api_key=API_KEY, seed=8)
    with upstream.run_in_thread():
        servers = (
            PrismServer("static mock", ["mock", SPEC]),
            PrismServer("dynamic mock", ["mock", SPEC, "--dynamic"]),
            PrismServer("validating proxy", ["proxy", SPEC, upstream.url, "--errors"]),
        )
        try:
            start_all(servers)
        except PrismError as exc:
            pytest.fail(f"Prism is needed by these tests and could not start: {exc}", False)
        try:
            yield Prisms(*servers, upstream=upstream, version=SUMMARY.version)
        finally:
            for server in servers:
                server.stop()


# ------------------------------------------------------------------- recording exchanges


@dataclass
class Exchange:
    """One request the client sent and the response Prism served, as bytes on the wire."""

    method: str
    url: URL
    request_headers: CIMultiDictProxy[str]
    request_body: bytes
    status: int | None = None
    headers: CIMultiDictProxy[str] | None = None
    body: bytes = b""

    def json(self) -> Any:
        """The response body as JSON."""
        return json.loads(self.body)

    def error_body(self) -> Any:
        """The body as ``APIStatusError.body`` documents it: the decoded JSON, else the text."""
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", errors="replace")

    def __str__(self) -> str:
        sent = {
            k: ("<key>" if k.lower() == "authorization" else v)
            for k, v in self.request_headers.items()
        }
        return (
            f"{self.method} {self.url} -> {self.status}\n"
            f"  request headers: {sent}\n  request body: {self.request_body!r}\n"
            f"  response headers: {dict(self.headers or {})}\n"
            f"  response body: {self.body[:2000]!r}"
        )


class Oracle:
    """A client talking to one Prism process through a recording relay, and what it recorded.

    The relay (an aiohttp server on ``127.0.0.1``) passes each request on to Prism byte for
    byte (no header added, none but the hop-by-hop ones dropped) and keeps both sides, so
    what is compared is what Prism served, whatever way the client reads its bodies.
    """

    client: AnamClient

    def __init__(self, server: PrismServer) -> None:
        self.server = server
        self.exchanges: list[Exchange] = []
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.ServerRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Start the relay on a free port (`url`)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=RELAY_TIMEOUT), auto_decompress=False
        )
        self._runner = web.ServerRunner(web.Server(self._relay, access_log=None))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        """Stop the relay and close its session."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _relay(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        exchange = Exchange(request.method, URL(request.raw_path), request.headers, body)
        self.exchanges.append(exchange)
        forwarded = CIMultiDict(
            (name, value) for name, value in request.headers.items() if name.lower() not in HOP
        )
        target = URL(self.server.url + request.raw_path, encoded=True)
        try:
            async with self._session.request(
                request.method,
                target,
                headers=forwarded,
                data=body if body else None,
                skip_auto_headers=SKIP_AUTO_HEADERS,
                allow_redirects=False,
            ) as response:
                exchange.body = await response.read()
                exchange.status = response.status
                exchange.headers = response.headers
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.Response(status=502, text=f"relay to Prism failed: {exc!r}")
        headers = CIMultiDict(
            (name, value) for name, value in response.headers.items() if name.lower() not in HOP
        )
        return web.Response(status=response.status, body=exchange.body, headers=headers)

    def take(self, count: int | None = None, *, status: int = 200) -> list[Exchange]:
        """Check and hand over the exchanges made since the last call.

        Each one must have passed Prism's validator and have ``status``; each is one check.
        """
        taken, self.exchanges = self.exchanges, []
        if count is not None:
            assert len(taken) == count, f"{len(taken)} requests, expected {count}:\n" + "\n".join(
                map(str, taken)
            )
        for exchange in taken:
            assert_accepted(exchange, status, self.server)
        return taken

    def one(self, *, status: int = 200) -> Exchange:
        """Check and hand over the single exchange made since the last call."""
        return self.take(1, status=status)[0]


def assert_accepted(exchange: Exchange, status: int, server: PrismServer) -> None:
    """Prism's validator accepted the request and the response, with the expected status."""
    assert exchange.headers is not None, f"no response from Prism ({server.name}):\n{exchange}"
    violations = exchange.headers.get("sl-violations")
    assert violations is None, (
        f"Prism ({server.name}) found violations: {violations}\n{exchange}\n"
        f"Prism's log:\n{server.log()[-3000:]}"
    )
    made_by_prism = exchange.headers.get("Content-Type", "").startswith("application/problem+json")
    assert not made_by_prism, f"Prism ({server.name}) answered with its own error:\n{exchange}"
    assert exchange.status == status, f"status {exchange.status}, expected {status}:\n{exchange}"
    SUMMARY.checks += 1


@contextlib.asynccontextmanager
async def connect(
    server: PrismServer, *, headers: dict[str, str] | None = None, max_retries: int = 0
) -> AsyncIterator[Oracle]:
    """An `Oracle` on ``server``: its relay and its client, both closed on exit."""
    oracle = Oracle(server)
    await oracle.start()
    try:
        oracle.client = AnamClient(
            API_KEY, base_url=oracle.url, headers=headers, max_retries=max_retries
        )
        async with oracle.client:
            yield oracle
    finally:
        await oracle.close()


@pytest.fixture
async def static(prism: Prisms) -> AsyncIterator[Oracle]:
    """A client on Prism's static mock."""
    async with connect(prism.static) as oracle:
        yield oracle


@pytest.fixture
async def dynamic(prism: Prisms) -> AsyncIterator[Oracle]:
    """A client on Prism's dynamic mock."""
    async with connect(prism.dynamic) as oracle:
        yield oracle


@pytest.fixture(params=["static", "dynamic"])
async def mock(request: pytest.FixtureRequest, prism: Prisms) -> AsyncIterator[Oracle]:
    """A client on Prism's static mock, then on its dynamic mock."""
    async with connect(getattr(prism, request.param)) as oracle:
        yield oracle


@pytest.fixture
async def proxy(prism: Prisms) -> AsyncIterator[Oracle]:
    """A client on Prism's validating proxy in front of the module's FakeAnamAPI."""
    async with connect(prism.proxy) as oracle:
        yield oracle


# ------------------------------------------------------------------- decoded == served


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and merge ``allOf`` into one schema."""
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema:
        properties: dict[str, Any] = {}
        for part in schema["allOf"]:
            properties.update(resolve(part).get("properties", {}))
        return {"type": "object", "properties": properties}
    return schema


def _kinds(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def assert_matches(value: object, raw: object, schema: dict[str, Any], where: str = "$") -> None:
    """``value`` (decoded) equals ``raw`` (the JSON served), read through ``schema``.

    Every property of the spec must be a field of the Struct; a field the JSON left out must
    hold its default; ``uuid`` and ``date-time`` strings are compared as values (case and
    offset spelling aside), anything else exactly and with its JSON type.
    """
    schema = resolve(schema)
    kinds = _kinds(schema)
    if raw is None:
        assert value is None, f"{where}: decoded {value!r}, Prism served null"
        return
    if "object" in kinds:
        assert isinstance(raw, dict), f"{where}: Prism served {raw!r}"
        assert isinstance(value, msgspec.Struct), f"{where}: decoded {value!r}"
        fields = {info.encode_name: info for info in msgspec.structs.fields(value)}
        properties = schema.get("properties", {})
        unknown = sorted(set(properties) - set(fields))
        assert not unknown, f"{where}: {type(value).__name__} has no field for {unknown}"
        for wire, info in fields.items():
            got = getattr(value, info.name)
            if wire in raw:
                assert_matches(got, raw[wire], properties.get(wire, {}), f"{where}.{wire}")
            else:
                assert info.default_factory is not msgspec.NODEFAULT or (
                    info.default is not msgspec.NODEFAULT
                ), f"{where}.{wire}: absent, yet {type(value).__name__} requires it"
                default = (
                    info.default
                    if info.default_factory is msgspec.NODEFAULT
                    else info.default_factory()
                )
                assert got == default, f"{where}.{wire}: absent, decoded {got!r} not {default!r}"
        return
    if "array" in kinds:
        assert isinstance(raw, list), f"{where}: Prism served {raw!r}"
        assert isinstance(value, list), f"{where}: decoded {value!r}"
        assert len(value) == len(raw), f"{where}: {len(value)} items decoded, {len(raw)} served"
        for index, (item, raw_item) in enumerate(zip(value, raw, strict=True)):
            assert_matches(item, raw_item, schema.get("items", {}), f"{where}[{index}]")
        return
    fmt = schema.get("format")
    if fmt == "uuid":
        assert isinstance(raw, str), f"{where}: Prism served {raw!r}"
        assert isinstance(value, uuid.UUID), f"{where}: decoded {value!r}"
        assert value == uuid.UUID(raw), f"{where}: decoded {value}, Prism served {raw}"
    elif fmt == "date-time":
        assert isinstance(raw, str), f"{where}: Prism served {raw!r}"
        assert isinstance(value, datetime), f"{where}: decoded {value!r}"
        served = datetime.fromisoformat(raw)
        assert value.tzinfo is not None, f"{where}: decoded a naive {value!r}"
        assert value == served, f"{where}: decoded {value.isoformat()}, Prism served {raw}"
        assert value.utcoffset() == served.utcoffset(), f"{where}: offset changed from {raw}"
    elif "integer" in kinds and not isinstance(raw, bool) and isinstance(raw, int):
        assert type(value) is int, f"{where}: decoded {value!r}, Prism served {raw!r}"
        assert value == raw, f"{where}: decoded {value!r}, Prism served {raw!r}"
    elif isinstance(raw, bool):
        assert value is raw, f"{where}: decoded {value!r}, Prism served {raw!r}"
    else:
        assert isinstance(value, str), f"{where}: decoded {value!r}, Prism served {raw!r}"
        assert value == raw, f"{where}: decoded {value!r}, Prism served {raw!r}"


def served_items(exchanges: list[Exchange]) -> dict[str, Any]:
    """Every list item Prism served in ``exchanges``, by its id."""
    return {item["id"]: item for exchange in exchanges for item in exchange.json()["data"]}


def _query(exchange: Exchange) -> dict[str, str]:
    return dict(exchange.url.query)


# ------------------------------------------------------------------- list, stream, pages

LIST_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "page": {"page": 7},
    "per_page=1": {"per_page": 1},
    "per_page=100": {"per_page": 100},
    "search": {"search": "Cara"},
    "search with delimiters": {"search": "a&perPage=1000 #ü?"},
    "empty search": {"search": ""},
    "persona_id as UUID": {"persona_id": PERSONA_ID},
    "persona_id as 32 hex digits, upper case": {"persona_id": PERSONA_ID.hex.upper()},
    "everything": {"page": 2, "per_page": 50, "search": "Maya", "persona_id": str(PERSONA_ID)},
}
WIRE_NAMES = {"page": "page", "per_page": "perPage", "search": "search", "persona_id": "personaId"}


@pytest.mark.parametrize("kwargs", LIST_CASES.values(), ids=LIST_CASES.keys())
async def test_list_each_parameter(mock: Oracle, kwargs: dict[str, Any]) -> None:
    """Each list parameter passes Prism's validator; the page equals the JSON served."""
    page = await mock.client.share_links.list(**kwargs)
    exchange = mock.one()
    assert_matches(page, exchange.json(), PAGE_SCHEMA)
    query = _query(exchange)
    for name, value in kwargs.items():
        expected = str(uuid.UUID(str(value))) if name == "persona_id" else str(value)
        assert query[WIRE_NAMES[name]] == expected


async def test_stream_and_pages_on_the_mock(static: Oracle) -> None:
    """Static Prism serves one last page: stream() yields its item, pages() that one page."""
    items = [link async for link in static.client.share_links.stream(per_page=20, concurrency=1)]
    (exchange,) = static.take(1)
    served = exchange.json()
    assert len(items) == len(served["data"]) == 1
    assert_matches(items, served["data"], PAGE_SCHEMA["properties"]["data"])
    pages = [page async for page in static.client.share_links.pages(search="Cara", concurrency=1)]
    (exchange,) = static.take(1)
    assert len(pages) == 1
    assert_matches(pages[0], exchange.json(), PAGE_SCHEMA)


async def test_stream_across_pages_through_the_proxy(proxy: Oracle, prism: Prisms) -> None:
    """stream() over every page of the fake, through Prism's validating proxy, in order."""
    expected = [link["id"] for link in prism.upstream.links]
    per_page = 9
    items = [
        link async for link in proxy.client.share_links.stream(per_page=per_page, concurrency=4)
    ]
    exchanges = proxy.take(math.ceil(len(expected) / per_page))
    assert [str(link.id) for link in items] == expected
    served = served_items(exchanges)
    for index, link in enumerate(items):
        assert_matches(link, served[str(link.id)], GET_SCHEMA, f"$[{index}]")
    assert {int(_query(exchange)["page"]) for exchange in exchanges} == set(
        range(1, len(exchanges) + 1)
    )


async def test_pages_across_pages_through_the_proxy(proxy: Oracle, prism: Prisms) -> None:
    """pages() filtered by persona and by search, several pages each, through the proxy."""
    links = prism.upstream.links
    persona = links[0]["personaId"]
    by_persona = [link["id"] for link in links if link["personaId"] == persona]
    pages = [
        page
        async for page in proxy.client.share_links.pages(
            per_page=8, persona_id=persona, concurrency=1
        )
    ]
    exchanges = proxy.take(math.ceil(len(by_persona) / 8))
    assert len(pages) == len(exchanges) > 2
    for page, exchange in zip(
        pages, sorted(exchanges, key=lambda e: int(_query(e)["page"])), strict=True
    ):
        assert_matches(page, exchange.json(), PAGE_SCHEMA)
        assert _query(exchange)["personaId"] == persona
    assert [str(link.id) for page in pages for link in page.data] == by_persona

    term = "ma"
    by_search = [
        link["id"]
        for link in links
        if term in link["personaName"].casefold() or term in link["token"].casefold()
    ]
    pages = [
        page
        async for page in proxy.client.share_links.pages(
            per_page=5, search=term, start_page=2, limit=4, concurrency=1
        )
    ]
    exchanges = proxy.take()
    assert len(by_search) > 25
    assert [page.meta.current_page for page in pages] == [2, 3, 4, 5]
    assert [str(link.id) for page in pages for link in page.data] == by_search[5:25]
    served = {int(_query(exchange)["page"]): exchange.json() for exchange in exchanges}
    for page in pages:
        assert_matches(page, served[page.meta.current_page], PAGE_SCHEMA)


# ------------------------------------------------------------------- get, get_many


async def test_get(mock: Oracle) -> None:
    """get() passes Prism's validator; the link equals the JSON served."""
    link = await mock.client.share_links.get(str(LINK_ID).upper())
    exchange = mock.one()
    assert exchange.url.path == f"/v1/share-links/{LINK_ID}"
    assert_matches(link, exchange.json(), GET_SCHEMA)


async def test_get_many(mock: Oracle) -> None:
    """get_many() sends one valid request per id and yields what was served, in input order."""
    ids = [uuid.UUID(int=LINK_ID.int + n) for n in range(6)]
    links = [link async for link in mock.client.share_links.get_many(ids, concurrency=3)]
    by_path = {exchange.url.path: exchange for exchange in mock.take(len(ids))}
    assert len(links) == len(ids)
    for index, (link_id, link) in enumerate(zip(ids, links, strict=True)):
        exchange = by_path[f"/v1/share-links/{link_id}"]
        assert_matches(link, exchange.json(), GET_SCHEMA, f"$[{index}]")


async def test_get_many_through_the_proxy(proxy: Oracle, prism: Prisms) -> None:
    """A missing id is a NotFoundError in its place (return_exceptions=True), all validated."""
    present = [link["id"] for link in prism.upstream.links[:4]]
    missing = str(uuid.UUID(int=1))
    ids = [*present[:2], missing, *present[2:]]
    results = [
        result async for result in proxy.client.share_links.get_many(ids, return_exceptions=True)
    ]
    exchanges = proxy.exchanges
    proxy.exchanges = []
    by_path = {exchange.url.path: exchange for exchange in exchanges}
    for link_id in ids:
        exchange = by_path[f"/v1/share-links/{link_id}"]
        assert_accepted(exchange, 404 if link_id == missing else 200, proxy.server)
    assert len(exchanges) == len(ids)
    for link_id, result in zip(ids, results, strict=True):
        exchange = by_path[f"/v1/share-links/{link_id}"]
        if link_id == missing:
            assert type(result) is NotFoundError
            assert result.status == 404
            assert result.body == exchange.error_body()
        else:
            assert_matches(result, exchange.json(), GET_SCHEMA)


# ------------------------------------------------------------------- create, update, delete

CREATE_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "persona only": ({"persona_id": PERSONA_ID}, {"personaId": str(PERSONA_ID)}),
    "every field": (
        {"persona_id": PERSONA_ID.hex, "expires_in_hours": 1.5, "usage_limit": 5},
        {"personaId": str(PERSONA_ID), "expiresInHours": 1.5, "usageLimit": 5},
    ),
}
UPDATE_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "nothing": ({}, {}),
    "expires_in_hours": ({"expires_in_hours": 48}, {"expiresInHours": 48}),
    "usage_limit": ({"usage_limit": 50}, {"usageLimit": 50}),
    "both": (
        {"expires_in_hours": 0.25, "usage_limit": 1},
        {"expiresInHours": 0.25, "usageLimit": 1},
    ),
}


def assert_json_body(exchange: Exchange, expected: dict[str, Any]) -> None:
    """The request carried ``expected`` as JSON, labelled ``application/json``."""
    content_type = exchange.request_headers.get("Content-Type", "")
    assert content_type.split(";")[0].strip() == "application/json", exchange
    assert json.loads(exchange.request_body) == expected, exchange


@pytest.mark.parametrize(("kwargs", "body"), CREATE_CASES.values(), ids=CREATE_CASES.keys())
async def test_create(mock: Oracle, kwargs: dict[str, Any], body: dict[str, Any]) -> None:
    """create() sends a JSON body Prism accepts; the link equals the JSON served (201)."""
    link = await mock.client.share_links.create(**kwargs)
    exchange = mock.one(status=201)
    assert_json_body(exchange, body)
    assert_matches(link, exchange.json(), CREATE_SCHEMA)


@pytest.mark.parametrize(("kwargs", "body"), UPDATE_CASES.values(), ids=UPDATE_CASES.keys())
async def test_update(mock: Oracle, kwargs: dict[str, Any], body: dict[str, Any]) -> None:
    """update() sends a JSON body Prism accepts (``{}`` for no change); the link matches."""
    link = await mock.client.share_links.update(LINK_ID, **kwargs)
    exchange = mock.one()
    assert exchange.url.path == f"/v1/share-links/{LINK_ID}"
    assert_json_body(exchange, body)
    assert_matches(link, exchange.json(), UPDATE_SCHEMA)


async def test_delete(mock: Oracle) -> None:
    """delete() sends a request Prism accepts and returns None on its 200."""
    assert await mock.client.share_links.delete(LINK_ID.hex) is None
    exchange = mock.one()
    assert exchange.method == "DELETE"
    assert exchange.url.path == f"/v1/share-links/{LINK_ID}"
    assert not exchange.request_body


async def test_lifecycle_through_the_proxy(proxy: Oracle, prism: Prisms) -> None:
    """create, get, update, delete, then get of the deleted link, through the proxy."""
    persona = prism.upstream.links[0]["personaId"]
    links = proxy.client.share_links
    created = await links.create(persona_id=persona, expires_in_hours=24, usage_limit=3)
    exchange = proxy.one(status=201)
    assert_json_body(exchange, {"personaId": persona, "expiresInHours": 24, "usageLimit": 3})
    assert_matches(created, exchange.json(), CREATE_SCHEMA)

    fetched = await links.get(created.id)
    assert_matches(fetched, proxy.one().json(), GET_SCHEMA)
    assert (fetched.id, fetched.persona_id, fetched.usage_limit) == (
        created.id,
        uuid.UUID(persona),
        3,
    )

    updated = await links.update(created.id, usage_limit=9)
    exchange = proxy.one()
    assert_json_body(exchange, {"usageLimit": 9})
    assert_matches(updated, exchange.json(), UPDATE_SCHEMA)
    assert updated.usage_limit == 9

    await links.delete(created.id)
    proxy.one()
    with pytest.raises(NotFoundError) as caught:
        await links.get(created.id)
    assert caught.value.body == proxy.one(status=404).error_body()

    with pytest.raises(NotFoundError) as caught:
        await links.create(persona_id=uuid.UUID(int=7))
    assert caught.value.body == proxy.one(status=404).error_body()


# ------------------------------------------------------------------- dynamic data


async def test_dynamic_data_decodes(dynamic: Oracle) -> None:
    """Many random list pages and links from dynamic Prism decode to exactly what it served."""
    for _ in range(DYNAMIC_ROUNDS):
        page = await dynamic.client.share_links.list(per_page=100)
        assert_matches(page, dynamic.one().json(), PAGE_SCHEMA)
    ids = [uuid.uuid4() for _ in range(DYNAMIC_ROUNDS)]
    links = [link async for link in dynamic.client.share_links.get_many(ids)]
    by_path = {exchange.url.path: exchange for exchange in dynamic.take(len(ids))}
    for link_id, link in zip(ids, links, strict=True):
        assert_matches(link, by_path[f"/v1/share-links/{link_id}"].json(), GET_SCHEMA)
    for _ in range(DYNAMIC_ROUNDS // 2):
        link = await dynamic.client.share_links.create(persona_id=PERSONA_ID, usage_limit=2)
        assert_matches(link, dynamic.one(status=201).json(), CREATE_SCHEMA)
        link = await dynamic.client.share_links.update(LINK_ID, expires_in_hours=2)
        assert_matches(link, dynamic.one().json(), UPDATE_SCHEMA)


# ------------------------------------------------------------------- error statuses

Call = Callable[[AnamClient], Awaitable[object]]


async def _first_streamed(client: AnamClient) -> object:
    async for link in client.share_links.stream(concurrency=1):  # one request: one exchange
        return link
    return None


async def _all_fetched(client: AnamClient) -> object:
    return [link async for link in client.share_links.get_many([LINK_ID])]


OPERATIONS: dict[str, tuple[Call, tuple[int, ...]]] = {
    "list": (lambda client: client.share_links.list(search="x"), (400, 401, 403, 500)),
    "stream": (_first_streamed, (400, 401, 403, 500)),
    "get": (lambda client: client.share_links.get(LINK_ID), (400, 401, 403, 404, 500)),
    "get_many": (_all_fetched, (400, 401, 403, 404, 500)),
    "create": (
        lambda client: client.share_links.create(persona_id=PERSONA_ID, usage_limit=1),
        (400, 401, 403, 404, 500),
    ),
    "update": (
        lambda client: client.share_links.update(LINK_ID, usage_limit=2),
        (400, 401, 403, 404, 500),
    ),
    "delete": (lambda client: client.share_links.delete(LINK_ID), (400, 401, 403, 404, 500)),
}
ERROR_CASES = [
    pytest.param(operation, status, id=f"{operation}-{status}")
    for operation, (_, statuses) in OPERATIONS.items()
    for status in statuses
]


@pytest.mark.parametrize(("operation", "status"), ERROR_CASES)
async def test_error_status(prism: Prisms, operation: str, status: int) -> None:
    """Each status the spec documents, served on request, raises its class with what was served."""
    call, _ = OPERATIONS[operation]
    async with connect(prism.static, headers={"Prefer": f"code={status}"}) as oracle:
        with pytest.raises(APIStatusError) as caught:
            await call(oracle.client)
        exchange = oracle.one(status=status)
    error = caught.value
    assert type(error) is STATUS_ERRORS[status]
    assert error.status == status
    assert error.body == exchange.error_body()
    assert error.method == exchange.method
    assert API_KEY not in repr(error)


async def test_get_many_yields_served_errors(prism: Prisms) -> None:
    """With return_exceptions=True every id's served 404 is yielded in its place."""
    ids = [uuid.UUID(int=n) for n in range(1, 5)]
    async with connect(prism.dynamic, headers={"Prefer": "code=404"}) as oracle:
        results = [
            result
            async for result in oracle.client.share_links.get_many(ids, return_exceptions=True)
        ]
        oracle.take(len(ids), status=404)
    assert [type(result) for result in results] == [NotFoundError] * len(ids)


async def test_retries_against_prism(prism: Prisms, sleeps: SleepRecorder) -> None:
    """A served 500 is retried max_retries times for get and not at all for create."""
    async with connect(prism.static, headers={"Prefer": "code=500"}, max_retries=2) as oracle:
        with pytest.raises(InternalServerError):
            await oracle.client.share_links.get(LINK_ID)
        oracle.take(3, status=500)
        assert len(sleeps.waits) == 2
        with pytest.raises(InternalServerError):
            await oracle.client.share_links.create(persona_id=PERSONA_ID)
        oracle.take(1, status=500)
        assert len(sleeps.waits) == 2
