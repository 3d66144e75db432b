"""Refine attempts (``loop.attempts = "refine"``): prompts built from the previous turn, the fix rate per turn, the
experience memory (retrieval and values), trajectories for training, runs through the loop and resume after kill -9."""

from __future__ import annotations

import random
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest

from selftaught.cli import main
from selftaught.config import load_experiment
from selftaught.run.attempts import refine
from selftaught.run.attempts.memory import Entry, grams, retrieve, similarity, updated_value
from selftaught.run.control import ControlStrategy
from selftaught.run.loop import Loop
from selftaught.tasks import Copy, ListFunctions
from selftaught.tasks.base import Fix
from selftaught.types import Example, Problem
from selftaught.verifiers.base import Score, Verifier

from support import rows

HERE = Path(__file__).resolve()


class EvenLength(Verifier):
    """A test verifier a barely trained model passes now and then: accepts answers of even length."""

    name = "even"

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        ok = [len(a) % 2 == 0 for a in attempts]
        return [Score(float(k), k, "" if k else f"odd length {len(a)}") for a, k in zip(attempts, ok)]


# --------------------------------------------------------------------------------------------------- prompts
def test_the_default_refine_prompt_holds_the_attempt_feedback_and_memory_in_printable_ascii():
    task = Copy()
    p = task.sample(random.Random(0), 3)
    assert task.refine_prompt(p, None, "", ()) == p.prompt  # turn 1 without memory: the plain prompt
    got = task.refine_prompt(p, "ab\tc", "wrong:\n got é" + "x" * 100, [Fix("q", "f", "qq")], feedback_chars=12)
    assert got.endswith(p.prompt)
    assert "ab c" in got and "wrong: got" in got and "x" * 10 not in got  # feedback cut to 12 characters
    assert "q => qq" in got
    assert all(32 <= ord(ch) <= 126 for ch in got)


def test_list_functions_writes_the_failing_example_in_its_own_notation():
    task = ListFunctions()
    p = task.sample(random.Random(1), 3)
    feedback = "tests: 1 of 4 passed; failed: f([6,3,1,7,0]) == [1,0]: got [0, 1, 3, 6, 7] == [1, 0]"
    got = task.refine_prompt(p, "sorted(x)", feedback, [Fix("x", "", "x[::-1]")])
    assert got == f"~x=>x[::-1] !sorted(x):[6,3,1,7,0]>[0,1,3,6,7] {p.prompt}"
    error = "tests: 0 of 4 passed; error: the program did not load: SyntaxError: '[' was never closed"
    assert task.refine_prompt(p, "x[", error, ()) == f"!x[:SyntaxError {p.prompt}"


# ------------------------------------------------------------------------------------------ memory, values
def entry(i: int, features: str, value: float = 1.0) -> Entry:
    return Entry(i, features, f"bad{i}", "fb", f"good{i}", value, 0, grams(features))


def test_retrieval_orders_by_similarity_then_id_and_is_deterministic():
    entries = [entry(1, "C:abcd="), entry(2, "C:xyzw="), entry(3, "C:abcx="), entry(4, "C:abcd="), entry(5, "R:qqqq")]
    got = retrieve(entries, "C:abcd=", 3)
    assert [e.id for e in got] == [1, 4, 3]  # equal similarity: the older entry first
    assert similarity(grams("C:abcd="), grams("C:abcx=")) == pytest.approx(3 / 7)  # C:a :ab abc of 7 3-grams
    assert [e.id for e in retrieve(list(reversed(entries)), "C:abcd=", 3)] == [1, 4, 3]  # order of input irrelevant
    assert [e.id for e in retrieve(entries, "C:abcd=", 10)] == [1, 4, 3]  # no overlap: never shown
    assert retrieve(entries, "C:abcd=", 0) == []


