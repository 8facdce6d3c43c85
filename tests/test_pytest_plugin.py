"""The pytest plugin's fixtures, as a user's test suite gets them from the entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from anam_async import AnamClient
from anam_async.testing import FakeAnamAPI

DOCS = Path(__file__).parents[1] / "docs"


async def test_fake_api_fixture_is_running(anam_fake_api: FakeAnamAPI) -> None:
    assert anam_fake_api.url.startswith("http://127.0.0.1:")
    assert anam_fake_api.api_key


async def test_client_fixture_is_bound_to_the_fake(
    anam_fake_api: FakeAnamAPI, anam_client: AnamClient
) -> None:
    page = await anam_client.share_links.list(per_page=3)
    assert len(page.data) == 3
    assert anam_client.base_url == anam_fake_api.url
    assert anam_fake_api.requests[0].headers["Authorization"] == f"Bearer {anam_fake_api.api_key}"


def test_plugin_is_registered_through_the_entry_point(pytestconfig: object) -> None:
    from importlib.metadata import entry_points

    [entry] = [e for e in entry_points(group="pytest11") if e.name == "anam_async"]
    assert entry.value == "anam_async.pytest_plugin"


USER_TEST = """
from anam_async import AnamClient


async def test_lists(anam_client: AnamClient) -> None:
    assert len((await anam_client.share_links.list(per_page=2)).data) == 2
"""

#: The configuration docs/testing.md gives, whole.
DOCUMENTED_CONFIG = """
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
"""


def _pytest_in(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_documented_configuration_runs_clean_with_warnings_as_errors(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(DOCUMENTED_CONFIG)
    assert DOCUMENTED_CONFIG.strip() in (DOCS / "testing.md").read_text()
    result = _pytest_in(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "warning" not in result.stdout.lower()


def test_without_pytest_asyncio_the_fixtures_say_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    result = _pytest_in(tmp_path, "-p", "no:asyncio")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "need pytest-asyncio: pip install pytest-asyncio" in result.stdout
    assert "AssertionError" not in result.stdout


def test_loading_the_plugin_does_not_import_the_fake_server() -> None:
    code = (
        "import sys, anam_async.pytest_plugin; "
        "heavy = {'anam_async.testing', 'aiohttp.web'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
