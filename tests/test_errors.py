"""The exception tree of ``anam_async.errors``, exactly as API.md draws it."""

from __future__ import annotations

import inspect

import pytest

import anam_async
from anam_async import errors
from anam_async.errors import (
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

# child -> parent, as drawn in API.md.
PARENT: dict[type[Exception], type[Exception] | None] = {
    AnamError: None,
    AnamValidationError: AnamError,
    APIError: AnamError,
    APIConnectionError: APIError,
    APITimeoutError: APIConnectionError,
    APIResponseValidationError: APIError,
    APIStatusError: APIError,
    BadRequestError: APIStatusError,
    AuthenticationError: APIStatusError,
    PermissionDeniedError: APIStatusError,
    NotFoundError: APIStatusError,
    RateLimitError: APIStatusError,
    InternalServerError: APIStatusError,
}
CLASSES = list(PARENT)

TREE = """\
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
        └── InternalServerError    >= 500"""


def _ancestors(cls: type[Exception]) -> set[type[Exception]]:
    found = {cls}
    parent = PARENT[cls]
    while parent is not None:
        found.add(parent)
        parent = PARENT[parent]
    return found


@pytest.mark.parametrize("child", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("parent", CLASSES, ids=lambda c: c.__name__)
def test_issubclass_holds_exactly_along_the_drawn_tree(
    child: type[Exception], parent: type[Exception]
) -> None:
    assert issubclass(child, parent) is (parent in _ancestors(child))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_class_has_exactly_the_drawn_parent_among_library_errors(
    cls: type[Exception],
) -> None:
    library_bases = [base for base in cls.__bases__ if base in PARENT]
    expected = [] if PARENT[cls] is None else [PARENT[cls]]
    assert library_bases == expected


def test_anam_error_is_an_exception() -> None:
    assert issubclass(AnamError, Exception)


def test_anam_validation_error_is_also_a_value_error() -> None:
    assert issubclass(AnamValidationError, ValueError)
    with pytest.raises(ValueError, match="bad"):
        raise AnamValidationError("bad")


@pytest.mark.parametrize("cls", [c for c in CLASSES if c is not AnamValidationError])
def test_only_the_validation_error_is_a_value_error(cls: type[Exception]) -> None:
    assert not issubclass(cls, ValueError)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_package_reexports_the_same_class_object(cls: type[Exception]) -> None:
    assert getattr(anam_async, cls.__name__) is cls
    assert getattr(errors, cls.__name__) is cls
    assert cls.__name__ in anam_async.__all__
    assert cls.__name__ in errors.__all__


def test_package_and_errors_module_export_the_same_exception_classes() -> None:
    def exported(module: object) -> set[type[BaseException]]:
        return {
            obj
            for name in module.__all__  # type: ignore[attr-defined]
            if inspect.isclass(obj := getattr(module, name)) and issubclass(obj, BaseException)
        }

    assert exported(anam_async) == exported(errors) == set(CLASSES)


def test_errors_module_docstring_contains_the_tree_in_order() -> None:
    doc = errors.__doc__ or ""
    position = 0
    for line in TREE.splitlines():
        found = doc.find(line, position)
        assert found >= 0, f"missing or out of order: {line!r}"
        position = found + len(line)
