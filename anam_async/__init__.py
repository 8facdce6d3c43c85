"""anam-async: an asyncio-first client for the Anam AI REST API.

```python
async with AnamClient() as client:
    async for link in client.share_links.stream(concurrency=8):
        print(link.id, link.persona_name)
```
"""

from msgspec import Struct as _Struct

from ._client import AnamClient
from ._share_links import ShareLinks
from ._types import Page, Pagination, PersonaShareLink, ShareLink, ShareLinkPage, ShareLinkType
from ._version import __version__
from .errors import (
    AnamError,
    AnamValidationError,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AnamClient",
    "AnamError",
    "AnamValidationError",
    "AuthenticationError",
    "BadRequestError",
    "InternalServerError",
    "NotFoundError",
    "Page",
    "Pagination",
    "PermissionDeniedError",
    "PersonaShareLink",
    "RateLimitError",
    "ShareLink",
    "ShareLinkPage",
    "ShareLinkType",
    "ShareLinks",
    "__version__",
]

# Public names show where users import them from (``anam_async.AnamClient``, also in
# tracebacks and reprs), not the private module that defines them: httpx does the same.
# Not the Structs: msgspec (and typing.get_type_hints) resolve their string annotations in
# the namespace of ``__module__``, which must stay the defining module.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and not issubclass(_value, _Struct):
        _value.__module__ = "anam_async"
del _name, _value
