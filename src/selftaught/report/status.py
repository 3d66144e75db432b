"""Read a run's state out of its store: the ``status --json`` document and the report's data."""

from __future__ import annotations

import json
import math
from typing import Any

from selftaught.report import ReportData
from selftaught.report.examples import sample_problems
from selftaught.report.kept_plot import kept_rounds
from selftaught.report.refine_plot import refine_rates
from selftaught.store import Reader

MASTERED = 0.95  # held-out accuracy at which status calls a difficulty mastered
# What each skill's numbers in ``status --json`` mean; the document carries this under "skill_fields".
SKILL_FIELDS = {
    "mastered": f"the deepest difficulty such that it and every measured difficulty below it (from the skill's "
    f"lowest measured, no gap) reach {MASTERED:.0%} held-out accuracy; null when the lowest does not",
    "frontier": "the easiest difficulty not mastered: mastered + 1, or the lowest measured one when none is mastered",
    "trained_up_to": "the highest difficulty trained on so far (labelled or self-labelled and accepted)",
    "accuracy": "the newest held-out accuracy per difficulty (the latest evaluation or teacher slice)",
    "share": "the skill's share of the training samples so far",
}
# The per-step series of reward learning that status summarises per round (the report draws reward_std too).
REWARD_SUMMARY = ("reward_mean", "zero_var_share", "kl", "clip_frac")
WIDTH = 80  # the text view's lines fit this many columns
KEPT_LINES = 3  # the text view lists keep-best for this many of the newest rounds (--json: every round)


def run_status(store: Reader) -> dict[str, Any]:
    """What ``selftaught status --json`` prints: run id, completeness, and per round its phases, counts, accuracy."""
    evaluations = store.evaluations()
    single = len({e["task"] for e in evaluations}) <= 1

    def key(e: dict[str, Any]) -> str:  # "difficulty", or "skill:difficulty" in a mix of skills
        return str(e["difficulty"]) if single else f"{e['task']}:{e['difficulty']}"

    wall, cpu = store.elapsed()
    pass_k = store.pass_at_k()
    rounds = []
    for s in store.round_summaries():
        acc = {key(e): e["accuracy"] for e in evaluations if e["round"] == s["round"]}
        ci = {key(e): [e["ci_low"], e["ci_high"]] for e in evaluations if e["round"] == s["round"]}
        rounds.append(
            {
                "round": s["round"],
                "difficulty": s["difficulty"],
                "phases": {p: v["done"] for p, v in s["phases"].items()},
                "proposed": s["proposed"],
                "accepted": s["accepted"],
                "label_accuracy": s["label_accuracy"],
                "train_steps": s["train_steps"],
                "budget": s["budget"],
                "stopped_at": s["stopped_at"],
                "stop_reason": s["stop_reason"],
                "seconds": round(s["seconds"], 3),
                "cpu_seconds": round(s["cpu_seconds"], 3),
                "phase_seconds": {
                    p: {"wall": _rounded(v["seconds"]), "cpu": _rounded(v["cpu_seconds"])}
                    for p, v in s["phases"].items()
                    if v["done"]
                },
                "decision": s["decision"],
                "accuracy": acc,
                "accuracy_ci": ci,
                # pass@k from eval.samples sampled answers per problem: {"k": {cell: value}}; {} when off
                "pass_at_k": {
                    str(k): {key(e): e["value"] for e in pass_k if e["round"] == s["round"] and e["k"] == k}
                    for k in sorted({e["k"] for e in pass_k if e["round"] == s["round"]})
                },
            }
        )
    return {
        "run_id": store.run_id,
        "name": store.config().get("name"),
        "complete": store.complete,
        "stop_reason": store.meta("stop_reason") or None,
        "elapsed_seconds": round(wall, 3),
        "elapsed_cpu_seconds": round(cpu, 3),
        "rounds": rounds,
        "skills": skill_progress(store),
        "skill_fields": SKILL_FIELDS,
        "time_to_result": [
            {**row, "seconds": round(row["seconds"], 3), "cpu_seconds": round(row["cpu_seconds"], 3)}
            for row in store.results_reached()
        ],
        "control": control_status(store),
        "refine": refine_status(store),
        "rewards": rewards_status(store),
        "kept": kept_status(store),
        "hindsight": store.hindsight_counts(),
    }


