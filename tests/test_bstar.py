"""B-STaR control: the balance score, the grid search, the thresholded verdict, a run that records one chosen
setting per self-labelled round, samples with it, and redoes it identically after kill -9; and no grid where every
problem has one right answer (a task that declares it, or one whose first grid shows it)."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.run.control import BStarController, balance_score, query_balance, thresholded_verdict
from selftaught.run.control.bstar import one_answer, right_answers, skip_reason
from selftaught.tasks import ReversedAddition
from selftaught.tasks.base import Task
from selftaught.types import Problem
from selftaught.verifiers.base import Score, Verifier
from selftaught.verifiers.vote import VoteVerifier

from support import rows, run_cli

HERE = __file__


class ManyAnswers(ReversedAddition):
    """Reversed addition declared to have many right answers: the grid runs (a quick stand-in for programs)."""

    unique_answer = False


class Zero(Task):
    """``Z:{digits}=`` -> ``0``: one right answer, learnt in a few steps, and not declared (measured instead)."""

    name = "zero"
    description = "Z:123=0"

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        prompt = "Z:" + "".join(rng.choice("123456789") for _ in range(difficulty)) + "="
        return Problem(self.name, difficulty, prompt, "0", 0)

    def answer(self, problem: Problem) -> str:
        return "0"

    def plausible(self, problem: Problem, answer: str) -> bool:
        return answer.isdigit()

    def max_answer_len(self, difficulty: int) -> int:
        return 1


# ------------------------------------------------------------------------------------------ the balance score
def test_nothing_kept_scores_zero_and_counts_in_the_mean():
    below = [("7", 0.2, 1), ("7", 0.3, 1), ("9", None, 1)]  # under the threshold, or no reward at all
    assert query_balance(below, 0.5) == (0.0, 0, 0)
    assert query_balance([], 0.5) == (0.0, 0, 0)
    good = [(str(i), 1.0, 1) for i in range(8)]  # 8 distinct correct: a full score
    b = balance_score([below, good], 0.5)
    assert (b.score, b.kept, b.unique_correct) == (0.5, 8, 8)
    assert balance_score([], 0.5).score == 0.0


def test_duplicates_count_once_in_n_and_in_n_prime():
    q = [("7", 1.0, 1), ("7", 1.0, 1), ("7", 0.9, 1), ("8", 0.9, 0), ("8", 0.6, 0), ("5", 0.4, 0)]
    # kept (reward >= 0.5): distinct {"7", "8"} -> n = 2, n' = 1: min(1/8, 1) * 1/2
    assert query_balance(q, 0.5) == (1 / 16, 2, 1)
    assert query_balance(q, 0.95) == (1 / 8, 1, 1)  # only "7" left: all kept are right
    assert query_balance(q, 0.6) == (1 / 16, 2, 1)  # a reward equal to the threshold is kept


def test_more_unique_correct_than_n_star_caps_the_first_factor():
    q = [(f"a{i}", 1.0, 1) for i in range(10)] + [("w1", 1.0, 0), ("w2", 1.0, 0)]
    score, n, good = query_balance(q, 1.0)
    assert (n, good) == (12, 10) and score == pytest.approx(10 / 12)  # min(10/8, 1) = 1
    assert query_balance(q, 1.0, n_star=20)[0] == pytest.approx(10 / 20 * 10 / 12)
    assert query_balance([("x", 1.0, None)], 0.5) == (0.0, 1, 0)  # unknown correctness is not correct


# --------------------------------------------------------------------------------------------- the grid search
def test_the_controller_picks_the_best_setting_and_breaks_ties_by_grid_order():
    """A fake model and verifier: at 0.5 every sample is the same right answer; at 1.0 sample j is the right answer
    "q-(j mod 4)"; at 2.0 sample j is a distinct right answer, except every third one, a distinct wrong one. The
    fake verifier rewards right answers 0.9 and wrong ones 0.7."""
    calls = []

    def answer(q: int, t: float, j: int) -> str:
        if t == 0.5:
            return f"{q}-0"
        if t == 1.0:
            return f"{q}-{j % 4}"
        return f"bad{q}-{j}" if j % 3 == 2 else f"{q}-{j}"

    def generate(t: float, n: int) -> dict:
        calls.append((t, n))
        return {q: [answer(q, t, j) for j in range(n)] for q in range(4)}

    def judge(answers: dict) -> dict:
        return {q: [(a, 0.7 if "bad" in a else 0.9, int("bad" not in a)) for a in v] for q, v in answers.items()}

    c = BStarController([0.5, 1.0, 2.0], [0.6, 0.8], [2, 8], n_star=8)
    rows = c.measure(generate, judge)
    assert calls == [(0.5, 8), (1.0, 8), (2.0, 8)]  # the largest count once per temperature
    assert len(rows) == 12 and sum(r["chosen"] for r in rows) == 1
    by = {(r["temperature"], r["samples"], r["threshold"]): r["score"] for r in rows}
    assert by[(0.5, 8, 0.6)] == by[(0.5, 2, 0.8)] == pytest.approx(1 / 8)
    assert by[(1.0, 8, 0.6)] == pytest.approx(4 / 8) and by[(1.0, 2, 0.6)] == pytest.approx(2 / 8)
    assert by[(2.0, 8, 0.6)] == pytest.approx(6 / 8 * 6 / 8)  # the two wrong answers are kept too
    assert by[(2.0, 8, 0.8)] == pytest.approx(6 / 8)  # the threshold drops them
    chosen = next(r for r in rows if r["chosen"])
    assert (chosen["temperature"], chosen["samples"], chosen["threshold"]) == (2.0, 8, 0.8)
    assert (chosen["kept"], chosen["unique_correct"]) == (24, 24)
    # Every score equal: the first setting in grid order (temperatures, then counts, then thresholds) wins.
    flat = BStarController([0.7, 0.3], [1.0, 0.5], [3, 2]).measure(
        lambda t, n: {0: ["x"] * n}, lambda answers: {q: [(a, 0.0, 0) for a in v] for q, v in answers.items()}
    )
    assert [(r["temperature"], r["samples"], r["threshold"]) for r in flat if r["chosen"]] == [(0.7, 3, 1.0)]


def test_with_many_right_answers_the_score_separates_the_settings():
    """Programs: at temperature t the model writes one of ``round(4 * t)`` right variants per problem, and every
    fourth sample is a wrong program that passes half the shown tests (reward 0.5). The hotter settings find more
    distinct right answers (n' up to 4): the score rises with them, and the threshold that drops the wrong ones
    scores higher at every temperature."""

    def generate(t: float, n: int) -> dict:
        variants = round(4 * t)
        return {q: [f"bad{q}-{j}" if j % 4 == 3 else f"right{q}-{j % variants}" for j in range(n)] for q in range(6)}

    def judge(answers: dict) -> dict:
        return {q: [(a, 0.5 if "bad" in a else 1.0, int("bad" not in a)) for a in v] for q, v in answers.items()}

    rows = BStarController([0.25, 0.5, 1.0], [0.5, 1.0], [8], n_star=4).measure(generate, judge)
    score = {(r["temperature"], r["threshold"]): r["score"] for r in rows}
    assert [score[(t, 1.0)] for t in (0.25, 0.5, 1.0)] == pytest.approx([1 / 4, 2 / 4, 3 / 4])  # n' = 1, 2, 3 of 6
    assert all(score[(t, 1.0)] > score[(t, 0.5)] for t in (0.25, 0.5, 1.0))
    assert max(score.values()) - min(score.values()) > 0.5
    chosen = [(r["temperature"], r["threshold"]) for r in rows if r["chosen"]]
    assert chosen == [(1.0, 1.0)] and next(r for r in rows if r["chosen"])["unique_correct"] == 18


def test_bad_grids_are_refused_by_the_controller():
    with pytest.raises(ValueError, match="temperatures"):
        BStarController([], [0.5], [4])
    with pytest.raises(ValueError, match="thresholds"):
        BStarController([0.5], [1.5], [4])


# ------------------------------------------------------------------------------------------- the verdict
P = Problem("t", 1, "p", None, 0)


def test_the_threshold_raises_a_votes_bar():
    attempts = ["5", "5", "5", "6"]
    vote = VoteVerifier(0.5)
    scores = vote.score(P, attempts)  # reward = vote share: 0.75 for "5"
    assert thresholded_verdict(vote, P, attempts, scores, None).answer == "5"
    assert thresholded_verdict(vote, P, attempts, scores, {"threshold": 0.75}).answer == "5"
    v = thresholded_verdict(vote, P, attempts, scores, {"threshold": 0.8})
    assert v.answer is None and v.evidence["below_control_threshold"] and v.evidence["control_threshold"] == 0.8


class PassShare(Verifier):
    """Tests-like: reward = share of 4 tests passed (the digit count of "1"s), accepted when all pass."""

    name = "pass_share"

    def score(self, problem, attempts):
        return [Score(a.count("1") / 4, a.count("1") == 4) for a in attempts]


def test_the_threshold_never_removes_a_label_that_passed_every_test():
    attempts = ["1100", "1111", "1110", "1111"]
    ver = PassShare()
    scores = ver.score(P, attempts)
    for h in (0.0, 0.5, 1.0):
        assert thresholded_verdict(ver, P, attempts, scores, {"threshold": h}).answer == "1111"
    none = [Score(None, True)]  # a reward of None never passes a threshold
    assert thresholded_verdict(ver, P, ["1111"], none, {"threshold": 0.0}).answer is None


# ------------------------------------------------------------------------------------------------ a run
OVERRIDES = [
    f'task.name="{HERE}:ManyAnswers"',
    "loop.labelled_problems=50",
    "loop.problems_per_round=8",
    "loop.max_rounds=2",
    "train.labelled_steps=4",
    "train.round_steps=2",
    "eval.problems=4",
    'control.kind="bstar"',
    "control.temperatures=[0.7, 1.2]",
    "control.thresholds=[0.6, 1.0]",
    "control.samples=[3, 2]",
    "control.slice=4",
]
ARGS = ["--preset", "smoke", *(a for o in OVERRIDES for a in ("--set", o))]


def records(run_dir: Path) -> dict:
    return {
        "control": rows(run_dir, "SELECT * FROM control ORDER BY round, temperature, threshold, samples"),
        "attempts": rows(run_dir, "SELECT problem_id, model, sample, text, reward FROM attempts ORDER BY id"),
        "verdicts": rows(run_dir, "SELECT * FROM verdicts ORDER BY round, problem_id"),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed runs' processes: the same arithmetic
    try:
        run_dir = tmp_path_factory.mktemp("bstar") / "ref"
        assert main(["run", "--out", str(run_dir), *ARGS]) == 0
    finally:
        torch.set_num_threads(before)
    return run_dir


def test_a_run_records_one_chosen_setting_per_round_and_samples_with_it(reference):
    chosen = rows(reference, "SELECT round, temperature, threshold, samples FROM control WHERE chosen = 1")
    assert [c[0] for c in chosen] == [1, 2]
    assert rows(reference, "SELECT round, COUNT(*) FROM control GROUP BY round") == [(1, 8), (2, 8)]
    for r, _, threshold, samples in chosen:
        per_problem = rows(
            reference,
            "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id "
            f"WHERE p.round = {r} GROUP BY a.problem_id",
        )
        assert {n for (n,) in per_problem} == {samples}
        evidence = rows(reference, f"SELECT evidence FROM verdicts WHERE round = {r}")
        assert all(f'"control_threshold": {threshold}' in e for (e,) in evidence)
    # Nothing learnt yet, so every score ties and the first setting in grid order is chosen: 3 samples, not the
    # verifier's 2, at temperature 0.7.
    assert {(t, s) for _, t, _, s in chosen} == {(0.7, 3)}


@pytest.mark.parametrize(("point", "done"), [("ATTEMPT:1", (1, "PROPOSE")), ("VERIFY:2", (2, "ATTEMPT"))])
def test_control_rows_are_identical_after_kill_and_resume(reference, tmp_path, paused, point, done):
    killed = tmp_path / "killed"
    run = paused(["run", "--out", killed, *ARGS], point, env={"OMP_NUM_THREADS": "1"})
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    assert rows(killed, "SELECT round, phase FROM phases WHERE done = 1 ORDER BY round, rowid")[-1] == done
    assert main(["resume", str(killed)]) == 0
    assert records(killed) == records(reference)


@pytest.mark.parametrize(
    ("setting", "says"),
    [("control.temperatures=[]", "temperatures"), ("control.thresholds=[0.5, 1.5]", "thresholds")],
)
def test_bad_control_settings_are_one_line_and_exit_2(tmp_path, capsys, setting, says):
    capsys.readouterr()
    assert main(["run", "--out", str(tmp_path / "run"), *ARGS, "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------------- one right answer: no grid
def test_the_skip_rule():
    assert skip_reason({"reversed-addition": True}, {}, 1).startswith("one right answer per problem")
    assert skip_reason({"a": True, "b": True}, {}, 3) is not None
    assert skip_reason({"list-functions": False}, {"1": {"slice": 4, "solved": 4, "most_right": 1}}, 2) is None
    assert skip_reason({"a": True, "list-functions": False}, {}, 1) is None  # one skill with many answers: measure
    # Undeclared: measured by the newest earlier grid; nothing measured yet, or measured this round: no skip.
    one = {"slice": 8, "solved": 5, "most_right": 1}
    assert skip_reason({"x": None}, {}, 1) is None
    assert skip_reason({"x": None}, {"2": one}, 2) is None
    assert "round 2's grid found at most one right answer per problem (5 of 8 solved" in skip_reason(
        {"x": None}, {"2": one}, 3
    )
    assert skip_reason({"x": None, "y": True}, {"1": {"slice": 8, "solved": 5, "most_right": 2}}, 2) is None
    assert skip_reason({"x": None}, {"1": one, "2": {"slice": 8, "solved": 5, "most_right": 2}}, 3) is None  # newest
    # A grid that solved under half its slice says nothing of the task.
    assert not one_answer({"slice": 8, "solved": 3, "most_right": 1})
    assert one_answer({"slice": 8, "solved": 4, "most_right": 1})
    assert not one_answer({"slice": 8, "solved": 0, "most_right": 0})
    seen = right_answers({(0, "a"): 1, (0, "b"): 0, (1, "c"): 1, (1, "d"): 1, (2, "e"): None}, [0, 1, 2, 3])
    assert seen == {"slice": 4, "solved": 2, "most_right": 2}


SKIP_ARGS = [a for o in OVERRIDES[1:] for a in ("--set", o)]  # the grid run's settings, on the task the preset names


def test_a_task_with_one_right_answer_skips_the_grid_and_says_why(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), "--preset", "smoke", *SKIP_ARGS]) == 0
    assert rows(run, "SELECT COUNT(*) FROM control") == [(0,)]
    (skipped,) = rows(run, "SELECT value FROM meta WHERE key = 'control_skipped'")[0]
    why = json.loads(skipped)
    assert sorted(why) == ["1", "2"]
    assert all(w.startswith("one right answer per problem (reversed-addition declares it)") for w in why.values())
    # Sampled as kind = "none" does: the verifier's 2 samples, no control threshold in the verdicts.
    per_problem = rows(run, "SELECT COUNT(*) FROM attempts GROUP BY problem_id")
    assert per_problem and {n for (n,) in per_problem} == {2}
    assert not any("control_threshold" in e for (e,) in rows(run, "SELECT evidence FROM verdicts"))
    code, out, _ = run_cli(capsys, "status", str(run), "--json")
    assert code == 0
    control = json.loads(out)["control"]
    assert [(c["round"], c["grid"], c["chosen"]) for c in control] == [(1, 0, None), (2, 0, None)]
    assert control[-1]["skipped"] == why["2"]
    code, out, _ = run_cli(capsys, "status", str(run))
    assert code == 0 and "control r2: grid skipped, one right answer per problem" in out


ZERO_ARGS = [
    "--preset",
    "smoke",
    *SKIP_ARGS,
    *(a for o in [f'task.name="{HERE}:Zero"', "loop.max_rounds=3", "train.labelled_steps=40"] for a in ("--set", o)),
]


def learnt(run_dir: Path) -> dict:
    return {
        "control": rows(run_dir, "SELECT * FROM control ORDER BY round, temperature, threshold, samples"),
        "meta": rows(run_dir, "SELECT key, value FROM meta WHERE key LIKE 'control_%' ORDER BY key"),
        "attempts": rows(run_dir, "SELECT problem_id, model, sample, text FROM attempts ORDER BY id"),
    }


@pytest.fixture(scope="module")
def zero(tmp_path_factory) -> Path:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed run's process: the same arithmetic
    try:
        run_dir = tmp_path_factory.mktemp("zero") / "ref"
        assert main(["run", "--out", str(run_dir), *ZERO_ARGS]) == 0
    finally:
        torch.set_num_threads(before)
    return run_dir


def test_an_undeclared_task_is_measured_once_then_skipped(zero):
    assert rows(zero, "SELECT DISTINCT round FROM control") == [(1,)]  # round 1 measured, 2 and 3 skipped
    (seen,) = rows(zero, "SELECT value FROM meta WHERE key = 'control_answers'")[0]
    assert json.loads(seen) == {"1": {"slice": 4, "solved": 4, "most_right": 1}}
    why = json.loads(rows(zero, "SELECT value FROM meta WHERE key = 'control_skipped'")[0][0])
    assert sorted(why) == ["2", "3"]
    assert why["3"].startswith("round 1's grid found at most one right answer per problem (4 of 4 solved")


def test_the_measured_skip_is_the_same_after_kill_and_resume(zero, tmp_path, paused):
    killed = tmp_path / "killed"
    run = paused(["run", "--out", killed, *ZERO_ARGS], "ATTEMPT:2", env={"OMP_NUM_THREADS": "1"})
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    assert main(["resume", str(killed)]) == 0
    assert learnt(killed) == learnt(zero)
