"""Every ```python block in docs/*.md and README.md runs, and passes.

The convention (also stated at the top of docs/index.md's source):

- A block that defines ``test_*`` functions is a pytest module: it is written to a temporary
  file and run by pytest in a subprocess (this package's plugin, ``asyncio_mode=auto``,
  ``-W error``; one subprocess runs all such blocks); each must pass, with at least one test.
- Any other block is a script: it is exec'd in a fresh namespace in a worker thread, so the
  ``asyncio.run(main())`` at its end gets a loop of its own. ANAM_API_KEY and ANAM_BASE_URL
  point at a FakeAnamAPI started for it, docs/examples/ is on ``sys.path`` (so a sample can
  ``from fastapi_app import app``), and the working directory is a temporary one.
- ``--8<-- "path"`` include lines (pymdownx.snippets) are expanded before running.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from anam_async.testing import FakeAnamAPI

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Sample scripts import the guide's example app as a user would, from next to it.
EXAMPLES = DOCS / "examples"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
# Languages that would look like Python to a reader but escape execution.
PYTHON_ALIASES = {"py", "python3", "py3", "pycon"}
SUBPROCESS_TIMEOUT = 120


@dataclass(frozen=True)
class Block:
    page: str
    number: int
    line: int
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}-block{self.number}"


def fenced_blocks(path: Path) -> Iterator[Block]:
    """Every fenced block of a Markdown page, in order, with its language and dedented body."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = 0
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0].strip("{}.").lower()
        body: list[str] = []
        index += 1
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[index].removeprefix(indent))
            index += 1
        number += 1
        yield Block(path.name, number, index - len(body), language, "\n".join(body) + "\n")
        index += 1


PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def page_path(name: str) -> Path:
    """Where a page named by a Block lives: the README at the root, the rest in docs/."""
    return ROOT / name if name == "README.md" else DOCS / name


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in fenced_blocks(page)]


PYTHON_BLOCKS = [block for block in all_blocks() if block.language == "python"]


def defines_tests(code: str) -> bool:
    tree = ast.parse(code)
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
        for node in tree.body
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Samples may configure logging; put the root and library loggers back afterwards."""
    root, library = logging.getLogger(), logging.getLogger("anam_async")
    saved = (list(root.handlers), root.level, list(library.handlers), library.level)
    yield
    root.handlers[:], library.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    library.setLevel(saved[3])


def test_docs_have_python_samples() -> None:
    pages = {block.page for block in PYTHON_BLOCKS}
    assert {
        "index.md",
        "quickstart.md",
        "concurrency.md",
        "errors.md",
        "testing.md",
        "README.md",
    } <= pages


def test_no_block_hides_python_under_another_language() -> None:
    """A ```py or ```python3 block would be rendered as Python but never executed."""
    hidden = [block.id for block in all_blocks() if block.language in PYTHON_ALIASES]
    assert hidden == []


TEST_MODULE_BLOCKS = [block for block in PYTHON_BLOCKS if defines_tests(block.code)]


def module_name(block: Block) -> str:
    return f"test_{Path(block.page).stem}_block{block.number}"


SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$', re.MULTILINE)


def expand_snippets(code: str) -> str:
    """Inline pymdownx.snippets includes (paths from the repository root, as in mkdocs.yml)."""
    return SNIPPET.sub(lambda match: (ROOT / match["path"]).read_text(encoding="utf-8"), code)


def page_padded(block: Block) -> str:
    """The block's code (includes expanded), shifted so tracebacks give its page's lines."""
    return "\n" * (block.line - 1) + expand_snippets(block.code)


@pytest.fixture(scope="module")
def pytest_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run every test-module block in one pytest subprocess; outcomes by module name.

    One run, not one per block: pytest's start-up (plugin discovery) dominates the time.
    """
    directory = tmp_path_factory.mktemp("doc_test_modules")
    for block in TEST_MODULE_BLOCKS:
        (directory / f"{module_name(block)}.py").write_text(page_padded(block), encoding="utf-8")
    report = directory / "report.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-W",
        "error",
        "--rootdir",
        str(directory),
        f"--junitxml={report}",
        str(directory),
    ]
    completed = subprocess.run(
        command,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    outcomes: dict[str, list[str]] = {module_name(block): [] for block in TEST_MODULE_BLOCKS}
    if not report.exists():
        pytest.fail(f"pytest did not run the doc test modules:\n{completed.stdout}")
    for case in ElementTree.parse(report).iter("testcase"):
        module = case.get("classname", "").split(".")[0]
        problems = [child for child in case if child.tag in {"failure", "error", "skipped"}]
        outcome = "passed"
        if problems:
            outcome = f"{problems[0].tag}: {problems[0].text or problems[0].get('message')}"
        outcomes.setdefault(module, []).append(f"{case.get('name')}: {outcome}")
    return outcomes


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.id for block in PYTHON_BLOCKS])
async def test_python_block_runs(
    block: Block,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_logging: None,
    request: pytest.FixtureRequest,
) -> None:
    if defines_tests(block.code):
        outcomes: dict[str, list[str]] = request.getfixturevalue("pytest_outcomes")
        results = outcomes[module_name(block)]
        assert results, f"{block.id} (line {block.line}): no test ran"
        failed = [result for result in results if not result.endswith(": passed")]
        assert failed == [], f"{block.id} (line {block.line}):\n" + "\n".join(failed)
        return
    source = page_path(block.page)
    compiled = compile(page_padded(block), str(source), "exec")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    example_modules = [path.stem for path in EXAMPLES.glob("*.py")]
    try:
        async with FakeAnamAPI() as api:
            monkeypatch.setenv("ANAM_API_KEY", api.api_key)
            monkeypatch.setenv("ANAM_BASE_URL", api.url)
            namespace = {"__name__": "__main__", "__file__": str(source)}
            await asyncio.to_thread(exec, compiled, namespace)
    finally:
        # Each sample imports the examples afresh (their app state is per run).
        for name in example_modules:
            sys.modules.pop(name, None)
