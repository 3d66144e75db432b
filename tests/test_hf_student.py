"""HFStudent: tiny Llama and GPT-2 models built from configs, saved to a directory and loaded back by path."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM  # noqa: E402

from selftaught.cli import main  # noqa: E402
from selftaught.errors import SelftaughtError  # noqa: E402
from selftaught.students.hf import HFStudent, _CausalLM  # noqa: E402
from selftaught.students.hf_tokenizer import char_tokenizer  # noqa: E402
from selftaught.training.schedules import SCHEDULES  # noqa: E402
from selftaught.training.trainer import OptimConfig  # noqa: E402
from selftaught.types import Example  # noqa: E402

from support import rows as _rows

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = {"layers": 2, "heads": 2, "hidden": 32, "intermediate": 64}
PROMPTS = ["12+34=", "7+5=", "123+4567=", ""]


def _constant():
    return SCHEDULES["constant"](warmup=0.0)


def _save_pretrained(model, directory: Path, tokenizer: bool = True) -> Path:
    model.save_pretrained(directory)
    if tokenizer:
        char_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """A tiny Llama and GPT-2 with the character tokenizer, saved as Hugging Face model directories."""
    root = tmp_path_factory.mktemp("models")
    ids = {"vocab_size": 98, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    torch.manual_seed(0)
    llama = LlamaForCausalLM(LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, **ids))  # fmt: skip
    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, **ids))
    return {"llama": _save_pretrained(llama, root / "llama"), "gpt2": _save_pretrained(gpt2, root / "gpt2")}


def _student(kind: str, model_dirs, **kw) -> HFStudent:
    if kind in model_dirs:
        return HFStudent(model=str(model_dirs[kind]), device="cpu", **kw)
    return HFStudent(architecture=kind.removeprefix("built-"), device="cpu", **{**TINY, **kw})


ANSWERS = {"a": "xy", "b": "z", "c": "xyzw", "d": "yy", "e": "wzx"}


def _copy_task(n: int = 400, seed: int = 0) -> list[Example]:
    """A key and its fixed answer (answers of 1-4 characters): learnt in a few dozen steps."""
    rng = random.Random(seed)
    keys = [rng.choice(sorted(ANSWERS)) for _ in range(n)]
    return [Example(f"K:{k}=", ANSWERS[k], len(ANSWERS[k]), "labelled", 0) for k in keys]


# ------------------------------------------------------------------------------------------------ generation
@pytest.mark.parametrize("kind", ["llama", "gpt2", "built-llama"])
@pytest.mark.parametrize("lora", [None, {"r": 4, "alpha": 8}])
def test_generate_shapes_samples_and_determinism(kind, lora, model_dirs):
    before = torch.random.get_rng_state()
    s = _student(kind, model_dirs, lora=lora, gen_batch=5)
    assert torch.equal(torch.random.get_rng_state(), before), "constructing a student must not reseed torch"
    out = s.generate(PROMPTS, n=3, temperature=1.0, max_new_tokens=6, seed=7)
    assert [len(o) for o in out] == [3] * len(PROMPTS)
    assert all(isinstance(t, str) and len(t) <= 6 for o in out for t in o)
    assert s.generate(PROMPTS, n=3, temperature=1.0, max_new_tokens=6, seed=7) == out
    assert s.generate(PROMPTS, n=3, temperature=1.0, max_new_tokens=6, seed=8) != out
    greedy = s.generate(PROMPTS, n=2, temperature=0.0, max_new_tokens=6)
    assert all(o[0] == o[1] for o in greedy)
    # gen_batch only bounds memory: decoding one row at a time gives the same greedy answers
    s.gen_batch = 1
    assert s.generate(PROMPTS, n=2, temperature=0.0, max_new_tokens=6) == greedy


def test_left_padded_batch_matches_one_prompt_at_a_time(model_dirs):
    for positions in ("absolute", "index", "none"):
        s = _student("llama", model_dirs, positions=positions)
        together = s.generate(PROMPTS[:3], max_new_tokens=8)
        alone = [s.generate([p], max_new_tokens=8)[0] for p in PROMPTS[:3]]
        assert together == alone


def test_fit_learns_and_generation_stops_at_the_end_token(model_dirs):
    s = _student("built-llama", model_dirs, optim=OptimConfig(lr=1e-2), batch_size=32, positions="index")
    examples = _copy_task()
    stats = s.fit(examples, _constant(), 80, seed=1)
    assert stats.steps == 80 and len(stats.losses) == len(stats.lrs) == len(stats.grad_norms) == 80
    assert len(stats.grad_l1s) == 80 and all(g > 0 for g in stats.grad_norms)
    assert sum(stats.losses[-10:]) / 10 < 0.05 * stats.losses[0]
    prompts = [e.prompt for e in examples[:20]]
    answers = s.generate(prompts, max_new_tokens=10)
    assert answers == [[e.answer] for e in examples[:20]]
    # the raw tokens end where the answer does: the end token stopped decoding, well before 10 tokens
    raw = s.decode_batch(s.encode_prompts(prompts), 10)
    assert [len(r) for r in raw] == [len(a[0]) for a in answers]


def test_loss_is_taken_on_answer_tokens_only(model_dirs):
    s = _student("built-llama", model_dirs)
    ex = [Example("12+3=", "51", 2, "labelled", 0), Example("1+1=", "2", 1, "labelled", 0)]
    inputs, targets, lengths = s.encode_examples(ex)
    tok = s.tok
    assert inputs[0].tolist() == [tok.bos_token_id, *tok.encode("12+3=51", add_special_tokens=False)]
    assert targets[0].tolist() == [-100] * 5 + tok.encode("51", add_special_tokens=False) + [tok.eos_token_id]
    assert (
        targets[1].tolist() == [-100] * 4 + tok.encode("2", add_special_tokens=False) + [tok.eos_token_id] + [-100] * 2
    )
    assert lengths.tolist() == [8, 6]
    # the loss equals the mean cross-entropy over exactly those tokens
    _, loss = _CausalLM(s)(inputs, targets)
    logits = s.model(input_ids=inputs).logits
    keep = targets != -100
    expected = torch.nn.functional.cross_entropy(logits[keep], targets[keep])
    assert torch.allclose(loss, expected, atol=1e-5)


def test_gradient_accumulation_gives_the_whole_batch_gradient(model_dirs):
    grads = []
    for accum in (1, 3):
        s = _student("built-llama", model_dirs, grad_accum=accum, batch_size=6)
        inputs, targets, _ = s.encode_examples(_copy_task(6))
        wrapped = _CausalLM(s).train()
        _, loss = wrapped(inputs, targets)
        loss.backward()
        grads.append((loss.item(), [p.grad.clone() for p in wrapped.parameters()]))
    (l1, g1), (l3, g3) = grads
    assert l1 == pytest.approx(l3, abs=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g3))


# ------------------------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("kind", ["gpt2", "built-llama"])
def test_save_and_load_weights_round_trip(kind, model_dirs, tmp_path):
    a = _student(kind, model_dirs, init_seed=1)
    a.fit(_copy_task(64), _constant(), 3, seed=0)
    a.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    b = _student(kind, model_dirs, init_seed=2)
    b.load_weights(tmp_path / "ckpt")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert b.generate(PROMPTS, max_new_tokens=5) == a.generate(PROMPTS, max_new_tokens=5)
    assert HFStudent.load(tmp_path / "ckpt", device="cpu").generate(PROMPTS, max_new_tokens=5) == a.generate(
        PROMPTS, max_new_tokens=5
    )
    opened = AutoModelForCausalLM.from_pretrained(tmp_path / "ckpt", local_files_only=True)
    assert torch.equal(opened.get_input_embeddings().weight, a.model.get_input_embeddings().weight)


def test_load_weights_refuses_a_mismatch_or_corrupt_file_and_changes_nothing(model_dirs, tmp_path):
    _student("built-llama", model_dirs, hidden=64).save(tmp_path / "wide")
    s = _student("built-llama", model_dirs)
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    with pytest.raises(SelftaughtError, match="does not match"):
        s.load_weights(tmp_path / "wide")
    s.save(tmp_path / "bad")
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(SelftaughtError, match="corrupt"):
        s.load_weights(tmp_path / "bad")
    with pytest.raises(SelftaughtError, match="has no"):
        s.load_weights(tmp_path / "nothing")
    assert all(torch.equal(before[k], v) for k, v in s.model.state_dict().items())


@pytest.mark.parametrize("kind", ["llama", "built-llama"])
def test_lora_trains_the_adapter_only_and_checkpoints_hold_it(kind, model_dirs, tmp_path):
    s = _student(kind, model_dirs, lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    trainable = {k for k, p in s.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in k for k in trainable)
    frozen = {k: p.clone() for k, p in s.model.named_parameters() if not p.requires_grad}
    stats = s.fit(_copy_task(64), _constant(), 5, seed=0)
    assert stats.steps == 5
    assert all(torch.equal(frozen[k], p) for k, p in s.model.named_parameters() if k in frozen)
    s.save(tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files
    assert (kind == "built-llama") == (tmp_path / "ckpt" / "base" / "model.safetensors").is_file()
    expected = s.generate(PROMPTS, max_new_tokens=5)
    other = _student(kind, model_dirs, init_seed=9, lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    other.load_weights(tmp_path / "ckpt")
    assert other.generate(PROMPTS, max_new_tokens=5) == expected
    assert HFStudent.load(tmp_path / "ckpt", device="cpu").generate(PROMPTS, max_new_tokens=5) == expected
    base_dir = tmp_path / "ckpt" / "base" if kind == "built-llama" else model_dirs[kind]
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), tmp_path / "ckpt")
    ids = torch.tensor([s.encode_prompts(["12+34="])[0]])
    assert torch.allclose(peft_model(input_ids=ids).logits, s.model(input_ids=ids).logits, atol=1e-5)


def test_warm_starts(model_dirs):
    s = _student("built-llama", model_dirs, init_seed=3)
    start = {k: v.clone() for k, v in s.model.state_dict().items()}
    s.fit(_copy_task(64), _constant(), 3, seed=0)
    trained = {k: v.clone() for k, v in s.model.state_dict().items()}
    s.restart("continue")
    assert all(torch.equal(trained[k], v) for k, v in s.model.state_dict().items())
    s.restart("fresh", seed=3)  # the same seed as the initialisation gives the initial weights back
    assert all(torch.equal(start[k], v) for k, v in s.model.state_dict().items())
    s.model.load_state_dict(trained)
    s.restart("shrink-perturb", shrink=0.5, perturb=0.0)
    assert all(torch.allclose(0.5 * trained[k], v) for k, v in s.model.state_dict().items())
    lora = _student("built-llama", model_dirs, lora={"r": 4})
    frozen = {k: p.clone() for k, p in lora.model.named_parameters() if not p.requires_grad}
    lora.restart("shrink-perturb", shrink=0.5, perturb=0.1, seed=1)
    lora.restart("fresh", seed=1)
    assert all(torch.equal(frozen[k], p) for k, p in lora.model.named_parameters() if k in frozen)


# ------------------------------------------------------------------------------------------------ the CLI
def _config(tmp_path: Path, params: str) -> Path:
    text = (Path(__file__).parents[1] / "src/selftaught/presets/hf-smoke.toml").read_text()
    start = text.index("params = {")
    end = text.index("\n", start)
    path = tmp_path / "exp.toml"
    path.write_text(text[:start] + f"params = {params}" + text[end:])
    return path


def _bad_inputs(model_dirs, tmp_path: Path) -> dict[str, tuple[str, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    not_causal = tmp_path / "not-causal"
    not_causal.mkdir()
    (not_causal / "config.json").write_text(json.dumps({"model_type": "t5"}))
    no_tok = tmp_path / "no-tokenizer"
    AutoModelForCausalLM.from_pretrained(model_dirs["llama"]).save_pretrained(no_tok)
    return {
        "missing": (f'{{ model = "{tmp_path / "nope"}" }}', "is not a directory"),
        "empty": (f'{{ model = "{empty}" }}', "not a Hugging Face model"),
        "not causal": (f'{{ model = "{not_causal}" }}', "not a causal language model"),
        "no tokenizer": (f'{{ model = "{no_tok}" }}', "tokenizer"),
        "unknown param": ('{ architecture = "llama", colour = "red" }', "colour"),
        "bad lora target": (f'{{ model = "{model_dirs["llama"]}", lora = {{ target_modules = ["nope"] }} }}', "nope"),
        "both": (f'{{ model = "{model_dirs["llama"]}", architecture = "llama" }}', "exactly one"),
    }


def test_bad_inputs_are_one_line_and_create_nothing(model_dirs, tmp_path, capsys):
    for name, (params, words) in _bad_inputs(model_dirs, tmp_path).items():
        out = tmp_path / f"run-{name.replace(' ', '-')}"
        capsys.readouterr()
        assert main(["run", str(_config(tmp_path, params)), "--out", str(out)]) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, (name, err)
        assert not out.exists(), name


TABLES = ("problems", "attempts", "verdicts", "examples", "train_metrics", "eval_results", "evaluations")


def _fingerprint(run_dir: Path) -> dict:
    out = {t: _rows(run_dir, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}
    out["attempts"] = _rows(run_dir, "SELECT problem_id, model, sample, text FROM attempts ORDER BY id")
    out["examples"] = _rows(run_dir, "SELECT round, prompt, answer, source FROM examples ORDER BY id")
    out["losses"] = _rows(run_dir, "SELECT round, step, loss, grad_norm FROM train_metrics ORDER BY round, step")
    out["evaluations"] = _rows(run_dir, "SELECT round, difficulty, correct, n FROM evaluations ORDER BY 1, 2")
    return out


def test_hf_smoke_run_then_kill_mid_train_and_resume(tmp_path, capsys, single_thread):
    ref = tmp_path / "ref"
    assert main(["run", "--preset", "hf-smoke", "--out", str(ref)]) == 0
    capsys.readouterr()
    assert main(["status", str(ref), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["complete"] is True and [r["round"] for r in st["rounds"]] == [0, 1, 2]
    assert all(r["phases"] and all(r["phases"].values()) for r in st["rounds"])
    assert st["rounds"][0]["accepted"] == 500
    for table in ("problems", "attempts", "verdicts", "examples", "train_metrics", "evaluations"):
        assert _rows(ref, f"SELECT COUNT(*) FROM {table}")[0][0] > 0, table
    assert _rows(ref, "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id WHERE p.round = 1") == [
        (128,)
    ]
    assert _rows(ref, "SELECT COUNT(*) FROM train_metrics WHERE round = 0") == [(30,)]
    for (path,) in _rows(ref, "SELECT path FROM checkpoints"):
        model = AutoModelForCausalLM.from_pretrained(ref / path, local_files_only=True)
        assert model.config.model_type == "llama"

    # The same run killed after round 0's 15th training step, then resumed, records exactly the same.
    killed, marker = tmp_path / "killed", tmp_path / "paused"
    env = dict(
        os.environ, OMP_NUM_THREADS="1", SELFTAUGHT_TEST_PAUSE="TRAIN:0:15", SELFTAUGHT_TEST_PAUSE_FILE=str(marker)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "selftaught", "run", "--preset", "hf-smoke", "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 120
    while not marker.exists():
        assert proc.poll() is None, "the run ended before it paused"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not _rows(killed, "SELECT 1 FROM phases WHERE phase = 'TRAIN' AND done = 1")
    assert main(["resume", str(killed)]) == 0
    assert _fingerprint(killed) == _fingerprint(ref)


def test_chat_template_and_max_new_tokens_override(model_dirs, tmp_path):
    chat_dir = tmp_path / "chat"
    AutoModelForCausalLM.from_pretrained(model_dirs["llama"]).save_pretrained(chat_dir)
    tok = char_tokenizer()
    tok.chat_template = (
        "{% for m in messages %}<s>U:{{ m['content'] }}|{% endfor %}{% if add_generation_prompt %}A:{% endif %}"
    )
    tok.save_pretrained(chat_dir)
    s = HFStudent(model=str(chat_dir), chat=True, device="cpu", max_new_tokens=2)
    (ids,) = s.encode_prompts(["1+2="])
    assert s.tok.decode(ids) == "<s>U:1+2=|A:"
    inputs, targets, _ = s.encode_examples([Example("1+2=", "3", 1, "labelled", 0)])
    assert inputs[0].tolist()[: len(ids)] == ids and (targets[0] != -100).sum() == 2  # "3" and the end token
    assert all(len(t) <= 2 for o in s.generate(PROMPTS, n=2, temperature=1.0, max_new_tokens=20) for t in o)
    with pytest.raises(SelftaughtError, match="no chat template"):
        HFStudent(model=str(model_dirs["llama"]), chat=True, device="cpu")
