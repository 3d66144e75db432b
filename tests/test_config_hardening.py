"""What a new user and a code review found in configs and parts: each bad value is one line and exit 2 with no run
directory; the run directory's config.toml reproduces the run; every setting reaches the student; plug-ins load by
a stable name in other processes; parts named in the config are really swappable."""

from __future__ import annotations

import pickle
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from selftaught.config import load_experiment
from selftaught.registry import load_object
from selftaught.run.build import build_parts, build_stop_rule, build_student
from selftaught.run.strategies import choose

from support import one_error_line, rows, run_cli

SMALL = ["--set", "train.labelled_steps=20", "--set", "train.round_steps=5", "--set", "loop.max_rounds=1"]


# ------------------------------------------------------------------------------------------- bad values, exit 2
BAD_TASK = """
import random
from selftaught.tasks import ReversedAddition


class Broken(ReversedAddition):
    name = "broken"

    def sample(self, rng: random.Random, difficulty: int):
        raise ZeroDivisionError("the plug-in's own bug")
"""

NO_LABELS = """
import random
from selftaught.tasks import Copy
from selftaught.types import Problem


class Unlabelled(Copy):
    name = "unlabelled"

    def sample(self, rng: random.Random, difficulty: int):
        p = super().sample(rng, difficulty)
        return Problem(p.task, p.difficulty, p.prompt, None, 0)

    def answer(self, problem):
        return None
"""


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("[train]\nlr = inf\n", "train.lr"),
        ("[train]\nlr = nan\n", "train.lr"),
        (f"[train]\nlabelled_steps = {2**63 - 1}\n", "train.labelled_steps"),
        ("[student]\ndevice = 'tpu'\n", "student.device"),
        ("[student]\nn_embd = 66\nn_head = 4\n", "divisible"),
        ("[student]\npos = 'learned'\nblock_size = 12\n", "block_size"),
        ("[student]\nparams = { wings = 2 }\n", "wings"),
        ("[task]\nname = 'BAD_TASK:Broken'\n", "ZeroDivisionError"),
        ("[task]\nname = 'NO_LABELS:Unlabelled'\n", "no target and has no oracle"),
        ("[train]\ncurator = 'nope'\n", "curator"),
        ("[train]\nschedule = 'sideways'\n", "schedule"),
        ("[stop]\ncurves = ['pow3', 'spline']\n", "curve model"),
    ],
)
def test_bad_values_are_one_line_and_leave_no_run_directory(tmp_path, capsys, toml, names):
    (tmp_path / "bad_task.py").write_text(BAD_TASK)
    (tmp_path / "no_labels.py").write_text(NO_LABELS)
    toml = toml.replace("BAD_TASK", "bad_task.py").replace("NO_LABELS", "no_labels.py")
    cfg = tmp_path / "exp.toml"
    cfg.write_text(toml)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(out))
    assert code == 2
    assert names in one_error_line(err)
    assert not out.exists()


def test_a_binary_file_or_a_directory_as_the_config_says_what_it_is(tmp_path, capsys):
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli(capsys, "run", str(binary), "--out", str(tmp_path / "a"))
    assert code == 2 and "not a text file" in one_error_line(err)
    code, _, err = run_cli(capsys, "run", str(tmp_path), "--out", str(tmp_path / "b"))
    assert code == 2 and "is a directory" in one_error_line(err)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ------------------------------------------------------------------------------------- config.toml reproduces
def test_run_dir_config_toml_holds_the_overrides_and_reproduces_the_run(tmp_path, capsys):
    first = tmp_path / "first"
    code, _, _ = run_cli(capsys, "run", "--preset", "smoke", "--out", str(first), "--set", "train.lr=0.005", *SMALL)
    assert code == 0
    saved = tomllib.loads((first / "config.toml").read_text())
    assert saved["train"]["lr"] == 0.005 and saved["train"]["labelled_steps"] == 20
    assert "--set train.lr=0.005" in (first / "config.given.toml").read_text()
    again = tmp_path / "again"
    code, _, _ = run_cli(capsys, "run", str(first / "config.toml"), "--out", str(again))
    assert code == 0
    config = "SELECT value FROM meta WHERE key = 'config'"
    assert rows(first, config) == rows(again, config)
    for sql in (
        "SELECT round, task, difficulty, n, correct FROM evaluations ORDER BY round, task, difficulty",
        "SELECT round, step, loss FROM train_metrics ORDER BY round, step",
        "SELECT round, prompt, answer, source FROM examples ORDER BY round, id",
    ):
        assert rows(first, sql) == rows(again, sql)


