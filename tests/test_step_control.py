"""Step control in the loop: schedules from config, gradient norms, warm starts, the stopping rule and its planner,
time to result, and bad settings."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from selftaught.cli import main
from selftaught.seeding import derive_seed
from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.training.schedules import WSD, Refined

from support import rows

# The smoke preset, with a verifier that accepts any answer of the right length, so every round has examples.
SMOKE = ["--preset", "smoke", "--set", 'verifier.filters=["length"]']


def run(tmp_path: Path, name: str, *sets: str) -> Path:
    out = tmp_path / name
    args = ["run", *SMOKE, "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    return out


def lrs(run_dir: Path, r: int) -> list[float]:
    return [
        lr for (lr,) in rows(run_dir, f"SELECT lr FROM train_metrics WHERE round = {r} AND model = 0 ORDER BY step")
    ]


# --------------------------------------------------------------------------------------- schedules and norms
@pytest.fixture(scope="module")
def refined_run(tmp_path_factory) -> Path:
    return run(tmp_path_factory.mktemp("refined"), "run", "train.schedule=refined", "train.warmup=0.0")


def test_every_step_logs_its_gradient_norms(refined_run):
    norms = rows(refined_run, "SELECT grad_norm, grad_l1 FROM train_metrics")
    assert len(norms) == 30 + 10 + 10
    # Both positive, and the l1 norm of a vector is never below its l2 norm.
    assert all(l2 > 0 and l1 >= l2 for l2, l1 in norms)


def test_the_refined_schedule_comes_from_the_previous_rounds_norms(refined_run):
    base = 0.003
    # Round 0 has no earlier norms: it decays linearly.
    assert lrs(refined_run, 0) == pytest.approx([base * (1 - t / 30) for t in range(30)])
    for r in (1, 2):
        norms = [
            n for (n,) in rows(refined_run, f"SELECT grad_l1 FROM train_metrics WHERE round = {r - 1} ORDER BY step")
        ]
        expected = Refined(norms, form="adam", smooth=0.05)
        assert lrs(refined_run, r) == pytest.approx([base * expected.factor(t, 10) for t in range(10)])


def test_wsd_options_reach_the_schedule(tmp_path):
    out = run(tmp_path, "wsd", "train.decay=0.5", "train.decay_form=sqrt", "train.floor=0.1", "train.warmup=0.1")
    expected = WSD(warmup=0.1, decay=0.5, floor=0.1, form="sqrt")
    assert lrs(out, 0) == pytest.approx([0.003 * expected.factor(t, 30) for t in range(30)])


def test_round_lr_scales_the_self_labelled_rounds_only(tmp_path):
    out = run(tmp_path, "round-lr", "train.schedule=constant", "train.warmup=0.0", "train.round_lr=0.001")
    assert lrs(out, 0) == pytest.approx([0.003] * 30)
    assert lrs(out, 1) == pytest.approx([0.001] * 10) and lrs(out, 2) == pytest.approx([0.001] * 10)


# ------------------------------------------------------------------------------------------------ warm starts
@pytest.mark.parametrize(("how", "warm"), [("continue", False), ("re-warm", True), ("shrink-perturb", True)])
def test_only_continue_skips_the_warmup_of_later_rounds(tmp_path, how, warm):
    out = run(tmp_path, how, f"train.warm_start={how}", "train.schedule=constant", "train.warmup=0.5")
    assert lrs(out, 0)[0] == pytest.approx(0.003 / 15)  # round 0 always warms up (15 steps)
    assert lrs(out, 1)[0] == pytest.approx(0.003 / 5 if warm else 0.003)


def small_student(seed: int) -> GPTStudent:
    return GPTStudent(GPTConfig(n_layer=1, n_embd=16, n_head=2), device="cpu", init_seed=seed)


def test_shrink_perturb_and_fresh_restart_the_weights():
    student = small_student(1)
    own = {k: v.clone() for k, v in student.model.state_dict().items()}
    fresh = small_student(7).model.state_dict()
    student.restart("shrink-perturb", shrink=0.4, perturb=0.1, seed=7)
    for name, p in student.model.named_parameters():
        assert torch.allclose(p, 0.4 * own[name] + 0.1 * fresh[name], atol=1e-6), name
    student.restart("fresh", seed=7)
    assert all(torch.equal(p, fresh[n]) for n, p in student.model.named_parameters())
    before = {k: v.clone() for k, v in student.model.state_dict().items()}
    student.restart("continue")
    assert all(torch.equal(p, before[n]) for n, p in student.model.named_parameters())


def test_a_fresh_warm_start_forgets_the_previous_round(tmp_path):
    out = run(tmp_path, "fresh", "train.warm_start=fresh", "train.round_steps=1")
    r0 = torch.load(out / "checkpoints/round-000/model-0/model.pt", weights_only=True)
    r1 = torch.load(out / "checkpoints/round-001/model-0/model.pt", weights_only=True)
    # Round 1 starts from the initialisation its seed gives (one Adam step away), not from round 0's weights.
    init = GPTStudent(GPTConfig(n_layer=1, n_embd=32, rope_scale=1.0), device="cpu")
    init.restart("fresh", seed=derive_seed(0, 1, "WARM", 0))
    fresh = init.model.state_dict()

    def distance(a, b):
        return sum(float((a[k] - b[k]).norm()) for k in a)

    assert distance(r1, fresh) < distance(r1, r0) / 10


# ---------------------------------------------------------------------------------------------- stopping rule
STOP_EARLY = [
    "stop.every=5",
    "stop.min_points=2",
    "stop.min_fraction=0.0",
    "stop.min_accuracy=0.0",
    "stop.cooldown=0.0",
    "stop.epsilon=1.0",
    "stop.target=1.0",
]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    return run(tmp_path_factory.mktemp("stopped"), "run", *STOP_EARLY, "stop.carry=0.5")


def test_rounds_stop_when_the_predicted_gain_is_too_small(stopped_run):
    # epsilon = 1 means any prediction is "not worth it": every round stops at its second measurement (step 10).
    steps = dict(rows(stopped_run, "SELECT round, COUNT(*) FROM train_metrics WHERE model = 0 GROUP BY round"))
    assert steps == {0: 10, 1: 10, 2: 10}
    decisions = rows(stopped_run, "SELECT round, step, stop, reason, mean, low, high FROM stop_decisions")
    by_round = {r: [(s, st, why) for rr, s, st, why, *_ in decisions if rr == r] for r in (0, 1, 2)}
    assert by_round[0] == [(5, 0, "too early"), (10, 1, "predicted gain below epsilon")]
    for _, _, st, _, mean, low, high in decisions:
        if st:
            assert low <= mean <= high
    # The rule measures every cell a round trains on, replayed ones too (the teacher watches only the fresh ones).
    for r in (1, 2):
        trained = set(rows(stopped_run, f"SELECT DISTINCT task, difficulty FROM examples WHERE round = {r}"))
        sliced = set(
            rows(
                stopped_run, f"SELECT DISTINCT task, difficulty FROM skill_results WHERE kind = 'slice' AND round = {r}"
            )
        )
        assert sliced == trained and len(trained) > 1
    # The slice measurements are kept next to the decisions.
    assert rows(stopped_run, "SELECT COUNT(DISTINCT step) FROM skill_results WHERE kind = 'slice' AND round = 0") == [
        (2,)
    ]


def test_the_planner_gives_saved_steps_to_later_rounds(stopped_run):
    budgets = dict(rows(stopped_run, "SELECT round, budget FROM rounds"))
    # Round 0 saved 30 - 10 = 20 steps; a round may take at most carry (0.5) x its own 10 steps more.
    assert budgets == {0: 30, 1: 15, 2: 15}
    assert rows(stopped_run, "SELECT DISTINCT budget FROM stop_decisions WHERE round = 1") == [(15,)]


def test_shadow_mode_decides_but_runs_the_whole_budget(tmp_path):
    out = run(tmp_path, "shadow", *STOP_EARLY, "stop.shadow=true")
    steps = dict(rows(out, "SELECT round, COUNT(*) FROM train_metrics WHERE model = 0 GROUP BY round"))
    assert steps == {0: 30, 1: 10, 2: 10}
    assert dict(rows(out, "SELECT round, budget FROM rounds")) == {0: 30, 1: 10, 2: 10}  # nothing saved
    first_stop = rows(out, "SELECT round, MIN(step) FROM stop_decisions WHERE stop = 1 GROUP BY round")
    assert first_stop == [(0, 10)]  # rounds 1 and 2 have 10 steps: their step-10 decision is the end
    measured = [s for (s,) in rows(out, "SELECT step FROM stop_decisions WHERE round = 0 ORDER BY step")]
    assert measured == [5, 10, 15, 20, 25, 30]


def test_a_round_stops_when_the_target_is_reached(tmp_path):
    sets = ["task.name=copy", "train.labelled_steps=100", "train.lr=0.01"]
    out = run(tmp_path, "target", *sets, "stop.every=10", "stop.target=0.05", "stop.min_fraction=0.9")
    # Copying one or two digits: the slice passes 5 % within 100 steps, before the rule may predict (90 steps).
    decisions = rows(out, "SELECT step, value, stop, reason FROM stop_decisions WHERE round = 0 ORDER BY step")
    *before, last = decisions
    assert all(value < 0.05 and not stop for _, value, stop, _ in before)
    assert last[1] >= 0.05 and last[2:] == (1, "target reached") and last[0] < 90
    # Then the learning rate cools down over a tenth of the steps taken (the default stop.cooldown), and training ends.
    cool = max(1, round(0.1 * last[0]))
    assert rows(out, "SELECT COUNT(*) FROM train_metrics WHERE round = 0 AND model = 0") == [(last[0] + cool,)]


def test_a_stop_cools_the_learning_rate_down_before_training_ends(tmp_path):
    out = run(tmp_path, "cool", *STOP_EARLY, "stop.cooldown=0.5", "train.schedule=constant", "train.warmup=0.0")
    # The rule says stop at step 10; five more steps anneal the rate linearly towards 0, then the round ends.
    assert lrs(out, 0) == pytest.approx([0.003] * 10 + [0.003 * (1 - j / 6) for j in range(1, 6)])
    assert rows(out, "SELECT step, stop FROM stop_decisions WHERE round = 0") == [(5, 0), (10, 1)]


def test_stop_decisions_survive_kill_and_resume(tmp_path, single_thread, paused):
    sets = [*STOP_EARLY[:-2], "stop.epsilon=0.02", "train.labelled_steps=200", "stop.every=20"]
    ref = run(tmp_path, "ref", *sets)
    killed = tmp_path / "killed"
    args = ["run", *SMOKE, "--out", str(killed)]
    for s in sets:
        args += ["--set", s]
    # Round 0's TRAIN after 70 steps: the rule has measured and decided three times.
    paused(args, "TRAIN:0:70", env={"OMP_NUM_THREADS": "1"}).stop(signal.SIGKILL)
    assert main(["resume", str(killed)]) == 0
    for sql in (
        "SELECT * FROM stop_decisions ORDER BY round, step",
        "SELECT round, budget FROM rounds ORDER BY round",
        "SELECT round, step, loss, grad_norm FROM train_metrics ORDER BY round, model, step",
    ):
        assert rows(killed, sql) == rows(ref, sql), sql
    assert rows(ref, "SELECT COUNT(*) FROM stop_decisions")[0][0] > 0


# ----------------------------------------------------------------------------------------------- time to result
def test_time_to_result_is_recorded_and_reported(stopped_run, capsys):
    phases = rows(stopped_run, "SELECT seconds, cpu_seconds FROM phases WHERE done = 1")
    assert len(phases) == 3 * 7 and all(w >= 0 and c >= 0 for w, c in phases)
    reached = rows(stopped_run, "SELECT task, difficulty, target, round, steps, seconds, accuracy FROM results_reached")
    evaluations = rows(stopped_run, "SELECT round, difficulty, accuracy FROM evaluations ORDER BY round")
    for target in (0.5, 0.9):  # each cell's first round at or over the target, and nothing else
        first: dict[int, int] = {}
        for r, d, acc in evaluations:
            if acc >= target:
                first.setdefault(d, r)
        got = {d: r for _, d, t, r, *_ in reached if t == target}
        assert got == first
    cumulative = {0: 10, 1: 20, 2: 30}  # training steps so far at the end of each round
    assert all(steps == cumulative[r] and seconds > 0 for *_, r, steps, seconds, _ in reached)
    capsys.readouterr()
    assert main(["status", str(stopped_run), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert len(st["time_to_result"]) == len(reached)
    assert st["elapsed_cpu_seconds"] > 0
    assert st["rounds"][0]["budget"] == 30 and st["rounds"][0]["stopped_at"] == 10
    assert set(st["rounds"][0]["phase_seconds"]) == {
        "PROPOSE",
        "ATTEMPT",
        "VERIFY",
        "CURATE",
        "TRAIN",
        "EVALUATE",
        "DECIDE",
    }


# ------------------------------------------------------------------------------------------------ bad settings
def test_a_corrupt_store_to_refine_from_is_refused_before_the_run_begins(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "run.db").write_text("not a database")
    out = tmp_path / "run"
    capsys.readouterr()
    args = ["run", *SMOKE, "--out", str(out), "--set", "train.schedule=refined"]
    assert main([*args, "--set", f"train.refined_from={tmp_path / 'old'}"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "run.db is not a run store" in lines[0], lines
    assert not out.exists() and (tmp_path / "old" / "run.db").read_text() == "not a database"


@pytest.mark.parametrize(
    ("setting", "names"),
    [
        ("train.warmup=-0.1", "train.warmup"),
        ("train.decay=1.5", "train.decay"),
        ("train.warmup=0.8", "exceed the whole round"),  # with the default decay (0.3), longer than the round
        ("train.shrink=1.5", "train.shrink"),
        ("train.perturb=-1", "train.perturb"),
        ("train.warm_start=thaw", "train.warm_start"),
        ("train.schedule=triangle", "train.schedule"),
        ("stop.confidence=1.0", "stop.confidence"),
        ("stop.epsilon=-0.1", "stop.epsilon"),
        ("stop.min_accuracy=2", "stop.min_accuracy"),
        ("eval.targets=[0.5, 1.5]", "targets"),
        ("train.refined_from=/no/such/run", "refined_from"),
    ],
)
def test_bad_step_settings_are_one_line_and_exit_2(tmp_path, capsys, setting, names):
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["run", *SMOKE, "--out", str(out), "--set", setting]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], lines
    assert not out.exists()
