"""What the command line prints: JSON, JSON lines, CSV, the ``list`` table, the progress bar.

Tables and the progress bar are rich's; JSON is msgspec's, in the API's camelCase shape, so a
record printed here decodes with the library's own types.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from typing import Any, Final

import msgspec
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
from rich.table import Table
from rich.text import Text

from anam_async._types import PersonaShareLink, ShareLinkPage

__all__ = [
    "CSV_FIELDS",
    "encode_csv",
    "encode_json",
    "encode_jsonl",
    "links_phrase",
    "new_progress",
    "print_json",
    "print_table",
]

_json_encoder: Final = msgspec.json.Encoder()
#: The CSV columns: the wire (camelCase) names, in the order the Struct declares them.
CSV_FIELDS: Final = tuple(field.encode_name for field in msgspec.structs.fields(PersonaShareLink))
# rich assumes 80 columns off a terminal, which would fold the ids of a piped table.
_PIPED_WIDTH: Final = 120


def encode_json(value: object) -> bytes:
    """Encode ``value`` as compact JSON (the wire shape of a Struct)."""
    return _json_encoder.encode(value)


def print_json(value: object) -> None:
    """Print ``value`` to stdout as indented JSON, then flush."""
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


def links_phrase(count: int) -> str:
    """``1 share link``, ``2 share links``."""
    return f"{count} share link" if count == 1 else f"{count} share links"


def print_table(page: ShareLinkPage) -> None:
    """Print one page of share links as a table, its position and total as the caption."""
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
        console = Console(width=_PIPED_WIDTH)
    console.print(table)


class _RateColumn(ProgressColumn):
    """Links a second, as rich measures it."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text("? links/s" if speed is None else f"{speed:,.0f} links/s")


def new_progress(*, enabled: bool) -> Progress:
    """The export's progress bar on stderr: links done of the total, rate, time left.

    Disabled, it shows nothing and its methods do nothing, so callers need no test.
    """
    return Progress(
        TextColumn("share links"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
