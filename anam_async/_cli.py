"""The ``anam-async`` command line: share links from a terminal, and a local fake of the API.

```text
anam-async [--api-key KEY] [--base-url URL] [--fake] COMMAND ...
  share-links list     one page, as a table (or the page as JSON with --json)
  share-links export   every page, as JSON lines or CSV, to stdout or -o FILE
  share-links get ID | create --persona-id ID | update ID     print the link as JSON
  share-links delete ID  delete a link (it cannot be undone)
  fake-server          serve FakeAnamAPI on a port until Ctrl-C
```

Arguments are parsed with the standard library's argparse, because a few subcommands and flags
need nothing more and the ``cli`` extra should add only what the core lacks: rich, for the
table and the progress bar. rich is imported lazily, so that without it ``main`` can say in
one line how to install the extra (and exit 2) instead of failing with a traceback.

Exit codes: 0 success; 1 API error or I/O error (the one-line message gives the status and the API's
message); 2 usage or validation error (bad flags, ``AnamValidationError``, no API key);
130 interrupted (Ctrl-C or the command's task cancelled); 141, quietly, when the reader of
stdout goes away (``export | head``). The API key is never printed: error
lines are redacted and no help text shows its value.

``--fake`` runs the command against an in-process ``FakeAnamAPI(links=1000, seed=0)``
started for the duration of the command: no key and no network needed.

Export, interruption and resume
-------------------------------
``export`` reads the listing with ``share_links.pages()`` rather than ``stream()``: the first
page's ``meta.total`` gives the progress bar its total without an extra request, and page
boundaries are what a checkpoint records (flattening ``pages()`` gives exactly ``stream()``).

Each page's records are written with a single ``write`` and flushed before the next page is
awaited, so a Ctrl-C (which cancels the command's task at an ``await``) always leaves whole
lines; on any other failure the file is also truncated back to the last checkpoint.

With ``-o FILE`` a sidecar ``FILE.progress`` (JSON: format, perPage, search, personaId,
nextPage, lines, length in bytes) is replaced atomically (temporary file + ``os.replace``)
after each page is flushed. ``--resume`` reads it, refuses (exit 2) when the query or the
format differs, truncates FILE to the recorded length (dropping a partial page written after
the last checkpoint), and continues with ``start_page=nextPage``, appending to FILE. The
sidecar is removed when the export completes. Like ``start_page=`` itself, a resume goes by
page number: links added or removed in between shift the pages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib
import io
import logging
import math
import os
import re
import sys
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Final, NoReturn

import msgspec

from . import _validate
from ._client import AnamClient
from ._types import PersonaShareLink, ShareLinkPage
from ._version import __version__
from .errors import AnamError, AnamValidationError
from .testing import FakeAnamAPI

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_API_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
# What a shell reports for a process killed by SIGPIPE (128 + 13): `export | head` is normal.
EXIT_BROKEN_PIPE: Final = 141

FAKE_LINKS: Final = 1000
FAKE_SEED: Final = 0
FAKE_SERVER_RECORDED_REQUESTS: Final = 10
_INSTALL_HINT: Final = (
    'error: the anam-async command needs rich: pip install -e ".[cli]" in a clone '
    '(pip install "anam-async[cli]" once it is released)'
)
_REDACTED: Final = "***"

_json_encoder: Final = msgspec.json.Encoder()
# The wire (camelCase) names, in the order the Struct declares them.
CSV_FIELDS: Final = tuple(field.encode_name for field in msgspec.structs.fields(PersonaShareLink))

# Library parameter names as the CLI spells them, for validation messages.
_OPTION_NAMES: Final = {
    "share_link_id": "ID",
    "per_page": "--per-page",
    "persona_id": "--persona-id",
    "search": "--search",
    "page": "--page",
    "concurrency": "--concurrency",
    "limit": "--limit",
    "expires_in_hours": "--expires-in-hours",
    "usage_limit": "--usage-limit",
    "base_url": "--base-url",
    "api_key": "the API key",
}
_PARAMETER_AT_START: Final = re.compile(r"^([a-z_]+)(?==| is )")
# The library states its rules in Python's words; the command line says them in plain ones.
_PLAIN_WORDS: Final = (
    (re.compile(r"an int in (\d+)\.\.(\d+)"), r"a whole number from \1 to \2"),
    (re.compile(r"an int >= (\d+)(?: \(at most 2\*\*63 - 1\))?"), r"a whole number, at least \1"),
    (
        re.compile(r"a uuid\.UUID or a UUID string \(36-char hyphenated or 32 hex digits\)"),
        "a UUID (36 characters with hyphens, or 32 hex digits)",
    ),
    (re.compile(r"a positive finite number( \(at most 2\*\*53\))?"), "a number greater than 0"),
    (re.compile(r"a str\b"), "text"),
    (re.compile(r" or None\b"), ""),
    (re.compile(r"allow_insecure_http=True"), "--allow-insecure-http"),
)
# aiohttp names its TLS setting in connection errors ("host:443 ssl:default [...]").
_AIOHTTP_SSL_NOTE: Final = re.compile(r" ssl:(?:default|True|False|None|<[^>]*>)")


class UsageError(Exception):
    """A usage mistake the CLI finds itself (exit 2)."""


class _ArgumentError(Exception):
    def __init__(self, usage: str, message: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.message = message


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach ``main`` (to be redacted) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(self.format_usage(), message)


# --------------------------------------------------------------------------- output helpers


def _print_json(value: object) -> None:
    text = msgspec.json.format(_json_encoder.encode(value), indent=2).decode()
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def encode_csv(links: Sequence[PersonaShareLink], *, header: bool) -> bytes:
    """Encode links as CSV rows (camelCase columns, lists joined by spaces, None empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_FIELDS)
    for link in links:
        row = msgspec.to_builtins(link)
        writer.writerow([_csv_cell(row.get(name)) for name in CSV_FIELDS])
    return buffer.getvalue().encode()


