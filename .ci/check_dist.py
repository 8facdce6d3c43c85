"""Build the sdist and wheel, check them with twine, and check what they hold.

Then install the wheel without extras into a fresh virtual environment and import it there,
so the core is proven to need nothing but its two runtime dependencies.
Run from the repository root: ``python .ci/check_dist.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from fnmatch import fnmatch
from pathlib import Path

# Everything an sdist may hold, as patterns below its top folder; anything else fails.
SDIST_ALLOWED = [
    "PKG-INFO",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "mkdocs.yml",
    ".gitignore",
    "anam_async/*",
    "tests/*.py",
    "tests/hostile/*.py",
    "tests/prism/*.py",
    "tests/prism/package.json",
    "tests/prism/package-lock.json",
    "tests/spec/*",
    "tests/typing/*.py",
    "docs/*.md",
    "docs/examples/*.py",
    "docs/img/*.png",
    "docs/css/*.css",
    "benchmarks/*.py",
    "benchmarks/README.md",
]
WHEEL_ALLOWED = ["anam_async/*", "anam_async-*.dist-info/*"]
IMPORT_CHECK = """
import sys
import anam_async, anam_async.errors, anam_async.testing
third_party = {name.split(".")[0] for name in sys.modules} & {"rich", "click", "pytest", "opentelemetry"}
assert not third_party, third_party
print("imported anam_async", anam_async.__version__, "without extras")
"""


def run(*argv: str | Path) -> None:
    print("$", " ".join(str(a) for a in argv), flush=True)
    subprocess.run([str(a) for a in argv], check=True)


def check_members(kind: str, names: list[str], allowed: list[str]) -> None:
    stray = [name for name in names if not any(fnmatch(name, p) for p in allowed)]
    if stray:
        sys.exit(f"{kind} holds files it should not: {stray}")
    print(f"{kind}: {len(names)} files, all expected")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dist"
        run(sys.executable, "-m", "build", "--outdir", out, ".")
        sdist = next(out.glob("*.tar.gz"))
        wheel = next(out.glob("*.whl"))
        run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
        with tarfile.open(sdist) as archive:
            members = [m.name.split("/", 1)[1] for m in archive.getmembers() if m.isfile()]
        check_members("sdist", members, SDIST_ALLOWED)
        for required in ("LICENSE", "README.md", "anam_async/py.typed"):
            if required not in members:
                sys.exit(f"sdist lacks {required}")
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        check_members("wheel", names, WHEEL_ALLOWED)
        if not any(name.endswith("licenses/LICENSE") for name in names):
            sys.exit("wheel lacks the LICENSE")
        env = Path(tmp) / "venv"
        venv.create(env, with_pip=True)
        python = env / "bin" / "python"
        run(python, "-m", "pip", "install", "--quiet", wheel)
        run(python, "-c", IMPORT_CHECK)


if __name__ == "__main__":
    main()