def control_status(store: Reader) -> list[dict[str, Any]]:
    """Per round with a control grid (B-STaR): the chosen setting (temperature, threshold, samples, its balance
    ``score``, ``kept``, ``unique_correct``; None when none was chosen) and the grid's size; a round whose grid was
    skipped has grid 0 and ``skipped``, why (meta ``control_skipped``, run/control/bstar.py). [] without control."""
    grids: dict[int, list[dict[str, Any]]] = {}
    for row in store.control():
        grids.setdefault(row["round"], []).append(row)
    skipped = {int(r): why for r, why in json.loads(store.meta("control_skipped") or "{}").items()}
    out = []
    for round_ in sorted({*grids, *skipped}):
        rows = grids.get(round_, [])
        chosen = next((row for row in rows if row["chosen"]), None)
        keys = ("temperature", "threshold", "samples", "score", "kept", "unique_correct")
        entry = {"round": round_, "chosen": None if chosen is None else {k: chosen[k] for k in keys}, "grid": len(rows)}
        out.append(entry if round_ not in skipped else {**entry, "skipped": skipped[round_]})
    return out


def _number(value: float) -> float | None:
    """``value`` for JSON: None when it is NaN, which JSON has no word for."""
    return None if math.isnan(value) else value


def refine_status(store: Reader) -> list[dict[str, Any]]:
    """Per round with refine turns (over all models): each turn's ``tried``, ``fixed`` and ``fix_rate`` (fixed /
    tried), and the round's ``tried`` (failing when refinement began), ``fixed`` (by every turn) and
    ``fixed_share``. [] without refinement."""
    out = []
    for round_, cells in refine_rates(store.refine_turns())[1].items():
        turns = [
            {"turn": turn, "tried": tried, "fixed": fixed, "fix_rate": _number(rate)}
            for turn, tried, fixed, rate in zip(cells["turns"], cells["tried"], cells["fixed"], cells["rate"])
        ]
        tried, fixed = cells["tried"][0], sum(cells["fixed"])
        share = _number(fixed / tried) if tried else None
        out.append({"round": round_, "tried": tried, "fixed": fixed, "fixed_share": share, "turns": turns})
    return out


def rewards_status(store: Reader) -> list[dict[str, Any]]:
    """Per round where training logged reward series (GRPO): the steps logged and, for each of ``REWARD_SUMMARY``
    logged, its value at the last step and its mean over the round. [] when nothing was logged."""
    values: dict[int, dict[str, list[tuple[int, float]]]] = {}
    steps: dict[int, set[int]] = {}
    for row in store.train_series():
        if row["name"] in REWARD_SUMMARY and row["value"] is not None and math.isfinite(row["value"]):
            values.setdefault(row["round"], {}).setdefault(row["name"], []).append((row["step"], row["value"]))
            steps.setdefault(row["round"], set()).add(row["step"])
    out = []
    for round_, series in sorted(values.items()):
        entry: dict[str, Any] = {"round": round_, "steps": len(steps[round_])}
        for name in REWARD_SUMMARY:
            if name in series:
                points = sorted(series[name])
                entry[name] = {
                    "last": _number(points[-1][1]),
                    "mean": _number(sum(v for _, v in points) / len(points)),
                }
        out.append(entry)
    return out


