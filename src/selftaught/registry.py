"""Turn names from a config into objects: a built-in name, ``module:Class`` or ``path/to/file.py:Class``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, TypeVar

from .errors import SelftaughtError

T = TypeVar("T")


def load_object(spec: str, what: str) -> Any:
    """Import ``module:Name`` or ``file.py:Name``; errors name the spec and what it was meant to be."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise SelftaughtError(f"{what} {spec!r}: expected a built-in name, 'module:Class' or 'file.py:Class'")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise SelftaughtError(f"{what} {spec!r}: file {path} does not exist")
        mod_name = f"selftaught_user_{path.stem}_{abs(hash(str(path)))}"
        module = sys.modules.get(mod_name)
        if module is None:
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise SelftaughtError(f"{what} {spec!r}: cannot import {path}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            try:
                loader_spec.loader.exec_module(module)
            except Exception as e:
                del sys.modules[mod_name]
                raise SelftaughtError(f"{what} {spec!r}: importing {path} failed: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise SelftaughtError(f"{what} {spec!r}: cannot import module {target!r} ({e})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SelftaughtError(f"{what} {spec!r}: module {target!r} has no attribute {attr!r}") from None


def resolve(spec: str, builtins: dict[str, type[T]], what: str, base: type) -> type[T]:
    """A class from a built-in name or an import spec, checked to subclass ``base``."""
    if spec in builtins:
        return builtins[spec]
    if ":" not in spec:
        raise SelftaughtError(f"unknown {what} {spec!r}; built-in: {', '.join(builtins)} (or 'module:Class')")
    cls = load_object(spec, what)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise SelftaughtError(f"{what} {spec!r} is not a subclass of selftaught's {base.__name__}")
    return cls
