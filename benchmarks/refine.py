"""Refine attempts on the code task: how many failing programs the model fixes when shown its previous answer and the
tests' feedback, after 1, 2 and 3 turns, with and without the experience memory of earlier fixes.

One run of the `code-selftrain` preset (list-functions, tests verifier) trains round 0 once; its directory is then
copied and finished twice with `loop.attempts = "refine"` (3 turns) over two self-labelled rounds at depth 3: once
with the memory on, once with it off (`fork_run` sets `refine.memory = false` in the copy's stored config). Round 1
has no earlier fixes to show, so both variants are identical up to round 2's ATTEMPT, where only the memory differs.
Measured in round 2 (from `refine_turns`): `solved_after_t` (share of all samples accepted within t turns) and
`fix_rate_after_t` (share of the samples failing after turn 1 that turns 2..t fixed). The metric is round 2's fix
rate after 3 turns with the memory on.

    python benchmarks/refine.py [--quick] [--out DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import Bench, parser
from _runs import run_fork, train_round_zero

from selftaught.store import Store

TURNS = 3
COMMON = [
    "task.high=3",  # both self-labelled rounds draw depths 1-3 (the preset's uniform teacher), so they ask alike
    "loop.max_rounds=2",
    "loop.min_accepted=0",
    "loop.attempts=refine",
    f"refine.turns={TURNS}",
    "refine.memory=true",
    "refine.retrieval=value",
    "eval.ahead=1",
]
FULL = [  # round 0 as the preset trains it
    "loop.problems_per_round=120",
    "verifier.samples=4",
    "train.round_steps=60",
    "eval.problems=40",
]
QUICK = [
    "loop.labelled_problems=600",
    "train.labelled_steps=120",
    "loop.problems_per_round=12",
    "verifier.samples=2",
    "train.round_steps=4",
    "eval.problems=4",
]


def rates(store: Store, r: int) -> dict:
    turns = {row["turn"]: row for row in store.refine_turns(r)}
    total = turns[1]["tried"] if turns else 0
    failing = total - turns[1]["fixed"] if turns else 0
    out: dict = {"samples": total, "failing_after_turn_1": failing}
    done = 0
    for t in range(1, TURNS + 1):
        done += turns[t]["fixed"] if t in turns else 0
        out[f"solved_after_{t}"] = round(done / total, 4) if total else None
        if t > 1:
            fixed = done - turns[1]["fixed"]
            out[f"fix_rate_after_{t}"] = round(fixed / failing, 4) if failing else None
    return out


def finish(base: Path, run_dir: Path, memory: bool) -> dict:
    """Rounds 1-2 on a copy of round 0; without the memory, prompts never show earlier fixes."""
    _, wall, _ = run_fork(base, run_dir, [f"refine.memory={str(memory).lower()}"])
    store = Store.open(run_dir / "run.db")
    try:
        out = {
            "round_1": rates(store, 1),
            "round_2": rates(store, 2),
            "memory_entries": len(store.memory(3)),
            "memory_used": sum(1 for row in store.memory(3) if row["uses"]),
        }
    finally:
        store.close()
    out["wall_seconds"] = round(wall, 1)
    print(f"memory={memory}: {out}", file=sys.stderr)
    return out


def main() -> None:
    bench = Bench("refine", parser(__doc__, out=True).parse_args())
    with bench.workdir() as root:
        base = root / "round-0"
        round_0 = round(train_round_zero(base, "code-selftrain", [*COMMON, *(QUICK if bench.quick else FULL)]), 1)
        print(f"round 0 trained in {round_0} s", file=sys.stderr)
        runs = {}
        for name, memory in (("memory", True), ("no_memory", False)):
            runs[name] = finish(base, root / name, memory)
        with_mem = runs["memory"]["round_2"].get(f"fix_rate_after_{TURNS}")
        without = runs["no_memory"]["round_2"].get(f"fix_rate_after_{TURNS}")
        bench.emit(
            f"round_2_fix_rate_after_{TURNS}_turns_with_memory",
            with_mem,
            "share of failing samples fixed",
            without_memory=without,
            memory=runs["memory"],
            no_memory=runs["no_memory"],
            round_0_seconds=round_0,
            wall_seconds=bench.seconds(),
            budget_seconds=480,
        )


if __name__ == "__main__":
    main()
