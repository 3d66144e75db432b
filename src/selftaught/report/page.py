"""The report page's contents in order: the one list that names every plot and table of the report.

Each part is a record in the module of its concern (a ``Plot`` beside its draw function, a ``Table`` beside its
renderer); this list only places them. Adding a plot is its module (draw function and record) and one line here.
A section with a heading shows its parts under smaller headings; parts outside a section get headings of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from selftaught.report import (
    accuracy_plots,
    curriculum_plots,
    curve_plots,
    examples,
    kept_plot,
    refine_plot,
    rewards_plots,
    schedule_plot,
    tables,
    training_plots,
)
from selftaught.report.figure import Plot
from selftaught.report.tables import Table

__all__ = ["PAGE", "PLOTS", "Section"]


@dataclass(frozen=True)
class Section:
    """Parts of the page shown together, under ``heading`` when it is not None."""

    heading: str | None
    parts: tuple[Plot | Table, ...]


PAGE = (
    Section(
        None,
        (
            tables.ROUNDS,
            tables.FINAL_ACCURACY,
            accuracy_plots.HEATMAP,
            training_plots.LOSS,
            accuracy_plots.ACCEPTED,
        ),
    ),
    Section("Curriculum", (curriculum_plots.SAMPLING, curriculum_plots.SUCCESS, curriculum_plots.TEACHER)),
    Section(
        "Step control",
        (
            curve_plots.CURVES,
            tables.STOPPING,
            training_plots.LR,
            schedule_plot.WHAT_IF,
            tables.TIME_TO_RESULT,
            tables.PHASE_TIMES,
        ),
    ),
    Section(
        "Learning from rewards",
        (rewards_plots.REWARDS, kept_plot.KEPT, rewards_plots.CONTROL, refine_plot.REFINE),
    ),
    Section(None, (tables.HINDSIGHT, examples.EXAMPLES, tables.CONFIG)),
)
# Every plot by its key, in the page's order.
PLOTS: dict[str, Plot] = {part.key: part for section in PAGE for part in section.parts if isinstance(part, Plot)}
