"""The ``anam-async`` command line, driven through ``main(argv)`` against a real fake server.

``main`` runs ``asyncio.run`` itself, so these tests are synchronous. Most use ``--fake`` (an
in-process ``FakeAnamAPI(links=1000, seed=0)``); the expected data comes from an unstarted fake
with the same seed. Ctrl-C is a real SIGINT sent to the main thread, at a known point: by an
``on_request`` hook of the same seeded fake served from a thread (``seeded_server``) when a
chosen page is requested, or, for ``fake-server``, once the server has been used.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from anam_async import AnamClient, PersonaShareLink, ShareLink, ShareLinkPage, cli
from anam_async.cli import _export, _render
from anam_async.cli._commands import FAKE_LINKS, FAKE_SEED
from anam_async.testing import FakeAnamAPI, RecordedRequest

SEEDED = FakeAnamAPI(links=FAKE_LINKS, seed=FAKE_SEED)
ALL_IDS = [link["id"] for link in SEEDED.links]
SECRET = "sk-live-do-not-print-0123456789abcdef"


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANAM_API_KEY", raising=False)
    monkeypatch.delenv("ANAM_BASE_URL", raising=False)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def as_link(wire: dict[str, object]) -> PersonaShareLink:
    return msgspec.json.decode(msgspec.json.encode(wire), type=PersonaShareLink)


def ids_of_jsonl(data: str | bytes) -> list[str]:
    lines = data.splitlines() if isinstance(data, bytes) else data.encode().splitlines()
    return [str(msgspec.json.decode(line, type=PersonaShareLink).id) for line in lines]


def ctrl_c() -> None:
    """Send SIGINT to the main thread, as Ctrl-C in a terminal does."""
    main_thread = threading.main_thread().ident
    assert main_thread is not None
    signal.pthread_kill(main_thread, signal.SIGINT)


@dataclass
class SeededServer:
    """The data ``--fake`` serves, from a real server; Ctrl-C when a chosen page is requested.

    Append a page number to ``interrupt_at`` to arm it; it fires once.
    """

    api: FakeAnamAPI
    interrupt_at: list[int] = field(default_factory=list)

    @property
    def options(self) -> list[str]:
        """The global options that point the CLI at this server."""
        return ["--base-url", self.api.url, "--api-key", self.api.api_key]


@pytest.fixture
def seeded_server() -> Iterator[SeededServer]:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    server = SeededServer(FakeAnamAPI(links=FAKE_LINKS, seed=FAKE_SEED))

    def hook(record: RecordedRequest) -> None:
        # Runs in the server's thread, before the page is answered: the main thread, waiting
        # for it, is interrupted there (the CLI's asyncio.run cancels its task).
        if record.operation == "list" and record.page in server.interrupt_at:
            server.interrupt_at.clear()
            ctrl_c()

    server.api.on_request(hook)
    with server.api.run_in_thread():
        yield server


# --------------------------------------------------------------------------- list


def test_list_prints_a_table_of_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "list", "--per-page", "5")
    assert result.code == 0, result.err
    for link_id in ALL_IDS[:5]:
        assert link_id in result.out
    assert ALL_IDS[5] not in result.out
    assert "page 1 of 200, 1000 share links" in result.out
    assert result.err == ""


def test_list_json_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "share-links", "list", "--fake", "--page", "3", "--json")
    assert result.code == 0, result.err
    page = msgspec.json.decode(result.out, type=ShareLinkPage)
    assert [str(link.id) for link in page.data] == ALL_IDS[40:60]
    assert (page.meta.total, page.meta.current_page, page.meta.per_page) == (1000, 3, 20)
    assert '"perPage": 20' in result.out


# --------------------------------------------------------------------------- export


def test_export_jsonl_to_file_has_every_link_in_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "links.jsonl"
    result = run_cli(
        capsys, "--fake", "share-links", "export", "--concurrency", "8", "-o", str(target)
    )
    assert result.code == 0, result.err
    assert result.out == ""
    data = target.read_bytes()
    assert ids_of_jsonl(data) == ALL_IDS
    first = data.splitlines()[0]
    assert msgspec.json.decode(first).keys() == SEEDED.links[0].keys()  # camelCase wire names
    assert msgspec.json.decode(first, type=PersonaShareLink) == as_link(SEEDED.links[0])
    assert not _export.progress_path(target).exists()
    assert result.err == f"1000 share links written to {target}\n"


def test_export_jsonl_to_stdout_keeps_stdout_clean(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "export", "--per-page", "37")
    assert result.code == 0, result.err
    assert ids_of_jsonl(result.out) == ALL_IDS
    assert result.err == ""  # stderr is not a terminal: no progress bar


def test_export_csv_to_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "links.csv"
    result = run_cli(capsys, "--fake", "share-links", "export", "-o", str(target))
    assert result.code == 0, result.err
    with target.open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == _render.CSV_FIELDS
    assert reader.fieldnames[:3] == ["id", "token", "type"]  # type: ignore[index]
    assert "allowedOrigins" in _render.CSV_FIELDS
    assert [row["id"] for row in rows] == ALL_IDS
    for row, link in zip(rows, SEEDED.links, strict=True):
        assert row["allowedOrigins"] == " ".join(link["allowedOrigins"])
        assert row["expiresAt"] == ("" if link["expiresAt"] is None else row["expiresAt"])
        assert row["usageLimit"] == ("" if link["usageLimit"] is None else str(link["usageLimit"]))
        assert row["enabled"] == ("true" if link["enabled"] else "false")
    assert any(len(link["allowedOrigins"]) > 1 for link in SEEDED.links)
    assert any(link["usageLimit"] is None for link in SEEDED.links)


def test_export_csv_to_stdout_with_limit(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "export", "--format", "csv", "--limit", "5")
    assert result.code == 0, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert tuple(rows[0]) == _render.CSV_FIELDS
    assert [row[0] for row in rows[1:]] == ALL_IDS[:5]


def test_export_limit_stops_mid_page(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "links.jsonl"
    result = run_cli(capsys, "--fake", "share-links", "export", "--limit", "150", "-o", str(target))
    assert result.code == 0, result.err
    assert ids_of_jsonl(target.read_bytes()) == ALL_IDS[:150]


def test_export_progress_forced_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "export", "--progress")
    assert result.code == 0, result.err
    assert ids_of_jsonl(result.out) == ALL_IDS
    assert "1000/1000" in result.err
    assert "links/s" in result.err


def test_export_filters_by_search_and_persona(capsys: pytest.CaptureFixture[str]) -> None:
    persona = SEEDED.personas[0]
    result = run_cli(
        capsys,
        "--fake",
        "share-links",
        "export",
        "--search",
        persona["name"].upper(),
        "--persona-id",
        persona["id"].replace("-", "").upper(),
    )
    assert result.code == 0, result.err
    expected = [link["id"] for link in SEEDED.links if link["personaId"] == persona["id"]]
    assert expected
    assert ids_of_jsonl(result.out) == expected


# --------------------------------------------------------------------------- get, create, update


def test_get_prints_the_link_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "get", ALL_IDS[7])
    assert result.code == 0, result.err
    assert msgspec.json.decode(result.out).keys() == SEEDED.links[7].keys()
    assert msgspec.json.decode(result.out, type=PersonaShareLink) == as_link(SEEDED.links[7])


def test_create_prints_the_new_link(capsys: pytest.CaptureFixture[str]) -> None:
    persona_id = SEEDED.personas[1]["id"]
    result = run_cli(
        capsys, "--fake", "share-links", "create", "--persona-id", persona_id, "--usage-limit", "3"
    )
    assert result.code == 0, result.err
    link = msgspec.json.decode(result.out, type=ShareLink)
    assert (link.usage_limit, link.usage_count, link.type) == (3, 0, "LINK")
    assert str(link.id) not in ALL_IDS


def test_update_prints_the_changed_link(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys,
        "--fake",
        "share-links",
        "update",
        ALL_IDS[0],
        "--usage-limit",
        "42",
        "--expires-in-hours",
        "1.5",
    )
    assert result.code == 0, result.err
    link = msgspec.json.decode(result.out, type=ShareLink)
    assert (str(link.id), link.usage_limit) == (ALL_IDS[0], 42)
    assert link.expires_at is not None


def test_delete_removes_the_link_on_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeAnamAPI(links=5).run_in_thread() as api:
        link_id = api.links[2]["id"]
        options = ("--api-key", api.api_key, "--base-url", api.url)
        result = run_cli(capsys, *options, "share-links", "delete", link_id)
        assert result.code == 0, result.err
        assert result.out == f"share link {link_id} deleted\n"
        assert link_id not in [link["id"] for link in api.links]
        again = run_cli(capsys, *options, "share-links", "delete", link_id)
    assert again.code == 1
    assert "404" in again.err
    assert again.err.count("\n") == 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["export", "--per-page", "0"], "--per-page=0 is invalid"),
        (["export", "--concurrency", "65"], "--concurrency=65 is invalid"),
        (["export", "--limit", "0"], "--limit=0 is invalid"),
        (["list", "--page", "0"], "--page=0 is invalid"),
        (["get", "not-a-uuid"], "ID='not-a-uuid' is invalid"),
        (["update", ALL_IDS[0], "--usage-limit", "-1"], "--usage-limit=-1 is invalid"),
    ],
)
def test_validation_error_exits_2_with_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], named: str
) -> None:
    result = run_cli(capsys, "--fake", "share-links", *argv)
    assert result.code == 2
    assert result.err.startswith(f"error: {named}: ")
    assert result.err.count("\n") == 1
    assert result.out == ""


def test_invalid_export_arguments_leave_the_file_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "links.jsonl"
    target.write_text("precious\n")
    result = run_cli(
        capsys, "--fake", "share-links", "export", "--per-page", "101", "-o", str(target)
    )
    assert result.code == 2
    assert target.read_text() == "precious\n"
    assert not _export.progress_path(target).exists()


def test_usage_error_exits_2_with_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "export", "--per-page", "many")
    assert result.code == 2
    assert result.err.startswith("Usage: anam-async share-links export [OPTIONS]\n")
    assert result.err.endswith(
        "error: Invalid value for '--per-page': 'many' is not a valid integer.\n"
    )
    assert result.out == ""


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["fake-server", "--port", "65536"], "'--port': 65536 is not in the range 0<=x<=65535"),
        (["fake-server", "--links", "-1"], "'--links': -1 is not in the range x>=0"),
        (["fake-server", "--latency-ms", "-1"], "'--latency-ms': -1.0 is not in the range x>=0"),
        (["fake-server", "--latency-ms", "inf"], "'--latency-ms': inf is not a finite number"),
        (["share-links", "export", "--format", "xml"], "'--format': 'xml' is not one of"),
        (["share-links", "list", "--no-such-flag"], "--no-such-flag"),  # click words it by version
        (["share-links", "create"], "Missing option '--persona-id'"),
        (["share-links", "get"], "Missing argument 'ID'"),
        (["share-links"], "Missing command"),
        ([], "Missing command"),
    ],
)
def test_bad_flags_exit_2_naming_the_parameter(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    result = run_cli(capsys, *argv)
    assert result.code == 2
    assert named in result.err.splitlines()[-1]
    assert result.err.splitlines()[-1].startswith("error: ")
    assert result.out == ""


def test_api_error_exits_1_with_status_and_message(capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(uuid.UUID(int=1))
    result = run_cli(capsys, "--fake", "share-links", "get", missing)
    assert result.code == 1
    assert result.err == f"error: 404 Share link {missing} not found\n"
    assert result.out == ""


def test_missing_key_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "share-links", "list")
    assert result.code == 2
    assert result.err.startswith("error: no API key: pass --api-key KEY or set ANAM_API_KEY")
    assert result.err.count("\n") == 1


@pytest.mark.parametrize("missing", ["click", "rich"])
def test_a_missing_extra_says_how_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` raises ImportError
    result = run_cli(capsys, "--fake", "share-links", "list")
    assert result.code == 2
    assert result.err == cli._INSTALL_HINT + "\n"
    assert 'pip install "anam-async[cli]"' in result.err
    assert result.out == ""


def test_importing_the_cli_imports_neither_click_nor_rich() -> None:
    code = (
        "import anam_async.cli, sys; "
        "assert 'click' not in sys.modules and 'rich' not in sys.modules, sys.modules.keys()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_global_options_merge_over_the_levels(capsys: pytest.CaptureFixture[str]) -> None:
    """Given above and below the command, the last value given wins."""
    with FakeAnamAPI(links=3).run_in_thread() as api:
        argv = ["--api-key", "wrong", "--base-url", "http://127.0.0.1:9", "share-links"]
        argv += ["--base-url", api.url, "list", "--api-key", api.api_key, "--json"]
        result = run_cli(capsys, *argv)
    assert result.code == 0, result.err
    assert msgspec.json.decode(result.out, type=ShareLinkPage).meta.total == 3


def test_the_key_is_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not in results, errors (401, 404, usage) or help, from the flag or the environment."""
    with FakeAnamAPI(links=30, api_key=SECRET).run_in_thread() as api:
        base = ["--base-url", api.url]
        runs = [
            run_cli(capsys, *base, "--api-key", SECRET, "share-links", "list"),
            run_cli(capsys, *base, "--api-key", SECRET, "share-links", "export", "--progress"),
            run_cli(
                capsys, *base, f"--api-key={SECRET}", "share-links", "get", str(uuid.UUID(int=1))
            ),
            run_cli(capsys, *base, "--api-key", SECRET + "x", "share-links", "list"),
            run_cli(capsys, *base, "share-links", "list", "--api-key", SECRET, "--page", SECRET),
        ]
        monkeypatch.setenv("ANAM_API_KEY", SECRET)
        runs += [
            run_cli(capsys, *base, "share-links", "export", "-o", str(tmp_path / "x.jsonl")),
            run_cli(capsys, "--help"),
            run_cli(capsys, "share-links", "export", "--help"),
            run_cli(capsys, *base, "share-links", "list", "--search", SECRET, "--page", SECRET),
        ]
    assert [run.code for run in runs] == [0, 0, 1, 1, 2, 0, 0, 0, 2]
    assert "error: 401 Invalid or missing API key" in runs[3].err
    for run in runs:
        assert SECRET not in run.out + run.err
    assert SECRET not in (tmp_path / "x.jsonl").read_text()


