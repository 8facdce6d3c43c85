"""The ``anam-async`` click group and its commands.

A command does not run anything while click parses: it returns a `Job`, which
``anam_async.cli.main`` runs with ``asyncio.run`` (see the package docstring for why).
The global options are declared once, in `global_options`, and applied to the group, to
``share-links`` and to each of its commands; their callbacks merge what is given at every
level into the one `Settings` of the run (``ctx.obj``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from click.core import ParameterSource

from anam_async._client import AnamClient
from anam_async._version import __version__
from anam_async.testing import FakeAnamAPI

from . import EXIT_INTERRUPTED, EXIT_OK
from ._export import ExportRequest, export
from ._render import print_json, print_table

__all__ = [
    "FAKE_LINKS",
    "FAKE_SEED",
    "Job",
    "Settings",
    "cli",
    "global_options",
]

#: What ``--fake`` serves, and ``fake-server`` by default: every run sees the same links.
FAKE_LINKS: Final = 1000
FAKE_SEED: Final = 0
FAKE_SERVER_RECORDED_REQUESTS: Final = 10

_F = TypeVar("_F", bound=Callable[..., Any])
_ClientCommand = Callable[[AnamClient], Coroutine[Any, Any, int]]


@dataclass
class Settings:
    """The global options, merged over the levels they were given at."""

    api_key: str | None = None
    base_url: str | None = None
    allow_insecure_http: bool = False
    fake: bool = False
    verbose: int = 0


@dataclass(frozen=True)
class Job:
    """What a parsed command line runs.

    Attributes:
        run: Makes the coroutine to run; it returns the exit code.
        verbose: How much of the library's logging to show (``-v``).
        interrupted_exit_code: The exit code of a Ctrl-C.
    """

    run: Callable[[], Coroutine[Any, Any, int]]
    verbose: int = 0
    interrupted_exit_code: int = EXIT_INTERRUPTED


# --------------------------------------------------------------------------- global options


def _merge(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Record a global option given at this level: the last one given wins, ``-v`` counts."""
    name = param.name
    if name is None or ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
        return
    settings = ctx.ensure_object(Settings)
    if name == "verbose":
        settings.verbose += value
    else:
        setattr(settings, name, value)


def _global_option(*declarations: str, **attributes: Any) -> Callable[[_F], _F]:
    return click.option(*declarations, callback=_merge, expose_value=False, **attributes)


_GLOBAL_OPTIONS: Final = (
    _global_option(
        "--api-key",
        metavar="KEY",
        help="The API key (default: the ANAM_API_KEY environment variable); never printed.",
    ),
    _global_option(
        "--base-url",
        metavar="URL",
        help="The API root (default: ANAM_BASE_URL, else https://api.anam.ai).",
    ),
    _global_option(
        "--allow-insecure-http",
        is_flag=True,
        help="Allow a plain http:// --base-url that is not loopback (sends the key in clear).",
    ),
    _global_option(
        "--fake",
        is_flag=True,
        help=f"Run against an in-process FakeAnamAPI with {FAKE_LINKS:,} seeded links "
        "(no key, no network).",
    ),
    _global_option(
        "-v", "--verbose", count=True, help="Log retries to stderr (-vv: every request too)."
    ),
)


def global_options(command: _F) -> _F:
    """Add the global options to a group or command (accepted at every level)."""
    for option in reversed(_GLOBAL_OPTIONS):
        command = option(command)
    return command


# --------------------------------------------------------------------------- the client


@contextlib.asynccontextmanager
async def _open_client(settings: Settings) -> AsyncIterator[AnamClient]:
    if settings.fake:
        api = FakeAnamAPI(links=FAKE_LINKS, seed=FAKE_SEED)
        async with api, AnamClient(api.api_key, base_url=api.url) as client:
            yield client
        return
    api_key = settings.api_key if settings.api_key is not None else os.environ.get("ANAM_API_KEY")
    if not api_key:
        raise click.UsageError(
            "no API key: pass --api-key KEY or set ANAM_API_KEY "
            "(or add --fake to try the command against a local fake API)"
        )
    async with AnamClient(
        api_key, base_url=settings.base_url, allow_insecure_http=settings.allow_insecure_http
    ) as client:
        yield client


def _client_job(settings: Settings, command: _ClientCommand) -> Job:
    async def run() -> int:
        async with _open_client(settings) as client:
            return await command(client)

    return Job(run, verbose=settings.verbose)