def test_value_retrieval_ranks_by_similarity_times_value():
    entries = [entry(1, "C:abcd=", 0.1), entry(2, "C:abcx=", 1.0), entry(3, "C:abcd=", 0.5), entry(4, "C:abyy=", 0.0)]
    # similarity x value: 1 -> 0.1, 2 -> 3/7, 3 -> 0.5, 4 -> 0 (left out)
    assert [e.id for e in retrieve(entries, "C:abcd=", 4, "value")] == [3, 2, 1]
    assert [e.id for e in retrieve(entries, "C:abcd=", 4, "similarity")] == [1, 3, 2, 4]


def test_the_value_update_is_q_plus_alpha_times_r_minus_q():
    assert updated_value(0.5, 1.0, 0.3) == pytest.approx(0.65)
    assert updated_value(1.0, 0.0, 0.3) == pytest.approx(0.7)
    assert updated_value(0.2, 0.2, 0.9) == pytest.approx(0.2)


# ---------------------------------------------------------------------------------- one refine ATTEMPT, faked
class FakeStore:
    run_id = "fake"

    def __init__(self, rows, problems=(), accepted=()):
        self.rows, self._problems, self._accepted = rows, list(problems), list(accepted)

    def memory(self, before_round):
        return [r for r in self.rows if r["round"] < before_round]

    def problems(self, r, purpose):
        return self._problems

    def accepted(self, r, source="self"):
        return self._accepted


def fake_context(monkeypatch, memory_rows, *settings, words=()):
    """A context whose student answers by its prompt: turn 1 'wrongA' (sample 0) or 'wrongBB' (sample 1); shown
    'wrongA' it fixes it; shown 'wrongBB' it answers 'wrongCC', which it fixes next. The verifier accepts the target.
    The problems: two drawn copy problems (ids 10, 11), or one per word of ``words``."""
    exp, _ = load_experiment(
        preset="smoke",
        overrides=[
            "task.name=copy",
            "loop.attempts=refine",
            "verifier.samples=2",
            "refine.turns=3",
            "refine.memory=true",
            *settings,
        ],
    )
    task = Copy()
    drawn = [task.sample(random.Random(i), 4) for i in range(2)]
    shapes = [(p.prompt, p.target) for p in drawn] if not words else [(f"C:{w}=", w) for w in words]
    problems = [(10 + i, Problem("copy", 4, prompt, target, 0)) for i, (prompt, target) in enumerate(shapes)]
    by_prompt = {p.prompt: p for _, p in problems}

    def original(prompt: str) -> Problem:
        return next(q for text, q in by_prompt.items() if prompt.endswith(text))

    def answer(prompt: str) -> str:
        if "{was: wrongA |" in prompt or "{was: wrongCC |" in prompt:
            return original(prompt).target
        return "wrongCC"

    def first(r, probs, n, temperature, seed, members=None):
        for _, asked in probs:  # turn 1 asks with the memory of the rounds before r
            p = original(asked.prompt)
            shown = retrieve([Entry.of(row) for row in ctx.store.memory(r)], p.prompt, exp.refine.memory_k,
                             exp.refine.retrieval)  # fmt: skip
            assert asked.prompt == (task.refine_prompt(p, None, "", [e.fix() for e in shown]) if exp.refine.memory
                                    else p.prompt)  # fmt: skip
        return [{pid: ["wrongA", "wrongBB"] for pid, _ in probs}]

    def generate(ctx, r, turn, pending, asked, by_id, temperature):
        return {key: answer(asked[key]) for key in pending}

    def score(ctx, pending, text, by_id):
        out = {}
        for key in pending:
            target = by_id[key[1]].target
            ok = text[key] == target
            out[key] = Score(float(ok), ok, "" if ok else f"want {len(target)} letters")
        return out

    ctx = SimpleNamespace(
        exp=exp,
        store=FakeStore(memory_rows),
        parts=SimpleNamespace(skills=SimpleNamespace(tasks={"copy": task}, skills=[None]), students=[None]),
        sampler=SimpleNamespace(answers=first),
    )
    monkeypatch.setattr(refine, "_generate", generate)
    monkeypatch.setattr(refine, "_score", score)
    return ctx, problems