# --------------------------------------------------------------------------- Ctrl-C and resume


def test_ctrl_c_stops_export_with_whole_lines_and_130(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded_server: SeededServer
) -> None:
    target = tmp_path / "links.jsonl"
    seeded_server.interrupt_at.append(6)
    argv = ["share-links", "export", "--per-page", "50", "--concurrency", "2", "-o", str(target)]
    result = run_cli(capsys, *seeded_server.options, *argv)
    assert result.code == 130
    data = target.read_bytes()
    assert data.endswith(b"\n")
    written = ids_of_jsonl(data)  # every line is a whole, valid link
    assert 0 < len(written) < 1000
    assert len(written) % 50 == 0
    assert written == ALL_IDS[: len(written)]
    checkpoint = msgspec.json.decode(_export.progress_path(target).read_bytes())
    assert checkpoint["lines"] == len(written)
    assert checkpoint["length"] == len(data)
    assert checkpoint["nextPage"] == len(written) // 50 + 1
    assert result.err.endswith(
        f"{len(written)} share links written to {target}; "
        "run the same command with --resume to continue\ninterrupted\n"
    )


def test_resume_completes_an_interrupted_export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded_server: SeededServer
) -> None:
    target = tmp_path / "links.jsonl"
    argv = [*seeded_server.options, "share-links", "export", "--per-page", "40", "-o", str(target)]
    seeded_server.interrupt_at.append(9)
    assert run_cli(capsys, *argv).code == 130
    before = target.read_bytes()
    assert 0 < len(ids_of_jsonl(before)) < 1000
    # A page cut short after the last checkpoint (a crash mid-write) is dropped on resume.
    with target.open("ab") as file:
        file.write(b'{"id":"27ee4806-9b3e-4a0d-9156-')
    result = run_cli(capsys, *argv, "--resume")
    assert result.code == 0, result.err
    data = target.read_bytes()
    assert data.startswith(before)
    assert ids_of_jsonl(data) == ALL_IDS
    assert not _export.progress_path(target).exists()


