"""A program's outputs on many inputs, as the property and output-vote verifiers collect them: the test code that
calls the entry point on each input and prints each outcome under a nonce, and the reading of those lines back into
values (parsed as literals here, never evaluated)."""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from typing import Any

from selftaught.sandbox import Result

_OUTPUT_CHARS = 2000  # a longer output repr counts as a failure ("too long to check")
SHOWN_CHARS = 120  # an output shown in feedback is cut to this many characters


def driver(inputs: Sequence[Any], entry_point: str, unpack: bool, nonce: str) -> str:
    """Test code that calls ``entry_point`` on each input and prints 'nonce i ["ok", repr]' or '["err", why]'."""
    call = f"{entry_point}(*_st_x)" if unpack else f"{entry_point}(_st_x)"
    return (
        "import json as _st_json\n"
        f"for _st_i, _st_x in enumerate({list(inputs)!r}):\n"
        "    try:\n"
        f"        _st_line = ['ok', repr({call})]\n"
        "    except BaseException as _st_e:\n"
        "        _st_line = ['err', type(_st_e).__name__ + ': ' + str(_st_e)[:200]]\n"
        f"    print({nonce!r}, _st_i, _st_json.dumps(_st_line), flush=True)\n"
    )


def read_outputs(result: Result, n: int, nonce: str) -> list[tuple[str, Any]]:
    """Each input's outcome: ("ok", value), ("err", message), ("bad", text) for an output that is not a plain value,
    or ("missing", why) when the run stopped before it (the first missing input is the one it stopped on)."""
    got: dict[int, tuple[str, Any]] = {}
    for line in result.stdout.splitlines():
        at = line.find(nonce)
        if at < 0:
            continue
        try:
            _, index, payload = line[at:].split(" ", 2)
            kind, text = json.loads(payload)
            i = int(index)
        except ValueError:
            continue
        if kind == "ok":
            if len(text) > _OUTPUT_CHARS:
                got[i] = ("bad", text[:SHOWN_CHARS] + "... (too long to check)")
                continue
            try:
                got[i] = ("ok", ast.literal_eval(text))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                got[i] = ("bad", text)
        else:
            got[i] = ("err", text)
    if result.status in ("passed", "failed"):
        why = "no output"
    else:
        why = f"{result.status}: {result.message}" if result.message else result.status
    out, first = [], True
    for i in range(n):
        if i in got:
            out.append(got[i])
        else:
            out.append(("missing", why if first else "not run: the program had stopped"))
            first = False
    return out
