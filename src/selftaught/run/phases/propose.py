"""PROPOSE: the round's training problems, as the teacher asks (round 0: uniform over the labelled cells)."""

from __future__ import annotations

from selftaught.errors import SelftaughtError
from selftaught.run.context import Context, sample
from selftaught.run.phases.base import Phase
from selftaught.seeding import derive_seed, rng_for
from selftaught.types import Ask


class Propose(Phase):
    name = "PROPOSE"

    def run(self, ctx: Context, r: int) -> None:
        lp, seed, skills = ctx.exp.loop, ctx.exp.seed, ctx.parts.skills
        rng = rng_for(seed, r, "PROPOSE")
        if r == 0:  # the labelled pool: uniform over every skill's labelled difficulties
            cells = [(s.name, d) for s in skills.skills for d in range(s.low, skills.labelled_max[s.name] + 1)]
            asks = [Ask(*cells[rng.randrange(len(cells))]) for _ in range(lp.labelled_problems)]
        else:
            asks = ctx.parts.teacher.propose(lp.problems_per_round, rng)
        if not asks:
            raise SelftaughtError(f"the teacher proposed nothing for round {r}")
        held_out = ctx.held_out()
        problems = []
        for i, a in enumerate(asks):
            if a.skill not in skills.tasks:
                raise SelftaughtError(f"the teacher asked for skill {a.skill!r}, which is not in this experiment")
            s = skills.skill(a.skill)
            if not s.low <= a.difficulty <= s.high:
                raise SelftaughtError(
                    f"the teacher asked for difficulty {a.difficulty} of skill {a.skill!r}, outside {s.low}..{s.high}"
                )
            p = sample(ctx, derive_seed(seed, r, "PROPOSE", i), a.skill, a.difficulty, a.params)
            for k in range(1, 11):  # steer clear of held-out problems where the problem space allows
                if p.prompt not in held_out:
                    break
                p = sample(ctx, derive_seed(seed, r, "PROPOSE", i, k), a.skill, a.difficulty, a.params)
            problems.append(p)
        with ctx.phase(r, "PROPOSE"):
            ctx.store.add_problems(r, "train", problems)
            ctx.store.set_round_difficulty(r, max(p.difficulty for p in problems))
            if r > 0:
                ctx.store.set_teacher_state(r, "PROPOSE", ctx.parts.teacher.state_dict())
