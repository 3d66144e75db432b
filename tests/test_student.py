"""GPTStudent: example encoding, a short fit on a trivial mapping, generation order, and checkpoints."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch

from selftaught.errors import SelftaughtError
from selftaught.students.builtin import CONFIG, WEIGHTS, GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.students.tokenizer import CharTokenizer
from selftaught.training.schedules import Cosine
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example, TrainStats

TOK = CharTokenizer()
LETTERS = string.ascii_lowercase[:10]
STEPS, BATCH, LR = 150, 32, 3e-3


pytestmark = pytest.mark.usefixtures("one_thread")


def ex(prompt: str, answer: str) -> Example:
    return Example(prompt=prompt, answer=answer, difficulty=1, source="labelled", origin_round=0, task="copy")


def small_student(pos: str = "rope", **kw) -> GPTStudent:
    cfg = GPTConfig(n_layer=2, n_head=4, n_embd=32, block_size=64, pos=pos)
    return GPTStudent(cfg, OptimConfig(lr=LR), batch_size=BATCH, device="cpu", **kw)


@pytest.fixture(scope="module")
def trained() -> tuple[GPTStudent, TrainStats, list[tuple[int, int, float]]]:
    """A student fitted to copy one letter: "a=" -> "a" (200 examples, 150 steps)."""
    student = small_student()
    examples = [ex(f"{c}=", c) for c in LETTERS for _ in range(20)]
    calls: list[tuple[int, int, float]] = []
    stats = student.fit(examples, Cosine(warmup=0.1), STEPS, seed=0, callbacks=[lambda *a: calls.append(a)])
    return student, stats, calls


# ------------------------------------------------------------------------------------------------ encoding
def test_encode_examples_targets_only_answer_tokens_and_eos() -> None:
    student = small_student()
    inputs, targets, lengths = student.encode_examples([ex("1+2=", "3"), ex("a=", "bc")])
    e = TOK.encode
    bos, eos, pad, no = TOK.bos_id, TOK.eos_id, TOK.pad_id, -100
    # [BOS] 1 + 2 = 3 [EOS]  /  [BOS] a = b c [EOS] [PAD]; inputs drop the last column, targets the first.
    assert inputs.tolist() == [
        [bos, *e("1+2=3")],
        [bos, *e("a=bc"), eos],
    ]
    assert targets.tolist() == [
        [no, no, no, no, *e("3"), eos],
        [no, no, *e("bc"), eos, no],
    ]
    assert lengths.tolist() == [6, 5]
    assert inputs.dtype == targets.dtype == torch.long
    assert pad not in inputs.tolist()[0]


def test_encode_examples_rejects_non_ascii() -> None:
    with pytest.raises(SelftaughtError, match="not printable ASCII"):
        small_student().encode_examples([ex("\u00e9=", "e")])


# ------------------------------------------------------------------------------------------------ training
def test_fit_drives_the_loss_down(trained) -> None:
    _, stats, calls = trained
    assert stats.steps == STEPS
    assert len(stats.losses) == len(stats.lrs) == STEPS
    assert stats.final_loss == stats.losses[-1]
    assert stats.final_loss < 0.25 * stats.losses[0]
    # Every batch is 32 rows of "[BOS] c = c" (4 input columns: the padding column is trimmed).
    assert stats.tokens == STEPS * BATCH * 4
    # The learning rate followed the schedule.
    sched = Cosine(warmup=0.1)
    assert stats.lrs == pytest.approx([LR * sched.factor(s, STEPS) for s in range(STEPS)])
    # Callbacks saw (step done, total, loss) for every step.
    assert [(s, t) for s, t, _ in calls] == [(s, STEPS) for s in range(1, STEPS + 1)]
    assert [loss for *_, loss in calls] == stats.losses


def test_fitted_student_answers_correctly(trained) -> None:
    student, _, _ = trained
    answers = student.generate([f"{c}=" for c in LETTERS], max_new_tokens=4)
    assert answers == [[c] for c in LETTERS]
    assert not student.model.training


def test_fit_without_examples_raises() -> None:
    with pytest.raises(ValueError, match="at least one example"):
        small_student().fit([], Cosine(), 3)


def test_fit_is_reproducible_for_a_seed() -> None:
    examples = [ex(f"{c}=", c) for c in LETTERS]
    a = small_student().fit(examples, Cosine(), 5, seed=3).losses
    b = small_student().fit(examples, Cosine(), 5, seed=3).losses
    c = small_student().fit(examples, Cosine(), 5, seed=4).losses
    assert a == b
    assert a != c


# ---------------------------------------------------------------------------------------------- generation
def test_generate_n_keeps_the_original_prompt_order() -> None:
    student = small_student(init_seed=1)
    prompts = ["hello wor", "x", "12+9=", "ab", "zzzzzzzzzzzz", "7"]  # deliberately not sorted by length
    alone = [student.generate([p], max_new_tokens=6)[0][0] for p in prompts]
    assert len(set(alone)) == len(prompts)  # distinct answers, so a permutation would show
    got = student.generate(prompts, n=3, max_new_tokens=6)
    assert got == [[a] * 3 for a in alone]
    # Splitting the sorted rows into small chunks does not change anything either.
    student.gen_batch = 4
    assert student.generate(prompts, n=3, max_new_tokens=6) == got


def test_sampled_generate_returns_n_answers_per_prompt_in_order(trained) -> None:
    student, _, _ = trained
    prompts = ["j=", "hello", "c=", "ab", "a="]
    # At 0.1 the copied letter has probability above 0.999 (at 0.3 some 0.92: a seed could draw another).
    got = student.generate(prompts, n=3, temperature=0.1, max_new_tokens=4, seed=5)
    assert [len(r) for r in got] == [3] * len(prompts)
    assert got[0] == ["j"] * 3 and got[2] == ["c"] * 3 and got[4] == ["a"] * 3
    assert student.generate(prompts, n=3, temperature=0.1, max_new_tokens=4, seed=5) == got


def test_generate_rejects_bad_arguments() -> None:
    student = small_student()
    with pytest.raises(ValueError, match="n=0"):
        student.generate(["a="], n=0)
    with pytest.raises(ValueError, match="temperature"):
        student.generate(["a="], temperature=-0.1)
    with pytest.raises(ValueError, match="positive"):
        GPTStudent(GPTConfig(n_layer=1, n_head=2, n_embd=16), batch_size=0, device="cpu")


# --------------------------------------------------------------------------------------------- persistence
def test_save_load_round_trip_gives_identical_generations(trained, tmp_path: Path) -> None:
    student, _, _ = trained
    student.save(tmp_path / "ckpt")
    meta = json.loads((tmp_path / "ckpt" / CONFIG).read_text())
    assert meta["kind"] == "gpt"
    assert meta["model"] == student.model_cfg.to_dict()
    assert meta["batch_size"] == BATCH
    loaded = GPTStudent.load(tmp_path / "ckpt", device="cpu")
    assert loaded.model_cfg == student.model_cfg
    assert loaded.optim == student.optim
    assert (loaded.batch_size, loaded.gen_batch) == (student.batch_size, student.gen_batch)
    for k, v in student.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k
    prompts = [f"{c}=" for c in LETTERS] + ["12+34=", "hello"]
    assert loaded.generate(prompts, max_new_tokens=6) == student.generate(prompts, max_new_tokens=6)
    sampled = dict(n=2, temperature=1.0, max_new_tokens=6, seed=9)
    assert loaded.generate(prompts, **sampled) == student.generate(prompts, **sampled)


def test_load_weights_replaces_the_weights(trained, tmp_path: Path) -> None:
    student, _, _ = trained
    student.save(tmp_path)
    fresh = small_student(init_seed=7)
    assert fresh.generate(["a=", "b="]) != [["a"], ["b"]]
    fresh.load_weights(tmp_path)
    assert fresh.generate(["a=", "b="]) == [["a"], ["b"]]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_load_weights_of_a_damaged_file_raises_with_the_path(trained, tmp_path: Path, damage: str) -> None:
    student, _, _ = trained
    student.save(tmp_path)
    weights = tmp_path / WEIGHTS
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        weights.write_bytes(bytes(range(256)) * 40)
    else:
        weights.write_bytes(b"")
    other = small_student(init_seed=3)
    before = {k: v.clone() for k, v in other.model.state_dict().items()}
    with pytest.raises(SelftaughtError) as info:
        other.load_weights(tmp_path)
    assert str(weights) in str(info.value)
    assert "\n" not in str(info.value)
    for k, v in other.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(SelftaughtError, match=str(weights)):
        GPTStudent.load(tmp_path, device="cpu")


def test_load_weights_without_a_weights_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SelftaughtError, match=f"has no {WEIGHTS}"):
        small_student().load_weights(tmp_path)


def test_load_weights_of_another_architecture_raises(tmp_path: Path) -> None:
    GPTStudent(GPTConfig(n_layer=1, n_head=2, n_embd=16), device="cpu").save(tmp_path)
    with pytest.raises(SelftaughtError, match="corrupt or incompatible"):
        small_student().load_weights(tmp_path)


def test_failed_load_weights_of_another_architecture_leaves_the_weights_unchanged(tmp_path: Path) -> None:
    GPTStudent(GPTConfig(n_layer=1, n_head=4, n_embd=32, block_size=64, pos="rope"), device="cpu").save(tmp_path)
    student = small_student(init_seed=3)
    before = {k: v.clone() for k, v in student.model.state_dict().items()}
    with pytest.raises(SelftaughtError):
        student.load_weights(tmp_path)
    changed = [k for k, v in student.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed == []


def test_load_of_a_directory_without_student_json_raises(tmp_path: Path) -> None:
    with pytest.raises(SelftaughtError, match=f"has no {CONFIG}"):
        GPTStudent.load(tmp_path, device="cpu")
    with pytest.raises(SelftaughtError, match=f"has no {CONFIG}"):
        GPTStudent.load(tmp_path / "missing", device="cpu")


@pytest.mark.parametrize("text", ["{not json", json.dumps({"kind": "gpt"}), json.dumps({"model": {"pos": "nope"}})])
def test_load_of_a_corrupt_student_json_raises(tmp_path: Path, text: str) -> None:
    (tmp_path / CONFIG).write_text(text)
    with pytest.raises(SelftaughtError, match="is corrupt"):
        GPTStudent.load(tmp_path, device="cpu")
