"""The held-out sets, drawn once per run before any training problem so that training can avoid them."""

from __future__ import annotations

from ..seeding import derive_seed
from .common import Context, sample


def draw_held_out(ctx: Context) -> None:
    """Draw and store the ``eval`` and ``slice`` problems, unless the run did already.

    ``eval`` problems are measured after each round; ``slice`` problems during training, when the teacher updates
    within a round. A single-skill experiment's seeds do not depend on the skill's name.
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
                for d in range(skill.low, skill.high + ahead + 1):
                    seen: set[str] = set()
                    for i in range(count):
                        p = sample(ctx, derive_seed(exp.seed, "eval", *tag, d, i), skill.name, d)
                        if p.prompt not in seen:  # tiny problem spaces hold fewer distinct problems than asked
                            seen.add(p.prompt)
                            problems.append(p)
            store.add_problems(-1, purpose, problems)
        store.set_meta(setup_done=1)