def test_a_preset_with_a_config_file_writes_one_valid_toml_document(tmp_path):
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[train]\nlr = 0.002\n")
    exp, text = load_experiment(cfg, "smoke", ["loop.max_rounds=3"])
    from selftaught.config import experiment_toml

    again, _ = load_experiment(_write(tmp_path / "resolved.toml", experiment_toml(exp)))
    assert again == exp
    assert (again.train.lr, again.loop.max_rounds, again.name) == (0.002, 3, "smoke")
    assert "# preset: smoke" in text and "# file:" in text


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_config_without_a_name_is_named_after_its_file_and_defaults_are_the_quickstarts(tmp_path):
    cfg = _write(tmp_path / "my-experiment.toml", "[train]\nlr = 0.002\n")
    exp, _ = load_experiment(cfg)
    assert exp.name == "my-experiment"
    quick, _ = load_experiment(None)
    assert quick.name == "quickstart"
    # Every key a config file leaves out takes the quickstart's value.
    assert exp.model_dump(exclude={"name", "train", "loop"}) == quick.model_dump(exclude={"name", "train", "loop"})
    assert exp.train.model_dump(exclude={"lr"}) == quick.train.model_dump(exclude={"lr"})
    assert exp.loop.model_dump(exclude={"attempts"}) == quick.loop.model_dump(exclude={"attempts"})
    assert (exp.loop.attempts, quick.loop.attempts) == ("auto", "split")
    # reversed addition splits, so 'auto' splits as the quickstart does
    assert choose(exp, build_parts(exp)).attempts.name == "split"


