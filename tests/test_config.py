"""AnamClient construction: configuration from arguments and environment, and its refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from anam_async import AnamClient, AnamValidationError

KEY = "sk_test_configuration_key_123"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANAM_API_KEY", raising=False)
    monkeypatch.delenv("ANAM_BASE_URL", raising=False)


def test_client_can_be_built_outside_a_running_loop() -> None:
    client = AnamClient(KEY)
    assert client.base_url == "https://api.anam.ai"
    assert client.closed is False


def test_key_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANAM_API_KEY", KEY)
    assert AnamClient()._config.headers["Authorization"] == f"Bearer {KEY}"


def test_argument_key_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANAM_API_KEY", "from_env")
    assert AnamClient(KEY)._config.headers["Authorization"] == f"Bearer {KEY}"


def test_no_key_anywhere_is_a_validation_error() -> None:
    with pytest.raises(AnamValidationError, match="api_key"):
        AnamClient()


def test_base_url_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANAM_BASE_URL", "https://eu.api.example.test/")
    assert AnamClient(KEY).base_url == "https://eu.api.example.test"


def test_base_url_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANAM_BASE_URL", "https://env.example.test")
    assert AnamClient(KEY, base_url="https://arg.example.test").base_url == (
        "https://arg.example.test"
    )


def test_path_prefix_is_kept() -> None:
    assert AnamClient(KEY, base_url="https://gw.example.test/anam/").base_url == (
        "https://gw.example.test/anam"
    )


@pytest.mark.parametrize("key", ["", "has space", "tab\there", "new\nline", "nul\x00", "del\x7f"])
def test_malformed_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(AnamValidationError, match="api_key") as caught:
        AnamClient(key)
    if key:
        assert key not in str(caught.value)


def test_non_string_key_is_refused() -> None:
    with pytest.raises(AnamValidationError, match="api_key"):
        AnamClient(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://127.0.0.1:9",
        "http://127.255.0.9",
        "http://[::1]:8000",
    ],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert AnamClient(KEY, base_url=url).base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.anam.ai",
        "http://10.0.0.1",
        "http://localhost.example.test",
        "http://[::2]",
        "http://0.0.0.0",
        "http://128.0.0.1",
    ],
)
def test_plain_http_to_other_hosts_is_refused(url: str) -> None:
    with pytest.raises(AnamValidationError, match=r"^base_url is invalid: .*loopback"):
        AnamClient(KEY, base_url=url)


def test_plain_http_allowed_when_asked() -> None:
    client = AnamClient(KEY, base_url="http://api.internal.test", allow_insecure_http=True)
    assert client.base_url == "http://api.internal.test"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.anam.ai",
        "api.anam.ai",
        "https://",
        "https://api.anam.ai?x=1",
        "https://api.anam.ai#frag",
        "https://user:pw@api.anam.ai",
        "https://api.anam.ai:99999",
        "",
    ],
)
def test_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(AnamValidationError, match=r"^base_url is invalid: "):
        AnamClient(KEY, base_url=url)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -3.0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": aiohttp.ClientTimeout(total=0)}, "timeout"),
        ({"timeout": aiohttp.ClientTimeout(total=None, connect=-1)}, "timeout"),
        ({"session": "not a session"}, "session"),
        ({"headers": ["X-A"]}, "headers"),
        ({"headers": {"X-A": 1}}, "headers"),
        ({"headers": {"X-A": "a\r\nInjected: 1"}}, "headers"),
        ({"headers": {"Authorization": "Bearer other"}}, "headers"),
        ({"allow_insecure_http": "yes"}, "allow_insecure_http"),
    ],
)
def test_bad_configuration_names_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(AnamValidationError, match=rf"^{parameter}"):
        AnamClient(KEY, **kwargs)


def test_timeout_number_becomes_a_total_timeout() -> None:
    assert AnamClient(KEY, timeout=2.5)._config.timeout == aiohttp.ClientTimeout(total=2.5)


def test_repr_never_shows_the_key() -> None:
    client = AnamClient(KEY)
    assert KEY not in repr(client)
    assert KEY not in repr(client.share_links)
    assert "api.anam.ai" in repr(client)


def test_user_agent_from_extra_headers_is_appended() -> None:
    client = AnamClient(KEY, headers={"User-Agent": "my-app/1.0"})
    assert client._config.headers["User-Agent"].startswith("anam-async/")
    assert client._config.headers["User-Agent"].endswith(" my-app/1.0")


def test_no_session_is_created_before_first_use() -> None:
    client = AnamClient(KEY)
    assert client._session is None
    asyncio.run(client.close())
