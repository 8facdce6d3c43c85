"""anam-async: an asyncio-first client for the Anam AI REST API.

```python
async with AnamClient() as client:
    async for link in client.share_links.stream(concurrency=8):
        print(link.id, link.persona_name)
```
"""

from ._client import AnamClient, ShareLinks
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