def encode_jsonl(links: Sequence[PersonaShareLink]) -> bytes:
    """Encode links as JSON lines, in the wire (camelCase) shape."""
    return _json_encoder.encode_lines(links)


def _cli_message(exc: AnamValidationError) -> str:
    """Say a library validation message with the CLI's option names (``--per-page=0 ...``)."""
    message = str(exc)
    for pattern, plain in _PLAIN_WORDS:
        message = pattern.sub(plain, message)
    match = _PARAMETER_AT_START.match(message)
    if match and match.group(1) in _OPTION_NAMES:
        return _OPTION_NAMES[match.group(1)] + message[match.end() :]
    return message


def _links(count: int) -> str:
    return f"{count} share link" if count == 1 else f"{count} share links"


def _hours(raw: str | None) -> float | None:
    """``--expires-in-hours`` as a number; refused in the user's spelling (``0``, not ``0.0``)."""
    if raw is None:
        return None
    try:
        hours = float(raw)
    except ValueError:
        hours = math.nan
    if not (math.isfinite(hours) and hours > 0):
        raise UsageError(f"--expires-in-hours={raw} is invalid: must be a number greater than 0")
    return hours


# --------------------------------------------------------------------------- the client


def new_fake_api() -> FakeAnamAPI:
    """The server ``--fake`` runs: seeded, so every run sees the same 1,000 links."""
    return FakeAnamAPI(links=FAKE_LINKS, seed=FAKE_SEED)


@contextlib.asynccontextmanager
async def _open_client(args: argparse.Namespace) -> AsyncIterator[AnamClient]:
    if args.fake:
        async with new_fake_api() as api, AnamClient(api.api_key, base_url=api.url) as client:
            yield client
        return
    api_key = args.api_key if args.api_key is not None else os.environ.get("ANAM_API_KEY")
    if not api_key:
        raise UsageError(
            "no API key: pass --api-key KEY or set ANAM_API_KEY "
            "(or add --fake to try the command against a local fake API)"
        )
    async with AnamClient(
        api_key, base_url=args.base_url, allow_insecure_http=args.allow_insecure_http
    ) as client:
        yield client


