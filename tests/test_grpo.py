"""train.method = "grpo": advantages and loss by hand, the students' log-probabilities, reward functions with TRL's
signature as verifiers and as GRPO rewards, offline and on-policy rounds, kill -9 and resume, bad settings. More in
test_grpo_tokens.py (the sampled tokens, normalisation, accumulation), test_grpo_rounds.py (passes, defaults,
keeping the best) and test_grpo_tracking.py."""

from __future__ import annotations

import math
import signal
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from selftaught.cli import main
from selftaught.config import load_experiment
from selftaught.errors import SelftaughtError
from selftaught.run.updates import Grpo
from selftaught.students.base import Student
from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.training import grpo
from selftaught.training.schedules import SCHEDULES
from selftaught.training.trainer import OptimConfig
from selftaught.types import Problem
from selftaught.verifiers.reward_function import RewardFunctionVerifier

from support import rows

HERE = Path(__file__).resolve()
SERIES = {"reward_mean", "reward_std", "zero_var_share", "kl", "clip_frac", "ratio", "groups", "adv_abs_mean"}
# Small runs: round 0 barely learns, so the rewards that give GRPO its signal are graded (``overlap`` below).
FAST = ["loop.labelled_problems=100", "train.labelled_steps=20", "train.round_steps=8", "loop.problems_per_round=16",
        "eval.problems=4", "verifier.samples=4", "verifier.temperature=1.0", "train.grpo.groups=4",
        "train.grpo.eval_every=0"]  # fmt: skip
OVERLAP = f'train.grpo.reward="{HERE}:overlap"'


def exact_match(prompts, completions, target, task, difficulty, **columns):
    """A toy TRL-style reward: 1.0 for the target, 0.0 otherwise, None when the problem has no target."""
    assert len(prompts) == len(completions) == len(target) == len(task) == len(difficulty)
    return [None if t is None else float(c == t) for c, t in zip(completions, target)]


def overlap(prompts, completions, target, **columns):
    """A graded toy reward: the share of the target's characters the completion has in place."""
    return [sum(a == b for a, b in zip(c, t)) / max(len(c), len(t), 1) for c, t in zip(completions, target)]


def args(run_dir: Path, *sets: str) -> list[str]:
    out = ["run", "--out", str(run_dir), "--preset", "smoke"]
    for s in (*FAST, 'train.method="grpo"', *sets):
        out += ["--set", s]
    return out


# ------------------------------------------------------------------------------------------------- advantages
def test_group_advantages_by_hand_for_every_scale():
    groups = [[1.0, 0.0], [1.0, 1.0], [0.5], [None, 1.0, 0.0, 0.0]]
    s2 = math.sqrt(0.5)  # sample std of (1, 0)
    s3 = math.sqrt(1 / 3)  # sample std of (1, 0, 0)
    eps = 1e-4
    adv, flat = grpo.group_advantages(groups, "group", eps)
    assert flat == 2  # the all-equal group and the single-sample group carry no signal
    assert adv[1] == [None, None] and adv[2] == [None]
    assert adv[0] == pytest.approx([0.5 / (s2 + eps), -0.5 / (s2 + eps)])
    assert adv[3][0] is None and adv[3][1:] == pytest.approx([(2 / 3) / (s3 + eps)] + [-(1 / 3) / (s3 + eps)] * 2)

    adv, flat = grpo.group_advantages(groups, "unscaled", eps)
    assert flat == 2 and adv[0] == pytest.approx([0.5, -0.5]) and adv[3][1:] == pytest.approx([2 / 3, -1 / 3, -1 / 3])

    sb = statistics.stdev([1.0, 0.0, 1.0, 1.0, 0.5, 1.0, 0.0, 0.0])  # every known reward of the batch
    adv, _ = grpo.group_advantages(groups, "batch", eps)
    assert adv[0] == pytest.approx([0.5 / (sb + eps), -0.5 / (sb + eps)])
    assert adv[3][1] == pytest.approx((2 / 3) / (sb + eps))

    # Without dropping (no DAPO), groups without signal stay in with advantage 0; they are still counted.
    adv, flat = grpo.group_advantages(groups, "group", eps, drop=False)
    assert flat == 2 and adv[1] == [0.0, 0.0] and adv[2] == [0.0] and adv[3][0] is None
    with pytest.raises(ValueError, match="scale"):
        grpo.group_advantages(groups, "mean")


