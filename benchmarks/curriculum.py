"""Curricula: how many training steps each teacher needs until every skill x difficulty is learned.

Labelled setting: a mix of 5 skills x 6 difficulties (reversed addition, multiplication, copy, reversal, sorting at
lengths 1..6), trained from scratch on labelled problems (oracle answers; a pool of 8,000 per cell, so that a teacher
which dwells on one cell does not merely memorise it). The learning rate is 3e-3 for 1,000 steps, then decays as
1 / sqrt(step), the same for every teacher and independent of the budget. The teacher chooses every batch's cells and
updates every K = 100 steps from its own held-out slice. Every 100 steps the benchmark measures greedy accuracy on its
own held-out set (200 problems per cell); the metric is the first measured step at which every cell is >= 95 %,
within 12,000 steps (a run that does not get there counts as 12,000, and the JSON says the figure is censored). Each
teacher runs with 3 seeds; medians, spreads, and the ratio of the best adaptive teacher's median to uniform's are
printed. The metric counts steps, not seconds, so the (teacher, seed) runs go to two single-threaded worker
processes side by side. A teacher that wraps another project (syllabus-lp: Syllabus's learning-progress curriculum,
with its defaults) runs only where its optional package imports; elsewhere the JSON lists it under ``unavailable``.

Self-labelled setting: the full loop from labels at lengths 1..4, then rounds where the model labels its own answers
(vote + length filter). With a fixed budget of rounds, how far each skill's frontier (the highest difficulty mastered
at >= 90 %, every lower one too) moves, with the learning-progress teacher vs the fixed ladder.

``--average 0.99`` trains every teacher's run with ``train.average``: each measurement (the teacher's slice and
the benchmark's held-out set) reads an average of about the last 100 steps' weights, the model a stop there would
keep.

    python benchmarks/curriculum.py [--quick] [--teachers uniform,progress,syllabus-lp] [--seeds 3] [--average 0.99]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from _common import Bench, log, parser

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run.build import build_parts
from selftaught.run.loop import Loop
from selftaught.run.picking import TeacherBatches
from selftaught.seeding import derive_seed, rng_for
from selftaught.store import Store
from selftaught.teachers import EXTRA_TEACHERS, Outcome, Skill
from selftaught.training.schedules import Schedule
from selftaught.types import Example, Problem

TASKS = ["reversed-addition", "multiplication", "copy", "reversal", "sorting"]
TEACHERS = ["uniform", "ladder", "progress", "ucb", "alp-gmm", "skill-it", "mastery", "syllabus-lp"]
MASTERED = 0.95
MOST = 0.9  # a second, always measurable mark: the step at which 90 % of the cells are mastered
LR, BATCH = 3e-3, 128
HALF = 1000  # the learning rate is LR until step HALF, then LR * sqrt(HALF / step): 0.32 * LR at 10,000 steps
SKILL_IT = {"eta": 2.0}  # sharper than the default 0.5, which barely favours a cell at 75 % over a mastered one
FRONTIER = 0.9
PARTIAL_MARKS = (10, 15, 20, 25)  # cells mastered (of 30; --quick has 12, so only 10 can be reached)


def unavailable(teacher: str) -> str | None:
    """Why ``teacher`` cannot run here (a wrapped project's package does not import), or None."""
    if teacher not in EXTRA_TEACHERS:
        return None
    try:
        EXTRA_TEACHERS[teacher](skills=[Skill("probe", 1, 1)])
    except SelftaughtError as e:
        return str(e)
    return None


def mix(quick: bool) -> list[str]:
    """The skills of the mix: all five, or the first three in --quick."""
    return TASKS[:3] if quick else TASKS


class InverseSqrt(Schedule):
    """``LR * min(1, sqrt(HALF / step))``: a decay that does not depend on the budget, so a teacher's step count
    does not either (a schedule that ends at the budget would put every teacher's mastery near its end)."""

    name = "inverse-sqrt"

    def factor(self, step: int, total: int) -> float:
        return min(1.0, (HALF / (step + 1)) ** 0.5)

    def shape(self, z: float) -> float:  # unused: the factor depends on the step, not on the fraction of the budget
        return 1.0


class Mastered(Exception):
    """Raised from inside training when every cell reaches the threshold; carries the step."""

    def __init__(self, step: int) -> None:
        self.step = step


def labelled_experiment(teacher: str, seed: int, top: int, every: int, quick: bool, average: float = 0.0) -> Experiment:
    tasks = mix(quick)
    return Experiment.model_validate(
        {
            "name": "curriculum",
            "seed": seed,
            "skills": [{"task": t, "low": 1, "high": top, "labelled_max": top} for t in tasks],
            # The ladder climbs a skill once its slice reaches 90 % at the current difficulty and keeps half of each
            # batch on the difficulties below (its defaults, made for self-labelled rounds, would climb every update
            # and train on the newest difficulty alone); skill-it runs with a larger step size (SKILL_IT); the other
            # teachers (mastery among them) run with their defaults.
            "teacher": {
                "kind": teacher,
                "labelled": True,
                "every": every,
                "params": {"ladder": {"advance_at": 0.9, "review": 0.5}, "skill-it": SKILL_IT}.get(teacher, {}),
            },
            "student": {"n_layer": 2, "n_embd": 64},
            "eval": {"slice": 16},
            "train": {"lr": LR, "batch_size": BATCH, "schedule": "constant", "warmup": 0.0, "average": average},
            "loop": {"labelled_max": top, "max_rounds": 0},
        }
    )


def held_out(parts, seed: int, per_cell: int, tag: str) -> list[Problem]:
    out = []
    for skill in parts.skills.skills:
        task = parts.skills.tasks[skill.name]
        for d in skill.difficulties:
            seen: set[str] = set()
            for i in range(per_cell):
                p = task.sample(rng_for(seed, tag, skill.name, d, i), d)
                if p.prompt not in seen:
                    seen.add(p.prompt)
                    out.append(Problem(skill.name, d, p.prompt, p.target, 0))
    return out


def accuracy(student, tasks, problems: list[Problem]) -> dict[tuple[str, int], tuple[int, int]]:
    groups: dict[tuple[str, int], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.task, p.difficulty), []).append(p)
    out = {}
    for (skill, d), group in groups.items():
        answers = student.generate([p.prompt for p in group], max_new_tokens=tasks[skill].max_answer_len(d) + 1)
        out[(skill, d)] = (sum(a[0] == p.target for a, p in zip(answers, group)), len(group))
    return out


