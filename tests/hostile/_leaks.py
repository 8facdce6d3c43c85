"""Where a secret must never show up: the whole exception chain and every log record."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Iterator
from typing import Any

#: A key no server or message would produce by accident.
SECRET = "sk-LEAKCANARY-7f3a9c1e5b2d4a6f8e0c"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                todo.append(nxt)


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    """``repr`` of a value and, a few levels down, of its attributes and items."""
    yield repr(value)
    yield str(value)
    if depth >= 3:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key, depth + 1)
            yield from _texts(item, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _texts(item, depth + 1)
    elif hasattr(value, "items") and callable(value.items):  # multidicts
        try:
            for key, item in value.items():
                yield from _texts(key, depth + 1)
                yield from _texts(item, depth + 1)
        except Exception:  # a mapping that cannot be walked is still shown by its repr
            pass
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict) and not isinstance(value, type):
        for item in attributes.values():
            yield from _texts(item, depth + 1)
    for name in getattr(type(value), "__slots__", ()):
        if hasattr(value, name):
            yield from _texts(getattr(value, name), depth + 1)


def leaks(exc: BaseException, secret: str = SECRET) -> list[str]:
    """Every place in ``exc``'s chain (text, repr, args, attributes) that holds ``secret``."""
    found: list[str] = []
    formatted = "".join(traceback.format_exception(exc))
    if secret in formatted:
        found.append("traceback.format_exception")
    for link in _chain(exc):
        for piece in [*_texts(link.args), *_texts(link)]:
            if secret in piece:
                found.append(f"{type(link).__name__}: ...{piece[:120]}...")
                break
    return found


def leaking_records(records: Iterable[logging.LogRecord], secret: str = SECRET) -> list[str]:
    """The log records whose message, arguments or exception text hold ``secret``."""
    found = []
    for record in records:
        text = record.getMessage() + repr(record.args)
        if record.exc_info and record.exc_info[1] is not None:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        if secret in text:
            found.append(text[:200])
    return found
