"""The ``anam-async`` command line: share links from a terminal, and a local fake of the API.

```text
anam-async [--api-key KEY] [--base-url URL] [--fake] [-v] COMMAND ...
  share-links list     one page, as a table (or the page as JSON with --json)
  share-links export   every page, as JSON lines or CSV, to stdout or -o FILE
  share-links get ID | create --persona-id ID | update ID     print the link as JSON
  share-links delete ID  delete a link (it cannot be undone)
  fake-server          serve FakeAnamAPI on a port until Ctrl-C
```

The ``cli`` extra adds what the core lacks: click, to parse the command line, and rich, for
the table and the progress bar. This module imports neither: ``main`` imports them when it
runs, so that without them it can say in one line how to install the extra (and exit 2)
instead of failing with a traceback.

Parsing and running are apart: click (``standalone_mode=False``) only parses the arguments
into a job, which ``main`` then runs with ``asyncio.run`` and whose exceptions it maps to
exit codes, so that click never turns a Ctrl-C into its own ``Abort`` nor exits the process.

Exit codes: 0 success; 1 API error or I/O error (the one-line message gives the status and the
API's message); 2 usage or validation error (bad flags, ``AnamValidationError``, no API key,
the ``cli`` extra missing); 130 interrupted (Ctrl-C or the command's task cancelled); 141,
quietly, when the reader of stdout goes away (``export | head``). ``fake-server`` stopped
with Ctrl-C exits 0. The API key is never printed: error lines are redacted and no help text
shows its value.

``--api-key``, ``--base-url``, ``--allow-insecure-http``, ``--fake`` and ``-v`` are accepted
before the command and after it (``anam-async share-links list --fake``); given at several
levels, the last value given wins, and ``-v`` counts at every level.

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

import asyncio
import contextlib
import importlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from anam_async._redact import redact as redact_text
from anam_async.errors import AnamError, AnamValidationError

if TYPE_CHECKING:
    from ._commands import Job

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_API_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
# What a shell reports for a process killed by SIGPIPE (128 + 13): `export | head` is normal.
EXIT_BROKEN_PIPE: Final = 141

_INSTALL_HINT: Final = (
    'anam-async: the command line needs the "cli" extra: pip install "anam-async[cli]" '
    '(in a clone: pip install -e ".[cli]")'
)

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

_Fail = Callable[[str, int], int]


def _cli_message(exc: AnamValidationError) -> str:
    """Say a library validation message with the CLI's option names (``--per-page=0 ...``)."""
    message = str(exc)
    for pattern, plain in _PLAIN_WORDS:
        message = pattern.sub(plain, message)
    match = _PARAMETER_AT_START.match(message)
    if match and match.group(1) in _OPTION_NAMES:
        return _OPTION_NAMES[match.group(1)] + message[match.end() :]
    return message


def _secrets(argv: Sequence[str]) -> list[str]:
    """The API keys the arguments or the environment hold, longest first."""
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


def _redactor(argv: Sequence[str]) -> Callable[[str], str]:
    secrets = _secrets(argv)

    def redact(text: str) -> str:
        for secret in secrets:
            text = redact_text(text, secret)
        return text

    return redact


def _parse(arguments: list[str], redact: Callable[[str], str], fail: _Fail) -> Job | int:
    """The job the arguments ask for, or the exit code when there is nothing to run."""
    import click

    from ._commands import Job, Settings, cli

    try:
        result = cli.main(arguments, prog_name="anam-async", standalone_mode=False, obj=Settings())
    except click.UsageError as exc:
        if exc.ctx is not None:
            sys.stderr.write(redact(exc.ctx.get_usage() + "\n"))
            sys.stderr.write(redact(f"Try '{exc.ctx.command_path} --help' for help.\n"))
        return fail(exc.format_message(), EXIT_USAGE)
    except click.ClickException as exc:
        return fail(exc.format_message(), exc.exit_code)
    except click.Abort:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(result, Job):
        return result
    # --help and --version print, then stop with their code (0).
    return result if isinstance(result, int) else EXIT_OK


@contextlib.contextmanager
def _library_logging(verbose: int) -> Iterator[None]:
    """Show the library's retries (-v) and attempts (-vv) on stderr, for this run only."""
    # Without a handler Python's last-resort handler would print the warnings, so a handler
    # is attached for this run even when nothing is to be shown.
    handler: logging.Handler = logging.NullHandler()
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        handler.setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    library_logger = logging.getLogger("anam_async")
    saved_level = library_logger.level
    library_logger.addHandler(handler)
    if verbose > 1:
        library_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        library_logger.removeHandler(handler)
        library_logger.setLevel(saved_level)


def _execute(job: Job, fail: _Fail) -> int:
    """Run the job and map what it raises to an exit code and a one-line message."""
    import click

    try:
        with _library_logging(job.verbose):
            return asyncio.run(job.run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        if job.interrupted_exit_code != EXIT_OK:
            print("interrupted", file=sys.stderr)
        return job.interrupted_exit_code
    except click.UsageError as exc:
        return fail(exc.format_message(), EXIT_USAGE)
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code (``sys.exit(main())``).

    Never raises ``SystemExit``: usage errors, ``--help`` and ``--version`` return their code.

    Args:
        argv: The arguments, without the program name; None reads ``sys.argv[1:]``.

    Returns:
        0 success, 1 API error, 2 usage or validation error, 130 interrupted, 141 stdout
        closed by its reader.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        importlib.import_module("click")
        importlib.import_module("rich")
    except ImportError:
        print(_INSTALL_HINT, file=sys.stderr)
        return EXIT_USAGE
    redact = _redactor(arguments)

    def fail(message: str, code: int) -> int:
        print(redact(f"error: {message}"), file=sys.stderr)
        return code

    job = _parse(arguments, redact, fail)
    if isinstance(job, int):
        return job
    return _execute(job, fail)