def labelled_pool(parts, seed: int, size: int, held: list[Problem]) -> list[Example]:
    """``size`` labelled problems per cell, kept clear of the held-out prompts where the cell's problem space is large.

    Where it is small (fewer than 10 distinct prompts per held-out one among 20 draws per held-out one: 1-digit sums
    and products, short strings over few symbols), the cell is a table of facts that no model can answer unseen, so
    its held-out test can only check that the table was learned, and the pool covers the whole space.
    """
    tasks = parts.skills.tasks
    examples = []
    for skill in parts.skills.skills:
        task = tasks[skill.name]
        for d in skill.difficulties:
            avoid = {p.prompt for p in held if p.task == skill.name and p.difficulty == d}
            probe = {task.sample(rng_for(seed, "space", skill.name, d, i), d).prompt for i in range(20 * len(avoid))}
            if len(probe) < 10 * len(avoid):
                avoid = set()
            for i in range(size):
                p = task.sample(rng_for(seed, "pool", skill.name, d, i), d)
                for k in range(10):
                    if p.prompt not in avoid:
                        break
                    p = task.sample(rng_for(seed, "pool", skill.name, d, i, k), d)
                examples.append(Example(p.prompt, p.target, d, "labelled", 0, skill.name))
    return examples


def steps_to_master(teacher: str, seed: int, args) -> dict:
    """Train one teacher from scratch; the first step (a multiple of K) at which every cell is >= MASTERED."""
    exp = labelled_experiment(teacher, seed, args.top, args.every, args.quick, args.average)
    parts = build_parts(exp)
    tasks, student = parts.skills.tasks, parts.students[0]
    test = held_out(parts, derive_seed(seed, "bench"), args.per_cell, "test")
    slice_ = held_out(parts, derive_seed(seed, "bench"), 16, "slice")
    test_cells = {(p.task, p.difficulty) for p in test}
    examples = labelled_pool(parts, seed, args.pool, test + slice_)
    history, curve = [], []
    t0 = time.perf_counter()

    def measure(step: int) -> list[Outcome]:
        if step % args.measure_every == 0:
            check(step)
        return [Outcome(s, d, k, n, "slice") for (s, d), (k, n) in accuracy(student, tasks, slice_).items()]

    def check(step: int) -> None:
        scores = accuracy(student, tasks, test)
        cell = min(scores, key=lambda c: scores[c][0] / scores[c][1])
        worst = scores[cell][0] / scores[cell][1]
        history.append((step, f"{cell[0]}:{cell[1]}", round(worst, 3)))
        solved = sum(k / n >= MASTERED for k, n in scores.values())
        curve.append((step, solved))
        if step % 1000 == 0:
            log(
                f"    {teacher} step {step}: {solved}/{len(scores)} cells mastered, worst {history[-1][1:]}, "
                f"{time.perf_counter() - t0:.0f}s"
            )
        if worst >= MASTERED:
            raise Mastered(step)

    rng = rng_for(seed, "bench", "teacher")
    batches = TeacherBatches(examples, parts.teacher, rng, args.max_steps, args.every, measure)
    try:
        student.fit(examples, InverseSqrt(), args.max_steps, seed=derive_seed(seed, "train"), pick=batches)
        check(args.max_steps)
        step, reached = args.max_steps, False
    except Mastered as m:
        step, reached = m.step, True
    shares: dict[str, int] = {}
    for counts in batches.counts.values():
        for (s, _), n in counts.items():
            shares[s] = shares.get(s, 0) + n
    total = sum(shares.values()) or 1
    return {
        "steps": step,
        "reached": reached,
        "steps_to_most": first_step(curve, MOST * len(test_cells), args.max_steps),
        "mastered_at_end": curve[-1][1],
        "cells": len(test_cells),
        "seconds": round(time.perf_counter() - t0, 1),
        "share": {s: round(n / total, 3) for s, n in shares.items()},
        "worst_curve": history[-5:],
        "mastered_curve": curve,  # (step, cells mastered) at every measurement
    }


