"""What the constructor accepts: the key, base_url and the loopback rule, the timeout, headers.

`Config.resolve` reads the arguments (and the ``ANAM_API_KEY`` / ``ANAM_BASE_URL``
environment variables), checks every one and returns the settled configuration, or raises
`AnamValidationError`. The key and the base URL are never shown in a message: a key passed
in the wrong place, or credentials in a URL, must not reach a log.
"""

from __future__ import annotations

import ipaddress
import math
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from yarl import URL

from ._validate import check_bool, check_int, invalid
from ._version import __version__
from .errors import AnamValidationError

__all__ = [
    "DEFAULT_BASE_URL",
    "Config",
    "check_api_key",
    "check_base_url",
    "check_headers",
    "check_timeout",
    "is_loopback",
]

DEFAULT_BASE_URL: Final = "https://api.anam.ai"
#: Every request body is JSON, and says so: a JSON API ignores a body labelled otherwise.
JSON_CONTENT_TYPE: Final = "application/json"
_IPV4_LOOPBACK: Final = ipaddress.IPv4Network("127.0.0.0/8")
_IPV6_LOOPBACK: Final = ipaddress.IPv6Address("::1")
# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than HTAB (RFC 9110 section 5.5), and DEL.
_BAD_VALUE_CHARS: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The headers that carry the key, frame or route the request, or say what its body is.
_RESERVED_HEADERS: Final = {
    "authorization": "cannot be set: the client sends the key itself (pass api_key)",
    "content-length": "cannot be set: it frames the request, and aiohttp sets it",
    "transfer-encoding": "cannot be set: it frames the request, and aiohttp sets it",
    "host": "cannot be set: it routes the request; it comes from base_url",
    "connection": "cannot be set: aiohttp manages the connection",
    "content-type": "cannot be set: bodies are JSON and labelled so; another label would "
    "make the API ignore them",
}
# Control characters and whitespace would let a key split a header or smuggle another one.
_BAD_KEY_CHARS: Final = re.compile(r"[\s\x00-\x1f\x7f]")
_USER_AGENT: Final = (
    f"anam-async/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)


def is_loopback(host: str) -> bool:
    # Exactly localhost, 127.0.0.0/8 and ::1 on every Python version: ip_address's
    # is_loopback also takes ::ffff:127.0.0.1 from 3.13 on, and a scoped ::1%eth0.
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return address.scope_id is None and address == _IPV6_LOOPBACK
    return address in _IPV4_LOOPBACK


def check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    # The value is never shown: a key passed here by mistake, or credentials in the URL,
    # must not reach a message.
    def refuse(rule: str) -> AnamValidationError:
        return AnamValidationError(f"base_url is invalid: {rule}")

    if not isinstance(base_url, str):
        raise refuse(f"must be an http(s) URL string, not {type(base_url).__name__}")
    if re.search(r"[\x00-\x20\x7f]", base_url):
        raise refuse("must not contain spaces or control characters")
    try:
        # yarl is what aiohttp will send with: its reading of the host is the one that counts
        # (urlsplit reads "http://[::1].evil.test" as the loopback host "::1").
        url = URL(base_url)
        host = url.raw_host
        url.port  # noqa: B018 -- reading it validates the port number
    except (ValueError, TypeError):
        raise refuse("not a valid URL") from None
    if url.scheme not in ("http", "https") or not host:
        raise refuse("must be an http(s) URL with a host")
    # An empty "?" or "#" would still swallow the path appended after the base URL.
    if "?" in base_url or "#" in base_url or url.raw_user is not None or url.raw_password:
        raise refuse("must not carry a query, a fragment or credentials")
    try:
        host.encode("idna")
    except UnicodeError:
        raise refuse(
            "its host name cannot be encoded (a label longer than 63 characters?)"
        ) from None
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise refuse(
            "plain http is allowed only to loopback hosts (localhost, 127.0.0.0/8, ::1); "
            "use https, or pass allow_insecure_http=True to send the key in clear on purpose"
        )
    return base_url.rstrip("/")


def check_timeout(timeout: object) -> aiohttp.ClientTimeout:
    if isinstance(timeout, aiohttp.ClientTimeout):
        for field in ("total", "connect", "sock_read", "sock_connect"):
            value = getattr(timeout, field)
            if value is not None and not (
                isinstance(value, int | float) and value > 0 and math.isfinite(value)
            ):
                raise invalid("timeout", timeout, f"{field} must be finite and > 0, or None")
        return timeout
    rule = "must be a finite number of seconds > 0"
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise invalid("timeout", timeout, rule)
    try:
        seconds = float(timeout)
    except OverflowError:
        raise invalid("timeout", timeout, rule) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise invalid("timeout", timeout, rule)
    return aiohttp.ClientTimeout(total=seconds)


def check_api_key(api_key: object) -> str:
    # The value is never shown: the messages describe what is wrong without echoing it.
    if not isinstance(api_key, str):
        raise AnamValidationError(
            f"api_key is invalid: must be a str, not {type(api_key).__name__}"
        )
    if not api_key:
        raise AnamValidationError("api_key is invalid: it is empty")
    if _BAD_KEY_CHARS.search(api_key) or not (api_key.isascii() and api_key.isprintable()):
        raise AnamValidationError(
            "api_key is invalid: it contains whitespace, control or non-ASCII characters"
        )
    return api_key


def check_headers(headers: object) -> dict[str, str]:
    """The extra headers, keyed by lowercase name. Values are never shown in a message."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise AnamValidationError(
            f"headers is invalid: must be a mapping of str to str, not {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    names: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise AnamValidationError("headers is invalid: names and values must be str")
        if not _TOKEN.fullmatch(name):
            # Not shown: a name such as "Authorization:Bearer <key>" would carry the key.
            raise AnamValidationError(
                "headers is invalid: a header name must be an RFC 9110 token "
                "(letters, digits and !#$%&'*+-.^_`|~, not empty)"
            )
        lower = name.lower()
        if lower in _RESERVED_HEADERS:
            raise AnamValidationError(f"headers is invalid: {name} {_RESERVED_HEADERS[lower]}")
        if _BAD_VALUE_CHARS.search(value):
            raise AnamValidationError(
                f"headers is invalid: the value of {name} holds a control character"
            )
        if lower in checked:
            raise AnamValidationError(f"headers is invalid: {name} is given twice")
        checked[lower] = value
        names[lower] = name
    return {names[lower]: value for lower, value in checked.items()}


@dataclass(frozen=True, slots=True, repr=False)
class Config:
    """The checked settings of one client (never shown whole: it holds the key).

    Attributes:
        key: The API key.
        base_url: The API root, without a trailing slash.
        timeout: Per attempt.
        max_retries: Retries after the first attempt.
        max_response_bytes: The largest body one response may hold.
        headers: Every request's headers, the key's ``Authorization`` included.
        json_headers: ``headers`` plus ``Content-Type: application/json``, for a body.
    """

    key: str
    base_url: str
    timeout: aiohttp.ClientTimeout
    max_retries: int
    max_response_bytes: int
    headers: Mapping[str, str]
    json_headers: Mapping[str, str]

    @classmethod
    def resolve(
        cls,
        *,
        api_key: object,
        base_url: object,
        timeout: object,
        max_retries: object,
        headers: object,
        allow_insecure_http: object,
        max_response_bytes: object,
    ) -> Config:
        """Check the constructor's arguments, the environment filling in what is None.

        Raises:
            AnamValidationError: a bad value, or no key at all.
        """
        if api_key is None:
            api_key = os.environ.get("ANAM_API_KEY")
            if api_key is None:
                raise AnamValidationError(
                    "api_key is missing: pass api_key= or set the ANAM_API_KEY environment variable"
                )
        key = check_api_key(api_key)
        if base_url is None:
            base_url = os.environ.get("ANAM_BASE_URL") or DEFAULT_BASE_URL
        insecure = check_bool("allow_insecure_http", allow_insecure_http)
        every = _default_headers(key, check_headers(headers))
        return cls(
            key=key,
            base_url=check_base_url(base_url, allow_insecure_http=insecure),
            timeout=check_timeout(timeout),
            max_retries=check_int("max_retries", max_retries, 0),
            max_response_bytes=check_int("max_response_bytes", max_response_bytes, 1),
            headers=every,
            json_headers={**every, "Content-Type": JSON_CONTENT_TYPE},
        )


def _default_headers(key: str, extra: dict[str, str]) -> dict[str, str]:
    lowered = {name.lower(): name for name in extra}
    # A caller's User-Agent is kept after ours rather than replacing it; a caller's
    # Accept replaces ours (names compare case-insensitively: one Accept, never two).
    user_agent = extra.pop(lowered["user-agent"]) if "user-agent" in lowered else None
    accept = extra.pop(lowered["accept"]) if "accept" in lowered else "application/json"
    return {
        **extra,
        "Accept": accept,
        "User-Agent": f"{_USER_AGENT} {user_agent}" if user_agent else _USER_AGENT,
        "Authorization": f"Bearer {key}",
    }