@pytest.mark.parametrize("page", random.Random(11).sample(range(2, 21), 4))
def test_ctrl_c_at_a_random_page_then_resume_gives_every_link_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded_server: SeededServer, page: int
) -> None:
    target = tmp_path / "links.jsonl"
    argv = [*seeded_server.options, "share-links", "export", "--per-page", "50"]
    argv += ["--concurrency", "4", "-o", str(target)]
    seeded_server.interrupt_at.append(page)
    assert run_cli(capsys, *argv).code == 130
    result = run_cli(capsys, *argv, "--resume")
    assert result.code == 0, result.err
    assert ids_of_jsonl(target.read_bytes()) == ALL_IDS


def test_resume_csv_does_not_repeat_the_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded_server: SeededServer
) -> None:
    target = tmp_path / "links.csv"
    argv = [*seeded_server.options, "share-links", "export", "--per-page", "100"]
    argv += ["-o", str(target)]
    seeded_server.interrupt_at.append(5)
    assert run_cli(capsys, *argv).code == 130
    assert run_cli(capsys, *argv, "--resume").code == 0
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert tuple(rows[0]) == _render.CSV_FIELDS
    assert [row[0] for row in rows[1:]] == ALL_IDS


def test_resume_refuses_a_different_query(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded_server: SeededServer
) -> None:
    target = tmp_path / "links.jsonl"
    argv = [*seeded_server.options, "share-links", "export", "-o", str(target)]
    seeded_server.interrupt_at.append(9)
    assert run_cli(capsys, *argv, "--per-page", "50").code == 130
    before = target.read_bytes()
    result = run_cli(capsys, *argv, "--per-page", "20", "--resume")
    assert result.code == 2
    assert result.err.startswith(
        f"error: cannot resume: {_export.progress_path(target)} was written with --per-page 50, "
        "not 20;"
    )
    assert target.read_bytes() == before


