"""The Hugging Face student's settings as a new user meets them: a model loaded by path takes ``positions`` as a
built one does (the "index" scheme a model needs to climb), and ``rope_scale`` is refused with the real reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from selftaught.cli import main  # noqa: E402
from selftaught.config import load_experiment  # noqa: E402
from selftaught.run.build import build_student  # noqa: E402
from selftaught.students.hf import HFStudent  # noqa: E402
from selftaught.students.hf_tokenizer import char_tokenizer, run_positions  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with the character tokenizer, saved as a Hugging Face model directory."""
    tok = char_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         vocab_size=len(tok), pad_token_id=0, bos_token_id=1, eos_token_id=2)  # fmt: skip
    root = tmp_path_factory.mktemp("models") / "tiny"
    LlamaForCausalLM(config).save_pretrained(root)
    tok.save_pretrained(root)
    return root


def test_a_model_loaded_by_path_takes_index_positions(model_dir: Path, tmp_path: Path) -> None:
    exp, _ = load_experiment(
        None, "smoke", ["student.kind=hf", f'student.params={{ model = "{model_dir}", positions = "index" }}']
    )
    student = build_student(exp, 0)
    assert isinstance(student, HFStudent) and student.positions_kind == "index"
    ids = torch.tensor([student.encode_prompts(["123+45=", "7+8="])[0]])
    assert torch.equal(student.positions(ids), run_positions(ids, student.in_run))
    assert student.positions(ids).tolist() == [[0, 1, 2, 3, 0, 1, 2, 0]]  # <s> 1 2 3 + 4 5 =
    together = student.generate(["123+45=", "7+8="], max_new_tokens=4)
    assert together == [student.generate([p], max_new_tokens=4)[0] for p in ("123+45=", "7+8=")]
    student.save(tmp_path / "ckpt")
    assert HFStudent.load(tmp_path / "ckpt", device="cpu").positions_kind == "index"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ('{ model = "MODEL", rope_scale = 0.6 }', "a model loaded by path keeps its own, so leave it at 1.0"),
        ('{ architecture = "gpt2", rope_scale = 0.6 }', "a GPT-2 has learned positions, so leave it at 1.0"),
        ('{ architecture = "llama", rope_scale = 0.0 }', "rope_scale=0.0: must be positive"),
    ],
)
def test_rope_scale_is_refused_with_the_real_reason(model_dir, tmp_path, capsys, params, says) -> None:
    out = tmp_path / "run"
    params = params.replace("MODEL", str(model_dir))
    capsys.readouterr()
    code = main(["run", "--preset", "smoke", "--out", str(out), "--set", "student.kind=hf",
                 "--set", f"student.params={params}"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and says in err, err
    assert "rope_scale=0.6: must be positive" not in err
    assert not out.exists()


def test_rope_scale_scales_a_built_llama(tmp_path: Path) -> None:
    student = HFStudent(architecture="llama", layers=1, heads=2, hidden=32, intermediate=64, rope_scale=0.6,
                        device="cpu")  # fmt: skip
    assert student.model.config.rope_parameters["factor"] == pytest.approx(1 / 0.6)