def test_a_refine_turn_is_asked_with_the_previous_attempt_and_its_feedback(monkeypatch):
    ctx, problems = fake_context(monkeypatch, [], "refine.memory=false")
    strategy = refine.Refine()
    attempted = strategy.attempt(ctx, 1, problems, 2, 1.0)
    answers, out = attempted.answers, attempted.write.__self__  # the records it writes: a Refined
    by_key: dict = {}
    for pid, m, s, turn, prompt, text, reward, feedback in out.steps:
        by_key.setdefault((m, pid, s), []).append((turn, prompt, text, reward, feedback))
    for (m, pid, s), steps in by_key.items():
        p = dict(problems)[pid]
        assert steps[0][1] == p.prompt
        for before, now in zip(steps, steps[1:]):
            assert now[0] == before[0] + 1
            assert now[1] == Copy().refine_prompt(p, before[2], before[4], (), ctx.exp.refine.feedback_chars)
            assert before[2] in now[1] and before[4] in now[1] and now[1].endswith(p.prompt)
        assert steps[-1][3] == 1.0 and answers[m][pid][s] == steps[-1][2] == p.target
    assert [len(by_key[(0, pid, s)]) for pid, _ in problems for s in (0, 1)] == [2, 3, 2, 3]
    # The fix rate per turn: turn 1 tries every sample, later turns those still failing.
    assert out.turns == {0: [(1, 4, 0), (2, 4, 2), (3, 2, 2)]}
    # Every fix becomes a memory entry: the failed answer, its feedback and the fix.
    assert [(f["problem_id"], f["failed"], f["fixed"]) for f in out.fixes] == [
        (pid, failed, p.target) for pid, p in problems for failed in ("wrongA", "wrongCC")
    ]
    assert all(f["feedback"].startswith("want") and f["value"] == refine.INITIAL_VALUE for f in out.fixes)
    assert out.values == []
    # VERIFY reuses the last turn's scores when the attempts are the ones scored.
    texts = {pid: [answers[0][pid][0], answers[0][pid][1]] for pid, _ in problems}
    reused = strategy.scores(ctx, 1, texts)
    assert set(reused) == {pid for pid, _ in problems} and all(s.accepted for v in reused.values() for s in v)
    assert strategy.scores(ctx, 1, texts) == {}  # taken once


def test_memory_is_shown_in_the_prompts_and_its_values_follow_the_rewards(monkeypatch):
    p0 = Copy().sample(random.Random(0), 4)
    rows = [
        dict(id=7, round=0, problem_id=1, features=p0.prompt, failed="zz", feedback="f", fixed="yy", value=0.4, uses=3),
        dict(id=9, round=0, problem_id=2, features="R:qqqq", failed="a", feedback="f", fixed="b", value=1.0, uses=0),
        dict(id=11, round=1, problem_id=3, features=p0.prompt, failed="c", feedback="f", fixed="d", value=1.0, uses=0),
    ]
    ctx, problems = fake_context(monkeypatch, rows, "refine.memory_k=2", "refine.alpha=0.5")
    runs = [refine.refined_answers(ctx, 1, problems, 2, 1.0)[1] for _ in range(2)]
    assert runs[0].steps == runs[1].steps and runs[0].values == runs[1].values  # deterministic
    out = runs[0]
    first_prompt = next(prompt for pid, m, s, turn, prompt, *_ in out.steps if pid == 10 and turn == 1)
    assert first_prompt.startswith("{fix: zz => yy}")  # entry 7 (similar, round 0); 11 is this round's, unseen
    assert all("{fix: zz => yy}" in step[4] for step in out.steps if step[0] == 10)
    # Entry 7 was shown to problem 10's turns: sample 0 failed then passed, sample 1 failed twice then passed.
    q, uses = 0.4, 3
    for reward in (0, 1, 0, 0, 1):
        q, uses = updated_value(q, reward, 0.5), uses + 1
    shown = {i for i, *_ in out.values}
    assert 9 not in shown and 11 not in shown
    assert dict((i, (v, u)) for i, v, u in out.values)[7] == (pytest.approx(q), uses)


