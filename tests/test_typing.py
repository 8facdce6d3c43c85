"""mypy on tests/typing/: the public overloads and generator types, as a user's mypy sees them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TYPING = Path(__file__).parent / "typing"


def test_the_public_types_check_with_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(TYPING)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_the_check(tmp_path: Path) -> None:
    """Guards the test above: mypy really evaluates assert_type on these names."""
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from typing import assert_type\n"
        "from anam_async import AnamClient, ShareLink\n"
        "async def f(client: AnamClient) -> None:\n"
        "    assert_type(await client.share_links.get('x'), ShareLink)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(wrong)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert "assert-type" in result.stdout
