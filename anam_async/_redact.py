"""Keeping the API key out of everything a server sends back: one place for every rule.

A server may echo the key (a debug page, a proxy's error, a header): it is replaced by
``***`` in error messages and snippets (raw, escaped as ``repr`` or JSON would escape it, and
any 8-character run of it, for a key cut short), in decoded JSON bodies (where ``\\u``
escapes can spell it) and in the names and values of the headers an error carries.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, Final

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "REDACTED",
    "redact",
    "redact_bytes",
    "redact_decoded",
    "redact_headers",
    "variants",
]

REDACTED: Final = "***"
#: The shortest run of the key's characters that is redacted when found on its own (a key
#: cut short by aiohttp's truncation of a long line, say).
FRAGMENT_CHARS: Final = 8


@functools.lru_cache(maxsize=16)
def variants(secret: str) -> tuple[str, ...]:
    """The key as text may show it: raw, and escaped by ``repr`` (str or bytes) or JSON."""
    forms = {
        secret,
        secret.replace("\\", "\\\\"),
        secret.replace("\\", "\\\\").replace("'", "\\'"),
        json.dumps(secret)[1:-1],
    }
    # Longest first, so that an escaped form is replaced whole rather than in part.
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` (raw or escaped) and any 8-character run of it replaced."""
    if not secret:
        return text
    for form in variants(secret):
        text = text.replace(form, REDACTED)
    width = FRAGMENT_CHARS
    if len(secret) < width or len(text) < width:
        return text
    grams = {secret[i : i + width] for i in range(len(secret) - width + 1)}
    hidden = [False] * len(text)
    found = False
    for i in range(len(text) - width + 1):
        if text[i : i + width] in grams:
            hidden[i : i + width] = [True] * width
            found = True
    if not found:
        return text
    pieces: list[str] = []
    for i, char in enumerate(text):
        if not hidden[i]:
            pieces.append(char)
        elif i == 0 or not hidden[i - 1]:
            pieces.append(REDACTED)
    return "".join(pieces)


def redact_headers(headers: Mapping[str, str], secret: str | None) -> Mapping[str, str]:
    """The headers, rebuilt with the key replaced only when a server echoed it in one."""
    if not secret:
        return headers
    forms = variants(secret)
    # One scan of the raw header block first: a server that echoes the key is rare.
    block = "\n".join(f"{name}:{value}" for name, value in headers.items())
    if not any(form in block for form in forms):
        return headers
    clean: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        for form in forms:
            name = name.replace(form, REDACTED)
            value = value.replace(form, REDACTED)
        clean.add(name, value)
    return CIMultiDictProxy(clean)


def redact_bytes(body: bytes, secret: str | None) -> bytes:
    """``body`` with every raw occurrence of ``secret`` replaced by ``***``."""
    return body.replace(secret.encode(), REDACTED.encode()) if secret else body


def redact_decoded(value: Any, secret: str) -> Any:
    # JSON can spell the key with \u escapes, which only decoding turns back into the key.
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, list):
        return [redact_decoded(item, secret) for item in value]
    if isinstance(value, dict):
        return {
            redact_decoded(key, secret): redact_decoded(item, secret) for key, item in value.items()
        }
    return value
