"""The run report: up to twelve PNG plots and one self-contained ``report.html`` beside them.

A plot that has nothing to show on a run (the learning curves when the stopping rule is off, the sampling share of a
single skill) is left out of both, and the page says why in one line.

The report is built from plain records (lists of dicts) rather than from the store, so it can be regenerated from any
source (a live run, a finished database, a test) and never holds a database connection while matplotlib draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selftaught.report import html as _html
from selftaught.report import plots, rewards_plots
from selftaught.report.rewards_plots import CONTROL_PNG, REFINE_PNG, REWARDS_PNG

__all__ = [
    "ACCEPTED_PNG",
    "CONTROL_PNG",
    "CURVES_PNG",
    "HEATMAP_PNG",
    "LOSS_PNG",
    "LR_PNG",
    "PLOTS",
    "REFINE_PNG",
    "REWARDS_PNG",
    "WHAT_IF_PNG",
    "SAMPLING_PNG",
    "SUCCESS_PNG",
    "TEACHER_PNG",
    "ReportData",
    "draw_plots",
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
# Every plot by its key in the page, in the page's order.
PLOTS = {
    "heatmap": HEATMAP_PNG,
    "loss": LOSS_PNG,
    "accepted": ACCEPTED_PNG,
    "sampling": SAMPLING_PNG,
    "success": SUCCESS_PNG,
    "teacher": TEACHER_PNG,
    "curves": CURVES_PNG,
    "lr": LR_PNG,
    "what_if": WHAT_IF_PNG,
    "rewards": REWARDS_PNG,
    "control": CONTROL_PNG,
    "refine": REFINE_PNG,
}


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


def _left_out(data: ReportData) -> dict[str, str]:
    """The plots with nothing to show for ``data``, each with the reason, by its key in ``PLOTS``.

    A placeholder stays for the plots a run fills as it goes (accuracy, loss, ...); these two would only ever be
    empty or say nothing on such a run: the learning curves exist only when the stopping rule measures (``stop.every``
    > 0), and the sampling share of a single skill is one solid block. So are the plots of learning from rewards on a
    run that does not use them (GRPO's series, the B-STaR grid, refine turns).
    """
    left_out = {}
    if not plots.learning_curve_panels(data.stop_decisions)[0]:
        left_out["curves"] = "the stopping rule has measured nothing (it is off when stop.every = 0)"
    skills = plots.sampling_shares(data.curriculum, data.round_steps)[2]
    if len(skills) < 2:
        who = f"every training sample went to {skills[0]}" if skills else "no training samples recorded yet"
        left_out["sampling"] = f"one skill or none ({who})"
    left_out.update(rewards_plots.left_out(data.train_series, data.control, data.refine_turns))
    return left_out


def draw_plots(data: ReportData, out_dir: Path) -> tuple[dict[str, plots.Drawn], dict[str, str]]:
    """Draw every plot with something to show into ``out_dir`` and delete a left-out plot's file from an earlier
    report there. Returns ``(drawn, left_out)``: what each drawn plot shows, by its key in ``PLOTS``, and why each
    other plot was left out."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    left_out = _left_out(data)
    calls = {
        "heatmap": lambda path: plots.plot_accuracy_heatmap(data.evaluations, path),
        "loss": lambda path: plots.plot_training_loss(data.train_metrics, path),
        "accepted": lambda path: plots.plot_accepted_vs_proposed(data.rounds, path),
        "sampling": lambda path: plots.plot_sampling_share(data.curriculum, data.round_steps, path),
        "success": lambda path: plots.plot_skill_success(data.skill_results, data.round_steps, path),
        "teacher": lambda path: plots.plot_teacher_scores(data.teacher_scores, data.round_steps, path),
        "curves": lambda path: plots.plot_learning_curves(data.stop_decisions, path),
        "lr": lambda path: plots.plot_lr_schedule(data.train_metrics, data.round_steps, path),
        "what_if": lambda path: plots.plot_schedule_what_if(data.train_metrics, path),
        "rewards": lambda path: rewards_plots.plot_rewards(data.train_series, data.round_steps, path),
        "control": lambda path: rewards_plots.plot_control(data.control, path),
        "refine": lambda path: rewards_plots.plot_refine(data.refine_turns, path),
    }
    drawn = {}
    for key, name in PLOTS.items():
        if key in left_out:
            (out_dir / name).unlink(missing_ok=True)
        else:
            drawn[key] = calls[key](out_dir / name)
    return drawn, left_out


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write the plots with something to show and ``report.html`` into ``out_dir`` (created if needed); return the
    HTML path.

    Files are replaced atomically, so a browser refreshing the report mid-run never sees a half-written file.
    """
    out_dir = Path(out_dir)
    drawn, left_out = draw_plots(data, out_dir)
    images = {key: PLOTS[key] for key in drawn}
    page = _html.render_html(data, images=images, left_out=left_out)
    path = out_dir / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
