"""The held-out sets, drawn once per run before any training problem so that training can avoid them."""

from __future__ import annotations

from selftaught.errors import SelftaughtError
from selftaught.run.context import Context, sample
from selftaught.seeding import derive_seed, rng_for
from selftaught.tasks.base import Task
from selftaught.types import Problem


def draw_held_out(ctx: Context) -> None:
    """Draw and store the ``eval`` and ``slice`` problems, unless the run did already.

    ``eval`` problems are measured after each round; ``slice`` problems during training, when the teacher updates
    within a round. A single-skill experiment's seeds do not depend on the skill's name. A task with a fixed
    held-out set (``Task.held_out``, a file split into training and held-out problems) gives the ``eval`` problems
    of each difficulty itself, each once, whatever ``eval.problems``; its ``slice`` is drawn from that set.
    """
    store, exp, skills = ctx.store, ctx.exp, ctx.parts.skills.skills
    if store.meta("setup_done") == "1":
        return
    # The slice is drawn whatever the teacher, so experiments that differ only in their teacher hold out the same
    # problems and so train on the same ones.
    sets = {"eval": (exp.eval.problems, exp.eval.ahead), "slice": (exp.eval.slice, 0)}
    with store.transaction():
        for purpose, (count, ahead) in sets.items():
            problems = []
            for skill in skills:
                tag = (skill.name,) if len(skills) > 1 else ()
                tag = tag if purpose == "eval" else (*tag, purpose)
                task = ctx.parts.skills.tasks[skill.name]
                for d in range(skill.low, skill.high + ahead + 1):
                    fixed = _fixed(task, skill.name, d)
                    if fixed is not None:
                        if purpose == "slice":
                            fixed = rng_for(exp.seed, "eval", *tag, d).sample(fixed, min(count, len(fixed)))
                        for i, p in enumerate(fixed):
                            seed = derive_seed(exp.seed, "eval", *tag, d, i)
                            problems.append(Problem(skill.name, p.difficulty, p.prompt, p.target, seed, None, p.meta))
                        continue
                    seen: set[str] = set()
                    for i in range(count):
                        p = sample(ctx, derive_seed(exp.seed, "eval", *tag, d, i), skill.name, d)
                        if p.prompt not in seen:  # tiny problem spaces hold fewer distinct problems than asked
                            seen.add(p.prompt)
                            problems.append(p)
            store.add_problems(-1, purpose, problems)
        store.set_meta(setup_done=1)


def _fixed(task: Task, skill: str, difficulty: int) -> list[Problem] | None:
    """The task's own held-out problems of ``difficulty`` (``Task.held_out``), or None when it has none."""
    try:
        return task.held_out(difficulty)
    except SelftaughtError:
        raise
    except Exception as e:  # a plug-in's bug, or a difficulty the task has no problems of: one line
        kind = type(task)
        raise SelftaughtError(
            f"task {kind.__module__}:{kind.__qualname__} (skill {skill!r}) gave no held-out problems of difficulty "
            f"{difficulty}: {type(e).__name__}: {e}".split("\n")[0]
        ) from None
