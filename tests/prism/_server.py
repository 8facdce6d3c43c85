"""Install and run Stoplight Prism (pinned in ``package.json`` beside this file) for the tests.

`ensure_prism` brings Prism in on first use (``npm ci`` here when ``node_modules`` is missing
or holds another version than the pin), so a plain ``pytest`` on a fresh clone works.
`PrismServer` runs one ``prism mock`` or ``prism proxy`` process on a free ``127.0.0.1`` port,
waits (with a deadline, polling) until it listens, and stops it. Every failure raises
`PrismError` saying why: the tests turn it into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

PRISM_DIR = Path(__file__).resolve().parent
SPEC = PRISM_DIR.parent / "spec" / "share-links.openapi.yaml"
PACKAGE = "@stoplight/prism-cli"
NPM_CI = ("npm", "ci", "--no-audit", "--no-fund")
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
READY_LINE = "Prism is listening on"
START_ATTEMPTS = 3


class PrismError(RuntimeError):
    """Prism could not be installed or started; the message says why."""


def pinned_version() -> str:
    """The exact version of Prism that ``package.json`` pins."""
    manifest = json.loads((PRISM_DIR / "package.json").read_text(encoding="utf-8"))
    return str(manifest["devDependencies"][PACKAGE])


def installed_version() -> str | None:
    """The version of Prism in ``node_modules``, or None when it is not installed."""
    manifest = PRISM_DIR / "node_modules" / PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise PrismError(
            f"{tool} is not on PATH: Prism ({PACKAGE}, pinned in {PRISM_DIR / 'package.json'}) "
            "needs Node.js and npm; install them (e.g. `apt-get install nodejs npm`)"
        )
    return path


def ensure_prism() -> str:
    """Install the pinned Prism with ``npm ci`` unless it is there already.

    Serialised across processes by a lock file, so parallel test runs install once.

    Returns:
        The installed version.

    Raises:
        PrismError: node or npm is missing, or ``npm ci`` failed.
    """
    _require("node")
    wanted = pinned_version()
    if installed_version() == wanted:
        return wanted
    npm = _require("npm")
    lock_path = Path(tempfile.gettempdir()) / f"anam-async-prism-{os.getuid()}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed_version() != wanted:
            try:
                done = subprocess.run(
                    [npm, *NPM_CI[1:]],
                    cwd=PRISM_DIR,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise PrismError(
                    f"`{' '.join(NPM_CI)}` in {PRISM_DIR} took over {INSTALL_TIMEOUT:.0f} s"
                ) from exc
            if done.returncode != 0:
                raise PrismError(
                    f"`{' '.join(NPM_CI)}` in {PRISM_DIR} failed with exit code "
                    f"{done.returncode}:\n{_tail(done.stdout + done.stderr)}"
                )
    version = installed_version()
    if version != wanted:
        raise PrismError(
            f"`{' '.join(NPM_CI)}` in {PRISM_DIR} left {PACKAGE} {version} installed, "
            f"not the pinned {wanted}"
        )
    return version


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrismServer:
    """One Prism process (``mock`` or ``proxy``) on a free ``127.0.0.1`` port.

    Args:
        name: What the tests call it, for messages ("static mock", ...).
        args: Prism's arguments before the host and port, e.g. ``["mock", SPEC, "-d"]``.
    """

    def __init__(self, name: str, args: Sequence[str | Path]) -> None:
        self.name = name
        self.args = [str(arg) for arg in args]
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``"http://127.0.0.1:40123"``."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What Prism printed so far (its log of requests and violations)."""
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def _command(self) -> list[str]:
        node = _require("node")
        script = (PRISM_DIR / "node_modules" / ".bin" / "prism").resolve()
        if not script.is_file():
            raise PrismError(f"Prism is not installed: {script} is missing (run `npm ci` there)")
        return [node, str(script), *self.args, "-h", "127.0.0.1", "-p", str(self.port)]

    def spawn(self) -> None:
        """Start the process on a fresh free port, without waiting for it."""
        self.port = _free_port()
        self._log = tempfile.NamedTemporaryFile(prefix="prism-", suffix=".log", delete=False)  # noqa: SIM115
        self._process = subprocess.Popen(
            self._command(),
            cwd=PRISM_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _listening(self) -> bool:
        if READY_LINE not in self.log():
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def wait_ready(self, deadline: float) -> bool:
        """Poll until Prism listens; False when it exited because its port was taken.

        Raises:
            PrismError: Prism exited for another reason, or did not listen by ``deadline``.
        """
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                output = self.log()
                if "EADDRINUSE" in output:
                    self._discard()
                    return False
                self._discard()
                raise PrismError(
                    f"Prism ({self.name}) exited with code {code} before listening:\n"
                    f"{_tail(output)}"
                )
            if self._listening():
                return True
            if time.monotonic() > deadline:
                output = self.log()
                self.stop()
                raise PrismError(
                    f"Prism ({self.name}) did not listen within {START_TIMEOUT:.0f} s:\n"
                    f"{_tail(output)}"
                )
            time.sleep(POLL_INTERVAL)

    def _discard(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def stop(self) -> None:
        """Terminate the process and wait for it; idempotent."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._discard()

    def __enter__(self) -> Self:
        start_all([self])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_all(servers: Sequence[PrismServer]) -> None:
    """Start every server at once and wait until all listen (a taken port is retried).

    Raises:
        PrismError: one of them could not start; the others are stopped.
    """
    ensure_prism()
    pending = list(servers)
    try:
        for _ in range(START_ATTEMPTS):
            for server in pending:
                server.spawn()
            deadline = time.monotonic() + START_TIMEOUT
            pending = [server for server in pending if not server.wait_ready(deadline)]
            if not pending:
                return
        names = ", ".join(server.name for server in pending)
        raise PrismError(f"Prism ({names}) found its port taken {START_ATTEMPTS} times")
    except BaseException:
        for server in servers:
            server.stop()
        raise
