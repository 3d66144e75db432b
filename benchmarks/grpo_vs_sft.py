"""Filtered fine-tuning vs GRPO (on-policy) from the same checkpoint, for the same wall-clock budget per arm.

Two tasks with a reward: reversed addition (the oracle as the reward) and ``list-functions`` (the tests verifier,
running the model's programs in the sandbox). Per task, round 0 (supervised on labelled problems) is trained once;
both arms start from that checkpoint, at the first difficulty above the labelled range (addition) or at the deepest
labelled depth (list functions, whose next depth round 0 almost never solves, so no group has a reward signal):

- ``sft`` (filtered fine-tuning): sample G answers to each of ``groups`` problems, keep the verifier's accepted ones,
  take ``k`` supervised steps on them;
- ``grpo``: sample the same way, take ``k`` GRPO steps (group advantages of the verifier's rewards).

Each arm runs until its budget of seconds is spent (held-out greedy evaluations pause the clock) and records
held-out greedy accuracy over time. Seeds vary the sampling and the problems drawn, interleaved A B A B. Reported:
per task and arm, the median (and min/max) of the final accuracy and of accuracy at fixed fractions of the budget,
and completions scored per second. ``value``: the median over tasks of (grpo final accuracy - sft final accuracy).
"""

from __future__ import annotations

import random
import statistics
import time

import torch
from _common import check_idle, emit, environment, log, parse_args, set_threads

from selftaught.build import build_parts
from selftaught.config import load_experiment
from selftaught.training import grpo
from selftaught.training.schedules import SCHEDULES
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example

TASKS = {
    # The quickstart's model and round 0 (labels 1-5 digits, 2,000 steps): about a fifth of 6-digit sums right.
    "reversed-addition": ("quickstart", ['verifier.filters=["oracle"]']),
    "list-functions": ("code-selftrain", ['verifier.filters=["tests"]']),
}


def setup(task_name: str, quick: bool):
    preset, sets = TASKS[task_name]
    exp, _ = load_experiment(preset=preset, overrides=[*sets, 'train.method="grpo"', "verifier.samples=8"])
    parts = build_parts(exp)
    skill = parts.skills.skills[0].name
    task, verifier = parts.skills.tasks[skill], parts.verifiers[skill]
    student = parts.students[0]
    top = parts.skills.labelled_max[skill]
    rng = random.Random(0)
    labelled = []
    for _ in range(1000 if quick else 20000 if task_name == "reversed-addition" else 8000):
        p = task.sample(rng, rng.randint(max(1, task.min_difficulty), top))
        labelled.append(Example(p.prompt, p.target or task.answer(p), p.difficulty, "labelled", 0, skill))
    steps = (40 if quick else 2000) if task_name == "reversed-addition" else (15 if quick else 4000)
    t0 = time.perf_counter()
    student.fit(labelled, SCHEDULES["linear"](warmup=0.05), steps, seed=0)
    log(f"{task_name}: round 0 ({steps} steps) in {time.perf_counter() - t0:.1f}s")
    start = {k: v.detach().clone() for k, v in student.trainable().state_dict().items()}
    # Addition: the first length past the labels (round 0 gets some of it right). List functions: the deepest
    # labelled depth, which round 0 gets only partly right (the next depth it gets almost never right: no signal).
    d = top + 1 if task_name == "reversed-addition" else top
    held = [task.sample(random.Random(f"held-{i}"), d) for i in range(40 if quick else 100)]
    return exp, task, verifier, student, start, d, held


def accuracy(task, student, held, d) -> float:
    outs = student.generate([p.prompt for p in held], n=1, temperature=0.0, max_new_tokens=task.max_answer_len(d) + 1)
    answers = [task.extract(o[0]) for o in outs]
    checks = task.check_many(list(zip(held, answers)))
    return sum(1 for c in checks if c == 1.0) / len(held)


