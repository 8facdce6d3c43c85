"""Plain http without allow_insecure_http: localhost, 127.0.0.0/8 and ::1, nothing else,
on every Python version."""

from __future__ import annotations

import pytest

from anam_async import AnamClient, AnamValidationError


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "127.255.255.254", "[::1]"]
)
def test_loopback_hosts_may_use_plain_http(host: str) -> None:
    AnamClient("k", base_url=f"http://{host}:8000")


@pytest.mark.parametrize(
    "host",
    [
        "[::ffff:127.0.0.1]",
        "[::1%25eth0]",
        "[0:0:0:0:0:ffff:7f00:1]",
        "128.0.0.1",
        "126.255.255.255",
        "0.0.0.0",
        "[::]",
        "localhost.example.com",
        "127.0.0.1.nip.io",
        "[::2]",
    ],
)
def test_anything_else_is_refused(host: str) -> None:
    with pytest.raises(AnamValidationError, match="loopback"):
        AnamClient("k", base_url=f"http://{host}:8000")


def test_anything_else_is_allowed_when_asked_for() -> None:
    AnamClient("k", base_url="http://[::ffff:127.0.0.1]:8000", allow_insecure_http=True)