def test_plugin_paths_resolve_against_the_config_files_folder(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    folder.mkdir()
    _write(folder / "doubling.py", DOUBLING)
    cfg = _write(folder / "exp.toml", "[task]\nname = 'doubling.py:Doubling'\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    exp, _ = load_experiment(cfg)
    assert exp.task.name == f"{folder / 'doubling.py'}:Doubling"
    assert build_parts(exp).skills.tasks["doubling"].name == "doubling"


DOUBLING = """
import random
from selftaught.tasks import Task
from selftaught.types import Problem


class Doubling(Task):
    name, description = "doubling", "double a number: D:12=24"

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        x = rng.randint(10 ** (difficulty - 1), 10**difficulty - 1)
        return Problem(self.name, difficulty, f"D:{x}=", str(2 * x), seed=0)

    def answer(self, problem):
        return str(2 * int(problem.prompt[2:-1]))

    def plausible(self, problem, answer):
        return answer.isdigit()

    def max_answer_len(self, difficulty):
        return difficulty + 1
"""


# ----------------------------------------------------------------------------------------- student contract
RECORDING_STUDENT = """
from selftaught.students.base import Student
from selftaught.students.builtin import GPTStudent


class Recording(GPTStudent):
    seen = {}

    def __init__(self, init_seed, batch_size, optim, device, gen_batch, colour="red"):
        Recording.seen.update(lr=optim.lr, weight_decay=optim.weight_decay, grad_clip=optim.grad_clip, device=device,
                              batch_size=batch_size, colour=colour)
        super().__init__(optim=optim, batch_size=batch_size, gen_batch=gen_batch, device=device, init_seed=init_seed)


class NoSettings(GPTStudent):
    def __init__(self, init_seed=0):
        super().__init__(init_seed=init_seed)


class NoLoadWeights(Student):
    def __init__(self, **settings):
        pass

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0):
        return [[""] * n for _ in prompts]

    def fit(self, examples, schedule, steps, seed=0, callbacks=()):
        raise AssertionError

    def save(self, directory):
        pass

    @classmethod
    def load(cls, directory):
        return cls()
"""


def test_every_training_setting_and_student_param_reaches_a_custom_student(tmp_path):
    plugin = _write(tmp_path / "students.py", RECORDING_STUDENT)
    sets = [f"student.kind='{plugin}:Recording'", "train.lr=0.25", "train.weight_decay=0.03", "train.grad_clip=0.7"]
    sets += ["student.device='cpu'", "train.batch_size=7", "student.params={ colour = 'blue' }"]
    exp, _ = load_experiment(None, "smoke", sets)
    build_student(exp, 0)
    seen = load_object(f"{plugin}:Recording", "student").seen
    assert seen == {
        "lr": 0.25,
        "weight_decay": 0.03,
        "grad_clip": 0.7,
        "device": "cpu",
        "batch_size": 7,
        "colour": "blue",
    }


@pytest.mark.parametrize(("cls", "says"), [("NoSettings", "takes no 'batch_size'"), ("NoLoadWeights", "load_weights")])
def test_a_student_that_would_drop_settings_or_lacks_load_weights_is_refused(tmp_path, capsys, cls, says):
    plugin = _write(tmp_path / "students.py", RECORDING_STUDENT)
    code, _, err = run_cli(
        capsys, "run", "--preset", "smoke", "--out", str(tmp_path / "r"), "--set", f"student.kind='{plugin}:{cls}'"
    )
    assert code == 2 and says in one_error_line(err)
    assert not (tmp_path / "r").exists()


def test_a_weight_average_for_a_student_that_keeps_none_is_refused(tmp_path, capsys):
    plugin = _write(tmp_path / "students.py", RECORDING_STUDENT)
    sets = ["--set", f"student.kind='{plugin}:NoLoadWeights'", "--set", "train.average=0.99"]
    code, _, err = run_cli(capsys, "run", "--preset", "smoke", "--out", str(tmp_path / "r"), *sets)
    assert code == 2 and "train.average: student" in one_error_line(err) and "keeps no weight average" in err
    assert not (tmp_path / "r").exists()
    exp, _ = load_experiment(None, "smoke", [f"student.kind='{plugin}:Recording'", "train.average=0.99"])
    assert build_student(exp, 0).optim.average == 0.99  # a TorchStudent keeps one


def test_building_a_student_leaves_torchs_global_stream_alone():
    exp, _ = load_experiment(None, "smoke")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_student(exp, 0)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------------------------------ swappable
PARTS = """
from selftaught.training.curation import Curator
from selftaught.curves import Pow3
from selftaught.training.schedules import Schedule


class NewestOnly(Curator):
    def build(self, fresh, replay_pool, rng):
        return list(fresh)[:3]


class Half(Schedule):
    name = "half"

    def shape(self, z):
        return 0.5


class MyPow(Pow3):
    name = "my-pow"
"""


def test_curator_schedule_and_curve_models_are_swappable_by_module_class(tmp_path):
    plugin = _write(tmp_path / "parts.py", PARTS)
    sets = [f"train.curator='{plugin}:NewestOnly'", f"train.schedule='{plugin}:Half'", "train.warmup=0.0"]
    sets += [f"stop.curves=['exp3', '{plugin}:MyPow']"]
    exp, _ = load_experiment(None, "smoke", sets)
    parts = build_parts(exp)
    assert type(parts.curator).__name__ == "NewestOnly"
    assert parts.curator.build(list(range(10)), [], None) == [0, 1, 2]
    from selftaught.run.build import build_schedule

    assert build_schedule(exp).factor(5, 10) == 0.5
    rule = build_stop_rule(exp, seed=0)
    assert [m.__name__ for m in rule.models] == ["Exp3", "MyPow"]


# --------------------------------------------------------------------------------------- plug-ins, processes
def test_a_plugin_named_by_path_unpickles_in_another_process(tmp_path):
    plugin = _write(tmp_path / "doubling.py", DOUBLING)
    cls = load_object(f"{plugin}:Doubling", "task")
    assert load_object(f"{plugin}:Doubling", "task") is cls  # one module per file, whatever the process's hash seed
    blob = pickle.dumps(cls())
    code = (
        "import pickle, sys, selftaught; t = pickle.loads(sys.stdin.buffer.read()); print(type(t).__module__, t.name)"
    )
    done = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True)
    module, name = done.stdout.decode().split()
    assert (module, name) == (cls.__module__, "doubling")


# -------------------------------------------------------------------------------------------- targets, oracle
ORACLE_ONLY = """
import random
from selftaught.tasks import Copy
from selftaught.types import Problem


class OracleOnly(Copy):
    name = "oracle-only"

    def sample(self, rng: random.Random, difficulty: int):
        p = super().sample(rng, difficulty)
        return Problem(p.task, p.difficulty, p.prompt, None, 0)
"""


def test_a_task_without_targets_but_with_an_oracle_is_labelled_by_the_oracle(tmp_path, capsys):
    plugin = _write(tmp_path / "oracle_only.py", ORACLE_ONLY)
    run_dir = tmp_path / "run"
    sets = [
        "--set",
        f"task.name='{plugin}:OracleOnly'",
        "--set",
        "loop.max_rounds=0",
        "--set",
        "train.labelled_steps=5",
    ]
    code, _, _ = run_cli(capsys, "run", "--preset", "smoke", "--out", str(run_dir), *sets)
    assert code == 0
    assert rows(run_dir, "SELECT COUNT(*), SUM(accepted) FROM verdicts WHERE round = 0") == [(500, 500)]
    assert rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 0") == [(5,)]