def test_the_round_fixes_become_training_examples():
    task = Copy()
    p = task.sample(random.Random(3), 3)
    store = SimpleNamespace(
        problems=lambda r, purpose: [(5, p)],
        memory=lambda before: [
            dict(id=1, round=1, problem_id=5, features=p.prompt, failed="ab", feedback="odd", fixed="abc", value=1.0)
        ],
    )
    ctx = SimpleNamespace(
        store=store,
        exp=load_experiment(preset="smoke")[0],
        parts=SimpleNamespace(skills=SimpleNamespace(tasks={p.task: task})),
    )
    (example,) = refine.Refine().examples(ctx, 1)
    assert example.prompt == task.refine_prompt(p, "ab", "odd", ()) and example.answer == "abc"
    assert (example.source, example.origin_round, example.difficulty) == ("self", 1, p.difficulty)
    assert refine.Refine().examples(ctx, 0) == []


def test_with_the_memory_on_training_prompts_show_it_as_the_next_attempt_will(monkeypatch):
    """Round 1 attempts two similar problems (its fixes join the memory), then builds its training examples; round 2
    attempts each problem again as a new one (its own round-1 fixes not in the memory, as for any new problem): its
    turn-1 prompt is the accepted answer's memory example's prompt, and each later turn's prompt is the fix
    example's, word for word."""
    old = dict(round=0, problem_id=1, features="C:abcd=", failed="zz", feedback="f", fixed="yy", value=0.4, uses=3)
    ctx, problems = fake_context(monkeypatch, [dict(old, id=7)], "refine.memory_k=3", words=("abcd", "abce"))
    attempted = refine.refined_answers(ctx, 1, problems, 2, 1.0)[1]
    # The store as round 1's ATTEMPT left it: its fixes added, the shown entries' values updated.
    values = {i: (v, u) for i, v, u in attempted.values}
    rows = [dict(old, id=7, value=values[7][0], uses=values[7][1])]
    rows += [dict(f, id=20 + i, uses=0) for i, f in enumerate(attempted.fixes)]
    accepted = [Example(p.prompt, p.target, p.difficulty, "self", 1, p.task, weight=2.0) for _, p in problems]
    ctx.store = FakeStore([*rows, dict(old, id=99, round=2)], problems, accepted)  # a later round's: never read
    examples = refine.Refine().examples(ctx, 1)
    assert examples == refine.Refine().examples(ctx, 1)  # deterministic
    fixes = {(e.prompt.split("{was: ")[1].split(" |")[0], e.answer): e for e in examples if "{was: " in e.prompt}
    firsts = {e.answer: e for e in examples if "{was: " not in e.prompt}
    assert len(fixes) == 4 and len(firsts) == 2 and all(e.weight == 2.0 for e in firsts.values())
    for pid, p in problems:
        other = next(q for i, q in problems if i != pid)
        # What it shows: the earlier round's entry and the other problem's fixes of this round, not its own.
        first = firsts[p.target].prompt
        assert "{fix: zz => yy}" in first and f"{{fix: wrongA => {other.target}}}" in first
        assert f"=> {p.target}}}" not in first
        # Round 2 asks it as a new problem (id 100 + pid), from the store without its own round-1 fixes.
        ctx.store = FakeStore([row for row in rows if row["problem_id"] != pid], problems)
        steps = refine.refined_answers(ctx, 2, [(100 + pid, p)], 2, 1.0)[1].steps
        asked = {(s, turn): prompt for _, m, s, turn, prompt, *_ in steps}
        assert asked[(0, 1)] == asked[(1, 1)] == first
        assert asked[(0, 2)] == fixes[("wrongA", p.target)].prompt  # sample 0: wrongA, fixed at turn 2
        assert asked[(1, 3)] == fixes[("wrongCC", p.target)].prompt  # sample 1: wrongBB, wrongCC, fixed at turn 3
    # With the memory off: the fixes' plain refine prompts only (CURATE has the plain accepted answers).
    ctx.exp = load_experiment(preset="smoke", overrides=["task.name=copy", "refine.memory=false"])[0]
    ctx.store = FakeStore(rows, problems, accepted)
    plain = refine.Refine().examples(ctx, 1)
    assert [e.prompt for e in plain] == [
        Copy().refine_prompt(dict(problems)[f["problem_id"]], f["failed"], f["feedback"], ()) for f in attempted.fixes
    ]