def frontier_experiment(teacher: str, seed: int, rounds: int, quick: bool) -> Experiment:
    """The self-labelled setting's experiment: labels up to length 3 (quick) or 4, then ``rounds`` rounds."""
    top = 3 if quick else 4
    tasks = mix(quick)
    return Experiment.model_validate(
        {
            "name": "curriculum-frontier",
            "seed": seed,
            "skills": [{"task": t, "labelled_max": top, "high": top + 2 * rounds} for t in tasks],
            # The ladder climbs between rounds; the learning-progress teacher also re-mixes each round's batches
            # from a held-out slice every 100 steps (it has nothing to go on before its first measurements).
            "teacher": {"kind": "ladder", "params": {"advance_at": FRONTIER}}
            if teacher == "ladder"
            else {"kind": teacher, "every": 100},
            "student": {"n_layer": 2, "n_embd": 64},
            "train": {
                "lr": LR,
                "batch_size": 64 if quick else BATCH,
                "labelled_steps": 600 if quick else 5000,
                "round_steps": 100 if quick else 400,
            },
            "loop": {
                "labelled_max": top,
                "labelled_problems": 3000 if quick else 15000,
                "problems_per_round": 300 if quick else 1500,
                "max_rounds": rounds,
                "stop_accuracy": 0.0,
                "min_accepted": 0.0,
            },
            "eval": {"problems": 50 if quick else 200, "ahead": 2, "slice": 16},
        }
    )


