"""The transport's translation of aiohttp's failures, and whether the request may have left."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from yarl import URL

from anam_async import APIConnectionError, APITimeoutError
from anam_async._transport import send


class FailingSession:
    """Stands in for a ClientSession whose request raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


CONNECTOR_ERROR = aiohttp.ClientConnectorError(
    aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
    OSError(111, "refused"),
)


@pytest.mark.parametrize(
    ("error", "expected", "sent"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), APITimeoutError, False),
        (CONNECTOR_ERROR, APIConnectionError, False),
        (aiohttp.SocketTimeoutError("read"), APITimeoutError, True),
        (TimeoutError(), APITimeoutError, True),
        (aiohttp.ServerDisconnectedError(), APIConnectionError, True),
        (aiohttp.ClientPayloadError("cut"), APIConnectionError, True),
    ],
    ids=["connect-timeout", "cannot-connect", "read-timeout", "total-timeout", "drop", "cut"],
)
async def test_failures_map_to_library_errors_with_sent_flag(
    error: BaseException, expected: type[APIConnectionError], sent: bool
) -> None:
    with pytest.raises(expected) as caught:
        await send(
            FailingSession(error),  # type: ignore[arg-type]
            "POST",
            URL("https://api.example.test/v1/share-links"),
            headers={},
            body=b"{}",
            client_timeout=aiohttp.ClientTimeout(total=1),
            secret="",
        )
    assert type(caught.value) is expected
    assert caught.value.request_sent is sent
    assert caught.value.method == "POST"
    assert caught.value.url == "https://api.example.test/v1/share-links"
