"""The report's data: everything the page and its plots show, as plain records (lists of dicts).

The report is built from plain records rather than from the store, so it can be regenerated from any source (a live
run, a finished database, a test) and never holds a database connection while matplotlib draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ReportData"]


@dataclass
class ReportData:
    """Everything the report shows, as plain records.

    ``rounds``: one dict per round with ``round``, ``difficulty`` (the frontier difficulty proposed that round,
    ``None`` for round 0), ``proposed``, ``accepted``, ``label_accuracy`` (share of accepted labels that were correct,
    ``None`` when unknown), ``train_steps`` and ``seconds``; optionally ``budget`` (the round's planned steps),
    ``stopped_at`` and ``stop_reason`` (where and why the stopping rule first said stop, None if it never did),
    ``cpu_seconds`` and ``phases`` (phase -> ``done``, ``seconds``, ``cpu_seconds``) (``Store.round_summary``).

    ``evaluations``: one dict per (round, difficulty[, task]) with ``round``, ``difficulty``, ``n``, ``accuracy``,
    ``ci_low``, ``ci_high`` and optionally ``task``; rows without a task count as one task.

    ``train_metrics``: one dict per logged step with ``round``, ``step`` (within the round), ``loss`` and ``lr``, and
    optionally ``grad_norm`` and ``grad_l1`` (the gradient's l2 and l1 norms, None when not logged).

    ``curriculum``: one dict per (round, step, skill, difficulty) with ``count``, the training samples that cell got
    from ``step`` of the round on (``Store.curriculum``).

    ``skill_results``: one dict per measurement with ``round``, ``step``, ``kind`` ("evaluation", "slice" or
    "attempts"), ``skill``, ``difficulty``, ``successes`` and ``trials`` (``Store.skill_results``).

    ``teacher_scores``: one dict per teacher score with ``round``, ``step``, ``key`` ("skill:difficulty" or a skill)
    and ``value`` (``Store.teacher_scores``).

    ``round_steps``: training steps per round, which lays within-round steps on one global axis: a round's global
    steps start after the summed steps of all earlier rounds (``Store.round_steps``).

    ``stop_decisions``: one dict per slice measurement of the stopping rule with ``round``, ``step`` (within the
    round), ``budget``, ``value`` (measured slice accuracy), ``current`` (the fitted value there), ``mean``/``low``/
    ``high`` (predicted accuracy at the budget's end, None before the rule predicts), ``stop`` and ``reason``
    (``Store.stop_decisions``).

    ``results_reached``: one dict per (task, difficulty, target) first reached, with ``round``, ``steps`` (global
    training steps by then), ``seconds`` and ``cpu_seconds`` (run time by then) and ``accuracy``
    (``Store.results_reached``).

    ``train_series``: one dict per (round, step, name) a training method logged beside its loss, with ``value``
    (model 0; ``Store.train_series``); GRPO logs ``reward_mean``, ``reward_std``, ``zero_var_share``, ``kl`` and
    ``clip_frac``.

    ``control``: one dict per setting of a round's control grid with ``round``, ``temperature``, ``threshold``,
    ``samples``, ``score`` (the balance score), ``kept``, ``unique_correct`` and ``chosen`` (``Store.control``).

    ``refine_turns``: one dict per (round, model, turn) of refinement with ``tried`` (attempts still failing when the
    turn began) and ``fixed`` (``Store.refine_turns``).

    ``hindsight``: one dict per (round, difficulty) of hindsight relabelling with ``tried``, ``made``, ``kept`` and
    ``trained`` (``Store.hindsight_counts``).

    ``teacher``: the teacher's name in the run's config (``teacher.kind``), which says what its scores are.

    ``sample_problems``: a few training problems of some self-labelled rounds, each with its attempts, their rewards
    and feedback, and the verdict (``examples.sample_problems`` says which and how).
    """

    run_id: str
    config_text: str
    complete: bool
    stop_reason: str | None
    rounds: list[dict] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    train_metrics: list[dict] = field(default_factory=list)
    curriculum: list[dict] = field(default_factory=list)
    skill_results: list[dict] = field(default_factory=list)
    teacher_scores: list[dict] = field(default_factory=list)
    round_steps: dict[int, int] = field(default_factory=dict)
    stop_decisions: list[dict] = field(default_factory=list)
    results_reached: list[dict] = field(default_factory=list)
    train_series: list[dict] = field(default_factory=list)
    control: list[dict] = field(default_factory=list)
    refine_turns: list[dict] = field(default_factory=list)
    hindsight: list[dict] = field(default_factory=list)
    teacher: str | None = None
    sample_problems: list[dict] = field(default_factory=list)
