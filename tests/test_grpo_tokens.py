"""GRPO trains on exactly the tokens sampled (both students, and in a round), the loss's three normalisations by hand,
and gradient accumulation over micro-batches (the HF student's grad_accum honoured in GRPO steps)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selftaught.cli import main
from selftaught.run.updates import grpo_batches
from selftaught.students.base import Completion
from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.training import grpo
from selftaught.training.schedules import SCHEDULES
from selftaught.training.trainer import OptimConfig

from support import rows

HERE = Path(__file__).resolve()
PROMPTS = ["12+34=", "7+5="]


def gpt() -> GPTStudent:
    return GPTStudent(GPTConfig(n_layer=1, n_embd=32), device="cpu", init_seed=0)


def hf(**kw):
    pytest.importorskip("transformers")
    from selftaught.students.hf import HFStudent

    return HFStudent(architecture="llama", layers=1, heads=2, hidden=32, intermediate=64, device="cpu", **kw)


def end_ids(student) -> set[int]:
    return {student.tok.eos_id} if isinstance(student, GPTStudent) else set(student.eos_ids)


# --------------------------------------------------------------------------------------- the sampled tokens
@pytest.mark.parametrize("make", [gpt, hf], ids=["gpt", "hf"])
def test_sampling_hands_back_the_sampled_ids_and_training_scores_exactly_those(make):
    student = make()
    cap = 3
    got = student.sample_tokens(PROMPTS, n=16, temperature=2.0, max_new_tokens=cap, seed=1)
    assert [[c.text for c in row] for row in got] == student.generate(PROMPTS, 16, 2.0, cap, seed=1)
    flat = [(p, c) for p, row in zip(PROMPTS, got) for c in row]
    ends = end_ids(student)
    for _, c in flat:
        assert 1 <= len(c.ids) <= cap
        assert c.ended == (c.ids[-1] in ends) and not any(i in ends for i in c.ids[:-1])
        assert c.ended or len(c.ids) == cap  # without an end token only at the cap
    capped = [c for _, c in flat if not c.ended]
    assert capped  # a random model at temperature 2 rarely ends within 3 tokens
    logp, mask = student.answer_logprobs([p for p, _ in flat], [c for _, c in flat], temperature=2.0)
    assert mask.sum(1).tolist() == [len(c.ids) for _, c in flat]  # no end token that was not sampled
    # The log-probabilities are those of the ids themselves: recomputed from the logits of the very sequence.
    i = next(k for k, (_, c) in enumerate(flat) if not c.ended)
    p, c = flat[i]
    seq = [*student.encode_prompts([p])[0], *c.ids]
    with torch.no_grad():
        logits = student._logits(torch.tensor([seq[:-1]]))[0].float() / 2.0
        want = torch.log_softmax(logits, -1)[len(seq) - 1 - len(c.ids) :].gather(1, torch.tensor(c.ids)[:, None])
    assert logp[i][mask[i]].detach().tolist() == pytest.approx(want.squeeze(1).tolist(), abs=1e-5)


def test_a_sampled_token_the_text_drops_is_trained_as_sampled():
    """Decoding drops padding and begin tokens; a completion keeps them, so re-encoding its text would differ."""
    student = gpt()
    t = student.tok
    sampled = Completion("12", (t.encode("1")[0], t.bos_id, t.encode("2")[0]), False)
    assert t.decode(sampled.ids) == "12" and student.completion_of("12").ids != sampled.ids
    _, mask = student.answer_logprobs(["3+9="], [sampled])
    assert mask.sum().item() == 3  # the three sampled tokens, no end token
    assert student.completion_of("12").ids == (*t.encode("12"), t.eos_id)  # a recorded text: as supervised


def test_on_policy_rounds_train_on_the_completions_sampled(tmp_path, monkeypatch):
    sampled: list[Completion] = []
    trained: list[Completion] = []
    sample, backward = grpo_batches.sample_completions, grpo.backward

    def spy_sample(*a, **kw):
        out = sample(*a, **kw)
        sampled.extend(c for row in out.values() for c in row)
        return out

    def spy_backward(policy, batch, *a, **kw):
        trained.extend(batch.answers)
        return backward(policy, batch, *a, **kw)

    monkeypatch.setattr(grpo_batches, "sample_completions", spy_sample)
    monkeypatch.setattr(grpo, "backward", spy_backward)
    sets = ["loop.labelled_problems=100", "train.labelled_steps=20", "train.round_steps=4", "loop.max_rounds=1",
            "loop.problems_per_round=8", "eval.problems=4", "verifier.samples=4", "train.grpo.groups=2",
            'train.method="grpo"', "train.grpo.temperature=3.0", "train.grpo.eval_every=0",
            f'train.grpo.reward="{HERE.with_name("test_grpo.py")}:overlap"']  # fmt: skip
    run = ["run", "--out", str(tmp_path / "run"), "--preset", "smoke"]
    assert main([*run, *(x for s in sets for x in ("--set", s))]) == 0
    assert trained and all(any(c is s for s in sampled) for c in trained)  # the very objects sampled
    capped = [c for c in trained if not c.ended]
    assert capped and all(2 not in c.ids for c in capped)  # cut at the cap: no end token (id 2) trained
    texts = {t for (t,) in rows(tmp_path / "run", "SELECT text FROM rollouts")}
    assert texts  # what was recorded is the text the verifier read


# ------------------------------------------------------------------------------------------- normalisation
def test_the_three_normalisations_by_hand():
    # Two answers of 3 and 1 tokens, ratio 1: each token's loss is -A, A = (1, -1).
    mask = torch.tensor([[True, True, True], [True, False, False]])
    adv = torch.tensor([1.0, -1.0])
    lengths = mask.sum(1)

    def loss(kind: str, max_len: int = 0) -> tuple[float, list[float]]:
        logp = torch.zeros(2, 3, requires_grad=True)
        value, _ = grpo.grpo_loss(
            logp, logp.detach(), None, adv, mask, weights=grpo.loss_weights(lengths, kind, max_len)
        )
        value.backward()
        return value.item(), logp.grad.flatten().tolist()

    value, grad = loss("sequence")  # per answer: mean -1 and +1; over answers: 0
    assert value == pytest.approx(0.0) and grad == pytest.approx([-1 / 6] * 3 + [1 / 2, 0, 0])
    value, grad = loss("token")  # (-3 + 1) / 4 tokens
    assert value == pytest.approx(-0.5) and grad == pytest.approx([-1 / 4] * 3 + [1 / 4, 0, 0])
    value, grad = loss("constant", 5)  # (-3 + 1) / (2 answers x 5), whatever each answer's length
    assert value == pytest.approx(-0.2) and grad == pytest.approx([-1 / 10] * 3 + [1 / 10, 0, 0])
    with pytest.raises(ValueError, match="max_len"):
        grpo.loss_weights(lengths, "constant", 0)
    with pytest.raises(ValueError, match="loss"):
        grpo.loss_weights(lengths, "mean")


# ------------------------------------------------------------------------------------------- accumulation
def batch_of(student) -> grpo.Batch:
    prompts = ["1+1=", "1+1=", "2+2=", "2+2=", "3+4="]
    answers = [student.completion_of(a) for a in ("2", "3", "4", "44", "7")]
    old = grpo.sequence_logprobs(student, prompts, answers, 1.0)
    old = [o - 0.05 * (i + 1) for i, o in enumerate(old)]  # an older policy: ratios away from 1, some clipped
    return grpo.Batch(prompts, answers, [1.0, -1.0, 0.5, -0.5, 1.0], old, None)


@pytest.mark.parametrize("loss", ["sequence", "token", "constant"])
def test_micro_batches_give_the_whole_batch_s_gradient(loss):
    grads = []
    for accum in (1, 2, 5):
        student = gpt()
        value, stats, tokens = grpo.backward(student, batch_of(student), grpo.Objective(loss=loss, max_len=4), accum)
        grads.append([p.grad.clone() for p in student.trainable().parameters()])
        assert tokens == 11  # 1 + 1 + 1 + 2 + 1 answer tokens and 5 end tokens
        if accum == 1:
            first = (value, stats)
        else:
            assert value == pytest.approx(first[0], rel=1e-5, abs=1e-7)
            assert stats == pytest.approx(first[1], rel=1e-5)
    for other in grads[1:]:
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads[0], other))


def test_hf_grpo_steps_honour_grad_accum():
    seen: list[list[int]] = []
    weights = []
    for accum in (1, 2):
        student = hf(grad_accum=accum)
        forward = student._logits

        def spy(idx, forward=forward):
            seen[-1].append(len(idx))
            return forward(idx)

        batch = batch_of(student)
        seen.append([])
        student._logits = spy
        grpo.train(student, lambda step, b=batch: b, 1, SCHEDULES["constant"](warmup=0.0), OptimConfig(lr=1e-2))
        weights.append([p.detach().clone() for p in student.trainable().parameters()])
    assert seen == [[5], [3, 2]]  # grad_accum = 2: two micro-batches, one forward pass each
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*weights))