_Command = Callable[[argparse.Namespace, AnamClient], Awaitable[int]]


def _with_client(command: _Command) -> Callable[[argparse.Namespace], Awaitable[int]]:
    async def run(args: argparse.Namespace) -> int:
        async with _open_client(args) as client:
            return await command(args, client)

    return run


# --------------------------------------------------------------------------- simple commands


async def _list(args: argparse.Namespace, client: AnamClient) -> int:
    page = await client.share_links.list(
        page=args.page, per_page=args.per_page, search=args.search, persona_id=args.persona_id
    )
    if args.json:
        _print_json(page)
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    meta = page.meta
    table = Table(
        caption=f"page {meta.current_page} of {meta.last_page}, {meta.total} share links",
        caption_justify="left",
    )
    table.add_column("ID", no_wrap=True, min_width=36)
    table.add_column("Persona")
    table.add_column("Type")
    table.add_column("Uses", justify="right")
    table.add_column("Expires")
    table.add_column("On")
    for link in page.data:
        limit = "∞" if link.usage_limit is None else str(link.usage_limit)
        expires = "never" if link.expires_at is None else f"{link.expires_at:%Y-%m-%d}"
        table.add_row(
            str(link.id),
            link.persona_name or "",
            str(link.type),
            f"{link.usage_count}/{limit}",
            expires,
            "yes" if link.enabled else "no",
        )
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # rich assumes 80 columns off a terminal, which would fold the ids of a piped table.
        console = Console(width=120)
    console.print(table)
    return EXIT_OK


async def _get(args: argparse.Namespace, client: AnamClient) -> int:
    _print_json(await client.share_links.get(args.id))
    return EXIT_OK


async def _create(args: argparse.Namespace, client: AnamClient) -> int:
    link = await client.share_links.create(
        persona_id=args.persona_id,
        expires_in_hours=_hours(args.expires_in_hours),
        usage_limit=args.usage_limit,
    )
    _print_json(link)
    return EXIT_OK


async def _delete(args: argparse.Namespace, client: AnamClient) -> int:
    await client.share_links.delete(args.id)
    print(f"share link {args.id} deleted")
    return EXIT_OK


async def _update(args: argparse.Namespace, client: AnamClient) -> int:
    link = await client.share_links.update(
        args.id, expires_in_hours=_hours(args.expires_in_hours), usage_limit=args.usage_limit
    )
    _print_json(link)
    return EXIT_OK


# --------------------------------------------------------------------------- export


class Checkpoint(msgspec.Struct, kw_only=True, frozen=True, rename="camel"):
    """The content of ``FILE.progress``: the query, and how far FILE is complete.

    Attributes:
        format: ``jsonl`` or ``csv``.
        per_page, search, persona_id: The query (persona id in canonical form).
        next_page: The first page not yet in FILE.
        lines: Records in FILE (the CSV header not counted).
        length: Bytes of FILE that hold whole pages.
    """

    format: str
    per_page: int
    search: str | None
    persona_id: str | None
    next_page: Annotated[int, msgspec.Meta(ge=1)]
    lines: Annotated[int, msgspec.Meta(ge=0)]
    length: Annotated[int, msgspec.Meta(ge=0)]


def progress_path(output: Path) -> Path:
    """The sidecar that records an export's progress: ``FILE.progress``."""
    return output.with_name(output.name + ".progress")


def _save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(_json_encoder.encode(checkpoint))
    os.replace(temporary, path)


def _load_checkpoint(path: Path) -> Checkpoint:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Checkpoint)
    except msgspec.DecodeError as exc:
        raise UsageError(f"{path} is not an export progress file ({exc})") from None


