"""The tests' namespace: the program's names as the tests see them (standard modules as fresh copies of what the
fork server loaded, plain data as copies, functions guarded), with builtins of the harness's own and an ``import``
that serves those copies. Part of the harness (see ``_harness``); standard library only."""

from __future__ import annotations

import builtins
import sys
import types

from _harness_messages import _FAIL, _fail_message
from _harness_values import _MAX_ITEMS, _guarded, _NotPlain, _walk

# Every function below looks builtins up here, not in the builtins module a candidate can rebind.
globals()["__builtins__"] = dict(builtins.__dict__)

# References taken now, before any candidate: C functions and descriptors a candidate cannot change.
_ModuleType = types.ModuleType
_real_import = builtins.__import__

# The standard modules as the fork server had them (after its imports, before any candidate): name -> (module,
# a copy of its dict); and the identity of every object those dicts hold.
_MODULES: dict[str, tuple[types.ModuleType, dict]] = {}
_MODULE_NAMES: dict[int, str] = {}
_STANDARD: set[int] = set()
_UNCOPIED = frozenset({"__main__", "__mp_main__", "sys", "_confine", "_server"})  # and the harness's (_harness*)
_copies: dict[str, types.ModuleType] = {}  # the module copies of this run's tests


def snapshot_modules() -> None:
    """Record the loaded modules as they are now: the tests' imports are served from these records. The fork
    server calls this once, after its imports."""
    for name, module in list(sys.modules.items()):
        if type(module) is _ModuleType and type(name) is str and name not in _UNCOPIED and name[:8] != "_harness":
            kept = dict(module.__dict__)
            _MODULES[name] = (module, kept)
            _MODULE_NAMES[id(module)] = name
            _STANDARD.update(map(id, kept.values()))


def _module_copy(name: str) -> types.ModuleType:
    made = _copies.get(name)
    if made is None:
        made = _ModuleType(name)
        made.__dict__.update(_MODULES[name][1])
        _copies[name] = made
    return made


def _trusted_import(
    name: str, globals: object = None, locals: object = None, fromlist: object = (), level: int = 0
) -> object:
    """The tests' ``__import__``: a module recorded by ``snapshot_modules`` comes as a fresh copy of its record,
    out of the candidate's reach (its rebinding of ``math.fabs`` does not show); any other is imported as usual."""
    if level == 0 and type(name) is str:
        parts = name.split(".")
        names = [".".join(parts[: k + 1]) for k in range(len(parts))]
        if all(n in _MODULES for n in names):
            chain = [_module_copy(n) for n in names]
            for parent, child, part in zip(chain, chain[1:], parts[1:]):
                parent.__dict__[part] = child
            return chain[-1] if fromlist else chain[0]
    return _real_import(name, globals, locals, fromlist, level)


_TEST_BUILTINS = dict(builtins.__dict__)
_TEST_BUILTINS["__import__"] = _trusted_import
_HIDDEN = object()


def _expose(name: str, value: object) -> object:
    """How a name of the program shows in the tests' namespace: a standard module as a fresh copy (also when the
    program bound another module to the name of a standard one), another module or standard object as itself,
    plain data as a copy, anything callable wrapped by ``_guarded``; else hidden."""
    k = id(value)
    module = _MODULE_NAMES.get(k)
    if module is not None and _MODULES[module][0] is value:
        return _module_copy(module)
    if type(value) is _ModuleType:
        return _module_copy(name) if name in _MODULES else value
    if k in _STANDARD:
        return value
    try:
        return _walk(value, 0, [_MAX_ITEMS])
    except _NotPlain:
        pass
    if callable(value):
        return _guarded(value, name)
    return _HIDDEN


def _test_namespace(ns: dict) -> dict:
    """The tests' globals: the program's names (those not shadowing a builtin), as ``_expose`` shows them."""
    tns = {"__name__": "__test__", "__builtins__": _TEST_BUILTINS, _FAIL: _fail_message}
    for key, value in list(dict.items(ns)):
        if type(key) is not str or key[:2] == "__" or key[:9] == "_sandbox_" or key in _TEST_BUILTINS:
            continue
        shown = _expose(key, value)
        if shown is not _HIDDEN:
            tns[key] = shown
    return tns
