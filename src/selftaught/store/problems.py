"""Problems (training, held-out), the attempts a student made at them and the verifier's scores and verdicts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple, TypedDict

from selftaught.store.records import Records, params_json
from selftaught.types import Example, Problem, Verdict


class StoredProblem(NamedTuple):
    """A problem with its row id (``problem_id`` in the tables that refer to it)."""

    id: int
    problem: Problem


class ProblemAccepted(NamedTuple):
    problem: Problem
    accepted: bool


class AttemptKey(NamedTuple):
    model: int
    sample: int


class AttemptScore(TypedDict):
    model: int
    sample: int
    text: str
    reward: float | None
    feedback: str | None
    correct: int | None


class ProblemReads(Records):
    """Queries on problems, attempts and verdicts."""

    def problems(self, round_: int, purpose: str) -> list[StoredProblem]:
        return self._problems("WHERE round = ? AND purpose = ? ORDER BY idx", (round_, purpose))

    def _problems(self, where: str, args: tuple) -> list[StoredProblem]:
        rows = self._db.execute(
            f"SELECT id, task, difficulty, prompt, target, seed, params, meta FROM problems {where}", args
        )
        return [
            StoredProblem(
                i,
                Problem(
                    task,
                    d,
                    prompt,
                    target,
                    seed,
                    tuple(json.loads(params)) if params else None,
                    json.loads(meta) if meta else None,
                ),
            )
            for i, task, d, prompt, target, seed, params, meta in rows
        ]

    def eval_prompts(self) -> set[str]:
        """Every held-out prompt (evaluation and slice), which training steers clear of."""
        return {r[0] for r in self._db.execute("SELECT prompt FROM problems WHERE purpose IN ('eval', 'slice')")}

    def eval_difficulties(self) -> set[tuple[str, int]]:
        rows = self._db.execute("SELECT DISTINCT task, difficulty FROM problems WHERE purpose = 'eval'")
        return {(t, d) for t, d in rows}

    def eval_problems(self, purpose: str = "eval") -> list[StoredProblem]:
        """The held-out problems drawn at set-up: ``eval`` (after each round) or ``slice`` (during training)."""
        return self._problems("WHERE purpose = ? ORDER BY id", (purpose,))

    def attempt_keys(self, round_: int) -> dict[int, list[AttemptKey]]:
        """Per problem, the (model, sample) of each attempt, in the order ``attempts`` lists their texts."""
        out: dict[int, list[AttemptKey]] = {}
        rows = self._db.execute(
            "SELECT a.problem_id, a.model, a.sample FROM attempts a JOIN problems p ON p.id = a.problem_id "
            "WHERE p.round = ? ORDER BY a.problem_id, a.model, a.sample",
            (round_,),
        )
        for pid, m, s in rows:
            out.setdefault(pid, []).append(AttemptKey(m, s))
        return out

    def attempts(self, round_: int) -> dict[int, list[str]]:
        """Per problem, its attempts' texts, by model and sample."""
        out: dict[int, list[str]] = {}
        rows = self._db.execute(
            "SELECT a.problem_id, a.text FROM attempts a JOIN problems p ON p.id = a.problem_id "
            "WHERE p.round = ? ORDER BY a.problem_id, a.model, a.sample",
            (round_,),
        )
        for pid, text in rows:
            out.setdefault(pid, []).append(text)
        return out

    def attempt_scores(self, round_: int) -> dict[int, list[AttemptScore]]:
        """Per problem, each attempt's model, sample, text, reward, feedback and correctness, as VERIFY scored them."""
        out: dict[int, list[AttemptScore]] = {}
        names = ("model", "sample", "text", "reward", "feedback", "correct")
        rows = self._db.execute(
            "SELECT a.problem_id, a.model, a.sample, a.text, a.reward, a.feedback, a.correct FROM attempts a "
            "JOIN problems p ON p.id = a.problem_id WHERE p.round = ? ORDER BY a.problem_id, a.model, a.sample",
            (round_,),
        )
        for pid, *rest in rows:
            out.setdefault(pid, []).append(dict(zip(names, rest)))  # type: ignore[arg-type]
        return out

    def attempt_ids(self, round_: int) -> dict[tuple[int, int, int], int]:
        """Each of ``round_``'s attempts' id by (problem_id, model, sample)."""
        rows = self._db.execute(
            "SELECT a.problem_id, a.model, a.sample, a.id FROM attempts a JOIN problems p ON p.id = a.problem_id "
            "WHERE p.round = ?",
            (round_,),
        )
        return {(pid, m, s): i for pid, m, s, i in rows}

    def accepted(self, round_: int, source: str = "self") -> list[Example]:
        """Accepted answers of ``round_`` as fresh examples of that round, labelled with ``source``."""
        return self._examples(
            "SELECT p.task, p.difficulty, p.prompt, v.answer, ?, v.round, "
            "CASE WHEN v.score > 0 THEN 1.0 / v.score ELSE 1.0 END, NULL FROM verdicts v "
            "JOIN problems p ON p.id = v.problem_id WHERE v.round = ? AND v.accepted = 1 ORDER BY p.idx",
            (source, round_),
        )

    def accepted_by_problem(self, round_: int) -> list[ProblemAccepted]:
        """Each of ``round_``'s training problems with whether an answer to it was accepted."""
        accepted = dict(self._db.execute("SELECT problem_id, accepted FROM verdicts WHERE round = ?", (round_,)))
        problems = self._problems("WHERE round = ? AND purpose = 'train' ORDER BY idx", (round_,))
        return [ProblemAccepted(p, bool(accepted.get(pid, 0))) for pid, p in problems]