def _hours(raw: str | None) -> float | None:
    """``--expires-in-hours`` as a number; refused in the user's spelling (``0``, not ``0.0``)."""
    if raw is None:
        return None
    try:
        hours = float(raw)
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and hours > 0):
        raise click.UsageError(
            f"--expires-in-hours={raw} is invalid: must be a number greater than 0"
        )
    return hours


# --------------------------------------------------------------------------- the group

_EPILOG: Final = (
    "Exit codes: 0 success, 1 API error, 2 usage or validation error, 130 interrupted "
    "(Ctrl-C), 141 the reader of stdout went away (as in: export | head)."
)


@click.group(
    help="Command line for the Anam AI REST API (share links), and a local fake.",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=False,
)
@click.version_option(__version__, prog_name="anam-async", message="%(prog)s %(version)s")
@global_options
def cli() -> None:
    """The ``anam-async`` command."""


@cli.group(
    "share-links",
    help="List, export, get, create, update and delete share links.",
    no_args_is_help=False,
)
@global_options
def share_links() -> None:
    """The ``share-links`` commands."""


# --------------------------------------------------------------------------- list, export


def _query_options(*, per_page: int) -> Callable[[_F], _F]:
    """``--per-page`` (with this default), ``--search`` and ``--persona-id``."""
    per_page_option = click.option(
        "--per-page", type=int, default=per_page, help=f"Items per page, 1..100 ({per_page})."
    )
    search = click.option("--search", help="Only links whose persona name or token contains this.")
    persona = click.option("--persona-id", metavar="ID", help="Only links of this persona.")

    def decorate(command: _F) -> _F:
        return per_page_option(search(persona(command)))

    return decorate


@share_links.command("list", help="Print one page as a table.")
@click.option("--page", type=int, default=1, help="Page number, >= 1 (1).")
@_query_options(per_page=20)
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@global_options
@click.pass_obj
def list_command(
    settings: Settings,
    page: int,
    per_page: int,
    search: str | None,
    persona_id: str | None,
    as_json: bool,
) -> Job:
    """``share-links list``."""

    async def run(client: AnamClient) -> int:
        result = await client.share_links.list(
            page=page, per_page=per_page, search=search, persona_id=persona_id
        )
        if as_json:
            print_json(result)
        else:
            print_table(result)
        return EXIT_OK

    return _client_job(settings, run)


_EXPORT_HELP: Final = """\
Write every share link, page by page (fetched concurrently, written in order), as JSON lines
(one link per line, the API's camelCase shape) or CSV (camelCase header, lists joined by
spaces, null as empty). Records go to stdout unless -o FILE is given; a progress bar goes to
stderr when it is a terminal (--progress/--no-progress to choose).

Ctrl-C stops cleanly (exit 130): requests in flight are cancelled and FILE holds only whole
pages. With -o FILE, FILE.progress records the query and how far FILE is complete; it is
replaced atomically after each page is flushed. --resume checks that the query matches,
truncates FILE to the last whole page recorded and continues from the next page, appending
to FILE; FILE.progress is removed when the export completes. Resuming goes by page number,
so links added or removed in between shift the pages.
"""


@share_links.command(
    "export", help=_EXPORT_HELP, short_help="Write every share link as JSON lines or CSV."
)
@_query_options(per_page=100)
@click.option("--concurrency", type=int, default=4, help="Requests in flight, 1..64 (4).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "csv"]),
    help="Output format (default: csv when FILE ends in .csv, else jsonl).",
)
@click.option("-o", "--output", type=Path, metavar="FILE", help="Write to FILE, not stdout.")
@click.option("--limit", type=int, metavar="N", help="Stop after N share links.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted export into FILE (needs -o FILE and FILE.progress).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show the progress bar on stderr (default: when stderr is a terminal).",
)
@global_options
@click.pass_obj
def export_command(settings: Settings, /, output_format: str | None, **options: Any) -> Job:
    """``share-links export``."""
    request = ExportRequest(format=output_format, **options)
    return _client_job(settings, functools.partial(export, request=request))


# --------------------------------------------------------------------------- get ... delete


def _link_options(command: _F) -> _F:
    """``--expires-in-hours`` and ``--usage-limit``."""
    expires = click.option(
        "--expires-in-hours", metavar="HOURS", help="Lifetime in hours, a number > 0."
    )
    usage = click.option("--usage-limit", type=int, metavar="N", help="Number of uses allowed.")
    return expires(usage(command))