# ------------------------------------------------------------------------------------------------------- loss
def test_grpo_loss_clip_by_hand_and_gradients_cut_where_clipped():
    old = torch.zeros(2, 2)
    logp = torch.tensor([[math.log(1.5), 0.0], [math.log(0.5), 0.0]], requires_grad=True)
    mask = torch.tensor([[True, True], [True, False]])
    adv = torch.tensor([1.0, -1.0])
    loss, stats = grpo.grpo_loss(logp, old, None, adv, mask, epsilon=0.2, beta=0.0)
    # seq 0: tokens -min(1.5, 1.2) = -1.2 and -1 -> mean -1.1; seq 1: -min(-0.5, -0.8) = 0.8; batch mean -0.15
    assert loss.item() == pytest.approx(-0.15)
    assert stats["clip_frac"] == pytest.approx(2 / 3)  # ratio 1.5 with A > 0, ratio 0.5 with A < 0
    loss.backward()
    # Clipped tokens get no gradient; the unclipped one gets -A / (its sequence's tokens) / sequences = -0.25.
    assert logp.grad.flatten().tolist() == pytest.approx([0.0, -0.25, 0.0, 0.0])


def test_kl_is_zero_at_the_reference_and_positive_elsewhere():
    ref = torch.log_softmax(torch.randn(3, 5), -1)
    mask = torch.ones(3, 5, dtype=torch.bool)
    adv = torch.tensor([1.0, 0.0, -1.0])
    loss, stats = grpo.grpo_loss(ref.clone(), ref, ref, adv, mask, 0.2, beta=0.5)
    assert stats["kl"] == 0.0 and stats["clip_frac"] == 0.0 and stats["ratio"] == pytest.approx(1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)  # advantages sum to 0, ratio 1, KL 0
    moved = ref + 0.3 * torch.randn(3, 5)
    assert float(grpo.kl_k3(moved, ref).min()) >= 0.0
    _, stats = grpo.grpo_loss(moved, moved.detach(), ref, adv, mask, 0.2, beta=0.5)
    assert stats["kl"] > 0.0


# ----------------------------------------------------------------------------------------- the students' side
def _check_logprobs(student, model_loss):
    prompts, answers = ["12+34=", "7+5="], ["64", "21"]
    logp, mask = student.answer_logprobs(prompts, answers, temperature=1.0)
    assert logp.shape == mask.shape and logp.requires_grad
    assert mask.sum(1).tolist() == [3, 3]  # two answer characters and the end token
    # The mean token log-probability is minus the supervised loss on the same pairs.
    assert float(-(logp * mask).sum() / mask.sum()) == pytest.approx(model_loss(prompts, answers), rel=1e-4)
    hot, _ = student.answer_logprobs(prompts, answers, temperature=2.0)
    assert not torch.allclose(hot, logp)


def _one_step_changes_weights(student):
    before = [p.detach().clone() for p in student.trainable().parameters()]
    prompts, answers = ["1+1=", "1+1="], [student.completion_of("2"), student.completion_of("3")]
    old = grpo.sequence_logprobs(student, prompts, answers, 1.0)
    batch = grpo.Batch(prompts, answers, [1.0, -1.0], old)
    stats, series = grpo.train(student, lambda step: batch, 2, SCHEDULES["constant"](warmup=0.0), OptimConfig(lr=1e-2))
    assert stats.steps == 2 and {n for _, n, _ in series} == {"kl", "clip_frac", "ratio"}
    assert any(not torch.equal(a, b) for a, b in zip(before, student.trainable().parameters()))
    assert dict(((s, n), v) for s, n, v in series)[(0, "ratio")] == pytest.approx(1.0)  # old = the weights at step 0


def test_gpt_student_logprobs_match_its_loss_and_grpo_steps_change_weights():
    student = GPTStudent(GPTConfig(n_layer=1, n_embd=32), device="cpu", init_seed=0)

    def loss(prompts, answers):
        from selftaught.types import Example

        x, y, _ = student.encode_examples([Example(p, a, 0, "x", 0) for p, a in zip(prompts, answers)])
        return float(student.model(x, y)[1])

    _check_logprobs(student, loss)
    _one_step_changes_weights(student)


def test_hf_student_logprobs_match_its_loss_and_grpo_steps_change_weights():
    pytest.importorskip("transformers")
    from selftaught.students.hf import HFStudent, _CausalLM
    from selftaught.types import Example

    student = HFStudent(architecture="llama", layers=1, heads=2, hidden=32, intermediate=64, device="cpu")

    def loss(prompts, answers):
        x, y, _ = student.encode_examples([Example(p, a, 0, "x", 0) for p, a in zip(prompts, answers)])
        return float(_CausalLM(student)(x, y)[1])

    _check_logprobs(student, loss)
    _one_step_changes_weights(student)