class ProblemWrites(Records):
    """Writing problems, attempts, their scores and verdicts."""

    def add_problems(self, round_: int, purpose: str, problems: Iterable[Problem]) -> None:
        """The problems of ``round_`` for ``purpose`` (``train``, ``eval``, ``slice``, ...), numbered in order."""
        self._db.executemany(
            "INSERT INTO problems (round, purpose, idx, task, difficulty, prompt, target, seed, params, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    round_,
                    purpose,
                    i,
                    p.task,
                    p.difficulty,
                    p.prompt,
                    p.target,
                    p.seed,
                    params_json(p.params),
                    None if p.meta is None else json.dumps(p.meta),
                )
                for i, p in enumerate(problems)
            ],
        )

    def add_attempts(self, rows: Iterable[tuple[int, int, int, str]]) -> None:
        """Rows of (problem_id, model, sample, text); VERIFY adds each one's score (``score_attempts``)."""
        self._db.executemany("INSERT INTO attempts (problem_id, model, sample, text) VALUES (?, ?, ?, ?)", list(rows))

    def score_attempts(self, rows: Iterable[tuple[int, int, int, float | None, str, int | None]]) -> None:
        """Rows of (problem_id, model, sample, reward-or-None, feedback, correct-or-None): the verifier's score of
        each attempt and, for the record only, whether the task's oracle finds it right."""
        self._db.executemany(
            "UPDATE attempts SET reward = ?, feedback = ?, correct = ? "
            "WHERE problem_id = ? AND model = ? AND sample = ?",
            [(reward, feedback, correct, pid, m, s) for pid, m, s, reward, feedback, correct in rows],
        )

    def add_verdicts(self, round_: int, rows: Iterable[tuple[int, Verdict, int | None]]) -> None:
        """Rows of (problem_id, verdict, correct-or-None), ``correct`` from an oracle when the task has one."""
        self._db.executemany(
            "INSERT INTO verdicts (problem_id, round, accepted, answer, score, evidence, correct) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(pid, round_, int(v.accepted), v.answer, float(v.score), json.dumps(v.evidence), c) for pid, v, c in rows],
        )
