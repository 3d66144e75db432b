"""Turn names from a config into objects: a built-in name, ``module:Class`` or ``path/to/file.py:Class``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, TypeVar

from selftaught.errors import SelftaughtError

T = TypeVar("T")

# Plug-ins named by file path get a module name that depends only on the file's absolute path, so the same plug-in
# has the same name in every process. The name -> path map travels in the environment (worker processes inherit
# it), and a finder on sys.meta_path imports such a module by name wherever selftaught is imported: so a plug-in's
# classes and objects pickle by reference across processes (a worker pool, Ray workers on the same machine).
PLUGIN_PREFIX = "selftaught_plugin_"
PLUGIN_ENV = "SELFTAUGHT_PLUGINS"


def plugin_module_name(path: Path) -> str:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    return f"{PLUGIN_PREFIX}{stem}_{digest}"


def _known_plugins() -> dict[str, str]:
    pairs = (item.partition("=") for item in os.environ.get(PLUGIN_ENV, "").split(os.pathsep) if item)
    return {name: path for name, _, path in pairs}


def _remember_plugin(name: str, path: Path) -> None:
    known = _known_plugins()
    if known.get(name) != str(path):
        known[name] = str(path)
        os.environ[PLUGIN_ENV] = os.pathsep.join(f"{k}={v}" for k, v in known.items())


class _PluginFinder(importlib.abc.MetaPathFinder):
    """Finds ``selftaught_plugin_*`` modules by the path recorded for them in the environment."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001, ANN201 (the importlib protocol)
        if not fullname.startswith(PLUGIN_PREFIX):
            return None
        file = _known_plugins().get(fullname)
        return importlib.util.spec_from_file_location(fullname, file) if file else None


if not any(isinstance(f, _PluginFinder) for f in sys.meta_path):
    sys.meta_path.append(_PluginFinder())


def load_object(spec: str, what: str) -> Any:
    """Import ``module:Name`` or ``file.py:Name``; errors name the spec and what it was meant to be."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise SelftaughtError(f"{what} {spec!r}: expected a built-in name, 'module:Class' or 'file.py:Class'")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise SelftaughtError(f"{what} {spec!r}: file {path} does not exist")
        mod_name = plugin_module_name(path)
        _remember_plugin(mod_name, path)
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
