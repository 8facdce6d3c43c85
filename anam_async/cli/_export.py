"""``share-links export``: every page, written in order, with a checkpoint to resume from.

See the package docstring for the contract: whole pages only, ``FILE.progress`` replaced
atomically after each page, ``--resume`` checking the query and truncating FILE to the last
checkpoint, nothing created before the first page has arrived.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO

import click
import msgspec

from anam_async import _validate
from anam_async._client import AnamClient
from anam_async._types import ShareLinkPage

from . import EXIT_OK
from ._render import encode_csv, encode_json, encode_jsonl, links_phrase, new_progress

__all__ = ["Checkpoint", "ExportRequest", "export", "progress_path"]


@dataclass(frozen=True, kw_only=True)
class ExportRequest:
    """The options of ``share-links export``, as given (the library validates them)."""

    per_page: int
    search: str | None
    persona_id: str | None
    concurrency: int
    format: str | None
    output: Path | None
    limit: int | None
    resume: bool
    progress: bool | None

    def output_format(self) -> str:
        """``--format``, else ``csv`` when FILE ends in ``.csv``, else ``jsonl``."""
        if self.format is not None:
            return self.format
        if self.output is not None and self.output.suffix.lower() == ".csv":
            return "csv"
        return "jsonl"


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
    temporary.write_bytes(encode_json(checkpoint))
    os.replace(temporary, path)


def _load_checkpoint(path: Path) -> Checkpoint:
    try:
        return msgspec.json.decode(path.read_bytes(), type=Checkpoint)
    except msgspec.DecodeError as exc:
        raise click.UsageError(f"{path} is not an export progress file ({exc})") from None


def _wanted(request: ExportRequest) -> Checkpoint:
    """The checkpoint of a fresh export of this query (called after ``pages()`` validated it)."""
    persona_id = request.persona_id
    return Checkpoint(
        format=request.output_format(),
        per_page=request.per_page,
        search=request.search,
        persona_id=None if persona_id is None else str(uuid.UUID(persona_id)),
        next_page=1,
        lines=0,
        length=0,
    )


def _check_same_query(saved: Checkpoint, wanted: Checkpoint, path: Path) -> None:
    for option, before, now in (
        ("--format", saved.format, wanted.format),
        ("--per-page", saved.per_page, wanted.per_page),
        ("--search", saved.search, wanted.search),
        ("--persona-id", saved.persona_id, wanted.persona_id),
    ):
        if before != now:
            raise click.UsageError(
                f"cannot resume: {path} was written with {option} {before!r}, not {now!r}; "
                "repeat the interrupted command's options, or drop --resume to start over"
            )


def _saved_checkpoint(output: Path | None) -> Checkpoint | None:
    """The checkpoint to resume from; None when there is nothing to resume (start afresh)."""
    if output is None:
        return None
    sidecar = progress_path(output)
    if sidecar.exists():
        return _load_checkpoint(sidecar)
    if output.exists():
        raise click.UsageError(
            f"cannot resume: {output} has no {sidecar.name} "
            "(it is complete, or was not written by export); drop --resume to start over"
        )
    return None


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
    path: Path | None, wanted: Checkpoint, saved: Checkpoint | None
) -> Iterator[_Output]:
    if path is None:
        stdout = sys.stdout
        stdout.flush()
        yield _Output(stdout.buffer, path=None, checkpoint=wanted)
        return
    stream: BinaryIO = path.open("r+b" if saved is not None else "wb")
    with stream:
        checkpoint = wanted
        if saved is not None:
            size = stream.seek(0, os.SEEK_END)
            if size < saved.length:
                raise click.UsageError(
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


async def export(client: AnamClient, *, request: ExportRequest) -> int:
    """Run ``share-links export``; return the exit code (0)."""
    if request.resume and request.output is None:
        raise click.UsageError("--resume needs -o FILE: only a file export can be resumed")
    limit = _validate.check_optional_int("limit", request.limit, 1)
    output_path = request.output
    saved = _saved_checkpoint(output_path) if request.resume else None
    # pages() validates every argument now, before FILE is touched; its aclose() cancels
    # what is in flight.
    pages = client.share_links.pages(
        per_page=request.per_page,
        search=request.search,
        persona_id=request.persona_id,
        concurrency=request.concurrency,
        start_page=saved.next_page if saved is not None else 1,
    )
    async with contextlib.aclosing(pages):
        wanted = _wanted(request)
        if saved is not None and output_path is not None:
            _check_same_query(saved, wanted, progress_path(output_path))
        # Nothing is created before the first page has arrived: a wrong key, a bad filter or
        # an unreachable API leaves no empty FILE and no sidecar behind.
        first = await anext(pages, None)
        with _open_output(output_path, wanted, saved) as output:
            try:
                show = request.progress if request.progress is not None else sys.stderr.isatty()
                source = _starting_with(first, pages)
                await _copy_pages(source, pages, output, limit=limit, show=show)
            except BaseException:
                output.roll_back()
                if output.path is not None and output.checkpoint.lines > 0:
                    print(
                        f"{links_phrase(output.checkpoint.lines)} written to {output.path}; "
                        "run the same command with --resume to continue",
                        file=sys.stderr,
                    )
                raise
    if output_path is not None:
        progress_path(output_path).unlink(missing_ok=True)
        print(f"{links_phrase(output.checkpoint.lines)} written to {output_path}", file=sys.stderr)
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
    source: AsyncGenerator[ShareLinkPage, None],
    pages: AsyncGenerator[ShareLinkPage, None],
    output: _Output,
    *,
    limit: int | None,
    show: bool,
) -> None:
    done = output.checkpoint.lines
    if limit is not None and done >= limit:
        return
    csv_header = output.checkpoint.format == "csv" and output.checkpoint.length == 0
    with new_progress(enabled=show) as progress:
        bar = progress.add_task("export", total=None, completed=done)
        first = True
        async for page in source:
            if first:
                first = False
                total = page.meta.total if limit is None else min(page.meta.total, limit)
                progress.update(bar, total=total)
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
            progress.advance(bar, len(links))
            if last:
                return