# -------------------------------------------------------------------------------------------- through the loop
CODE = [
    "loop.labelled_problems=200",
    "loop.problems_per_round=6",
    "loop.max_rounds=1",
    "loop.min_accepted=0",
    "train.labelled_steps=20",
    "train.round_steps=3",
    "eval.problems=3",
    "verifier.samples=2",
    "loop.attempts=refine",
    "refine.turns=2",
]


def test_a_refine_run_on_code_records_turns_attempts_and_scores_consistently(tmp_path, one_thread):
    exp, text = load_experiment(preset="code-selftrain", overrides=CODE)
    loop = Loop.create(tmp_path / "run", exp, text)
    calls = []
    verifier = loop.parts.verifiers["list-functions"]
    real = verifier.score_many
    verifier.score_many = lambda batch: calls.append(loop.at) or real(batch)
    try:
        loop.run()
    finally:
        loop.close()
    assert calls and {phase for _, phase in calls} == {"ATTEMPT"}  # VERIFY took ATTEMPT's scores
    db = tmp_path / "run" / "run.db"
    steps = rows(db, "SELECT problem_id, model, sample, turn, prompt, text, reward, feedback FROM refine_steps")
    attempts = rows(db, "SELECT problem_id, model, sample, text, reward, feedback FROM attempts ORDER BY id")
    assert len(attempts) == 6 * 2
    last = {}
    for pid, m, s, turn, prompt, said, reward, feedback in sorted(steps):
        assert turn == last.get((pid, m, s), (0,))[0] + 1 <= 2
        if turn == 2:
            before = last[(pid, m, s)]
            assert before[2] != 1.0 and prompt.startswith("!" + before[1].strip()[:5])
        last[(pid, m, s)] = (turn, said, reward, feedback)
    # Each attempt is its sample's last turn, with that turn's score.
    assert {(pid, m, s): (t, r, f) for pid, m, s, t, r, f in attempts} == {
        k: (said, reward, feedback) for k, (_, said, reward, feedback) in last.items()
    }
    turns = rows(db, "SELECT turn, tried, fixed FROM refine_turns WHERE round = 1 ORDER BY turn")
    assert [t for t, _, _ in turns] == [1, 2] and turns[0][1] == 12
    assert turns[1][1] == turns[0][1] - turns[0][2] == sum(1 for v in last.values() if v[0] == 2)
    accepted_after = sum(1 for v in last.values() if v[2] == 1.0)
    assert turns[0][2] + turns[1][2] == accepted_after


class ThreeCold(ControlStrategy):
    """A control strategy that chooses 3 samples at temperature 0.3 every round, measuring nothing."""

    name = "three-cold"

    def plan(self, ctx, r: int, problems) -> list[dict]:
        row = dict(temperature=0.3, threshold=0.0, samples=3, score=0.0, kept=0, unique_correct=0, chosen=True)
        return [row] if problems else []