def test_a_student_without_log_probabilities_is_refused_in_one_line():
    class Plain(Student):
        def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0):
            return [[""] * n for _ in prompts]

        def fit(self, examples, schedule, steps, seed=0, callbacks=(), pick=None, stop=None):
            raise NotImplementedError

        def save(self, directory):
            pass

        def load_weights(self, directory):
            pass

        @classmethod
        def load(cls, directory):
            return cls()

    exp, _ = load_experiment(None, "smoke", ['train.method="grpo"'])
    with pytest.raises(SelftaughtError, match="Plain has no answer_logprobs") as e:
        Grpo.check(exp, SimpleNamespace(students=[Plain()]))
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------- reward functions
def test_a_trl_reward_function_is_a_verifier():
    v = RewardFunctionVerifier(exact_match)
    p = Problem("reversed-addition", 2, "12+34=", "64", 0)
    scores = v.score_many([(p, ["64", "46", "64"]), (Problem("t", 1, "x", None, 0), ["a"])])
    assert [s.reward for s in scores[0]] == [1.0, 0.0, 1.0] and [s.accepted for s in scores[0]] == [True, False, True]
    assert scores[1][0].reward is None and not scores[1][0].accepted and "not applicable" in scores[1][0].feedback
    verdict = v.verdict(p, ["64", "46", "64"], scores[0])
    assert verdict.answer == "64" and verdict.evidence["mean_reward"] == pytest.approx(2 / 3)


# -------------------------------------------------------------------------------------------------- runs
def test_offline_grpo_smoke_run_records_its_series_and_learns(tmp_path):
    run_dir = tmp_path / "run"
    # 16 problems in groups of 4: a pass over the round's records is 4 steps; two passes fill the 8-step budget.
    assert main(args(run_dir, OVERLAP, "train.grpo.on_policy=false", "train.grpo.num_iterations=2")) == 0
    names = {n for (n,) in rows(run_dir, "SELECT DISTINCT name FROM train_series")}
    assert names == SERIES
    per_round = rows(run_dir, "SELECT round, COUNT(DISTINCT step) FROM train_series GROUP BY round")
    assert per_round == [(1, 8), (2, 8)]
    assert rows(run_dir, "SELECT round, COUNT(*) FROM train_metrics GROUP BY round") == [(0, 20), (1, 8), (2, 8)]
    # Step 0 learns from the weights that sampled: ratio 1, KL 0; then the policy moves.
    first = dict(rows(run_dir, "SELECT name, value FROM train_series WHERE round = 1 AND step = 0"))
    assert first["ratio"] == pytest.approx(1.0) and first["kl"] == pytest.approx(0.0, abs=1e-6)
    assert first["groups"] == 4 and 0.0 <= first["zero_var_share"] < 1.0
    assert max(v for (v,) in rows(run_dir, "SELECT value FROM train_series WHERE name = 'kl'")) > 0
    assert rows(run_dir, "SELECT COUNT(*) FROM rollouts") == [(0,)]  # offline: the round's attempts only
    assert (
        rows(run_dir, "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id WHERE p.round = 1")[0][0]
        == 16 * 4
    )
    w0 = torch.load(run_dir / "checkpoints/round-000/model-0/model.pt", weights_only=True)
    w1 = torch.load(run_dir / "checkpoints/round-001/model-0/model.pt", weights_only=True)
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)


def test_on_policy_rounds_record_scored_rollouts_with_a_reward_function_verifier(tmp_path):
    run_dir = tmp_path / "run"
    # on_policy = 4, as configs wrote it before num_iterations: on-policy, 4 steps per batch of rollouts.
    sets = ["train.grpo.on_policy=4", f'verifier.filters=["{HERE}:overlap"]', "loop.max_rounds=1"]
    assert main(args(run_dir, *sets)) == 0
    got = rows(run_dir, "SELECT step, COUNT(DISTINCT problem_id), COUNT(*) FROM rollouts WHERE round = 1 GROUP BY step")
    assert [s for s, _, _ in got] == [0, 4]  # fresh rollouts every 4 of the 8 steps
    assert all(n == 4 * k and k >= 4 for _, k, n in got)  # 4 samples per problem, at least `groups` problems
    # The function, as the verifier, scored every rollout; the oracle's correctness is recorded beside it.
    bad = "SELECT COUNT(*) FROM rollouts WHERE reward IS NULL OR reward < 0 OR reward > 1 OR (reward = 1) != correct"
    assert rows(run_dir, bad) == [(0,)]
    assert rows(run_dir, "SELECT COUNT(DISTINCT reward) FROM rollouts")[0][0] > 2
    # An on-policy round samples its own: no ATTEMPT or VERIFY records of its own, and the run went on regardless.
    round1 = "(SELECT id FROM problems WHERE round = 1)"
    assert rows(run_dir, f"SELECT COUNT(*) FROM attempts WHERE problem_id IN {round1}") == [(0,)]
    assert rows(run_dir, "SELECT COUNT(*) FROM verdicts WHERE round = 1") == [(0,)]
    assert rows(run_dir, "SELECT COUNT(*) FROM problems WHERE round = 1")[0][0] == 16
    assert rows(run_dir, "SELECT decision FROM rounds WHERE round = 0") == [("continue",)]
    series = dict(rows(run_dir, "SELECT name, value FROM train_series WHERE round = 1 AND step = 4"))
    assert series["ratio"] == pytest.approx(1.0, abs=1e-5)  # fresh rollouts: sampled by the current weights