def arm(method: str, setting, seed: int, budget: float, points: int) -> dict:
    exp, task, verifier, student, start, d, held = setting
    student.trainable().load_state_dict(start)
    G, groups, k, temp = exp.verifier.samples, 8, 4, 1.0
    # Both arms fine-tune at the same rate: the preset's round_lr, else a tenth of round 0's (each iteration's few
    # steps start a fresh AdamW, whose first steps are full-size; at round 0's 1e-2 they undid what it had learnt).
    lr = exp.train.round_lr or exp.train.lr / 10
    optim = OptimConfig(lr=lr, weight_decay=0.0, grad_clip=1.0)
    student.optim = OptimConfig(lr=lr, weight_decay=0.0, grad_clip=1.0)  # the sft arm's fit
    schedule = SCHEDULES["constant"](warmup=0.0)
    rng = random.Random(f"{seed}-{method}")
    curve = [(0.0, accuracy(task, student, held, d))]
    log(f"  {method} seed {seed}: starts at {curve[0][1]:.3f} on difficulty {d}")
    spent, scored, it = 0.0, 0, 0
    next_eval = budget / points
    while spent < budget:
        t0 = time.perf_counter()
        problems = [task.sample(rng, d) for _ in range(groups)]
        outs = student.generate([p.prompt for p in problems], n=G, temperature=temp,
                                max_new_tokens=task.max_answer_len(d) + 1, seed=seed * 100_003 + it)  # fmt: skip
        answers = [[task.extract(c) for c in o] for o in outs]
        scores = verifier.score_many(list(zip(problems, answers)))
        scored += G * groups
        if method == "sft":
            kept = [Example(p.prompt, a, d, "self", 1, p.task) for p, ans, sc in zip(problems, answers, scores)
                    for a in dict.fromkeys(a for a, s in zip(ans, sc) if s.accepted)]  # fmt: skip
            if kept:
                student.fit(kept, schedule, k, seed=seed + it)
        else:
            rewards = [[s.reward for s in sc] for sc in scores]
            advs, _ = grpo.group_advantages(rewards, "group", 1e-4, True)
            items = [(p.prompt, a, v) for p, ans, av in zip(problems, answers, advs) for a, v in zip(ans, av)
                     if v is not None]  # fmt: skip
            if items:
                prompts, texts, values = [list(x) for x in zip(*items)]
                old = grpo.sequence_logprobs(student, prompts, texts, temp)
                batch = grpo.Batch(prompts, texts, values, old)
                grpo.train(student, lambda step, b=batch: b, k, schedule, optim, temperature=temp, seed=seed + it)
        it += 1
        spent += time.perf_counter() - t0
        if spent >= next_eval or spent >= budget:
            curve.append((round(spent, 2), accuracy(task, student, held, d)))
            next_eval += budget / points
    return {"curve": curve, "final": curve[-1][1], "scored_per_s": scored / spent, "iterations": it}


def summary(runs: list[dict], points: int) -> dict:
    finals = [r["final"] for r in runs]
    at = []
    for i in range(points + 1):  # accuracy at each evaluation point (the i-th of the curve, or the last)
        vals = [r["curve"][min(i, len(r["curve"]) - 1)][1] for r in runs]
        at.append(statistics.median(vals))
    rate = [r["scored_per_s"] for r in runs]
    return {
        "final_median": statistics.median(finals),
        "final_min": min(finals),
        "final_max": max(finals),
        "accuracy_median_by_point": at,
        "scored_per_s_median": round(statistics.median(rate), 1),
        "iterations_median": statistics.median(r["iterations"] for r in runs),
        "curves": [r["curve"] for r in runs],
    }


def main() -> None:
    args = parse_args(__doc__.split("\n")[0])
    threads = set_threads()
    load = check_idle()
    seeds = [0] if args.quick else [0, 1, 2]
    budget = 5.0 if args.quick else 40.0
    points = 2 if args.quick else 5
    tasks: dict[str, dict] = {}
    for name in TASKS:
        setting = setup(name, args.quick)
        runs: dict[str, list[dict]] = {"sft": [], "grpo": []}
        for seed in seeds:  # A B A B
            for method in ("sft", "grpo"):
                got = arm(method, setting, seed, budget, points)
                runs[method].append(got)
                log(f"  {name} seed {seed} {method}: final {got['final']:.3f}, {got['scored_per_s']:.0f} scored/s")
        res = {m: summary(v, points) for m, v in runs.items()}
        diff = res["grpo"]["final_median"] - res["sft"]["final_median"]
        res["winner"] = "grpo" if diff > 0 else "sft" if diff < 0 else "tie"
        res["grpo_minus_sft"] = diff
        tasks[name] = res
    value = statistics.median(t["grpo_minus_sft"] for t in tasks.values())
    emit(
        {
            "benchmark": "grpo_vs_sft",
            "metric": "median over tasks of held-out greedy accuracy, GRPO minus filtered fine-tuning, same budget",
            "value": value,
            "unit": "accuracy difference",
            "quick": args.quick,
            "seeds": seeds,
            "budget_s_per_arm": budget,
            "tasks": tasks,
            **environment(threads, load),
        }
    )


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
