"""The exception tree and the mapping from HTTP status to exception.

```text
AnamError
├── AnamValidationError (also a ValueError)    bad arguments or configuration; no request sent
└── APIError
    ├── APIConnectionError                      could not connect / connection dropped
    │   └── APITimeoutError
    ├── APIResponseValidationError              body not JSON or not the documented shape
    └── APIStatusError                          any non-2xx after retries
        ├── BadRequestError        400
        ├── AuthenticationError    401
        ├── PermissionDeniedError  403
        ├── NotFoundError          404
        ├── RateLimitError         429   (.retry_after: float | None)
        └── InternalServerError    >= 500
```

No exception text ever contains the API key: messages are built from the method, the URL
(which never carries the key) and the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AnamError",
    "AnamValidationError",
    "AuthenticationError",
    "BadRequestError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
]


class AnamError(Exception):
    """Base class of every exception this library raises."""


class AnamValidationError(AnamError, ValueError):
    """Bad arguments or configuration, caught before any request was sent."""


class APIError(AnamError):
    """A request was attempted and did not give a usable answer.

    Attributes:
        method: The HTTP method of the request.
        url: The request URL (it never carries the API key).
    """

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """The connection could not be made, or it dropped before a whole response arrived.

    Attributes:
        request_sent: False only when the request surely never left (failure to connect,
            connect timeout); the retry policy retries a POST only then.
        transient: False when trying again cannot help (a TLS certificate that does not
            verify, a TLS handshake that fails): the retry policy then never retries.
    """

    request_sent: bool = True
    transient: bool = True


class APITimeoutError(APIConnectionError):
    """The attempt took longer than the client's timeout."""


class APIResponseValidationError(APIError):
    """The response body was not JSON, or not of the documented shape.

    Attributes:
        status: The HTTP status of the response.
        body_snippet: The first 200 characters of the body, for diagnosis.
    """

    def __init__(
        self, message: str, *, method: str, url: str, status: int, body_snippet: str
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status = status
        self.body_snippet = body_snippet

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status}, body starts: {self.body_snippet!r})"


class APIStatusError(APIError):
    """The API answered with a status that is not 2xx (after any retries).

    Attributes:
        status: The HTTP status.
        message: The JSON body's ``message`` (a list joined by "; "), else its ``error``,
            else the first 200 characters of the text.
        body: The decoded JSON body, else the text.
        headers: The response headers.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int,
        body: Any,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status = status
        self.body = body
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.status} {self.message}" if self.message else str(self.status)


class BadRequestError(APIStatusError):
    """400: the API rejected the request's arguments."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this."""


class NotFoundError(APIStatusError):
    """404: no such resource."""


class RateLimitError(APIStatusError):
    """429: too many requests.

    Attributes:
        retry_after: The wait the server asked for, in seconds, when it said one.
    """

    #: Set from the response's ``retry-after-ms`` / ``Retry-After`` header, else None.
    retry_after: float | None = None


class InternalServerError(APIStatusError):
    """A status of 500 or more."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def _class_for_status(status: int) -> type[APIStatusError]:
    """Return the exception class for a non-2xx status (the base class when none fits)."""
    if status >= 500:
        return InternalServerError
    return _BY_STATUS.get(status, APIStatusError)
