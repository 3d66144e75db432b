"""The round loop: PROPOSE -> ATTEMPT -> VERIFY -> CURATE -> TRAIN -> EVALUATE -> DECIDE, and nothing else.

Each phase reads its inputs from the store and writes its outputs, plus its own "done" mark, in one transaction.
So the loop keeps no state a crash could lose: resuming means loading the newest checkpoint and running the first
phase not marked done. Every random stream is seeded from (run seed, round, phase), so a re-run phase repeats
itself exactly.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .build import Parts, build_parts
from .config import Experiment
from .errors import SelftaughtError
from .evaluation import accuracy_table
from .seeding import derive_seed, rng_for
from .store import PHASES, Store
from .teachers import Outcome
from .types import Problem

log = logging.getLogger(__name__)

DB_NAME = "run.db"
CONTINUE = "continue"


class LoopCallback:
    """Hooks for side effects (progress bars, trackers). The loop calls them; it never knows who listens."""

    def on_phase_start(self, round_: int, phase: str) -> None: ...

    def on_phase_end(self, round_: int, phase: str, seconds: float) -> None: ...

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None: ...

    def on_round_end(self, round_: int, decision: str) -> None: ...


def new_run_id(name: str) -> str:
    return f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


class Loop:
    def __init__(
        self, run_dir: Path, exp: Experiment, store: Store, parts: Parts, callbacks: Sequence[LoopCallback] = ()
    ) -> None:
        self.run_dir, self.exp, self.store, self.parts = run_dir, exp, store, parts
        self.callbacks = list(callbacks)
        self._weights_round = -1  # which round's checkpoint the students hold; -1 = fresh initialisation
        self._eval_prompts: set[str] | None = None
        self._phase_started = 0.0  # wall clock at the start of the running phase's work

    # ------------------------------------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        run_dir: Path,
        exp: Experiment,
        config_text: str,
        callbacks: Sequence[LoopCallback] = (),
        run_id: str | None = None,
    ) -> Loop:
        """A new run. Every part is built before the directory is made, so a bad config leaves nothing behind."""
        parts = build_parts(exp)
        if run_dir.exists() and any(run_dir.iterdir()):
            raise SelftaughtError(f"run directory {run_dir} already exists and is not empty")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(config_text)
        store = Store.create(
            run_dir / DB_NAME, run_id or new_run_id(exp.name), exp.model_dump(mode="json"), config_text
        )
        loop = cls(run_dir, exp, store, parts, callbacks)
        loop._setup()
        return loop

    @classmethod
    def resume(cls, run_dir: Path, callbacks: Sequence[LoopCallback] = ()) -> Loop:
        if not run_dir.is_dir():
            raise SelftaughtError(f"run directory {run_dir} does not exist")
        store = Store.open(run_dir / DB_NAME)
        try:
            exp = Experiment.model_validate(store.config())
        except ValueError as e:
            raise SelftaughtError(f"the config stored in {run_dir / DB_NAME} no longer validates: {e}") from None
        loop = cls(run_dir, exp, store, build_parts(exp), callbacks)
        loop._setup()
        last = loop._last_decided_round()
        if last is not None:
            state = store.teacher_state(last)
            if state is not None:
                loop.parts.teacher.load_state_dict(state)
        return loop

    def _setup(self) -> None:
        """Draw the held-out evaluation sets once, before any training problem, so training can avoid them."""
        if self.store.meta("setup_done") == "1":
            return
        e, lp = self.exp.eval, self.exp.loop
        top = lp.labelled_max + lp.max_rounds * lp.step + e.ahead
        problems = []
        for d in range(1, top + 1):
            seen: set[str] = set()
            for i in range(e.problems):
                seed = derive_seed(self.exp.seed, "eval", d, i)
                p = self._sample(seed, d)
                if p.prompt not in seen:  # tiny problem spaces hold fewer distinct problems than asked for
                    seen.add(p.prompt)
                    problems.append(p)
        with self.store.transaction():
            self.store.add_problems(-1, "eval", problems)
            self.store.set_meta(setup_done=1)

    def _sample(self, seed: int, difficulty: int) -> Problem:
        p = self.parts.task.sample(rng_for(seed), difficulty)
        return Problem(task=p.task, difficulty=p.difficulty, prompt=p.prompt, target=p.target, seed=seed)

    # ------------------------------------------------------------------------------------------------- driving
    def _last_decided_round(self) -> int | None:
        decided = [r["round"] for r in self.store.rounds() if r["decision"] is not None]
        return max(decided) if decided else None

    def current_round(self) -> int | None:
        """The round to work on next, or None when the run is complete."""
        if self.store.complete:
            return None
        rounds = self.store.rounds()
        if not rounds:
            return 0
        last = rounds[-1]
        if last["decision"] is None:
            return last["round"]
        return last["round"] + 1 if last["decision"] == CONTINUE else None

    def run(self) -> str:
        """Run (or finish) the experiment; returns the stop reason."""
        while (r := self.current_round()) is not None:
            self.store.start_round(r, None)
            for phase in PHASES:
                if self.store.phase_done(r, phase):
                    continue
                for cb in self.callbacks:
                    cb.on_phase_start(r, phase)
                t0 = time.perf_counter()
                self._phase_started = time.time()
                getattr(self, f"_{phase.lower()}")(r)
                for cb in self.callbacks:
                    cb.on_phase_end(r, phase, time.perf_counter() - t0)
        return self.store.meta("stop_reason") or ""

    # -------------------------------------------------------------------------------------------------- phases
    def _propose(self, r: int) -> None:
        lp, seed = self.exp.loop, self.exp.seed
        rng = rng_for(seed, r, "PROPOSE")
        if r == 0:
            difficulties = [rng.randint(1, lp.labelled_max) for _ in range(lp.labelled_problems)]
            frontier = lp.labelled_max
        else:
            asks = self.parts.teacher.propose(lp.problems_per_round, rng)
            difficulties = [a.difficulty for a in asks]
            frontier = max(difficulties)
        held_out = self._held_out()
        problems = []
        for i, d in enumerate(difficulties):
            p = self._sample(derive_seed(seed, r, "PROPOSE", i), d)
            for k in range(1, 11):  # steer clear of held-out problems where the problem space allows
                if p.prompt not in held_out:
                    break
                p = self._sample(derive_seed(seed, r, "PROPOSE", i, k), d)
            problems.append(p)
        with self.store.phase(r, "PROPOSE", self._phase_started):
            self.store.add_problems(r, "train", problems)
            self.store.set_round_difficulty(r, frontier)

    def _held_out(self) -> set[str]:
        if self._eval_prompts is None:
            self._eval_prompts = self.store.eval_prompts()
        return self._eval_prompts

    def _attempt(self, r: int) -> None:
        rows = []
        if r > 0:  # round 0 is labelled: nothing to attempt
            self._load_weights(r - 1)
            problems = self.store.problems(r, "train")
            for m in range(len(self.parts.students)):
                if self.exp.loop.attempts == "split":
                    answers = self._split_answers(r, m, problems)
                else:
                    answers = self._answers(r, m, problems)
                for pid, p in problems:
                    rows.extend((pid, m, s, text, self._correct(p, text)) for s, text in enumerate(answers[pid]))
        with self.store.phase(r, "ATTEMPT", self._phase_started):
            self.store.add_attempts(rows)

    def _answers(self, r: int, m: int, problems: list[tuple[int, Problem]], *seed_tag: str) -> dict[int, list[str]]:
        """Model ``m``'s sampled answers to each problem, by problem id (any hashable key)."""
        v = self.exp.verifier
        out: dict[int, list[str]] = {}
        for d, group in _by_difficulty(problems).items():
            answers = self.parts.students[m].generate(
                [p.prompt for _, p in group],
                n=v.samples,
                temperature=v.temperature,
                max_new_tokens=self.parts.task.max_answer_len(d) + 1,
                seed=derive_seed(self.exp.seed, r, "ATTEMPT", m, d, *seed_tag),
            )
            out.update((pid, outs) for (pid, _), outs in zip(group, answers))
        return out

    def _split_answers(self, r: int, m: int, problems: list[tuple[int, Problem]]) -> dict[int, list[str]]:
        """Answers assembled by the task from the model's answers to each problem's easier parts ("" if none)."""
        task, n = self.parts.task, self.exp.verifier.samples
        splits = {pid: task.split(p, rng_for(self.exp.seed, r, "SPLIT", pid)) for pid, p in problems}
        part_problems = [((pid, j), part) for pid, ps in splits.items() for j, part in enumerate(ps or [])]
        part_answers = self._answers(r, m, part_problems, "parts")
        out = {}
        for pid, p in problems:
            ps = splits[pid]
            if not ps:
                out[pid] = [""] * n
                continue
            joined = [task.join(p, ps, [part_answers[(pid, j)][s] for j in range(len(ps))]) for s in range(n)]
            out[pid] = [text or "" for text in joined]
        return out

    def _correct(self, problem: Problem, answer: str) -> int | None:
        """Whether ``answer`` is right, for the record only (never used to select labels)."""
        score = self.parts.task.check(problem, answer)
        if score is None:
            return None if problem.target is None else int(answer == problem.target)
        return int(score == 1.0)

    def _verify(self, r: int) -> None:
        problems = self.store.problems(r, "train")
        rows = []
        if r == 0:
            for pid, p in problems:
                rows.append((pid, self.parts.oracle.judge(p, []), 1))
        else:
            attempts = self.store.attempts(r)
            for pid, p in problems:
                verdict = self.parts.verifier.judge(p, attempts.get(pid, []))
                rows.append((pid, verdict, self._correct(p, verdict.answer) if verdict.accepted else None))
        with self.store.phase(r, "VERIFY", self._phase_started):
            self.store.add_verdicts(r, rows)

    def _curate(self, r: int) -> None:
        fresh = self.store.accepted(r, source="labelled" if r == 0 else "self")
        examples = self.parts.curator.build(fresh, self.store.replay_pool(r), rng_for(self.exp.seed, r, "CURATE"))
        with self.store.phase(r, "CURATE", self._phase_started):
            self.store.add_examples(r, examples)

    def _train(self, r: int) -> None:
        examples = self.store.examples(r)
        t = self.exp.train
        steps = t.labelled_steps if r == 0 else t.round_steps
        final = self.run_dir / "checkpoints" / f"round-{r:03d}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self._load_weights(r - 1)
        stats = []
        if examples:
            for m, student in enumerate(self.parts.students):
                progress = _StepRelay(self.callbacks, r) if m == 0 else None
                stats.append(
                    student.fit(
                        examples,
                        self.parts.schedule,
                        steps,
                        seed=derive_seed(self.exp.seed, r, "TRAIN", m),
                        callbacks=[progress] if progress else [],
                    )
                )
                student.save(tmp / f"model-{m}")
        else:  # nothing accepted: carry the weights over unchanged
            for m, student in enumerate(self.parts.students):
                student.save(tmp / f"model-{m}")
        # The checkpoint is complete under its final name before TRAIN is marked done.
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        self._weights_round = r
        with self.store.phase(r, "TRAIN", self._phase_started):
            for m, s in enumerate(stats):
                self.store.add_train_metrics(r, m, s.losses, s.lrs)
            for m in range(len(self.parts.students)):
                self.store.add_checkpoint(r, m, str((final / f"model-{m}").relative_to(self.run_dir)))

    def _load_weights(self, r: int) -> None:
        if self._weights_round == r:
            return
        if r < 0:
            raise RuntimeError("fresh weights requested after training started; this is a bug")
        paths = self.store.checkpoints(r)
        if len(paths) != len(self.parts.students):
            raise SelftaughtError(
                f"round {r} has {len(paths)} checkpoints recorded, expected {len(self.parts.students)}"
            )
        for student, path in zip(self.parts.students, paths):
            student.load_weights(self.run_dir / path)
        self._weights_round = r

    def _frontier(self, r: int) -> int:
        rounds = {x["round"]: x["difficulty"] for x in self.store.rounds()}
        return rounds.get(r) or self.exp.loop.labelled_max

    def _evaluate(self, r: int) -> None:
        self._load_weights(r)
        e = self.exp.eval
        frontier = self._frontier(r)
        lo = max(1, frontier - e.window + 1) if e.window else 1
        hi = frontier + e.ahead
        problems = [(pid, p) for pid, p in self.store.eval_problems() if lo <= p.difficulty <= hi]
        student = self.parts.students[0]
        results, records = [], []
        for d, group in _by_difficulty(problems).items():
            answers = student.generate(
                [p.prompt for _, p in group], n=1, temperature=0.0, max_new_tokens=self.parts.task.max_answer_len(d) + 1
            )
            for (pid, p), (ans,) in zip(group, answers):
                ok = bool(self._correct(p, ans))
                results.append((p.task, d, ok))
                records.append((pid, ans, ok))
        table = accuracy_table(results, b=e.bootstrap, seed=derive_seed(self.exp.seed, r, "EVALUATE") % 2**32)
        with self.store.phase(r, "EVALUATE", self._phase_started):
            self.store.add_eval_results(r, records)
            self.store.add_evaluations(r, table)

    def _improving(self, r: int, difficulty: int, accuracy: dict[int, float]) -> bool:
        """Whether accuracy at ``difficulty`` rose since the previous round's evaluation of it.

        A teacher that repeats a difficulty until it is mastered needs a few rounds at a new one; only a frontier
        that is both under the threshold and not improving ends the run.
        """
        before = {e["difficulty"]: e["accuracy"] for e in self.store.evaluations(r - 1)} if r > 0 else {}
        return difficulty in before and accuracy.get(difficulty, 0.0) > before[difficulty]

    def _decide(self, r: int) -> None:
        lp = self.exp.loop
        frontier = self._frontier(r)
        evaluations = self.store.evaluations(r)
        accuracy = {row["difficulty"]: row["accuracy"] for row in evaluations}
        summary = self.store.round_summary(r)
        share = summary["accepted"] / summary["proposed"] if summary["proposed"] else 0.0
        elapsed = self.store.elapsed_seconds()
        if r > 0 and share < lp.min_accepted:
            decision = f"too few answers accepted at difficulty {frontier}: {share:.1%} < {lp.min_accepted:.1%}"
        elif accuracy.get(frontier, 0.0) < lp.stop_accuracy and not self._improving(r, frontier, accuracy):
            decision = (
                f"accuracy at difficulty {frontier} fell to {accuracy.get(frontier, 0.0):.1%} < {lp.stop_accuracy:.1%}"
            )
        elif r >= lp.max_rounds:
            decision = f"round budget spent ({lp.max_rounds} self-labelled rounds)"
        elif lp.max_minutes and elapsed >= lp.max_minutes * 60:
            decision = f"wall-time budget spent ({elapsed / 60:.1f} of {lp.max_minutes:g} minutes)"
        else:
            decision = CONTINUE
        if r > 0:
            outcomes = [Outcome(row["task"], row["difficulty"], row["correct"], row["n"]) for row in evaluations]
            self.parts.teacher.observe(outcomes)
        with self.store.phase(r, "DECIDE", self._phase_started):
            self.store.set_teacher_state(r, self.parts.teacher.state_dict())
            self.store.end_round(r, decision)
            if decision != CONTINUE:
                self.store.finish(decision)
        for cb in self.callbacks:
            cb.on_round_end(r, decision)


class _StepRelay:
    """Forwards the trainer's per-step callback to the loop's callbacks, adding the round."""

    def __init__(self, callbacks: Sequence[LoopCallback], r: int) -> None:
        self.callbacks, self.r = callbacks, r

    def __call__(self, step: int, total: int, loss: float) -> None:
        for cb in self.callbacks:
            cb.on_train_step(self.r, step, total, loss)


def _by_difficulty(problems: list[tuple[int, Problem]]) -> dict[int, list[tuple[int, Problem]]]:
    groups: dict[int, list[tuple[int, Problem]]] = defaultdict(list)
    for pid, p in problems:
        groups[p.difficulty].append((pid, p))
    return dict(sorted(groups.items()))
