"""benchmarks/grpo_vs_trl.py (the full benchmark runs for minutes, never in the suite): it refuses to start without
TRL in one line, both sides' settings match, the reward scores and counts, and TRL's side sees the model selftaught
trains (the same position ids, logits and greedy answers)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from selftaught.config import load_experiment  # noqa: E402
from selftaught.students.hf import HFStudent  # noqa: E402
from selftaught.students.hf_tokenizer import run_tokens  # noqa: E402
from selftaught.training.trainer import OptimConfig  # noqa: E402
from selftaught.verifiers.reward_function import load_reward_function  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_bench(monkeypatch: pytest.MonkeyPatch, without_trl: bool = False):
    """The benchmark's module, loaded afresh (with ``import trl`` failing when ``without_trl``)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    if without_trl:
        monkeypatch.setitem(sys.modules, "trl", None)  # ``import trl`` raises ImportError
    spec = importlib.util.spec_from_file_location("grpo_vs_trl_under_test", BENCHMARKS / "grpo_vs_trl.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_without_trl_it_refuses_in_one_line_and_makes_nothing(monkeypatch, tmp_path, capsys):
    bench = load_bench(monkeypatch, without_trl=True)
    assert bench.trl is None
    out = tmp_path / "runs"
    monkeypatch.setattr(sys, "argv", ["grpo_vs_trl.py", "--quick", "--out", str(out)])
    with pytest.raises(SystemExit) as e:
        bench.main()
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "TRL is not installed" in lines[0] and "selftaught[trl]" in lines[0]
    assert not out.exists()


def test_a_bad_setting_is_refused_in_one_line_before_anything_is_made(monkeypatch, tmp_path, capsys):
    pytest.importorskip("trl")
    bench = load_bench(monkeypatch)
    out = tmp_path / "runs"
    argv = ["grpo_vs_trl.py", "--quick", "--out", str(out), "--set", "train.grpo.num_iterations=0"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as e:
        bench.main()
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "num_iterations" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("quick", [False, True])
def test_both_sides_are_configured_alike(monkeypatch, tmp_path, quick):
    pytest.importorskip("trl")
    bench = load_bench(monkeypatch)
    m = bench.QUICK if quick else bench.Matched()
    rounds = [*bench.ROUND_ZERO, *(bench.QUICK_ROUND_ZERO if quick else [])]
    exp, _ = load_experiment(preset="hf-quickstart", overrides=[*rounds, *bench.selftaught_sets(m), "seed=2"])
    cfg = bench.trl_config(m, 2, tmp_path / "trl")
    g = exp.train.grpo
    assert exp.train.method == "grpo" and g.on_policy and g.num_iterations == cfg.num_iterations == 1
    assert exp.seed == cfg.seed == 2
    # group size, prompts per step, one generation per step
    assert exp.verifier.samples == cfg.num_generations == m.group
    assert g.groups == cfg.per_device_train_batch_size // cfg.num_generations == m.prompts
    assert cfg.gradient_accumulation_steps == 1 and cfg.generation_batch_size == m.group * m.prompts
    # the objective and sampling
    assert g.lr == cfg.learning_rate == m.lr and g.beta == cfg.beta == m.beta
    assert g.epsilon == cfg.epsilon == cfg.epsilon_high == m.epsilon
    assert g.temperature == cfg.temperature == m.temperature and cfg.top_p == 1.0 and cfg.top_k == 0
    assert g.scale == cfg.scale_rewards == "group" and not g.drop_equal
    assert cfg.max_completion_length == m.max_completion == bench.TASK.max_answer_len(bench.DIFFICULTY) + 1
    assert "max_new_tokens" not in exp.student.params  # selftaught's budget is the task's answer length + 1
    # the optimiser: AdamW, no decay, clipped at 1, a constant rate from the first step
    assert exp.train.weight_decay == cfg.weight_decay == 0.0 and exp.train.grad_clip == cfg.max_grad_norm == 1.0
    assert (OptimConfig.beta1, OptimConfig.beta2) == (cfg.adam_beta1, cfg.adam_beta2)
    assert exp.train.schedule == "constant" and exp.train.warmup == 0.0 and exp.train.warm_start == "continue"
    assert cfg.lr_scheduler_type == "constant" and cfg.warmup_steps == 0
    # where and how TRL runs: the CPU, full precision, nothing logged, saved or pushed
    assert cfg.use_cpu and not cfg.bf16 and not cfg.fp16 and cfg.report_to in ([], "none", ["none"])
    assert cfg.save_strategy == "no" and not cfg.push_to_hub
    # the one reward function
    assert g.reward == bench.REWARD


def test_the_reward_scores_exact_answers_and_counts_them(monkeypatch):
    bench = load_bench(monkeypatch)
    reward = load_reward_function(bench.REWARD)
    before = reward.completions
    got = reward(["21+3=", "21+3="], ["51", "5"], target=["51", "51"], task=["x", "x"], completion_ids=[[], []])
    assert got == [1.0, 0.0] and reward.completions == before + 2


def saved_into_trls_model(monkeypatch, tmp_path):
    """A small index-positions student saved, and its directory loaded into the benchmark's IndexPositionsLlama:
    (student, tokenizer, model in eval mode)."""
    bench = load_bench(monkeypatch)
    student = HFStudent(architecture="llama", layers=1, heads=2, hidden=32, intermediate=64, positions="index")
    student.save(tmp_path / "model")
    tok = student.tok
    model = bench.IndexPositionsLlama.from_pretrained(tmp_path / "model", dtype=torch.float32).eval()
    model.in_run = run_tokens(tok, model.get_input_embeddings().num_embeddings)
    return student, tok, model


def test_trls_side_sees_the_model_selftaught_trains(monkeypatch, tmp_path):
    """The directory loaded into IndexPositionsLlama gives the logits and greedy answers of the student that saved
    it, with index positions, from left-padded prompts too."""
    student, tok, model = saved_into_trls_model(monkeypatch, tmp_path)
    prompts = ["12+345=", "9+9=", "1234+56789="]
    # a whole sequence: right-padded as selftaught trains, left-padded as TRL concatenates
    enc = student.encode_prompts(prompts)
    width = max(map(len, enc))
    right = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in enc])
    left = torch.tensor([[tok.pad_token_id] * (width - len(e)) + e for e in enc])
    left_mask = (left != tok.pad_token_id).long()
    with torch.no_grad():
        ours = student._logits(right)
        theirs = model(input_ids=left, attention_mask=left_mask).logits
    for i, e in enumerate(enc):
        n = len(e)
        assert torch.allclose(ours[i, :n], theirs[i, width - n :], atol=1e-5)
    # greedy generation through transformers' generate, step by step with a cache
    with torch.no_grad():
        out = model.generate(input_ids=left, attention_mask=left_mask, max_new_tokens=6, do_sample=False,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip
    texts = tok.batch_decode(out[:, width:], skip_special_tokens=True)
    assert texts == [g[0] for g in student.generate(prompts, 1, 0.0, 6)]


def test_trls_fused_head_scores_answers_as_selftaught_does(monkeypatch, tmp_path):
    """TRL's trainer replaces the model's forward with a fused head that calls the backbone itself: the position ids
    still hold there, so the answer tokens' log-probabilities TRL trains on are selftaught's."""
    pytest.importorskip("trl")
    from trl.trainer.utils import add_fused_lm_head

    student, tok, model = saved_into_trls_model(monkeypatch, tmp_path)
    add_fused_lm_head(model)
    prompts, answers = ["123+4567=", "9+9="], ["0213", "81"]
    enc = student.encode_prompts(prompts)
    ans = [student.completion_of(a).ids for a in answers]
    P, A = max(map(len, enc)), max(map(len, ans))
    ids = torch.tensor([[0] * (P - len(p)) + p + list(a) + [0] * (A - len(a)) for p, a in zip(enc, ans)])
    mask = torch.tensor([[0] * (P - len(p)) + [1] * (len(p) + len(a)) + [0] * (A - len(a)) for p, a in zip(enc, ans)])
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-A] = -100
    with torch.no_grad():
        theirs = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs[:, -A:]
        ours, keep = student.answer_logprobs(prompts, answers)
    for i, a in enumerate(ans):
        assert torch.allclose(theirs[i, : len(a)], ours[i][keep[i].bool()], atol=1e-5)
