"""Scored attempts through the loop: every attempt's reward and feedback land in the store, the verdict follows
from the same scores, and scoring a batch equals scoring one problem at a time."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.tasks import ReversedAddition
from selftaught.verifiers import AllOf, LengthFilter, VoteVerifier

from support import rows

SMALL = ["--set", "train.labelled_steps=30", "--set", "train.round_steps=5", "--set", "loop.max_rounds=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "run"
    assert main(["run", "--preset", "smoke", "--out", str(out), *SMALL]) == 0
    return out


def test_every_attempt_has_its_vote_share_as_reward_and_a_correctness_record(run_dir):
    attempts = rows(
        run_dir,
        "SELECT a.problem_id, a.text, a.reward, a.feedback, a.correct, p.prompt FROM attempts a "
        "JOIN problems p ON p.id = a.problem_id ORDER BY a.problem_id, a.model, a.sample",
    )
    assert attempts and all(r[2] is not None for r in attempts)
    task = ReversedAddition()
    by_problem: dict[int, list[str]] = {}
    for pid, text, *_ in attempts:
        by_problem.setdefault(pid, []).append(text)
    for pid, text, reward, feedback, correct, prompt in attempts:
        texts = by_problem[pid]
        share = Counter(texts)[text] / len(texts)
        plausible = task.plausible(_problem(prompt), text)
        assert reward == pytest.approx(min(share, 1.0 if plausible else 0.0))  # AllOf: the lowest part reward
        assert (feedback == "") == (share >= 0.6 and text != "" and plausible)
        assert correct == int(text == task.answer(_problem(prompt)))


def _problem(prompt: str):
    from selftaught.types import Problem

    return Problem("reversed-addition", 0, prompt, None, 0)


def test_the_verdict_is_the_most_common_attempt_every_filter_accepts(run_dir):
    verdicts = rows(run_dir, "SELECT problem_id, accepted, answer, evidence FROM verdicts WHERE round = 1")
    accepted_texts = {
        pid: [t for t, fb in zip_texts]
        for pid, zip_texts in _group(
            rows(run_dir, "SELECT problem_id, text, feedback FROM attempts WHERE feedback = '' ORDER BY id")
        ).items()
    }
    assert verdicts
    for pid, accepted, answer, evidence in verdicts:
        kept = accepted_texts.get(pid, [])
        assert bool(accepted) == bool(kept)
        if accepted:
            assert answer == Counter(kept).most_common(1)[0][0]
        assert set(json.loads(evidence)) == {"vote", "length", "agree"}


def _group(items: list[tuple]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for pid, text, feedback in items:
        out.setdefault(pid, []).append((text, feedback))
    return out


def test_scoring_a_batch_equals_scoring_one_problem_at_a_time():
    task = ReversedAddition()
    rng = random.Random(3)
    batch = []
    for i in range(30):
        p = task.sample(rng, 1 + i % 4)
        right = task.answer(p)
        attempts = [rng.choice([right, right, right[::-1], right + "1", ""]) for _ in range(5)]
        batch.append((p, attempts))
    verifier = AllOf([VoteVerifier(0.6), LengthFilter(task)])
    assert verifier.score_many(batch) == [verifier.score(p, a) for p, a in batch]
    for (p, a), scores in zip(batch, verifier.score_many(batch)):
        assert verifier.verdict(p, a, scores) == verifier.judge(p, a)


# ------------------------------------------------------------------------------------------------- pass@k
def test_pass_at_k_is_recorded_per_cell_and_shown_by_status(tmp_path, capsys):
    out = tmp_path / "run"
    sets = [*SMALL, "--set", "eval.samples=4", "--set", "eval.k=[1, 2, 4]", "--set", "loop.max_rounds=0"]
    assert main(["run", "--preset", "smoke", "--out", str(out), *sets]) == 0
    got = rows(out, "SELECT task, difficulty, k, n, problems, value FROM pass_at_k WHERE round = 0 ORDER BY 2, 3")
    cells = rows(out, "SELECT task, difficulty, n FROM evaluations WHERE round = 0 ORDER BY difficulty")
    assert [(t, d, k) for t, d, k, *_ in got] == [(t, d, k) for t, d, _ in cells for k in (1, 2, 4)]
    for i in range(0, len(got), 3):
        values = [r[5] for r in got[i : i + 3]]
        assert all(0.0 <= v <= 1.0 for v in values) and values == sorted(values)  # pass@k grows with k
        assert all(r[3] == 4 for r in got[i : i + 3])
    assert {(t, d, n) for t, d, n in cells} == {(t, d, p) for t, d, _, _, p, _ in got}
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["rounds"][0]["pass_at_k"]["2"] == {str(d): v for _, d, k, _, _, v in got if k == 2}


def test_a_bad_k_is_one_line(tmp_path, capsys):
    code = main(
        ["run", "--preset", "smoke", "--out", str(tmp_path / "r"), "--set", "eval.samples=2", "--set", "eval.k=[5]"]
    )
    assert code == 2 and "each k must be in 1..samples" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------------------ callbacks
def test_callbacks_hear_what_each_phase_recorded(tmp_path):
    from selftaught.config import load_experiment
    from selftaught.run.loop import Loop, LoopCallback

    class Recorder(LoopCallback):
        def __init__(self):
            self.events = []

        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *args: object.__getattribute__(self, "events").append((name, args))
            return object.__getattribute__(self, name)

    exp, text = load_experiment(None, "smoke", [s for s in SMALL if s != "--set"])
    recorder = Recorder()
    loop = Loop.create(tmp_path / "run", exp, text, callbacks=[recorder])
    try:
        reason = loop.run()
    finally:
        loop.close()
    names = [n for n, _ in recorder.events]
    assert names[0] == "on_run_start" and names[-1] == "on_run_end" and recorder.events[-1][1] == (reason,)
    run_dir = tmp_path / "run"
    metrics = [args for n, args in recorder.events if n == "on_train_metrics"]
    steps = rows(run_dir, "SELECT round, COUNT(*) FROM train_metrics WHERE model = 0 GROUP BY round ORDER BY round")
    assert [r for r, _ in metrics] == [0, 1]  # every TRAIN reports, a round that trained nothing with no rows
    assert [(r, len(ms)) for r, ms in metrics if ms] == steps
    assert [m["global_step"] for m in metrics[0][1]] == list(range(steps[0][1]))
    evaluated = {args[0]: len(args[1]) for n, args in recorder.events if n == "on_evaluate"}
    assert evaluated == dict(rows(run_dir, "SELECT round, COUNT(*) FROM evaluations GROUP BY round"))
    verified = [args for n, args in recorder.events if n == "on_verify"]
    assert [(r, p, a) for r, p, a, _ in verified] == rows(
        run_dir, "SELECT round, COUNT(*), SUM(accepted) FROM verdicts GROUP BY round ORDER BY round"
    )
