"""A new method or plot is one class plus one registry line: a trivial attempt strategy, update method and control
strategy, each registered by name in its registry (and one named by ``module:Class`` with no registry line at all),
run through the loop; a trivial plot added to the report's page; and the registries' refusals of what a strategy
cannot do."""

from __future__ import annotations

import pytest
import torch

import selftaught.report
import selftaught.report.html
from selftaught.cli import main
from selftaught.report import write_report
from selftaught.report.figure import Drawn, Plot, new_figure, save
from selftaught.report.page import PAGE, Section
from selftaught.report.status import report_data
from selftaught.run.attempts import ATTEMPTS, Attempted, AttemptStrategy
from selftaught.run.attempts.base import attempt_seed
from selftaught.run.context import Context
from selftaught.run.control import CONTROLS, ControlStrategy
from selftaught.run.updates import UPDATES, UpdateStrategy
from selftaught.run.updates.base import checkpoint_dirs, finish_checkpoint
from selftaught.store import Reader

from support import one_error_line, rows

SMALL = ["loop.labelled_problems=60", "train.labelled_steps=4", "train.round_steps=2", "loop.problems_per_round=8",
         "eval.problems=4", "verifier.samples=2", "loop.max_rounds=2"]  # fmt: skip
HERE = __file__


class Once(AttemptStrategy):
    """Samples one answer per problem and repeats it: every sample of a problem is the same text."""

    name = "once"

    def attempt(self, ctx: Context, r: int, problems, n: int, temperature: float) -> Attempted:
        one = ctx.sampler.answers(r, problems, 1, temperature, attempt_seed(ctx, r))
        return Attempted([{pid: texts * n for pid, texts in answers.items()} for answers in one])


class Frozen(UpdateStrategy):
    """Learns nothing after round 0: the round's checkpoint is the weights it started from."""

    name = "frozen"

    def train(self, ctx: Context, r: int) -> None:
        if r == 0:
            return UPDATES["sft"]().train(ctx, r)
        ctx.load_weights(r - 1)
        final, tmp = checkpoint_dirs(ctx, r)
        ctx.parts.students[0].save(tmp / "model-0")
        finish_checkpoint(tmp, final)
        ctx.weights_round = r
        with ctx.phase(r, "TRAIN"):
            ctx.store.set_round_budget(r, 0)
            ctx.store.add_checkpoint(r, 0, str((final / "model-0").relative_to(ctx.run_dir)))


class Three(ControlStrategy):
    """Chooses 3 samples at temperature 0.25 every round, without measuring anything."""

    name = "three"

    def plan(self, ctx: Context, r: int, problems) -> list[dict]:
        row = dict(temperature=0.25, threshold=0.0, samples=3, score=0.0, kept=0, unique_correct=0, chosen=True)
        return [row] if r > 0 and problems else []


@pytest.fixture
def registered(monkeypatch):
    """The one registry line each: name -> class."""
    monkeypatch.setitem(ATTEMPTS, "once", Once)
    monkeypatch.setitem(UPDATES, "frozen", Frozen)
    monkeypatch.setitem(CONTROLS, "three", Three)


def test_registered_strategies_run_through_the_loop(tmp_path, registered):
    run = tmp_path / "run"
    sets = [*SMALL, 'loop.attempts="once"', 'train.method="frozen"', 'control.kind="three"']
    assert main(["run", "--preset", "smoke", "--out", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    # Once: one text per problem, repeated; Three: 3 samples each, and its row recorded as chosen.
    per_problem = rows(run, "SELECT problem_id, COUNT(*), COUNT(DISTINCT text) FROM attempts GROUP BY problem_id")
    assert per_problem and all((n, distinct) == (3, 1) for _, n, distinct in per_problem)
    control = rows(run, "SELECT round, temperature, samples, chosen FROM control ORDER BY round")
    assert control == [(r, 0.25, 3, 1) for r in range(1, len(control) + 1)] and control
    # Frozen: round 1 trained no step and its checkpoint holds round 0's weights.
    assert rows(run, "SELECT COUNT(*) FROM train_metrics WHERE round > 0") == [(0,)]
    assert rows(run, "SELECT COUNT(*) FROM train_metrics WHERE round = 0") == [(4,)]
    a, b = (torch.load(run / "checkpoints" / f"round-00{r}" / "model-0" / "model.pt") for r in (0, 1))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_strategy_named_by_module_and_class_needs_no_registry_line(tmp_path):
    run = tmp_path / "run"
    sets = [*SMALL, "loop.max_rounds=2", f'loop.attempts="{HERE}:Once"']
    assert main(["run", "--preset", "smoke", "--out", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    per_problem = rows(run, "SELECT COUNT(*), COUNT(DISTINCT text) FROM attempts GROUP BY problem_id")
    assert per_problem and all(p == (2, 1) for p in per_problem)


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (['loop.attempts="sideways"'], "unknown loop.attempts 'sideways'; built-in: direct, split, refine"),
        (['train.method="dpo"'], "unknown train.method 'dpo'; built-in: sft, grpo"),
        (['control.kind="pid"'], "unknown control.kind 'pid'"),
        ([f'loop.attempts="{HERE}:Frozen"'], "is not a subclass of selftaught's AttemptStrategy"),
        (['loop.attempts="split"', "task.name=copy"], "does not split its problems"),
        (['loop.attempts="refine"', "search.samples=4"], "direct attempts only; loop.attempts is 'refine'"),
    ],
)
def test_a_strategy_that_cannot_run_is_refused_in_one_line_before_the_run(tmp_path, capsys, sets, says):
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["run", "--preset", "smoke", "--out", str(run), *[a for s in sets for a in ("--set", s)]]) == 2
    assert says in one_error_line(capsys.readouterr().err)
    assert not run.exists()


# ------------------------------------------------------------------------------------------------ a new plot
def draw_accuracy_list(data, path) -> Drawn:
    """Every held-out accuracy the store recorded, in order: the least a plot can be."""
    values = [e["accuracy"] for e in data.evaluations]
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.plot(range(len(values)), values)
    ax.set_title("recorded accuracies")
    return Drawn(save(fig, path), "recorded accuracies", {"accuracy": values}, figure=fig)


ACCURACIES = Plot(
    key="accuracy_list",
    file="accuracy_list.png",
    draw=draw_accuracy_list,
    heading="Recorded accuracies",
    alt="every held-out accuracy in order",
    caption="A plot added by a test: one record, one line in the page.",
)


def test_a_new_plot_is_one_record_and_one_line_in_the_page(tmp_path, monkeypatch):
    run = tmp_path / "run"
    sets = [*SMALL, "loop.max_rounds=1"]
    assert main(["run", "--preset", "smoke", "--out", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    # The one line: the record placed on the page (page.PAGE); the page and the plot index both follow it.
    page = (*PAGE, Section("Added", (ACCURACIES,)))
    monkeypatch.setattr(selftaught.report.html, "PAGE", page)
    monkeypatch.setitem(selftaught.report.PLOTS, ACCURACIES.key, ACCURACIES)
    html = write_report(report_data(Reader.open(run / "run.db")), tmp_path / "report").read_text()
    assert (tmp_path / "report" / "accuracy_list.png").stat().st_size > 0
    assert "<h2>Added</h2>" in html and "Recorded accuracies" in html and "one record, one line" in html
    assert 'src="accuracy_list.png"' in html
