"""The report's example problems: a few problems of some self-labelled rounds, every attempt the student made at them
(for code tasks, the program) with the verifier's reward and feedback, and the verdict: the answer accepted as the
label, or none.

``sample_problems`` picks them from the store (the problems, attempts and verdicts it recorded, nothing recomputed);
``EXAMPLES`` shows them. Every text is model- or user-written, so all of it goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from selftaught.report.tables import Table, integer, table
from selftaught.store import Reader

__all__ = ["EXAMPLES", "sample_problems"]

ROUNDS_SHOWN = 3  # the first, a middle and the last round with attempts
PROBLEMS_SHOWN = 3  # per round: an accepted one, one with nothing accepted, an accepted one its oracle calls wrong
ATTEMPTS_SHOWN = 4  # per problem; the page counts the rest
MAX_CHARS = 1500  # a prompt, an attempt or an answer is cut after this many characters
MAX_FEEDBACK = 600


def _cut(text: str | None, limit: int = MAX_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def _spread(rounds: list[int], count: int) -> list[int]:
    """Up to ``count`` of ``rounds``, evenly spread from the first to the last."""
    if len(rounds) <= count:
        return rounds
    return sorted({rounds[round(k * (len(rounds) - 1) / (count - 1))] for k in range(count)})


def _picked(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to ``PROBLEMS_SHOWN`` of one round's problems, the first of each kind where there is one (accepted, none
    accepted, accepted although an attempt the oracle calls wrong), then the next in order."""
    kinds = [
        lambda c: c["accepted"],
        lambda c: not c["accepted"],
        lambda c: c["accepted"] and any(a["correct"] == 0 for a in c["attempts"]),
    ]
    chosen: list[int] = []
    for kind in kinds:
        found = next((k for k, case in enumerate(cases) if kind(case) and k not in chosen), None)
        if found is not None:
            chosen.append(found)
    chosen += [k for k in range(len(cases)) if k not in chosen]
    return [cases[k] for k in sorted(chosen[:PROBLEMS_SHOWN])]


def sample_problems(store: Reader) -> list[dict[str, Any]]:
    """A few training problems of up to ``ROUNDS_SHOWN`` rounds with attempts, as recorded: per problem its
    ``round``, ``task``, ``difficulty``, ``prompt`` and ``target`` (None without one), ``accepted`` and the accepted
    ``answer`` (the verdict), its first ``ATTEMPTS_SHOWN`` ``attempts`` (model, sample, text, reward, feedback,
    correct) and ``attempts_total``. Long texts are cut."""
    rounds = [row["round"] for row in store.rounds() if row["round"] > 0]
    out = []
    for round_ in _spread(rounds, ROUNDS_SHOWN):
        scores = store.attempt_scores(round_)
        if not scores:
            continue
        answers = {example.prompt: example.answer for example in store.accepted(round_)}
        problems = store.problems(round_, "train")
        verdicts = store.accepted_by_problem(round_)  # the same problems, in the same order
        cases = [
            {
                "round": round_,
                "task": problem.task,
                "difficulty": problem.difficulty,
                "prompt": _cut(problem.prompt),
                "target": _cut(problem.target),
                "accepted": verdict.accepted,
                "answer": _cut(answers.get(problem.prompt)) if verdict.accepted else None,
                "attempts": [
                    {**attempt, "text": _cut(attempt["text"]), "feedback": _cut(attempt["feedback"], MAX_FEEDBACK)}
                    for attempt in scores[pid][:ATTEMPTS_SHOWN]
                ],
                "attempts_total": len(scores[pid]),
            }
            for (pid, problem), verdict in zip(problems, verdicts, strict=True)
            if pid in scores
        ]
        out += _picked(cases)
    return out


def _pre(text: object) -> str:
    return "&mdash;" if text is None or text == "" else f"<pre>{escape(str(text))}</pre>"


def _reward(value: object) -> str:
    return "&mdash;" if value is None else f"{float(value):.2f}"  # type: ignore[arg-type]


def _case(case: dict[str, Any]) -> str:
    head = f"Round {case['round']} · {case['task']} · difficulty {case['difficulty']}"
    if case["accepted"]:
        verdict = "<p>Verdict: accepted, this answer as the label:</p>\n" + _pre(case["answer"])
    else:
        verdict = "<p>Verdict: no answer accepted.</p>"
    rows = [
        [
            f"{attempt['model']}.{attempt['sample']}",
            _pre(attempt["text"]),
            _reward(attempt["reward"]),
            {None: "&mdash;", 0: "no", 1: "yes"}.get(attempt["correct"], escape(str(attempt["correct"]))),
            _pre(attempt["feedback"]),
        ]
        for attempt in case["attempts"]
    ]
    attempts = table(["model.sample", "attempt", "reward", "right", "feedback"], rows, frozenset({0, 1, 4}))
    more = case["attempts_total"] - len(case["attempts"])
    parts = [
        f"<h3>{escape(head)}</h3>",
        "<p>Prompt:</p>",
        _pre(case["prompt"]),
        "" if case["target"] is None else "<p>Expected (the task's target):</p>\n" + _pre(case["target"]),
        f"<p>Attempts ({integer(case['attempts_total'])}):</p>",
        attempts,
        f"<p>… and {more} more attempts.</p>" if more > 0 else "",
        verdict,
    ]
    return "\n".join(part for part in parts if part)


def _examples(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return '<p class="empty">No self-labelled attempts recorded yet.</p>'
    intro = (
        "<p>A few problems of some self-labelled rounds: each attempt the student made (for code tasks, the program), "
        "the verifier's reward and feedback, whether the task's oracle calls it right (recorded for the record, not "
        "used by the verifier; &mdash; without an oracle), and the verdict.</p>"
    )
    return "\n".join([intro, *(_case(case) for case in rows)])


EXAMPLES = Table("Example problems", lambda data: _examples(data.sample_problems))
