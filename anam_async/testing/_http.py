"""The aiohttp side of the fake: JSON error responses, 404 and 405 from the router in the
API's shape, dropping a connection, and the `RecordedResponse` of an answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeAlias, cast

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ._faults import Fault, Operation, error_body
from ._records import RecordedRequest, RecordedResponse

__all__ = [
    "Handler",
    "drop",
    "error_response",
    "operation_of",
    "recorded_response",
    "routed",
]

Handler: TypeAlias = Callable[[web.Request], Awaitable[web.StreamResponse]]

_METHOD_ORDER: Final = ("GET", "POST", "PUT", "DELETE")


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON error in the real API's shape."""
    return web.Response(
        status=status,
        body=error_body(status, message),
        content_type="application/json",
        headers=headers,
    )


def recorded_response(
    record: RecordedRequest, response: web.StreamResponse, fault: Fault | None
) -> RecordedResponse:
    """What the ``on_response`` hooks get for this answer."""
    body = response.body if isinstance(response, web.Response) else None
    return RecordedResponse(
        request=record,
        status=response.status,
        headers=CIMultiDictProxy(CIMultiDict(response.headers)),
        body=body if isinstance(body, bytes) else b"",
        fault=fault,
    )


def operation_of(request: web.Request) -> Operation | None:
    """The operation the router matched (its route name); None for a 404 or 405."""
    if request.match_info.http_exception is not None:
        return None
    return cast(Operation, request.match_info.route.name)


async def routed(request: web.Request, handler: Handler) -> web.Response:
    """The route's answer, or the router's 404 or 405 (with ``Allow``) in the API's shape."""
    try:
        return cast(web.Response, await handler(request))
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(m for m in _METHOD_ORDER if m in exc.allowed_methods)
        message = f"Method {request.method} is not allowed on {request.path}"
        return error_response(405, message, headers={"Allow": allowed})
    except web.HTTPNotFound:
        return error_response(404, f"Cannot {request.method} {request.path}")


async def drop(
    request: web.Request, response: web.Response, *, after_headers: bool
) -> web.StreamResponse:
    """Close the connection instead of answering, or after the headers and half the body."""
    transport = request.transport
    if not after_headers:
        if transport is not None:
            transport.close()
        # Writing this to the closed transport makes aiohttp end the connection quietly.
        return response
    body = cast(bytes, response.body)
    partial = web.StreamResponse(status=response.status)
    partial.content_type = response.content_type
    partial.content_length = len(body)
    await partial.prepare(request)
    await partial.write(body[: len(body) // 2])
    if transport is not None:
        # close(), not abort(): the partial body must be flushed before the FIN.
        transport.close()
    return partial
