"""The only module that touches aiohttp: send one request, return status, headers and body.

aiohttp's exceptions are translated here into the library's, with a note of whether the
request may have reached the server (the retry policy needs it for POST).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from .errors import APIConnectionError, APITimeoutError

__all__ = ["RawResponse", "send"]


@dataclass(frozen=True, slots=True)
class RawResponse:
    """A whole response: status, headers and the body read to the end."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


def _connection_error(
    cls: type[APIConnectionError],
    what: str,
    exc: BaseException,
    *,
    method: str,
    url: str,
    sent: bool,
) -> APIConnectionError:
    detail = str(exc) or type(exc).__name__
    error = cls(f"{what} for {method} {url}: {detail}", method=method, url=url)
    error.request_sent = sent
    return error


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    client_timeout: aiohttp.ClientTimeout,
) -> RawResponse:
    """Send one request and read the whole response.

    Redirects are never followed: a 3xx comes back as it is, so the key never follows one.

    Raises:
        APITimeoutError: the attempt ran out of time.
        APIConnectionError: the connection failed or dropped (a body cut short included).
    """
    shown = str(url)
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=body,
            timeout=client_timeout,
            allow_redirects=False,
            # A borrowed session may raise for status by default; statuses are ours to map.
            raise_for_status=False,
        ) as response:
            return RawResponse(response.status, response.headers, await response.read())
    # Failing to connect, or timing out while connecting, happens before a byte of the request
    # is sent: the only errors after which even a POST may be retried.
    except aiohttp.ConnectionTimeoutError as exc:
        raise _connection_error(
            APITimeoutError, "connect timeout", exc, method=method, url=shown, sent=False
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        raise _connection_error(
            APIConnectionError, "cannot connect", exc, method=method, url=shown, sent=False
        ) from exc
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        raise _connection_error(
            APITimeoutError, "timeout", exc, method=method, url=shown, sent=True
        ) from exc
    except aiohttp.ClientError as exc:
        raise _connection_error(
            APIConnectionError, "connection error", exc, method=method, url=shown, sent=True
        ) from exc