def kept_status(store: Reader) -> list[dict[str, Any]]:
    """Per round that measured the held-out slice while it trained (GRPO with ``train.grpo.eval_every``): the step
    whose weights it kept (its checkpoint) and their slice accuracy (``kept_step``, ``kept``; None when none was
    kept), and the last measurement's (``final_step``, ``final``). [] when no round measured it."""
    out = []
    for round_, cells in kept_rounds(store.train_series()).items():
        kept_step, kept = cells["kept"] if cells["kept"] is not None else (None, None)
        final_step, final = cells["final"]
        out.append(
            {"round": round_, "kept_step": kept_step, "kept": kept, "final_step": final_step, "final": _number(final)}
        )
    return out


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def learning_lines(st: dict[str, Any]) -> list[str]:
    """One short line each for the newest round's control choice, refinement, rewards and hindsight relabels, and
    one per round that kept its best held-out weights (the last ``KEPT_LINES``), when the run has them (the text
    view of ``status``'s ``control``, ``refine``, ``rewards``, ``kept`` and ``hindsight``); each fits ``WIDTH``
    columns."""
    lines = []
    if st.get("control"):
        c = st["control"][-1]
        if c.get("skipped"):
            lines.append(_fit(f"control r{c['round']}: grid skipped, {c['skipped']}"))
        elif c["chosen"] is None:
            lines.append(f"control r{c['round']}: no setting chosen (grid {c['grid']})")
        else:
            ch = c["chosen"]
            lines.append(
                f"control r{c['round']}: T={ch['temperature']:g} threshold={ch['threshold']:g} "
                f"n={ch['samples']}, balance {ch['score']:.3f} (grid {c['grid']})"
            )
    if st.get("refine"):
        r = st["refine"][-1]
        head = f"refine r{r['round']}: fix rate by turn"
        tail = f"; fixed {r['fixed']}/{r['tried']}" + ("" if r["fixed_share"] is None else f" ({r['fixed_share']:.0%})")
        rates = ["-" if t["fix_rate"] is None else f"{t['fix_rate']:.0%}" for t in r["turns"]]
        shown = len(rates)
        while shown > 1 and len(f"{head} {' '.join(rates[:shown])} +{len(rates) - shown}{tail}") > WIDTH:
            shown -= 1
        more = f" +{len(rates) - shown}" if shown < len(rates) else ""
        lines.append(f"{head} {' '.join(rates[:shown])}{more}{tail}")
    if st.get("rewards"):
        w = st["rewards"][-1]
        parts = []
        for name, label, fmt in (
            ("reward_mean", "reward", "{:.3f}"),
            ("zero_var_share", "zero-var", "{:.0%}"),
            ("kl", "KL", "{:.3g}"),
            ("clip_frac", "clip", "{:.0%}"),
        ):
            last = w.get(name, {}).get("last")
            if last is not None:
                parts.append(f"{label} {fmt.format(last)}")
        lines.append(f"rewards r{w['round']}, last step: " + (", ".join(parts) or "nothing finite"))
    for k in st.get("kept", [])[-KEPT_LINES:]:
        final = "-" if k["final"] is None else f"{k['final']:.0%}"
        if k["kept"] is None:
            lines.append(f"round {k['round']}: no slice accuracy to keep (final {final})")
        else:
            lines.append(f"round {k['round']}: kept step {k['kept_step']} at {k['kept']:.0%} (final {final})")
    if st.get("hindsight"):
        last = max(h["round"] for h in st["hindsight"])
        rows = [h for h in st["hindsight"] if h["round"] == last and h["made"]]
        cells = " ".join(f"d{h['difficulty']} {h['made']}/{h['kept']}/{h['trained']}" for h in rows)
        lines.append(f"hindsight r{last}: made/kept/trained {cells or 'none made'}")
    return [_fit(line) for line in lines]


def accuracy_ranges(accuracy: dict[str, float]) -> list[str]:
    """Accuracies by difficulty, compact: runs of consecutive difficulties at the same whole percent become one
    ``low-high:percent`` group, e.g. ``{"1": 1.0, ..., "5": 1.0, "6": 0.22, "7": 0.0, "8": 0.0}`` gives
    ``["1-5:100% 6:22% 7-8:0%"]``. Keys ``"skill:difficulty"`` (a mix) give one string per skill, each starting with
    the skill's name. Groups hold no spaces, so a narrow column wraps between them."""
    by_skill: dict[str, list[tuple[int, str]]] = {}
    for key, value in accuracy.items():
        skill, _, difficulty = str(key).rpartition(":")
        by_skill.setdefault(skill, []).append((int(difficulty), f"{value:.0%}"))
    lines = []
    for skill, cells in sorted(by_skill.items()):
        groups: list[list] = []  # [first, last, percent]
        for difficulty, percent in sorted(cells):
            if groups and groups[-1][1] == difficulty - 1 and groups[-1][2] == percent:
                groups[-1][1] = difficulty
            else:
                groups.append([difficulty, difficulty, percent])
        text = " ".join(f"{a}:{p}" if a == b else f"{a}-{b}:{p}" for a, b, p in groups)
        lines.append(f"{skill} {text}" if skill else text)
    return lines