def test_refine_samples_with_the_count_and_temperature_control_chose(tmp_path, one_thread):
    """The verifier says 2 samples at 1.0; the control strategy chooses 3 at 0.3: every refine turn is drawn at 0.3,
    turn 1 with 3 samples per problem, so each problem has 3 attempts (turns 2-3 ask each failing sample once)."""
    overrides = [
        "task.name=copy",
        f"verifier.filters=['{HERE}:EvenLength']",
        "verifier.samples=2",
        "verifier.temperature=1.0",
        f'control.kind="{HERE}:ThreeCold"',
        "loop.attempts=refine",
        "refine.turns=3",
        "loop.problems_per_round=8",
        "loop.max_rounds=1",
        "train.labelled_steps=20",
        "train.round_steps=2",
        "eval.problems=4",
    ]
    exp, text = load_experiment(preset="smoke", overrides=overrides)
    loop = Loop.create(tmp_path / "run", exp, text)
    asked = []
    real = loop.sampler.complete
    loop.sampler.complete = lambda r, requests: (
        asked.extend((loop.at, q.n, q.temperature) for q in requests) or real(r, requests)
    )
    try:
        loop.run()
    finally:
        loop.close()
    db = tmp_path / "run" / "run.db"
    assert rows(db, "SELECT round, samples, temperature, chosen FROM control") == [(1, 3, 0.3, 1)]
    assert rows(db, "SELECT COUNT(*) FROM attempts GROUP BY problem_id") == [(3,)] * 8
    turns = rows(db, "SELECT turn, tried FROM refine_turns WHERE round = 1 ORDER BY turn")
    assert turns[0] == (1, 8 * 3) and turns[1][1] > 0  # some samples failed turn 1 and were asked again
    attempts = [(n, t) for at, n, t in asked if at == (1, "ATTEMPT")]
    assert {t for _, t in attempts} == {0.3} and {n for n, _ in attempts} == {3, 1}  # turn 1: 3 each; then 1 each


def fingerprint(run_dir: Path) -> dict:
    db = run_dir / "run.db"
    queries = {
        "attempts": "SELECT problem_id, model, sample, text, reward, feedback, correct FROM attempts ORDER BY id",
        "steps": "SELECT * FROM refine_steps ORDER BY problem_id, model, sample, turn",
        "turns": "SELECT * FROM refine_turns ORDER BY round, model, turn",
        "memory": "SELECT * FROM memory ORDER BY id",
        "verdicts": "SELECT problem_id, accepted, answer, score FROM verdicts ORDER BY problem_id",
        "examples": "SELECT round, prompt, answer, source FROM examples ORDER BY id",
        "losses": "SELECT round, step, loss FROM train_metrics ORDER BY round, step",
    }
    return {name: rows(db, sql) for name, sql in queries.items()}


def test_kill_during_a_refine_round_then_resume_gives_identical_records(tmp_path, paused, single_thread):
    """Copy with a verifier a weak model passes by chance, so round 1 writes fixes to the memory and round 2 reads
    them and updates their values; killed as round 2's VERIFY starts (its ATTEMPT done in the killed process)."""
    overrides = [
        "task.name=copy",
        f"verifier.filters=['{HERE}:EvenLength']",
        "loop.attempts=refine",
        "refine.turns=3",
        "refine.memory=true",
        "loop.problems_per_round=16",
        "loop.max_rounds=2",
        "train.labelled_steps=20",
        "train.round_steps=3",
        "eval.problems=4",
    ]
    args = ["--preset", "smoke", *(a for o in overrides for a in ("--set", o))]
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *args]) == 0
    memory = rows(ref / "run.db", "SELECT round, uses FROM memory")
    assert any(r == 1 for r, _ in memory) and any(u > 0 for r, u in memory if r == 1)  # the memory was used
    trained = rows(ref / "run.db", "SELECT round, prompt FROM examples WHERE source = 'self'")
    assert any(r == 1 and prompt.startswith("{fix: ") for r, prompt in trained)  # round 1 trains with the memory

    killed = tmp_path / "killed"
    run = paused(["run", "--out", killed, *args], "VERIFY:2", env={"OMP_NUM_THREADS": "1"})
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    done = rows(killed / "run.db", "SELECT round, phase FROM phases WHERE done = 1 ORDER BY round, rowid")
    assert done[-1] == (2, "ATTEMPT")
    assert main(["resume", str(killed)]) == 0
    assert fingerprint(killed) == fingerprint(ref)