@pytest.mark.parametrize(
    "sets",
    [
        ["train.grpo.num_iterations=3", "train.grpo.beta=0.1"],  # passes over each batch, a frozen reference
        ["train.grpo.eval_every=3"],  # the defaults (one pass, no reference) and the best weights kept
    ],
)
def test_kill_9_mid_train_of_an_on_policy_round_then_resume_gives_identical_records(
    tmp_path, paused, single_thread, sets
):
    sets = [*sets, "loop.max_rounds=1", OVERLAP]
    ref = tmp_path / "ref"
    assert main(args(ref, *sets)) == 0
    killed = tmp_path / "killed"
    run = paused(args(killed, *sets), "TRAIN:1:5", env={"OMP_NUM_THREADS": "1"})
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    assert rows(killed, "SELECT round, phase FROM phases WHERE done = 1 ORDER BY round, rowid")[-1] == (1, "CURATE")
    assert main(["resume", str(killed)]) == 0
    for sql in (
        "SELECT round, step, name, value FROM train_series ORDER BY 1, 2, 3",
        "SELECT round, step, problem_id, sample, text, reward, feedback, correct FROM rollouts ORDER BY 1, 2, 3, 4",
        "SELECT round, step, loss, lr FROM train_metrics ORDER BY 1, 2",
        "SELECT round, difficulty, correct, n FROM evaluations ORDER BY 1, 2",
        "SELECT round, step, value, stop, reason FROM stop_decisions ORDER BY 1, 2",
        "SELECT round, step, kind, task, difficulty, successes, trials FROM skill_results ORDER BY 1, 2, 3, 4, 5",
        "SELECT COUNT(*) FROM attempts",
    ):
        assert rows(killed, sql) == rows(ref, sql), sql
    assert rows(ref, "SELECT COUNT(*) FROM rollouts")[0][0] > 0
    w_ref = torch.load(ref / "checkpoints/round-001/model-0/model.pt", weights_only=True)
    w_killed = torch.load(killed / "checkpoints/round-001/model-0/model.pt", weights_only=True)
    assert all(torch.equal(w_ref[k], w_killed[k]) for k in w_ref)


@pytest.mark.parametrize(
    ("sets", "says"),
    [
        (["train.grpo.beta=-1"], "beta"),
        (["verifier.samples=1"], "groups of at least 2 attempts"),
        (["student.ensemble=2"], "student.ensemble is 2"),
        (['train.grpo.reward="no_such_module_x:f"'], "train.grpo.reward 'no_such_module_x:f'"),
        ([f'train.grpo.reward="{HERE}:nope"'], "has no attribute 'nope'"),
        ([f'verifier.filters=["{HERE}:Problem"]'], "not a subclass"),
        (["train.grpo.num_iterations=0"], "num_iterations"),
        (['train.grpo.scale="none"'], "scale = 'none' is now 'unscaled'"),
        (['train.grpo.loss="mean"'], "train.grpo.loss"),
        (["train.grpo.on_policy=2", "train.grpo.num_iterations=3"], "on_policy = 2 means num_iterations = 2"),
        (['control.kind="bstar"'], "which an on-policy GRPO round does not run"),
        (["search.samples=4"], "search.samples"),
        (["stop.every=4"], "train.grpo.eval_every"),
    ],
)
def test_bad_settings_exit_2_in_one_line(tmp_path, capsys, sets, says):
    capsys.readouterr()
    assert main(args(tmp_path / "run", "loop.labelled_problems=20", "train.labelled_steps=1", *sets)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert not (tmp_path / "run").exists()  # refused before the run begins