def reached_together(time_to_result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``time_to_result`` rows with one row per (task, difficulty, round, steps): the accuracy targets first reached
    at that evaluation, ascending, as ``targets``; the other fields are the lowest target's. In step order, then by
    task and difficulty."""
    merged: dict[tuple, dict[str, Any]] = {}
    for row in sorted(time_to_result, key=lambda r: r["target"]):
        key = (row["task"], row["difficulty"], row["round"], row["steps"])
        if key in merged:
            merged[key]["targets"].append(row["target"])
        else:
            merged[key] = {**{k: v for k, v in row.items() if k != "target"}, "targets": [row["target"]]}
    return sorted(merged.values(), key=lambda r: (r["steps"], str(r["task"]), r["difficulty"]))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def mastery(accuracy: dict[int, float]) -> tuple[int | None, int | None]:
    """``(mastered, frontier)`` of a skill from its newest accuracy per difficulty (``SKILL_FIELDS`` says what they
    are): ``frontier`` is always ``mastered + 1`` when something is mastered, so the two never disagree."""
    mastered = None
    for d, acc in sorted(accuracy.items()):  # in increasing difficulty; stops at the first gap or miss
        if acc < MASTERED or (mastered is not None and d != mastered + 1):
            break
        mastered = d
    if mastered is not None:
        return mastered, mastered + 1
    return None, min(accuracy, default=None)


def skill_progress(store: Reader) -> dict[str, dict[str, Any]]:
    """Per skill: the newest held-out accuracy at each difficulty (the latest evaluation or teacher slice that
    measured it), ``mastered`` and ``frontier`` from it (``mastery``), the highest difficulty trained on
    (``trained_up_to``) and its share of the training samples so far."""
    latest: dict[str, dict[int, tuple[tuple[int, int], float]]] = {}
    for row in store.skill_results():
        if row["kind"] == "attempts" or not row["trials"]:
            continue
        when = (row["round"], row["step"])
        cells = latest.setdefault(row["skill"], {})
        if row["difficulty"] not in cells or cells[row["difficulty"]][0] <= when:
            cells[row["difficulty"]] = (when, row["successes"] / row["trials"])
    samples: dict[str, int] = {}
    for row in store.curriculum():
        samples[row["skill"]] = samples.get(row["skill"], 0) + row["count"]
    total = sum(samples.values())
    rounds = store.rounds()
    trained = store.frontiers(rounds[-1]["round"]) if rounds else {}
    out = {}
    for skill in sorted(set(latest) | set(samples) | set(trained)):
        accuracy = {d: acc for d, (_, acc) in sorted(latest.get(skill, {}).items())}
        mastered, frontier = mastery(accuracy)
        out[skill] = {
            "mastered": mastered,
            "frontier": frontier,
            "trained_up_to": trained.get(skill),
            "accuracy": {str(d): acc for d, acc in accuracy.items()},
            "samples": samples.get(skill, 0),
            "share": samples.get(skill, 0) / total if total else 0.0,
        }
    return out


def report_data(store: Reader) -> ReportData:
    return ReportData(
        run_id=store.run_id,
        config_text=store.meta("config_text") or "",
        complete=store.complete,
        stop_reason=store.meta("stop_reason") or None,
        rounds=store.round_summaries(),
        evaluations=store.evaluations(),
        train_metrics=store.train_metrics(),
        curriculum=store.curriculum(),
        skill_results=store.skill_results(),
        teacher_scores=store.teacher_scores(),
        round_steps=store.round_steps(),
        stop_decisions=store.stop_decisions(),
        results_reached=store.results_reached(),
        train_series=store.train_series(),
        control=store.control(),
        refine_turns=store.refine_turns(),
        hindsight=store.hindsight_counts(),
        teacher=(store.config().get("teacher") or {}).get("kind"),
        sample_problems=sample_problems(store),
    )