_link_id: Final = click.argument("link_id", metavar="ID")


@share_links.command("get", help="Print one share link as JSON.")
@_link_id
@global_options
@click.pass_obj
def get_command(settings: Settings, link_id: str) -> Job:
    """``share-links get ID``."""

    async def run(client: AnamClient) -> int:
        print_json(await client.share_links.get(link_id))
        return EXIT_OK

    return _client_job(settings, run)


@share_links.command("create", help="Create a share link and print it as JSON.")
@click.option("--persona-id", metavar="ID", required=True, help="The persona to link.")
@_link_options
@global_options
@click.pass_obj
def create_command(
    settings: Settings, persona_id: str, expires_in_hours: str | None, usage_limit: int | None
) -> Job:
    """``share-links create --persona-id ID``."""

    async def run(client: AnamClient) -> int:
        link = await client.share_links.create(
            persona_id=persona_id,
            expires_in_hours=_hours(expires_in_hours),
            usage_limit=usage_limit,
        )
        print_json(link)
        return EXIT_OK

    return _client_job(settings, run)


@share_links.command("update", help="Change a share link and print it as JSON.")
@_link_id
@_link_options
@global_options
@click.pass_obj
def update_command(
    settings: Settings, link_id: str, expires_in_hours: str | None, usage_limit: int | None
) -> Job:
    """``share-links update ID``."""

    async def run(client: AnamClient) -> int:
        link = await client.share_links.update(
            link_id, expires_in_hours=_hours(expires_in_hours), usage_limit=usage_limit
        )
        print_json(link)
        return EXIT_OK

    return _client_job(settings, run)


@share_links.command("delete", help="Delete a share link (it cannot be undone).")
@_link_id
@global_options
@click.pass_obj
def delete_command(settings: Settings, link_id: str) -> Job:
    """``share-links delete ID``."""

    async def run(client: AnamClient) -> int:
        await client.share_links.delete(link_id)
        print(f"share link {link_id} deleted")
        return EXIT_OK

    return _client_job(settings, run)


# --------------------------------------------------------------------------- fake-server


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number.", ctx, param)
    return value


@dataclass(frozen=True, kw_only=True)
class _FakeServer:
    host: str
    port: int
    links: int
    latency_ms: float
    seed: int
    api_key: str | None

    async def serve(self) -> int:
        """Serve until the command is interrupted (Ctrl-C cancels the waiting task)."""
        api = FakeAnamAPI(
            links=self.links,
            seed=self.seed,
            latency=self.latency_ms / 1000,
            host=self.host,
            port=self.port,
            api_key=self.api_key,
            # A long-running server keeps only its latest requests, not its whole traffic.
            max_recorded_requests=FAKE_SERVER_RECORDED_REQUESTS,
        )
        async with api:
            print(
                f"FakeAnamAPI serving {self.links} share links (seed {self.seed}) at {api.url}\n"
                f"ANAM_BASE_URL={api.url}\n"
                f"ANAM_API_KEY={api.api_key}\n"
                "Press Ctrl-C to stop.",
                flush=True,
            )
            try:
                await asyncio.Event().wait()
            finally:
                print("stopped", file=sys.stderr)
        return EXIT_OK


@cli.command(
    "fake-server",
    help="Serve the in-process fake of the API on a port until Ctrl-C; print its URL and the "
    "(generated, test-only) API key to use.",
    short_help="Serve FakeAnamAPI until Ctrl-C.",
)
@click.option("--host", default="127.0.0.1", help="Interface (127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, help="Port, 0 for any free (8000)."
)
@click.option(
    "--links", type=click.IntRange(min=0), default=FAKE_LINKS, help=f"Links to seed ({FAKE_LINKS})."
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    callback=_finite,
    help="Milliseconds added to every response (0).",
)
@click.option("--seed", type=int, default=FAKE_SEED, help=f"Data seed ({FAKE_SEED}).")
@click.option(
    "--api-key",
    metavar="KEY",
    help="The bearer key to accept (default: a generated one, printed at start).",
)
@click.pass_obj
def fake_server_command(settings: Settings, /, **options: Any) -> Job:
    """``fake-server``."""
    server = _FakeServer(**options)
    return Job(server.serve, verbose=settings.verbose, interrupted_exit_code=EXIT_OK)