def frontier_run(teacher: str, seed: int, args) -> dict:
    """The loop, self-labelled, for a fixed budget of rounds; each skill's mastered frontier before and after."""
    tasks = mix(args.quick)
    exp = frontier_experiment(teacher, seed, 1 if args.quick else args.rounds, args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        Loop.create(Path(tmp) / "run", exp, "").run()
        store = Store.open(Path(tmp) / "run" / "run.db")
        evaluations = store.evaluations()
        samples: dict[str, int] = {}
        for row in store.curriculum():
            if row["round"] > 0:
                samples[row["skill"]] = samples.get(row["skill"], 0) + row["count"]
        store.close()
    last = max(e["round"] for e in evaluations)
    out = {}
    for skill in tasks:
        mastered = {}
        for r in (0, last):
            acc = {e["difficulty"]: e["accuracy"] for e in evaluations if e["round"] == r and e["task"] == skill}
            d = 0
            while acc.get(d + 1, 0.0) >= FRONTIER:
                d += 1
            mastered[r] = d
        out[skill] = {"start": mastered[0], "end": mastered[last], "moved": mastered[last] - mastered[0]}
    return {"skills": out, "seconds": round(time.perf_counter() - t0, 1), "self_samples": samples}


def first_step(curve: list[tuple[int, int]], k: float, budget: int) -> int:
    """The first measured step with at least ``k`` cells mastered (``budget`` if none)."""
    return next((step for step, solved in curve if solved >= k), budget)


def spread(xs: list[float]) -> list[float]:
    return [min(xs), max(xs)]


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--teachers", default=None, help="comma-separated teachers (default: all; quick: uniform,progress)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--skip-frontier", action="store_true")
    ap.add_argument("--skip-labelled", action="store_true")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (1 thread each)")
    ap.add_argument("--budget", type=int, default=12000, help="most training steps per labelled run")
    ap.add_argument("--pool", type=int, default=8000, help="labelled problems per cell (full run)")
    ap.add_argument(
        "--average",
        type=float,
        default=0.0,
        help="train.average for every teacher: measure and keep an average of the weights (0 = off)",
    )
    bench = Bench("curriculum", ap.parse_args())
    args, q = bench.args, bench.quick
    teachers = args.teachers.split(",") if args.teachers else (["uniform", "progress"] if q else TEACHERS)
    missing = {t: why for t in teachers if (why := unavailable(t))}
    for t, why in missing.items():
        log(f"skipping {t}: {why}")
    teachers = [t for t in teachers if t not in missing]
    seeds = args.seeds or (1 if q else 3)
    args.top, args.every, args.per_cell, args.measure_every = (4, 100, 40, 100) if q else (6, 100, 200, 100)
    args.pool, args.max_steps, args.rounds = (300, 800, 1) if q else (args.pool, args.budget, 4)

    results: dict[str, list[dict]] = {t: [] for t in teachers}
    frontier = {}
    # Every run counts steps, not seconds, so they share two single-threaded worker processes: the two long
    # self-labelled runs first, then teachers alternating within each seed (A B C .. A B C ..).
    jobs = [] if args.skip_frontier else [("frontier", t, 0) for t in ("ladder", "progress")]
    if not args.skip_labelled:
        jobs += [("labelled", t, seed) for seed in range(seeds) for t in teachers]
    with ProcessPoolExecutor(max_workers=args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = [
            pool.submit(frontier_run if kind == "frontier" else steps_to_master, t, seed, args)
            for kind, t, seed in jobs
        ]
        for (kind, t, seed), future in zip(jobs, futures):
            res = future.result()
            if kind == "frontier":
                frontier[t] = res
            else:
                results[t].append(res)
            log(f"{kind} seed {seed} {t}: {res}")
    summary = {}
    for t, runs in results.items():
        if runs:
            steps = [r["steps"] for r in runs]
            most = [r["steps_to_most"] for r in runs]
            summary[t] = {
                "median_steps": statistics.median(steps),
                "spread": spread(steps),
                "all_reached": all(r["reached"] for r in runs),
                "steps": steps,
                "median_steps_to_90pct_cells": statistics.median(most),
                "mastered_at_end": [r["mastered_at_end"] for r in runs],
                # The teachers compared on the way to the full mark: steps until k cells are mastered.
                "median_steps_to_cells": {
                    k: statistics.median(first_step(r["mastered_curve"], k, args.max_steps) for r in runs)
                    for k in PARTIAL_MARKS
                },
            }

    def ranked(value: dict[str, float]) -> tuple[str | None, float | None]:
        """The best adaptive teacher by ``value`` (a median of steps per teacher; ties: more cells mastered at the
        end), and its ratio to uniform's; no ratio when both hit the budget, since then it says nothing."""
        adaptive = [t for t in value if t not in ("uniform", "ladder")]
        if not adaptive or "uniform" not in value:
            return None, None
        best = min(adaptive, key=lambda t: (value[t], -statistics.median(summary[t]["mastered_at_end"])))
        if value[best] >= args.max_steps and value["uniform"] >= args.max_steps:
            return best, None
        return best, value[best] / value["uniform"]

    best, ratio = ranked({t: v["median_steps"] for t, v in summary.items()})
    best_most, ratio_most = ranked({t: v["median_steps_to_90pct_cells"] for t, v in summary.items()})
    partial = {}
    for k in PARTIAL_MARKS:
        who, r = ranked({t: v["median_steps_to_cells"][k] for t, v in summary.items()})
        partial[k] = {"best_adaptive": who, "ratio": round(r, 3) if r is not None else None}
    moved = {t: sum(s["moved"] for s in f["skills"].values()) for t, f in frontier.items()}
    bench.emit(
        "best_adaptive_over_uniform_steps",
        round(ratio, 3) if ratio is not None else None,
        "ratio",
        target=0.6,
        meets_target=ratio is not None and ratio <= 0.6,
        best_adaptive=best,
        censored=bool(summary) and not all(v["all_reached"] for v in summary.values()),
        # Uniform's median run did not master every cell within the budget: its true median is higher, so
        # the ratio printed is an upper bound.
        ratio_is_upper_bound=ratio is not None and summary["uniform"]["median_steps"] >= args.max_steps,
        budget_steps=args.max_steps,
        average=args.average,
        ratio_steps_to_90pct_cells=round(ratio_most, 3) if ratio_most is not None else None,
        best_adaptive_90pct_cells=best_most,
        ratio_steps_to_cells=partial,
        threshold=MASTERED,
        skills=len(mix(q)),
        difficulties=args.top,
        seeds=seeds,
        every=args.every,
        teachers=summary,
        unavailable=missing,
        frontier_moved_total=moved,
        frontier={t: {s: v["moved"] for s, v in f["skills"].items()} for t, f in frontier.items()},
        frontier_detail=frontier,
    )


if __name__ == "__main__":
    sys.exit(main())
