"""Paths in a config are relative to the config file's folder (to the working directory for --set), kept absolute
in the run's config.toml, so `selftaught run RUN_DIR/config.toml` repeats a run from any directory."""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

import pytest
from test_jsonl_split import RUN, add_rows, write_rows

from selftaught.cli import main
from selftaught.config import BUILTIN_MODEL_KEYS, experiment_toml, load_experiment


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "exp.toml"
    cfg.write_text(text)
    return cfg


def test_path_settings_are_taken_from_the_config_files_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "configs"
    cfg = _write(
        folder,
        """
[task]
name = "jsonl"
params = { path = "data/problems.jsonl", held_out = 0.25 }

[student]
kind = "hf"
params = { model = "../models/tiny", positions = "index" }

[train]
refined_from = "runs/earlier"

[stop]
prior_from = ["runs/seed0", "/abs/seed1"]

[track]
tensorboard = "tb"
mlflow = "mlruns"
""",
    )
    monkeypatch.chdir(tmp_path / "..")  # anywhere but the config's folder
    exp, _ = load_experiment(cfg)
    assert exp.task.params == {"path": str(folder / "data" / "problems.jsonl"), "held_out": 0.25}
    assert exp.student.params == {"model": str(tmp_path / "models" / "tiny"), "positions": "index"}
    assert exp.train.refined_from == str(folder / "runs" / "earlier")
    assert exp.stop.prior_from == [str(folder / "runs" / "seed0"), "/abs/seed1"]
    assert exp.track.tensorboard == str(folder / "tb") and exp.track.mlflow == str(folder / "mlruns")


def test_what_is_not_a_relative_path_is_left_as_it_is(tmp_path: Path) -> None:
    cfg = _write(
        tmp_path,
        """
[task]
name = "copy"
params = { path = "not/a/file/of/copy" }

[student]
kind = "gpt"

[train]
refined_from = "/abs/run"

[track]
mlflow = "http://localhost:5000"
tensorboard = "~/tb"
""",
    )
    exp, _ = load_experiment(cfg)
    assert exp.task.params == {"path": "not/a/file/of/copy"}  # only a jsonl task's path is a file
    assert exp.train.refined_from == "/abs/run" and exp.track.tensorboard == "~/tb"
    assert exp.track.mlflow == "http://localhost:5000"
    plug_in = _write(tmp_path / "p", '[student]\nkind = "my_module:Student"\nparams = { model = "name-on-a-hub" }\n')
    assert load_experiment(plug_in)[0].student.params == {"model": "name-on-a-hub"}  # a plug-in's own parameter


def test_skills_and_overrides(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "configs"
    cfg = _write(
        folder,
        """
[[skills]]
task = "jsonl"
params = { path = "a.jsonl" }

[[skills]]
task = "copy"
params = { path = "b" }

[student]
params = { model = "tiny" }
""",
    )
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    # --set paths are the working directory's; the student's kind, set last, decides what params.model is
    exp, _ = load_experiment(cfg, None, ["student.kind=hf", "train.refined_from=old-run"])
    assert [s.params for s in exp.skills] == [{"path": str(folder / "a.jsonl")}, {"path": "b"}]
    assert exp.student.params == {"model": str(folder / "tiny")}
    assert exp.train.refined_from == str(here / "old-run")
    # a file:Class plug-in keeps working as before
    exp, _ = load_experiment(None, "smoke", ["task.name=mytask.py:Task"])
    assert exp.task.name == f"{here / 'mytask.py'}:Task"


def test_config_toml_leaves_the_builtin_model_out_for_another_student(tmp_path: Path) -> None:
    hf, _ = load_experiment(None, "hf-quickstart")
    written = tomllib.loads(experiment_toml(hf))
    assert not set(BUILTIN_MODEL_KEYS) & set(written["student"])
    assert written["student"]["kind"] == "hf" and written["student"]["params"]["rope_scale"] == 0.6
    again = _write(tmp_path, experiment_toml(hf))
    assert load_experiment(again)[0].student == hf.student  # the defaults it left out are what it had
    gpt, _ = load_experiment(None, "smoke")
    assert set(BUILTIN_MODEL_KEYS) <= set(tomllib.loads(experiment_toml(gpt))["student"])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with the character tokenizer, saved as a Hugging Face model directory."""
    pytest.importorskip("transformers")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from selftaught.students.hf_tokenizer import char_tokenizer

    tok = char_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         vocab_size=len(tok), pad_token_id=0, bos_token_id=1, eos_token_id=2)  # fmt: skip
    root = tmp_path_factory.mktemp("models") / "tiny"
    LlamaForCausalLM(config).save_pretrained(root)
    tok.save_pretrained(root)
    return root


def _records(run_dir: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(run_dir / "run.db") as conn:
        return {
            "problems": conn.execute("SELECT round, purpose, prompt, target FROM problems ORDER BY id").fetchall(),
            "attempts": conn.execute("SELECT problem_id, sample, text, reward FROM attempts ORDER BY id").fetchall(),
            "evaluations": conn.execute("SELECT round, task, difficulty, accuracy FROM evaluations").fetchall(),
        }


def test_a_run_repeats_from_its_config_toml_anywhere(tmp_path: Path, model_dir: Path, monkeypatch) -> None:
    """A jsonl file and a model directory named relative to the config; run from elsewhere, then repeated from
    RUN_DIR/config.toml in a third directory."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    data = write_rows(project / "data" / "mbpp.jsonl", add_rows(20))
    student = f'params = {{ model = "../{model_dir.name}", positions = "index", max_new_tokens = 24 }}'
    cfg = project / "exp.toml"
    cfg.write_text(RUN.format(seed=0, path="data/mbpp.jsonl", held_out=0.25, labelled=15, extra="", kind="hf",
                              student=student))  # fmt: skip
    (project.parent / model_dir.name).symlink_to(model_dir, target_is_directory=True)
    elsewhere, third = tmp_path / "elsewhere", tmp_path / "third"
    elsewhere.mkdir()
    third.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(cfg), "--out", "run"]) == 0
    first = elsewhere / "run"
    written = tomllib.loads((first / "config.toml").read_text())
    assert written["task"]["params"]["path"] == str(data)
    assert written["student"]["params"]["model"] == str(model_dir.resolve())
    assert not set(BUILTIN_MODEL_KEYS) & set(written["student"])

    monkeypatch.chdir(third)
    assert main(["run", str(first / "config.toml"), "--out", "again"]) == 0
    assert _records(third / "again") == _records(first)
    assert (third / "again" / "config.toml").read_text() == (first / "config.toml").read_text()
