"""Hindsight relabelling (``loop.hindsight``): list-functions re-poses a failed attempt as the problem it solves and
refuses degenerate ones; the loop records every try with its provenance, trains on the kept ones within
``loop.hindsight_share``, and redoes a killed hindsight round identically. Also frontier search and prioritised
replay, which the same loop uses."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.run.attempts.direct import composed
from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.tasks import ListFunctions
from selftaught.tasks.list_functions import apply, ops_of
from selftaught.training.curation import ReplayCurator, hindsight_mix
from selftaught.types import NO_VALUE, Example

from support import rows

# Programs a model at the frontier writes: right, wrong but running, degenerate, broken.
PROGRAMS = (
    "sorted(x)",
    "x[::-1]",
    "sorted(x)[::-1]",
    "x[1:]",
    "[v+1 for v in x]",
    "[v for v in x if v%2<1]",
    "[v+2 for v in sorted(x)][:3]",
    "x[::-1][:2]",
    "x",
    "[0 for v in x]",
    "x[",
    "len(x)",
)


class CannedStudent(GPTStudent):
    """A tiny GPT that trains as usual but answers list-functions prompts from ``PROGRAMS`` (seeded), so that a
    test loop has failed attempts that run, whatever a barely trained model would write."""

    def __init__(self, **settings):
        super().__init__(model=GPTConfig(n_layer=1, n_head=2, n_embd=16, pos="rope"), **settings)

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0):
        rng = random.Random(f"{seed}:{temperature}")
        return [[rng.choice(PROGRAMS) for _ in range(n)] for _ in prompts]


def outputs_of(task: ListFunctions, problem, answer: str) -> list:
    """What ``answer`` computes on the problem's probe inputs, by the task's trusted reference (no model code)."""
    ops = ops_of(answer)
    return [apply(ops, xs) for xs in task._inputs(problem)]


@pytest.fixture(scope="module")
def task():
    return ListFunctions()


@pytest.fixture(scope="module")
def problem(task):
    return task.sample(random.Random(1), 3)  # L:[7,7]>[7,7] [6,3,1,7,0]>[1,0] ...= sorted(x)[:2][::-1]


# ----------------------------------------------------------------------------------------------- the task hook
def test_a_failed_program_becomes_the_problem_it_solves_at_its_own_depth(task, problem):
    assert task.probe(problem)[0] == "f([7,7])" and len(task.probe(problem)) == 20
    made = task.relabel(problem, "x[::-1][1:]", outputs_of(task, problem, "x[::-1][1:]"))
    assert made is not None and made.difficulty == 2 and problem.difficulty == 3
    assert made.prompt == "L:[7,7]>[7] [6,3,1,7,0]>[7,1,3,6] [6,9,0,7,4]>[7,0,9,6] [9,1,5]>[1,9]="
    assert made.target == "x[::-1][1:]"
    assert made.meta["tests"][1] == "f([6,3,1,7,0]) == [7,1,3,6]"
    # the hidden tests keep the original problem's hidden inputs, with the attempt's outputs
    hidden = task._inputs(problem)[4:]
    assert made.meta["hidden_inputs"] == hidden
    show = lambda xs: str(xs).replace(" ", "")  # noqa: E731
    assert made.meta["hidden"] == [f"f({show(xs)}) == {show(xs[::-1][1:])}" for xs in hidden]
    assert task.check(made, "x[::-1][1:]") == 1.0 and task.check(made, "x[1:]") < 1.0


def test_a_deeper_program_gets_a_deeper_difficulty_and_redundant_steps_do_not_count(task):
    shallow = task.sample(random.Random(4), 1)
    deep = "[v+2 for v in sorted(x)][:3]"
    made = task.relabel(shallow, deep, outputs_of(task, shallow, deep))
    assert made is not None and made.difficulty == 3 and shallow.difficulty == 1
    twice = task.relabel(shallow, "sorted(sorted(x))", outputs_of(task, shallow, "sorted(x)"))
    assert twice is None or twice.difficulty == 1


@pytest.mark.parametrize(
    "answer, outputs",
    [
        ("sorted(x)", "error"),  # a call raised: NO_VALUE
        ("[0 for v in x]", "constant"),
        ("x", "identity"),
        ("len(x)", "ints"),  # not lists
        ("[v*2 for v in x]", "doubled"),  # not a composition of the task's primitives
        ("sorted(x)[:2][::-1]", "own"),  # the problem itself: no failure to relabel
    ],
)
def test_degenerate_relabels_are_refused(task, problem, answer, outputs):
    inputs = task._inputs(problem)
    values = {
        "error": [NO_VALUE, *outputs_of(task, problem, "sorted(x)")[1:]],
        "constant": [[0] for _ in inputs],
        "identity": [list(xs) for xs in inputs],
        "ints": [len(xs) for xs in inputs],
        "doubled": [[2 * v for v in xs] for xs in inputs],
        "own": outputs_of(task, problem, "sorted(x)[:2][::-1]"),
    }[outputs]
    assert task.relabel(problem, answer, values) is None


def test_examples_that_do_not_pin_the_function_down_are_refused(task):
    # no shown value is 4: "keep > 3" and "keep > 4" agree on every shown example but not on the hidden inputs
    p = task.sample(random.Random(0), 1)
    q = type(p)(p.task, 1, "L:[1,5]>[1,5] [2,6]>[2,6] [0,7]>[0,7] [3,9]>[3,9]=", "x", 0, meta=None)
    assert any(4 in xs for xs in task._inputs(q)[4:])
    assert task.relabel(q, "[v for v in x if v>3]", outputs_of(task, q, "[v for v in x if v>3]")) is None
    made = task.relabel(q, "[v for v in x if v>2]", outputs_of(task, q, "[v for v in x if v>2]"))
    assert made is not None and made.difficulty == 1  # the 3 in [3,9] tells > 2 from > 3


# ------------------------------------------------------------------------------------------ mixing, replay
def ex(i: int, weight: float = 1.0, source: str = "self") -> Example:
    return Example(f"p{i}", "a", 1, source, 0, "t", weight)


def test_the_hindsight_share_caps_the_relabels_in_a_round():
    rng = random.Random(0)
    selfs, relabels = [ex(i) for i in range(30)], [ex(100 + i, source="hindsight") for i in range(100)]
    assert len(hindsight_mix(selfs, relabels, 0.25, rng)) == 10  # 10 / (30 + 10) = 0.25
    assert hindsight_mix(selfs, relabels, 0.0, rng) == []
    assert len(hindsight_mix([], relabels, 0.25, rng)) == 100  # nothing accepted: train on the relabels
    assert len(hindsight_mix(selfs, relabels[:5], 0.5, rng)) == 5
    deep = [Example(f"d{i}", "a", 1 + i % 4, "hindsight", 0, "t") for i in range(40)]
    assert sorted(e.difficulty for e in hindsight_mix(selfs, deep, 0.25, rng)) == [4] * 10  # the deepest first


def test_prioritised_replay_favours_rare_solves_and_uniform_replay_is_unchanged():
    pool = [ex(i, weight=8.0 if i < 10 else 1.0) for i in range(100)]
    fresh = [ex(1000 + i) for i in range(20)]
    plain = ReplayCurator(0.5).build(fresh, pool, random.Random(3))
    assert [e.prompt for e in plain[20:]] == [e.prompt for e in random.Random(3).sample(pool, 20)]
    # 10 of 100 weigh 8: a uniform draw of 20 holds 2 of them on average, one in proportion to weight about 6
    heavy = [
        sum(e.weight == 8.0 for e in ReplayCurator(0.5, priority=1.0).build(fresh, pool, random.Random(s))[20:])
        for s in range(20)
    ]
    uniform = [
        sum(e.weight == 8.0 for e in ReplayCurator(0.5).build(fresh, pool, random.Random(s))[20:]) for s in range(20)
    ]
    assert sum(heavy) / 20 >= 5.0 and sum(uniform) / 20 <= 3.0


# ----------------------------------------------------------------------------------------------- the loop
STUDENT = f"{Path(__file__).resolve()}:CannedStudent"
LOOP = [
    f"student.kind={STUDENT}",
    "verifier.filters=['tests']",
    "verifier.samples=4",
    "loop.labelled_max=2",
    "loop.labelled_problems=200",
    "loop.problems_per_round=24",
    "loop.max_rounds=2",
    "loop.hindsight=true",
    "loop.hindsight_share=0.5",
    "task.high=3",
    "train.labelled_steps=10",
    "search.below=0.05",
    "train.round_steps=4",
    "train.batch_size=16",
    "train.replay_priority=1.0",
    "eval.problems=8",
    "search.samples=6",
    "search.eval_samples=4",
    "search.k=[1,4]",
    "search.compose=4",
]


def args(*extra: str) -> list[str]:
    return ["--preset", "code-climb", *(a for o in (*LOOP, *extra) for a in ("--set", o))]


@pytest.fixture(scope="module")
def hindsight_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hindsight") / "run"
    assert main(["run", "--out", str(out), *args()]) == 0
    return out


def test_relabels_are_recorded_with_their_attempt_and_trained_on(hindsight_run):
    db = hindsight_run / "run.db"
    tried = rows(db, "SELECT round, reason, COUNT(*) FROM relabels GROUP BY round, reason")
    reasons = {reason for _, reason, _ in tried}
    assert {"kept", "degenerate", "error"} <= reasons
    # provenance: each relabel names an attempt of its round that was not accepted, and kept ones are new
    bad = rows(
        db,
        "SELECT COUNT(*) FROM relabels r JOIN attempts a ON a.id = r.attempt_id JOIN problems p ON p.id = a.problem_id "
        "WHERE p.round != r.round OR a.reward >= 1.0 OR p.difficulty != r.from_difficulty",
    )
    assert bad == [(0,)]
    kept = rows(db, "SELECT prompt FROM relabels WHERE kept = 1")
    assert len(kept) == len(set(kept)) > 0
    held = {p for (p,) in rows(db, "SELECT prompt FROM problems WHERE purpose IN ('eval', 'slice')")}
    assert not held & {p for (p,) in kept}
    # the kept relabels each round trains on come from that round, as source 'hindsight' with their relabel's id
    trained = rows(
        db,
        "SELECT e.round, r.round, e.prompt = r.prompt, e.answer = r.answer, e.difficulty = r.difficulty "
        "FROM examples e JOIN relabels r ON r.id = e.relabel_id WHERE e.source = 'hindsight'",
    )
    assert trained and all(er == rr and a and b and c for er, rr, a, b, c in trained)
    # at most half of a round's fresh examples (with some accepted) are relabels
    for (r,) in rows(db, "SELECT DISTINCT round FROM examples WHERE round > 0"):
        counts = dict(rows(db, f"SELECT source, COUNT(*) FROM examples WHERE round = {r} GROUP BY source"))
        if counts.get("self"):
            assert counts.get("hindsight", 0) <= counts["self"]


def test_status_and_report_show_relabels_per_round_and_difficulty(hindsight_run, capsys):
    import json

    assert main(["status", str(hindsight_run), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    db = hindsight_run / "run.db"
    made = rows(db, "SELECT round, difficulty, COUNT(*) FROM relabels WHERE prompt IS NOT NULL GROUP BY 1, 2")
    got = {(h["round"], h["difficulty"]): h for h in st["hindsight"]}
    assert all(got[(r, d)]["made"] == n for r, d, n in made)
    trained = rows(db, "SELECT round, difficulty, COUNT(*) FROM examples WHERE source = 'hindsight' GROUP BY 1, 2")
    assert all(got[(r, d)]["trained"] == n for r, d, n in trained)
    assert main(["status", str(hindsight_run)]) == 0
    assert "hindsight r2: made/kept/trained" in capsys.readouterr().out
    html = (hindsight_run / "report" / "report.html").read_text()
    assert "<h2>Hindsight relabelling</h2>" in html


def test_frontier_search_samples_more_where_greedy_fails_and_measures_pass_at_k(hindsight_run):
    db = hindsight_run / "run.db"
    task = ListFunctions()
    acc = {d: a for d, a in rows(db, "SELECT difficulty, accuracy FROM evaluations WHERE round = 0")}
    texts: dict[int, list[str]] = {}
    for pid, text in rows(
        db,
        "SELECT a.problem_id, a.text FROM attempts a JOIN problems p ON p.id = a.problem_id "
        "WHERE p.round = 1 ORDER BY a.problem_id, a.sample",
    ):
        texts.setdefault(pid, []).append(text)
    depth = dict(rows(db, "SELECT id, difficulty FROM problems WHERE round = 1 AND purpose = 'train'"))
    for pid, got in texts.items():
        if acc.get(depth[pid], 0.0) >= 0.05:  # search.below: not at the frontier
            assert len(got) == 4
            continue
        sampled, joined = got[:6], got[6:]
        assert len(joined) <= 4 and all(j not in sampled for j in joined)
        assert all(any(task.compose(a, b) == j for a in sampled for b in sampled) for j in joined)
    assert any(len(t) > 6 for t in texts.values())
    pass_k = rows(db, "SELECT round, k, n FROM pass_at_k")
    assert pass_k and {(k, n) for _, k, n in pass_k} == {(1, 4), (4, 4)}


def test_two_programs_compose_into_the_deeper_one():
    task = ListFunctions()
    assert task.compose("sorted(x)[:2]", "x[::-1]") == "sorted(x)[:2][::-1]"
    assert task.compose("sorted(x)", "sorted(x)") is None  # a kind twice
    assert task.compose("x[", "x[::-1]") is None and task.compose("len(x)", "x") is None
    got = composed(task, ["x[1:]", "sorted(x)", "x[1:]", "x[", "[v+1 for v in x]"], 3)
    assert got == ["sorted(x)[1:]", "sorted(x[1:])", "[v+1 for v in x[1:]]"]


def test_replay_weights_are_recorded(hindsight_run):
    db = hindsight_run / "run.db"
    self_rows = rows(
        db,
        "SELECT e.weight, v.score FROM examples e JOIN problems p ON p.prompt = e.prompt AND p.round = e.round "
        "JOIN verdicts v ON v.problem_id = p.id WHERE e.source = 'self'",
    )
    assert self_rows and all(abs(w - 1.0 / s) < 1e-9 for w, s in self_rows)
    assert rows(db, "SELECT MIN(weight), MAX(weight) FROM examples WHERE source IN ('labelled', 'hindsight')") == [
        (1.0, 1.0)
    ]


def fingerprint(run_dir: Path) -> dict:
    db = run_dir / "run.db"
    queries = {
        "attempts": "SELECT problem_id, model, sample, text, reward, correct FROM attempts ORDER BY id",
        "relabels": "SELECT * FROM relabels ORDER BY id",
        "verdicts": "SELECT problem_id, accepted, answer, score FROM verdicts ORDER BY problem_id",
        "examples": "SELECT round, prompt, answer, source, weight, relabel_id FROM examples ORDER BY id",
        "losses": "SELECT round, step, loss FROM train_metrics ORDER BY round, step",
        "pass_at_k": "SELECT * FROM pass_at_k ORDER BY round, difficulty, k",
    }
    return {name: rows(db, sql) for name, sql in queries.items()}


def test_kill_9_during_a_hindsight_round_then_resume_gives_identical_records(tmp_path, paused, single_thread):
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *args()]) == 0
    killed = tmp_path / "killed"
    run = paused(["run", "--out", killed, *args()], "CURATE:2", env={"OMP_NUM_THREADS": "1"})
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    done = rows(killed / "run.db", "SELECT round, phase FROM phases WHERE done = 1 ORDER BY round, rowid")
    assert done[-1] == (2, "VERIFY")
    assert rows(killed / "run.db", "SELECT COUNT(*) FROM relabels WHERE round = 2")[0][0] > 0
    assert main(["resume", str(killed)]) == 0
    assert fingerprint(killed) == fingerprint(ref)


# ------------------------------------------------------------------------------------------- bad settings
@pytest.mark.parametrize(
    "setting, words",
    [
        ("loop.hindsight_share=1.5", "loop.hindsight_share"),
        ("loop.hindsight_share=-0.1", "loop.hindsight_share"),
        ("train.replay_priority=-1", "train.replay_priority"),
        ("search.k=[1,8]", "search"),
        ("search.compose=-1", "search.compose"),
    ],
)
def test_bad_settings_are_one_line_exit_2_and_no_run_directory(tmp_path, capsys, setting, words):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *args(setting)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("setting", ["loop.hindsight=true", "search.compose=4"])
def test_hindsight_or_composing_on_a_task_without_the_hook_is_refused(tmp_path, capsys, setting):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--preset", "smoke", "--set", setting]) == 2
    err = capsys.readouterr().err.strip()
    assert setting.split("=")[0] in err and "reversed-addition" in err and len(err.splitlines()) == 1
    assert not out.exists()
