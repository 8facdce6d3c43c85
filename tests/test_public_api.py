"""The public surface: exactly the names API.md promises, each documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec

import anam_async
from anam_async import testing

EXPECTED = {
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
}


def test_exported_names_are_exactly_the_public_ones() -> None:
    assert set(anam_async.__all__) == EXPECTED
    assert anam_async.__all__ == sorted(anam_async.__all__)
    for name in anam_async.__all__:
        assert hasattr(anam_async, name)


def test_every_public_name_in_the_package_is_exported() -> None:
    """Derived from the package's contents (as httpx does): a stray public name fails here."""
    public = {
        name
        for name, value in vars(anam_async).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert sorted(public | {"__version__"}) == anam_async.__all__


def test_every_public_module_lists_exactly_its_public_names() -> None:
    for module in (anam_async.errors, testing):
        defined = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
            and (inspect.isclass(value) or inspect.isfunction(value))
        }
        assert defined <= set(module.__all__), (module.__name__, defined - set(module.__all__))
        assert module.__all__ == sorted(module.__all__)


def test_public_classes_say_they_come_from_the_package() -> None:
    for name in anam_async.__all__:
        value = getattr(anam_async, name)
        if inspect.isclass(value) and not issubclass(value, msgspec.Struct):
            assert value.__module__ == "anam_async", name
    assert repr(anam_async.AnamClient).startswith("<class 'anam_async.AnamClient'")


def test_version_matches_the_distribution_metadata() -> None:
    from importlib.metadata import version

    assert anam_async.__version__ == version("anam-async")
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", anam_async.__version__)


def test_package_is_typed() -> None:
    assert (Path(anam_async.__file__).parent / "py.typed").is_file()


def test_every_public_name_has_a_docstring() -> None:
    modules = [anam_async, testing]
    for module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            if name == "__version__" or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"
            if not inspect.isclass(obj):
                continue
            # Members inherited from the package's own base classes count too.
            owners = [cls for cls in obj.__mro__ if cls.__module__.startswith("anam_async")]
            for owner in owners:
                for attr, member in vars(owner).items():
                    if attr.startswith("_") or not (
                        callable(member) or isinstance(member, property)
                    ):
                        continue
                    assert inspect.getdoc(member), f"{module.__name__}.{name}.{attr}: no docstring"


def test_every_public_name_is_mentioned_in_the_docs() -> None:
    docs = "\n".join(
        path.read_text(encoding="utf-8")
        for path in (Path(__file__).parents[1] / "docs").glob("*.md")
    )
    names = (EXPECTED - {"__version__"}) | set(testing.__all__)
    missing = [name for name in sorted(names) if not re.search(rf"\b{name}\b", docs)]
    assert missing == []


def test_every_module_lists_exactly_what_it_defines() -> None:
    """Private modules too: each ``__all__`` names what exists and every function and class
    the module defines (ruff keeps the order)."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(anam_async.__path__, "anam_async."):
        if info.name in ("anam_async.__main__", "anam_async._version"):
            continue
        module = importlib.import_module(info.name)
        listed = set(module.__all__)
        assert all(hasattr(module, name) for name in listed), info.name
        defined = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            # Where it is written, since public classes say they come from the package.
            and _written_in(value) == module.__file__
        }
        assert defined <= listed, (info.name, sorted(defined - listed))


def _written_in(value: object) -> str | None:
    try:
        return inspect.getsourcefile(value)  # type: ignore[arg-type]
    except TypeError:  # a built-in
        return None
