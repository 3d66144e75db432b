"""Refine attempts on the code task, with the experience memory of earlier fixes against without it: how many
failing programs the model fixes when shown its previous answer and the tests' feedback, after 1, 2 and 3 turns.

One run of the `code-selftrain` preset (list-functions, tests verifier) trains round 0 once; its directory is then
copied (``fork_run``) and finished over two self-labelled refine rounds (3 turns, depths 1-3) per arm and seed, A B A B:
`memory` (``refine.memory = true``: prompts show the retrieved earlier fixes, and round 1 trains the model to read
them: its fixes and accepted answers with the memory in their prompts, as round 2's ATTEMPT shows it) and
`no_memory` (no fix in any prompt; the fixes train on their plain refine prompts). A seed (``seed = 0, 1, 2``) draws
the later rounds' problems and samples; both arms of a seed draw the same. Round 1 has no earlier fixes to show, so
its ATTEMPT is the same in both arms; they differ from round 1's CURATE on, and round 2 is where the memory is read.

Measured in round 2 (from ``refine_turns``): ``solved_after_t`` (share of all samples accepted within t turns;
``solved_after_1`` is the first-turn solve rate) and ``fix_rate_after_t`` (share of the samples failing after turn 1
that turns 2..t fixed), per seed, their medians over seeds and the rates pooled over seeds; held-out greedy accuracy
per depth after round 2; how many of round 1's training examples show the memory. ``value``: the median over seeds
of round 2's fix rate after 3 turns, with the memory minus without (target: >= 0).

    python benchmarks/refine.py [--quick] [--out DIR]

The full form: round 0 as the preset trains it (4,000 steps, about 4 minutes on 2 idle cores), then 6 arms of two
rounds of 120 problems x 4 samples (about half a minute each): 6-9 minutes in all. ``--quick``: a small round 0 and
one seed.
"""

from __future__ import annotations

import statistics
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
SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)  # --quick: one seed, the two arms
ARMS = (("memory", True), ("no_memory", False))
FIX = f"fix_rate_after_{TURNS}"


def rates(store: Store, r: int) -> dict:
    """Round ``r``'s samples, those failing after turn 1, the fixes of turns 2..TURNS, and the rates."""
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
    out["fixed_in_later_turns"] = done - (turns[1]["fixed"] if turns else 0)
    return out


def finish(base: Path, run_dir: Path, memory: bool, seed: int) -> dict:
    """Rounds 1-2 on a copy of round 0, with the memory on or off, the later rounds drawn from ``seed``."""
    _, wall, _ = run_fork(base, run_dir, [f"refine.memory={str(memory).lower()}", f"seed={seed}"])
    store = Store.open(run_dir / "run.db")
    try:
        trained = store.examples(1, fresh_only=True)
        out = {
            "round_1": rates(store, 1),
            "round_2": rates(store, 2),
            "memory_entries": len(store.memory(3)),
            "memory_used": sum(1 for row in store.memory(3) if row["uses"]),
            # list-functions writes a shown fix as ~failed=>fixed at the prompt's start
            "round_1_examples": len(trained),
            "round_1_examples_with_memory": sum(1 for e in trained if e.prompt.startswith("~")),
            "accuracy_after_round_2": {e["difficulty"]: round(e["accuracy"], 3) for e in store.evaluations(2)},
        }
    finally:
        store.close()
    out["wall_seconds"] = round(wall, 1)
    print(f"memory={memory} seed={seed}: {out}", file=sys.stderr)
    return out


def summary(runs: list[dict]) -> dict:
    """Round 2 over seeds: medians of the rates, and the rates pooled (sums of counts)."""
    r2 = [run["round_2"] for run in runs]
    samples = sum(x["samples"] for x in r2)
    failing = sum(x["failing_after_turn_1"] for x in r2)
    first = sum(x["samples"] - x["failing_after_turn_1"] for x in r2)
    later = sum(x["fixed_in_later_turns"] for x in r2)
    return {
        "round_2_fix_rate_median": _median([x[FIX] for x in r2]),
        "round_2_first_turn_solved_median": _median([x["solved_after_1"] for x in r2]),
        "round_2_solved_within_3_median": _median([x[f"solved_after_{TURNS}"] for x in r2]),
        "round_2_fix_rate_pooled": round(later / failing, 4) if failing else None,
        "round_2_first_turn_solved_pooled": round(first / samples, 4) if samples else None,
        "round_2_failing_pooled": failing,
    }


def _median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 4) if xs else None


def main() -> None:
    bench = Bench("refine", parser(__doc__, out=True).parse_args())
    seeds = QUICK_SEEDS if bench.quick else SEEDS
    with bench.workdir() as root:
        base = root / "round-0"
        round_0 = round(train_round_zero(base, "code-selftrain", [*COMMON, *(QUICK if bench.quick else FULL)]), 1)
        print(f"round 0 trained in {round_0} s", file=sys.stderr)
        runs: dict[str, list[dict]] = {name: [] for name, _ in ARMS}
        for seed in seeds:  # A B A B
            for name, memory in ARMS:
                runs[name].append(finish(base, root / f"{name}-{seed}", memory, seed))
    diffs = [
        round(m["round_2"][FIX] - n["round_2"][FIX], 4)
        for m, n in zip(runs["memory"], runs["no_memory"], strict=True)
        if m["round_2"][FIX] is not None and n["round_2"][FIX] is not None
    ]
    first = [
        round(m["round_2"]["solved_after_1"] - n["round_2"]["solved_after_1"], 4)
        for m, n in zip(runs["memory"], runs["no_memory"], strict=True)
        if m["round_2"]["solved_after_1"] is not None and n["round_2"]["solved_after_1"] is not None
    ]
    value = _median(diffs)
    bench.emit(
        f"round 2 fix rate after {TURNS} turns, with the memory minus without (median over seeds)",
        value,
        "share of failing samples fixed",
        target_met=None if value is None else value >= 0,
        fix_rate_differences=diffs,
        first_turn_solved_differences=first,
        memory=summary(runs["memory"]),
        no_memory=summary(runs["no_memory"]),
        seeds=list(seeds),
        runs=runs,
        round_0_seconds=round_0,
        wall_seconds=bench.seconds(),
        budget_seconds=720,
    )


if __name__ == "__main__":
    main()