def _canonical_persona(persona_id: str | None) -> str | None:
    # Called after pages() validated it, so the form is known to be good.
    return None if persona_id is None else str(uuid.UUID(persona_id))


def _check_same_query(saved: Checkpoint, wanted: Checkpoint, path: Path) -> None:
    for option, before, now in (
        ("--format", saved.format, wanted.format),
        ("--per-page", saved.per_page, wanted.per_page),
        ("--search", saved.search, wanted.search),
        ("--persona-id", saved.persona_id, wanted.persona_id),
    ):
        if before != now:
            raise UsageError(
                f"cannot resume: {path} was written with {option} {before!r}, not {now!r}; "
                "repeat the interrupted command's options, or drop --resume to start over"
            )


class _ProgressBar:
    """Items done of the total, rate and time left on stderr; does nothing when disabled."""

    def __init__(self, *, enabled: bool, completed: int) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._progress = _new_progress()
            self._task = self._progress.add_task("export", total=None, completed=completed)

    def __enter__(self) -> _ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def set_total(self, total: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def advance(self, count: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)


def _new_progress() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.speed
            return Text("? links/s" if speed is None else f"{speed:,.0f} links/s")

    return Progress(
        TextColumn("share links"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


class _Output:
    """Where export records go: stdout, or FILE with its checkpoint sidecar."""

    def __init__(self, stream: BinaryIO, *, path: Path | None, checkpoint: Checkpoint) -> None:
        self.stream = stream
        self.path = path
        self.checkpoint = checkpoint

    def write_page(self, block: bytes, *, lines: int) -> None:
        """Write one page's records in one write, flush, then record the checkpoint."""
        self.stream.write(block)
        self.stream.flush()
        cp = self.checkpoint
        length = self.stream.tell() if self.path is not None else cp.length + len(block)
        self.checkpoint = msgspec.structs.replace(
            cp, next_page=cp.next_page + 1, lines=cp.lines + lines, length=length
        )
        if self.path is not None:
            _save_checkpoint(progress_path(self.path), self.checkpoint)

    def roll_back(self) -> None:
        """Drop anything written after the last checkpoint (a page cut short)."""
        if self.path is not None:
            self.stream.truncate(self.checkpoint.length)


@contextlib.contextmanager
def _open_output(
    args: argparse.Namespace, wanted: Checkpoint, saved: Checkpoint | None
) -> Iterator[_Output]:
    if args.output is None:
        stdout = sys.stdout
        stdout.flush()
        yield _Output(stdout.buffer, path=None, checkpoint=wanted)
        return
    path: Path = args.output
    stream: BinaryIO = path.open("r+b" if saved is not None else "wb")
    with stream:
        checkpoint = wanted
        if saved is not None:
            size = stream.seek(0, os.SEEK_END)
            if size < saved.length:
                raise UsageError(
                    f"cannot resume: {path} holds {size} bytes, fewer than the {saved.length} "
                    "its progress file records; drop --resume to start over"
                )
            # Drop whatever was written after the last checkpoint (a page cut short).
            stream.truncate(saved.length)
            stream.seek(saved.length)
            checkpoint = saved
        else:
            _save_checkpoint(progress_path(path), checkpoint)
        yield _Output(stream, path=path, checkpoint=checkpoint)


def _saved_checkpoint(output: Path | None) -> Checkpoint | None:
    """The checkpoint to resume from; None when there is nothing to resume (start afresh)."""
    if output is None:
        return None
    sidecar = progress_path(output)
    if sidecar.exists():
        return _load_checkpoint(sidecar)
    if output.exists():
        raise UsageError(
            f"cannot resume: {output} has no {sidecar.name} "
            "(it is complete, or was not written by export); drop --resume to start over"
        )
    return None


def _export_format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    if args.output is not None and args.output.suffix.lower() == ".csv":
        return "csv"
    return "jsonl"


async def _export(args: argparse.Namespace, client: AnamClient) -> int:
    if args.resume and args.output is None:
        raise UsageError("--resume needs -o FILE: only a file export can be resumed")
    limit = _validate.check_optional_int("limit", args.limit, 1)
    output_path: Path | None = args.output
    saved = _saved_checkpoint(output_path) if args.resume else None
    start_page = saved.next_page if saved is not None else 1
    # pages() validates every argument now, before FILE is touched; its aclose() cancels
    # what is in flight.
    pages = client.share_links.pages(
        per_page=args.per_page,
        search=args.search,
        persona_id=args.persona_id,
        concurrency=args.concurrency,
        start_page=start_page,
    )
    async with contextlib.aclosing(pages):
        wanted = Checkpoint(
            format=_export_format(args),
            per_page=args.per_page,
            search=args.search,
            persona_id=_canonical_persona(args.persona_id),
            next_page=1,
            lines=0,
            length=0,
        )
        if saved is not None and output_path is not None:
            _check_same_query(saved, wanted, progress_path(output_path))
        # Nothing is created before the first page has arrived: a wrong key, a bad filter or
        # an unreachable API leaves no empty FILE and no sidecar behind.
        first = await anext(pages, None)
        with _open_output(args, wanted, saved) as output:
            try:
                await _copy_pages(args, _starting_with(first, pages), pages, output, limit=limit)
            except BaseException:
                output.roll_back()
                if output.path is not None and output.checkpoint.lines > 0:
                    print(
                        f"{_links(output.checkpoint.lines)} written to {output.path}; "
                        "run the same command with --resume to continue",
                        file=sys.stderr,
                    )
                raise
    if output_path is not None:
        progress_path(output_path).unlink(missing_ok=True)
        print(f"{_links(output.checkpoint.lines)} written to {output_path}", file=sys.stderr)
    return EXIT_OK


async def _starting_with(
    first: ShareLinkPage | None, rest: AsyncGenerator[ShareLinkPage, None]
) -> AsyncGenerator[ShareLinkPage, None]:
    if first is None:
        return
    yield first
    async for page in rest:
        yield page


async def _copy_pages(
    args: argparse.Namespace,
    source: AsyncGenerator[ShareLinkPage, None],
    pages: AsyncGenerator[ShareLinkPage, None],
    output: _Output,
    *,
    limit: int | None,
) -> None:
    done = output.checkpoint.lines
    if limit is not None and done >= limit:
        return
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    csv_header = output.checkpoint.format == "csv" and output.checkpoint.length == 0
    with _ProgressBar(enabled=show, completed=done) as bar:
        first = True
        async for page in source:
            if first:
                first = False
                bar.set_total(page.meta.total if limit is None else min(page.meta.total, limit))
            links = page.data
            last = limit is not None and done + len(links) >= limit
            if last:
                assert limit is not None
                links = links[: limit - done]
                # Stop the requests in flight now: nothing after this page is wanted.
                await pages.aclose()
            if output.checkpoint.format == "csv":
                block = encode_csv(links, header=csv_header)
                csv_header = False
            else:
                block = encode_jsonl(links)
            output.write_page(block, lines=len(links))
            done += len(links)
            bar.advance(len(links))
            if last:
                return


# --------------------------------------------------------------------------- fake-server


async def serve_until_interrupted(api: FakeAnamAPI) -> None:
    """Wait until the command is interrupted (Ctrl-C cancels the waiting task)."""
    del api
    await asyncio.Event().wait()


async def _fake_server(args: argparse.Namespace) -> int:
    api = FakeAnamAPI(
        links=args.links,
        seed=args.seed,
        latency=args.latency_ms / 1000,
        host=args.host,
        port=args.port,
        api_key=args.fake_api_key,
        # A long-running server keeps only its latest requests, not its whole traffic.
        max_recorded_requests=FAKE_SERVER_RECORDED_REQUESTS,
    )
    async with api:
        print(
            f"FakeAnamAPI serving {args.links} share links (seed {args.seed}) at {api.url}\n"
            f"ANAM_BASE_URL={api.url}\n"
            f"ANAM_API_KEY={api.api_key}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        try:
            await serve_until_interrupted(api)
        finally:
            print("stopped", file=sys.stderr)
    return EXIT_OK


# --------------------------------------------------------------------------- parsing


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is invalid: must be >= 0")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is invalid: must be in 0..65535 (0: any free)")
    return value


def _latency(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is invalid: must be a number >= 0")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    # Accepted before and after the subcommand; below the top level a flag not given must not
    # overwrite the value given above it, hence SUPPRESS.
    default: Any = None if top_level else argparse.SUPPRESS
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=default,
        help="the API key (default: the ANAM_API_KEY environment variable); never printed",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default,
        help="the API root (default: ANAM_BASE_URL, else https://api.anam.ai)",
    )
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="allow a plain http:// --base-url that is not loopback (sends the key in clear)",
    )
    group.add_argument(
        "--fake",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help=f"run against an in-process FakeAnamAPI with {FAKE_LINKS:,} seeded links "
        "(no key, no network)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top_level else argparse.SUPPRESS,
        help="log retries to stderr (-vv: every request too)",
    )


def _add_query_options(parser: argparse.ArgumentParser, *, per_page: int) -> None:
    parser.add_argument(
        "--per-page", type=int, default=per_page, help=f"items per page, 1..100 ({per_page})"
    )
    parser.add_argument("--search", help="only links whose persona name or token contains this")
    parser.add_argument("--persona-id", metavar="ID", help="only links of this persona")


def _add_link_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expires-in-hours", metavar="HOURS", help="lifetime in hours, a number > 0"
    )
    parser.add_argument("--usage-limit", type=int, metavar="N", help="number of uses allowed")


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


def build_parser() -> argparse.ArgumentParser:
    """Build the ``anam-async`` argument parser."""
    parser = _ArgumentParser(
        prog="anam-async",
        description="Command line for the Anam AI REST API (share links), and a local fake.",
        epilog="Exit codes: 0 success, 1 API error, 2 usage or validation error, 130 interrupted "
        "(Ctrl-C), 141 the reader of stdout went away (as in: export | head).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, top_level=True)
    parser.set_defaults(interrupted_exit_code=EXIT_INTERRUPTED)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    share_links = commands.add_parser(
        "share-links", help="list, export, get, create, update and delete share links"
    )
    _add_global_options(share_links, top_level=False)
    actions = share_links.add_subparsers(dest="action", required=True, metavar="ACTION")

    list_parser = actions.add_parser("list", help="print one page as a table")
    list_parser.add_argument("--page", type=int, default=1, help="page number, >= 1 (1)")
    _add_query_options(list_parser, per_page=20)
    list_parser.add_argument("--json", action="store_true", help="print the page as JSON")
    list_parser.set_defaults(run=_with_client(_list))

    export = actions.add_parser(
        "export",
        help="write every share link as JSON lines or CSV",
        description=_EXPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_query_options(export, per_page=100)
    export.add_argument("--concurrency", type=int, default=4, help="requests in flight, 1..64 (4)")
    export.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="output format (default: csv when FILE ends in .csv, else jsonl)",
    )
    export.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout"
    )
    export.add_argument("--limit", type=int, metavar="N", help="stop after N share links")
    export.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted export into FILE (needs -o FILE and FILE.progress)",
    )
    export.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the progress bar on stderr (default: when stderr is a terminal)",
    )
    export.set_defaults(run=_with_client(_export))

    for name, run, text in (
        ("get", _get, "print one share link as JSON"),
        ("update", _update, "change a share link and print it as JSON"),
        ("delete", _delete, "delete a share link (it cannot be undone)"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("id", metavar="ID", help="the share link's id")
        if name == "update":
            _add_link_options(sub)
        sub.set_defaults(run=_with_client(run))
    create = actions.add_parser("create", help="create a share link and print it as JSON")
    create.add_argument("--persona-id", metavar="ID", required=True, help="the persona to link")
    _add_link_options(create)
    create.set_defaults(run=_with_client(_create))

    for sub in actions.choices.values():
        _add_global_options(sub, top_level=False)

    fake = commands.add_parser(
        "fake-server",
        help="serve FakeAnamAPI until Ctrl-C",
        description="Serve the in-process fake of the API on a port until Ctrl-C; print its "
        "URL and the (generated, test-only) API key to use.",
    )
    fake.add_argument("--host", default="127.0.0.1", help="interface (127.0.0.1)")
    fake.add_argument("--port", type=_port, default=8000, help="port, 0 for any free (8000)")
    fake.add_argument("--links", type=_count, default=FAKE_LINKS, help="links to seed (1000)")
    fake.add_argument(
        "--latency-ms", type=_latency, default=0.0, help="added to every response (0)"
    )
    fake.add_argument("--seed", type=int, default=FAKE_SEED, help="data seed (0)")
    fake.add_argument(
        "--api-key",
        dest="fake_api_key",
        metavar="KEY",
        help="the bearer key to accept (default: a generated one, printed at start)",
    )
    fake.set_defaults(run=_fake_server, interrupted_exit_code=EXIT_OK)
    return parser


# --------------------------------------------------------------------------- entry point


def _secrets(argv: Sequence[str]) -> list[str]:
    found = []
    env_key = os.environ.get("ANAM_API_KEY")
    if env_key:
        found.append(env_key)
    for index, arg in enumerate(argv):
        if arg == "--api-key" and index + 1 < len(argv):
            found.append(argv[index + 1])
        elif arg.startswith("--api-key="):
            found.append(arg.partition("=")[2])
    # Longest first, so that a key containing another is hidden whole.
    return sorted((s for s in found if s), key=len, reverse=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (``sys.exit(main())``).

    Args:
        argv: The arguments, without the program name; None reads ``sys.argv[1:]``.

    Returns:
        0 success, 1 API error, 2 usage or validation error, 130 interrupted.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    secrets = _secrets(arguments)

    def redact(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def fail(message: str, code: int) -> int:
        print(redact(f"error: {message}"), file=sys.stderr)
        return code

    try:
        importlib.import_module("rich")
    except ImportError:
        print(_INSTALL_HINT, file=sys.stderr)
        return EXIT_USAGE

    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except _ArgumentError as exc:
        sys.stderr.write(redact(exc.usage))
        return fail(exc.message, EXIT_USAGE)
    except SystemExit as exc:  # --help and --version print, then exit 0
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    # The library logs retries (WARNING) and attempts (DEBUG); without a handler Python's
    # last-resort handler would print the warnings, so a handler is attached for this run only.
    handler: logging.Handler = logging.NullHandler()
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler.setLevel(logging.DEBUG if args.verbose > 1 else logging.WARNING)
    library_logger = logging.getLogger("anam_async")
    saved_level = library_logger.level
    library_logger.addHandler(handler)
    if args.verbose > 1:
        library_logger.setLevel(logging.DEBUG)
    try:
        code: int = asyncio.run(args.run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        if args.interrupted_exit_code != EXIT_OK:
            print("interrupted", file=sys.stderr)
        return int(args.interrupted_exit_code)
    except UsageError as exc:
        return fail(str(exc), EXIT_USAGE)
    except AnamValidationError as exc:
        return fail(_cli_message(exc), EXIT_USAGE)
    except AnamError as exc:
        return fail(_AIOHTTP_SSL_NOTE.sub("", str(exc)), EXIT_API_ERROR)
    except BrokenPipeError:
        # The reader went away (`export | head`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        return fail(str(exc), EXIT_API_ERROR)
    finally:
        library_logger.removeHandler(handler)
        library_logger.setLevel(saved_level)
    return code
