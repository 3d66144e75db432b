"""The run report: nine PNG plots and one self-contained ``report.html`` beside them.

The report is built from plain records (lists of dicts) rather than from the store, so it can be regenerated from any
source (a live run, a finished database, a test) and never holds a database connection while matplotlib draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selftaught.report import html as _html
from selftaught.report import plots

__all__ = [
    "ACCEPTED_PNG",
    "CURVES_PNG",
    "HEATMAP_PNG",
    "LOSS_PNG",
    "LR_PNG",
    "WHAT_IF_PNG",
    "SAMPLING_PNG",
    "SUCCESS_PNG",
    "TEACHER_PNG",
    "ReportData",
    "write_report",
]

HEATMAP_PNG = "accuracy_heatmap.png"
LOSS_PNG = "training_loss.png"
ACCEPTED_PNG = "accepted_vs_proposed.png"
SAMPLING_PNG = "sampling_share.png"
SUCCESS_PNG = "skill_success.png"
TEACHER_PNG = "teacher_scores.png"
CURVES_PNG = "learning_curves.png"
LR_PNG = "lr_schedule.png"
WHAT_IF_PNG = "schedule_what_if.png"


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


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write the nine plots and ``report.html`` into ``out_dir`` (created if needed); return the HTML path.

    Files are replaced atomically, so a browser refreshing the report mid-run never sees a half-written file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots.plot_accuracy_heatmap(data.evaluations, out_dir / HEATMAP_PNG)
    plots.plot_training_loss(data.train_metrics, out_dir / LOSS_PNG)
    plots.plot_accepted_vs_proposed(data.rounds, out_dir / ACCEPTED_PNG)
    plots.plot_sampling_share(data.curriculum, data.round_steps, out_dir / SAMPLING_PNG)
    plots.plot_skill_success(data.skill_results, data.round_steps, out_dir / SUCCESS_PNG)
    plots.plot_teacher_scores(data.teacher_scores, data.round_steps, out_dir / TEACHER_PNG)
    plots.plot_learning_curves(data.stop_decisions, out_dir / CURVES_PNG)
    plots.plot_lr_schedule(data.train_metrics, data.round_steps, out_dir / LR_PNG)
    plots.plot_schedule_what_if(data.train_metrics, out_dir / WHAT_IF_PNG)
    images = {
        "heatmap": HEATMAP_PNG,
        "loss": LOSS_PNG,
        "accepted": ACCEPTED_PNG,
        "sampling": SAMPLING_PNG,
        "success": SUCCESS_PNG,
        "teacher": TEACHER_PNG,
        "curves": CURVES_PNG,
        "lr": LR_PNG,
        "what_if": WHAT_IF_PNG,
    }
    page = _html.render_html(data, images=images)
    path = out_dir / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
