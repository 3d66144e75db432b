"""Tracking: MLflow and TensorBoard trackers driven through the loop's hooks, export from a run's store (the same
names, steps and values), read back from an MLflow file store and TensorBoard event files; bad input."""

import json
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from selftaught.cli import main  # noqa: E402
from selftaught.config import Experiment, load_experiment  # noqa: E402
from selftaught.errors import SelftaughtError  # noqa: E402
from selftaught.experiments.tracking import (  # noqa: E402
    MlflowTracker,
    TensorBoardTracker,
    build_trackers,
    config_params,
    open_run_store,
)
from selftaught.run.loop import Loop, LoopCallback  # noqa: E402

from support import rows as db_rows

TINY = [
    "train.labelled_steps=8",
    "train.round_steps=4",
    "loop.max_rounds=1",
    "loop.labelled_problems=64",
    "loop.problems_per_round=16",
    "eval.problems=6",
    "stop.every=4",
    "stop.shadow=true",
    "verifier.filters=['vote']",
]
# The loop calls the tracking hooks: then the fixture's run is tracked live.
LIVE = hasattr(LoopCallback, "on_train_metrics")


@pytest.fixture(autouse=True)
def _file_store(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def mlflow_metrics(root: Path, experiment: str) -> tuple[dict[str, list[tuple[int, float]]], dict[str, str], str]:
    """Every metric's history (step, value), the params and the status of the one run in ``experiment``."""
    client = MlflowClient(tracking_uri=root.resolve().as_uri())
    exp = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([exp.experiment_id])
    history = {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        for key in run.data.metrics
    }
    return history, run.data.params, run.info.status


def tb_metrics(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return {tag: sorted((e.step, e.value) for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


def drive(tracker: LoopCallback, run_dir: Path, exp, run_id: str) -> None:
    """Two rounds' worth of hook calls, as the loop makes them."""
    tracker.on_run_start(run_dir, exp, run_id)
    for r, steps in ((0, 5), (1, 3)):
        tracker.on_phase_start(r, "VERIFY")
        tracker.on_verify(r, 10, 10 if r == 0 else 4, None if r == 0 else 0.75)
        rows = [
            {"step": s, "loss": 2.0 - 0.1 * s - r, "lr": 0.01, "grad_norm": 1.0 + s, "grad_l1": 10.0 + s}
            for s in range(steps)
        ]
        tracker.on_train_metrics(r, rows)
        stop_rows = [
            {
                "step": 2,
                "value": 0.5,
                "current": 0.5,
                "mean": 0.6,
                "low": 0.4,
                "high": 0.8,
                "stop": False,
                "reason": "-",
            }
        ]
        tracker.on_stop_decisions(r, stop_rows)
        evals = [
            {"task": "reversed-addition", "difficulty": d, "n": 8, "correct": 4, "accuracy": 0.5 + 0.1 * d - r}
            for d in (1, 2)
        ]
        tracker.on_evaluate(r, evals)
        tracker.on_round_end(r, "continue" if r == 0 else "stop")
    tracker.on_run_end("round budget spent")


def test_trackers_log_through_the_hooks(tmp_path):
    exp, _ = load_experiment(None, "smoke", ["train.lr=0.004"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    drive(MlflowTracker(str(tmp_path / "mlruns")), run_dir, exp, "smoke-1")
    drive(TensorBoardTracker(tmp_path / "tb"), run_dir, exp, "smoke-1")
    history, params, status = mlflow_metrics(tmp_path / "mlruns", "smoke")
    assert status == "FINISHED"
    assert params["train.lr"] == "0.004" and params["task.name"] == "reversed-addition"
    assert params == {k: v for k, v in config_params(exp.model_dump(mode="json")).items()}
    # Round 1's steps follow round 0's 5 on the global axis.
    assert [s for s, _ in history["train/loss"]] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert history["train/loss"][5] == (5, pytest.approx(1.0))
    assert history["train/grad_norm"][7] == (7, 3.0)
    assert history["eval/reversed-addition/2"] == [(0, pytest.approx(0.7)), (1, pytest.approx(-0.3))]
    assert history["verify/accepted_share"] == [(1, 0.4)]  # round 0 is labelled, not verified
    assert history["verify/label_accuracy"] == [(1, 0.75)]
    assert history["stop/mean"] == [(2, 0.6), (7, 0.6)]
    assert history["stop/stop"] == [(2, 0.0), (7, 0.0)]
    assert history["round/train_steps"] == [(0, 5.0), (1, 3.0)]
    tb = tb_metrics(tmp_path / "tb" / "smoke-1")
    assert set(tb) == set(history)
    for key, values in history.items():
        assert [s for s, _ in tb[key]] == [s for s, _ in values]
        assert [v for _, v in tb[key]] == pytest.approx([v for _, v in values], rel=1e-6)


def test_a_resumed_run_goes_on_in_its_mlflow_run(tmp_path):
    exp, _ = load_experiment(None, "smoke", [])
    tracker = MlflowTracker(str(tmp_path / "mlruns"), experiment="mine")
    tracker.on_run_start(tmp_path, exp, "smoke-2")
    tracker.on_evaluate(0, [{"task": "copy", "difficulty": 1, "accuracy": 0.5}])
    again = MlflowTracker(str(tmp_path / "mlruns"), experiment="mine")  # the resumed process
    again.on_run_start(tmp_path, exp, "smoke-2")
    again.on_evaluate(1, [{"task": "copy", "difficulty": 1, "accuracy": 0.75}])
    again.on_run_end("done")
    history, _, status = mlflow_metrics(tmp_path / "mlruns", "mine")  # one run holds both
    assert history["eval/copy/1"] == [(0, 0.5), (1, 0.75)] and status == "FINISHED"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run (2 rounds, shadow stopping records); with the loop's tracking hooks, tracked live as well."""
    folder = tmp_path_factory.mktemp("tracked")
    exp, text = load_experiment(None, "smoke", TINY)
    callbacks = [MlflowTracker(str(folder / "live-ml")), TensorBoardTracker(folder / "live-tb")] if LIVE else []
    with Loop.create(folder / "run", exp, text, callbacks=callbacks) as loop:
        loop.run()
        run_id = loop.store.run_id
    return folder, folder / "run", run_id


def test_export_writes_the_store_s_records(finished_run, capsys):
    folder, run_dir, run_id = finished_run
    capsys.readouterr()
    args = ["export", str(run_dir), "--mlflow", str(folder / "ml"), "--tensorboard", str(folder / "tb")]
    assert main(args) == 0, capsys.readouterr().err
    history, params, status = mlflow_metrics(folder / "ml", "smoke")
    assert status == "FINISHED"
    stored = json.loads(db_rows(run_dir, "SELECT value FROM meta WHERE key = 'config'")[0][0])
    assert params == config_params(stored) and params["stop.every"] == "4"
    # Loss on the global step axis: round 1's steps follow round 0's.
    losses = db_rows(run_dir, "SELECT round, step, loss FROM train_metrics WHERE model = 0 ORDER BY round, step")
    steps0 = sum(1 for r, _, _ in losses if r == 0)
    expected = [(s + (steps0 if r == 1 else 0), loss) for r, s, loss in losses]
    assert history["train/loss"] == [(s, pytest.approx(v)) for s, v in expected]
    assert len(history["train/lr"]) == len(losses) and len(history["train/grad_norm"]) == len(losses)
    evals = db_rows(run_dir, "SELECT round, task, difficulty, accuracy FROM evaluations")
    assert evals
    for r, task, d, acc in evals:
        assert (r, pytest.approx(acc)) in history[f"eval/{task}/{d}"]
    decisions = db_rows(run_dir, "SELECT round, step, value, stop FROM stop_decisions ORDER BY round, step")
    assert decisions  # shadow stopping records a decision every 4 steps
    assert history["stop/value"] == [(s + (steps0 if r == 1 else 0), pytest.approx(v)) for r, s, v, _ in decisions]
    (proposed, accepted) = db_rows(run_dir, "SELECT COUNT(*), SUM(accepted) FROM verdicts WHERE round = 1")[0]
    assert history["verify/accepted_share"] == [(1, pytest.approx(accepted / proposed))]
    tb = tb_metrics(folder / "tb" / run_id)
    assert set(tb) == set(history)
    for key, values in history.items():
        assert [s for s, _ in tb[key]] == [s for s, _ in values]
        assert [v for _, v in tb[key]] == pytest.approx([v for _, v in values], rel=1e-6, abs=1e-7)


def test_hooks_and_export_agree(finished_run, tmp_path):
    """What a tracker logs from the hooks equals what export writes from the store. With the loop's hooks in place
    the run was tracked live; otherwise the store's records are replayed through the hooks as the loop sends them."""
    folder, run_dir, run_id = finished_run
    if LIVE:
        live_ml, live_tb = folder / "live-ml", folder / "live-tb" / run_id
    else:
        live_ml, live_tb = tmp_path / "ml", tmp_path / "tb"
        replay(MlflowTracker(str(live_ml)), run_dir)
        replay(TensorBoardTracker(live_tb), run_dir)
        live_tb = live_tb / run_id
    export_ml, export_tb = tmp_path / "export-ml", tmp_path / "export-tb"
    assert main(["export", str(run_dir), "--mlflow", str(export_ml), "--tensorboard", str(export_tb)]) == 0
    live, live_params, _ = mlflow_metrics(live_ml, "smoke")
    exported, export_params, _ = mlflow_metrics(export_ml, "smoke")
    assert live == exported and live_params == export_params
    assert tb_metrics(live_tb) == tb_metrics(export_tb / run_id)


def replay(tracker: LoopCallback, run_dir: Path) -> None:
    """The store's records sent through the hooks in the loop's order and shapes."""
    store = open_run_store(run_dir)
    try:
        exp, _ = load_experiment(run_dir / "config.toml")
        tracker.on_run_start(run_dir / "not-there", exp, store.run_id)
        metrics = store.train_metrics()
        for s in store.round_summaries():
            r = s["round"]
            tracker.on_verify(r, s["proposed"], s["accepted"], s["label_accuracy"])
            rows = [
                {k: m[k] for k in ("step", "loss", "lr", "grad_norm", "grad_l1")} for m in metrics if m["round"] == r
            ]
            tracker.on_train_metrics(r, rows)
            tracker.on_stop_decisions(r, store.stop_decisions(r))
            tracker.on_evaluate(r, store.evaluations(r))
            tracker.on_round_end(r, s["decision"])
        tracker.on_run_end(store.meta("stop_reason"))
    finally:
        store.close(checkpoint=False)


def test_export_refuses_bad_input(finished_run, tmp_path, capsys):
    folder, run_dir, _ = finished_run
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.db").write_text("not sqlite")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = [
        (["export", str(tmp_path / "nope"), "--mlflow", str(tmp_path / "m")], "does not exist"),
        (["export", str(tmp_path / "empty"), "--mlflow", str(tmp_path / "m")], "no run.db"),
        (["export", str(tmp_path / "junk"), "--tensorboard", str(tmp_path / "t")], "not a run store"),
        (["export", str(run_dir)], "--mlflow"),
        (["export", str(run_dir), "--mlflow", str(a_file / "ml")], "not a directory"),
        (["export", str(run_dir), "--tensorboard", str(a_file / "tb")], "not a directory"),
    ]
    for args, names in cases:
        capsys.readouterr()
        code = main(args)
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and names in lines[0], (args, err)
    assert not (tmp_path / "m").exists() and not (tmp_path / "t").exists()
    # Exporting twice to one place is refused, and the first export is left as it was.
    target = ["--mlflow", str(tmp_path / "twice"), "--tensorboard", str(tmp_path / "twice-tb")]
    assert main(["export", str(run_dir), *target]) == 0
    before = mlflow_metrics(tmp_path / "twice", "smoke")
    capsys.readouterr()
    assert main(["export", str(run_dir), *target[:2]]) == 2
    assert "already holds run" in capsys.readouterr().err
    assert main(["export", str(run_dir), *target[2:]]) == 2
    assert mlflow_metrics(tmp_path / "twice", "smoke") == before


class _Track:
    def __init__(self, **kw):
        self.mlflow, self.tensorboard, self.experiment = kw.get("mlflow", ""), kw.get("tensorboard", ""), ""


class _Exp:
    def __init__(self, **kw):
        self.track = _Track(**kw)


def test_build_trackers_checks_without_creating(tmp_path):
    assert build_trackers(_Exp()) == []
    assert build_trackers(object()) == []  # an experiment from before [track] existed
    made = build_trackers(_Exp(mlflow=str(tmp_path / "a" / "ml"), tensorboard=str(tmp_path / "b")))
    assert [type(t) for t in made] == [MlflowTracker, TensorBoardTracker]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    (tmp_path / "f").write_text("x")
    for kw in ({"mlflow": str(tmp_path / "f" / "ml")}, {"tensorboard": str(tmp_path / "f")}):
        with pytest.raises(SelftaughtError, match="not a directory"):
            build_trackers(_Exp(**kw))


class _StopAt(LoopCallback):
    """Interrupts the run as round 1's ATTEMPT starts, as Ctrl-C would."""

    def on_phase_start(self, round_: int, phase: str) -> None:
        if (round_, phase) == (1, "ATTEMPT"):
            raise KeyboardInterrupt


@pytest.mark.skipif(not LIVE, reason="the loop does not call the tracking hooks yet")
def test_an_interrupted_and_resumed_run_is_tracked_once(tmp_path):
    exp, text = load_experiment(None, "smoke", TINY)
    run_dir, ml, tb = tmp_path / "run", tmp_path / "ml", tmp_path / "tb"
    with pytest.raises(KeyboardInterrupt):
        with Loop.create(
            run_dir, exp, text, callbacks=[MlflowTracker(str(ml)), TensorBoardTracker(tb), _StopAt()]
        ) as loop:
            loop.run()
    partial, _, status = mlflow_metrics(ml, "smoke")
    assert status == "RUNNING" and "verify/accepted" not in partial  # round 1 had not verified yet
    with Loop.resume(run_dir, callbacks=[MlflowTracker(str(ml)), TensorBoardTracker(tb)]) as loop:
        loop.run()
        run_id = loop.store.run_id
    assert (
        main(["export", str(run_dir), "--mlflow", str(tmp_path / "x-ml"), "--tensorboard", str(tmp_path / "x-tb")]) == 0
    )
    live, live_params, status = mlflow_metrics(ml, "smoke")  # one MLflow run, nothing logged twice
    exported, export_params, _ = mlflow_metrics(tmp_path / "x-ml", "smoke")
    assert status == "FINISHED" and live == exported and live_params == export_params
    assert tb_metrics(tb / run_id) == tb_metrics(tmp_path / "x-tb" / run_id)


@pytest.mark.skipif("track" not in Experiment.model_fields, reason="the config has no [track] section yet")
def test_build_trackers_from_the_track_section(tmp_path):
    sets = [f"track.mlflow={json.dumps(str(tmp_path / 'ml'))}", f"track.tensorboard={json.dumps(str(tmp_path / 'tb'))}"]
    exp, _ = load_experiment(None, "smoke", [*sets, "track.experiment='mine'"])
    mlflow, tensorboard = build_trackers(exp)
    assert isinstance(mlflow, MlflowTracker) and mlflow.sink.experiment == "mine"
    assert isinstance(tensorboard, TensorBoardTracker) and tensorboard.sink.root == tmp_path / "tb"
    assert build_trackers(load_experiment(None, "smoke", [])[0]) == []  # off by default
