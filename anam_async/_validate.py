"""Argument checks, one per kind of value.

Every message names the Python parameter, shows the value (shortened) and states the rule,
``per_page=101 is invalid: must be an int in 1..100``, so a user can fix the call without
reading this code. Every check raises `AnamValidationError` (a ``ValueError``) before any
request exists.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Final, TypeGuard

import msgspec

from .errors import AnamValidationError

__all__ = [
    "MAX_INT",
    "check_bool",
    "check_int",
    "check_optional_int",
    "check_positive_number",
    "check_search",
    "check_uuid",
    "invalid",
    "is_int",
]

#: The largest int any parameter takes: no parameter of the API is larger, and a huge int
#: would fail later (formatting it into a URL) with Python's own ValueError.
MAX_INT: Final = 2**63 - 1
# The largest integer a JSON number carries exactly.
_MAX_SAFE_INT: Final = 2**53
_VALUE_CHARS: Final = 60
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32}"
)


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        # An int past Python's digit limit, or an object whose repr raises: the message must
        # still be an AnamValidationError naming the parameter.
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__name__} object>"
    if len(text) > _VALUE_CHARS:
        text = text[: _VALUE_CHARS - 3] + "..."
    return text


def invalid(name: str, value: object, rule: str) -> AnamValidationError:
    """Build the validation error for parameter ``name``: ``name=value is invalid: rule``."""
    return AnamValidationError(f"{name}={_shown(value)} is invalid: {rule}")


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an int and not a bool (``page=True`` is a bug, never a page)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value: object, low: int, high: int = MAX_INT) -> int:
    """Return ``value`` if it is an int (not a bool) in ``low..high``; else raise."""
    if not is_int(value) or not low <= value <= high:
        raise invalid(name, value, _int_rule(low, high))
    return value


def check_optional_int(name: str, value: object, low: int) -> int | None:
    """Like `check_int` with no upper bound, but ``None`` passes."""
    if value is None:
        return None
    if not is_int(value) or not low <= value <= MAX_INT:
        raise invalid(name, value, _int_rule(low, MAX_INT) + " or None")
    return value


def _int_rule(low: int, high: int) -> str:
    if high != MAX_INT:
        return f"must be an int in {low}..{high}"
    return f"must be an int >= {low} (at most 2**63 - 1)"


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a bool; else raise."""
    if not isinstance(value, bool):
        raise invalid(name, value, "must be a bool")
    return value


def check_search(value: object) -> str | None:
    """Return the search term (a str that can be URL-encoded) or None; else raise."""
    if value is not None:
        if not isinstance(value, str):
            raise invalid("search", value, "must be a str or None")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate cannot be URL-encoded; refuse it here, not at send time.
            raise invalid("search", value, "must be valid Unicode text") from None
    return value


def check_uuid(name: str, value: object) -> str:
    """Return the canonical lowercase hyphenated form of a UUID given as UUID or str.

    A string must be the 36-character hyphenated form or 32 hex digits (any case); braces,
    ``urn:uuid:`` and anything else are refused, so an id reaches a URL path only once it is
    known to be exactly 32 hex digits.
    """
    if isinstance(value, uuid.UUID):
        # From the value, never from str(): a subclass's __str__ could put anything in the path.
        return str(uuid.UUID(int=value.int))
    if isinstance(value, str) and _UUID_RE.fullmatch(value):
        return str(uuid.UUID(value))
    raise invalid(
        name, value, "must be a uuid.UUID or a UUID string (36-char hyphenated or 32 hex digits)"
    )


def check_positive_number(name: str, value: object) -> float | int | msgspec.UnsetType:
    """A positive finite number, or UNSET for None (left out of the JSON body)."""
    if value is None:
        return msgspec.UNSET
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(name, value, "must be a positive finite number or None")
    # An int is checked against the largest integer JSON numbers carry exactly (math.isfinite
    # would overflow on a huge int); a float against inf and nan.
    if value <= 0 or (
        value > _MAX_SAFE_INT if isinstance(value, int) else not math.isfinite(value)
    ):
        raise invalid(name, value, "must be a positive finite number (at most 2**53) or None")
    return value
