"""The repository's copies of the specs are the shared ones, byte for byte, where those exist.

The copies under ``tests/spec/`` let ``pytest`` run on a clone with nothing beside it; CI
has ``../shared/spec`` too, and there this test keeps the copies from drifting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent / "spec"
SHARED = Path(__file__).parents[2] / "shared" / "spec"


@pytest.mark.parametrize("name", ["share-links.openapi.yaml", "anam-openapi.json"])
def test_the_vendored_spec_equals_the_shared_one(name: str) -> None:
    shared = SHARED / name
    if not shared.is_file():
        # A newcomer's clone has no ../shared: the copy is all there is, and nothing to compare.
        assert (HERE / name).is_file()
        return
    assert (HERE / name).read_bytes() == shared.read_bytes(), (
        f"tests/spec/{name} differs from {shared}: copy the shared file over it"
    )