def test_export_that_fails_before_the_first_page_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "links.jsonl"
    with FakeAnamAPI(links=5).run_in_thread() as api:
        result = run_cli(
            capsys,
            "--api-key",
            "wrong-key",
            "--base-url",
            api.url,
            "share-links",
            "export",
            "-o",
            str(target),
        )
    assert result.code == 1
    assert result.err == "error: 401 Invalid or missing API key\n"
    assert "--resume" not in result.err
    assert list(tmp_path.iterdir()) == []


def test_export_interrupted_before_the_first_page_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded_server: SeededServer
) -> None:
    target = tmp_path / "links.jsonl"
    seeded_server.interrupt_at.append(1)
    argv = ["share-links", "export", "-o", str(target)]
    result = run_cli(capsys, *seeded_server.options, *argv)
    assert result.code == 130
    assert "--resume" not in result.err
    assert list(tmp_path.iterdir()) == []


def test_resume_refuses_a_file_without_progress(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "links.jsonl"
    target.write_text("not ours\n")
    result = run_cli(capsys, "--fake", "share-links", "export", "-o", str(target), "--resume")
    assert result.code == 2
    assert "has no links.jsonl.progress" in result.err
    assert target.read_text() == "not ours\n"


def test_resume_without_output_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--fake", "share-links", "export", "--resume")
    assert result.code == 2
    assert result.err == "error: --resume needs -o FILE: only a file export can be resumed\n"


def test_resume_with_nothing_to_resume_starts_afresh(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "links.jsonl"
    result = run_cli(capsys, "--fake", "share-links", "export", "-o", str(target), "--resume")
    assert result.code == 0, result.err
    assert ids_of_jsonl(target.read_bytes()) == ALL_IDS


def test_interrupt_mid_write_rolls_back_to_the_last_whole_page(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Ctrl-C can land inside a write: the part-written page is truncated away."""
    real_write = _export._Output.write_page
    calls = 0

    def write_page(self: _export._Output, block: bytes, *, lines: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            self.stream.write(block[: len(block) // 2])
            raise KeyboardInterrupt
        real_write(self, block, lines=lines)

    monkeypatch.setattr(_export._Output, "write_page", write_page)
    target = tmp_path / "links.jsonl"
    result = run_cli(capsys, "--fake", "share-links", "export", "-o", str(target))
    assert result.code == 130
    assert ids_of_jsonl(target.read_bytes()) == ALL_IDS[:200]


def test_api_error_mid_export_keeps_whole_pages_and_can_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from anam_async.testing import StatusFault

    target = tmp_path / "links.jsonl"
    with FakeAnamAPI(links=250, api_key=SECRET).run_in_thread() as api:
        expected = [link["id"] for link in api.links]
        api.add_fault(StatusFault(403), operation="list", page=3)
        argv = ["--base-url", api.url, "--api-key", SECRET, "share-links", "export"]
        argv += ["--per-page", "50", "--concurrency", "1", "-o", str(target)]
        failed = run_cli(capsys, *argv)
        assert failed.code == 1
        assert failed.err.startswith("error: 403 Injected fault: Forbidden") or (
            "error: 403 Injected fault: Forbidden\n" in failed.err
        )
        assert ids_of_jsonl(target.read_bytes()) == expected[:100]
        resumed = run_cli(capsys, *argv, "--resume")
    assert resumed.code == 0, resumed.err
    assert ids_of_jsonl(target.read_bytes()) == expected


# --------------------------------------------------------------------------- fake-server, entry


class _FakeServerUser(io.StringIO):
    """Stdout for ``fake-server``: once it is announced, use the server, then press Ctrl-C."""

    def __init__(self) -> None:
        super().__init__()
        self.thread: threading.Thread | None = None
        self.seen: list[int] = []

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.thread is None and "Press Ctrl-C to stop." in self.getvalue():
            self.thread = threading.Thread(target=self._use)
            self.thread.start()
        return written

    def _use(self) -> None:
        try:
            settings = dict(re.findall(r"^(ANAM_\w+)=(.*)$", self.getvalue(), flags=re.M))
            self.seen.append(asyncio.run(self._total(settings)))
        finally:
            ctrl_c()

    @staticmethod
    async def _total(settings: dict[str, str]) -> int:
        key, url = settings["ANAM_API_KEY"], settings["ANAM_BASE_URL"]
        async with AnamClient(key, base_url=url) as client:
            page = await client.share_links.list(per_page=1)
        return page.meta.total


def test_fake_server_prints_url_and_key_and_stops_on_ctrl_c(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = _FakeServerUser()
    monkeypatch.setattr(sys, "stdout", user)
    result = run_cli(capsys, "fake-server", "--port", "0", "--links", "7", "--latency-ms", "1")
    assert user.thread is not None
    user.thread.join()
    assert result.code == 0
    assert user.seen == [7]
    lines = user.getvalue().splitlines()
    assert lines[0].startswith("FakeAnamAPI serving 7 share links (seed 0) at http://127.0.0.1:")
    assert lines[1].startswith("ANAM_BASE_URL=http://127.0.0.1:")
    assert lines[2].startswith("ANAM_API_KEY=anam_test_")
    assert result.err == "stopped\n"


def test_python_dash_m_runs_main() -> None:
    # A real `python -m`: in-process runpy trips over pytest's assertion-rewriting import hook,
    # which claims this package because it provides a pytest11 plugin.
    result = subprocess.run(
        [sys.executable, "-m", "anam_async", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("anam-async ")


def test_core_does_not_import_the_cli() -> None:
    code = "import sys, anam_async; print('anam_async.cli' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


# --------------------------------------------------------------------------- plain words


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["export", "--limit", "0"],
            "error: --limit=0 is invalid: must be a whole number, at least 1",
        ),
        (
            ["list", "--per-page", "101"],
            "error: --per-page=101 is invalid: must be a whole number from 1 to 100",
        ),
        (
            ["list", "--persona-id", "nope"],
            "error: --persona-id='nope' is invalid: must be a UUID "
            "(36 characters with hyphens, or 32 hex digits)",
        ),
        (
            ["create", "--persona-id", str(uuid.UUID(int=1)), "--expires-in-hours", "0"],
            "error: --expires-in-hours=0 is invalid: must be a number greater than 0",
        ),
    ],
)
def test_validation_errors_speak_in_flags_and_plain_words(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    result = run_cli(capsys, "--fake", "share-links", *argv)
    assert result.code == 2
    assert result.err == expected + "\n"


def test_an_insecure_base_url_points_to_the_flag_that_allows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--api-key", "k", "--base-url", "http://example.com", "share-links", "list"]
    result = run_cli(capsys, *argv)
    assert result.code == 2
    assert "--allow-insecure-http" in result.err
    assert "allow_insecure_http" not in result.err


def test_allow_insecure_http_lets_a_plain_http_url_through(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The URL is accepted and tried; the .invalid name cannot resolve, which is one line."""
    argv = ["--api-key", "k", "--base-url", "http://anam.invalid", "--allow-insecure-http"]
    result = run_cli(capsys, *argv, "share-links", "list")
    assert result.code == 1
    assert result.err.startswith("error: cannot connect")
    assert "ssl:" not in result.err
    assert result.err.count("\n") == 1


def test_one_link_is_one_share_link(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "one.jsonl"
    result = run_cli(capsys, "--fake", "share-links", "export", "--limit", "1", "-o", str(target))
    assert result.code == 0, result.err
    assert result.err.endswith(f"1 share link written to {target}\n")


def test_the_top_level_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    for code in ("0 success", "1 API error", "2 usage", "130 interrupted", "141"):
        assert code in text


def _documented_fake_commands() -> list[str]:
    text = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("anam-async --fake ")]


def test_docs_cli_has_runnable_fake_examples() -> None:
    assert len(_documented_fake_commands()) >= 5


@pytest.mark.parametrize("command", _documented_fake_commands())
def test_every_fake_command_in_docs_cli_runs_as_written(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """The documented ids are the seeded fake's, so each command succeeds as written."""
    result = run_cli(capsys, *shlex.split(command)[1:])
    assert result.code == 0, result.err
