"""Scale-out: ATTEMPT + VERIFY throughput on the local backend vs Ray with 1 and 2 workers, the cost of a round as
problems per round grow, and the driver's resident memory over 20 short rounds.

    python benchmarks/scale.py [--quick]

The units are the loop's own (the sampling service's generation units, the scoring service's batches),
run on a small trained student (a smoke run's round 0). Backends alternate (local, ray-1, ray-2, local, ...);
medians. The last line of standard output is one JSON object.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Bench, alternate, log, median, parser  # noqa: E402

from selftaught.config import load_experiment  # noqa: E402
from selftaught.run.attempts.base import attempt_seed  # noqa: E402
from selftaught.run.context import sample  # noqa: E402
from selftaught.run.executors import Executor, LocalExecutor, RayExecutor  # noqa: E402
from selftaught.run.loop import Loop, LoopCallback  # noqa: E402
from selftaught.run.units import ScoreUnit, score_unit  # noqa: E402
from selftaught.seeding import derive_seed  # noqa: E402

BASE = [
    "loop.max_rounds=0",
    "loop.labelled_problems=300",
    "train.labelled_steps=40",
    "eval.problems=5",
    "verifier.samples=4",
]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssProbe(LoopCallback):
    def __init__(self) -> None:
        self.by_round: dict[int, int] = {}

    def on_round_end(self, round_: int, decision: str) -> None:
        self.by_round[round_] = rss_bytes()


def memory(tmp: Path, rounds: int) -> dict:
    """The driver's RSS at the end of each of ``rounds`` short rounds (local backend)."""
    sets = [
        f"loop.max_rounds={rounds - 1}",
        "loop.labelled_problems=200",
        "loop.problems_per_round=16",
        "train.labelled_steps=10",
        "train.round_steps=2",
        "eval.problems=4",
    ]
    exp, text = load_experiment(preset="smoke", overrides=sets)
    probe = RssProbe()
    with Loop.create(tmp / "memory", exp, text, callbacks=[probe]) as loop:
        loop.run()
    rss = [probe.by_round[r] for r in sorted(probe.by_round)]
    first, last = rss[1], rss[-1]  # the 2nd round (the first self-labelled one) to the last
    return {
        "rounds": len(rss),
        "rss_mb_round_2": round(first / 2**20, 1),
        "rss_mb_last_round": round(last / 2**20, 1),
        "rss_growth_round_2_to_last": round((last - first) / first, 4),
        "rss_mb_by_round": [round(x / 2**20, 1) for x in rss],
    }


def attempt_verify(loop: Loop, executor: Executor, problems: list) -> float:
    """Seconds for one round's ATTEMPT and VERIFY work on ``executor``: generation units per (member, cell), then
    the verifier's scoring batches (one per worker); the replicas are made afresh, as each round does."""
    loop.executor, loop._replicas = executor, {}
    t0 = time.perf_counter()
    v = loop.exp.verifier
    answers = loop.sampler.answers(1, problems, v.samples, v.temperature, attempt_seed(loop, 1))
    chunks = 1 if executor.local else executor.workers
    size = -(-len(problems) // chunks)
    units = [
        ScoreUnit(loop.where(), executor.local, p.task, [(p, answers[0][pid]) for pid, p in problems[c : c + size]])
        for c in range(0, len(problems), size)
        for p in [problems[c][1]]
    ]
    executor.map(score_unit, units)
    return time.perf_counter() - t0


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return intercept, slope, 1 - ss_res / ss_tot if ss_tot else 1.0


def main() -> None:
    bench = Bench("scale", parser(__doc__.split("\n")[0]).parse_args())
    quick = bench.quick
    n_problems = 192 if quick else 512
    repeats = 3 if quick else 5
    sizes = [32, 64, 128, 192] if quick else [64, 128, 256, 512, 1024]
    mem_rounds = 12 if quick else 20
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="selftaught-scale-") as d:
        tmp = Path(d)
        log(f"memory over {mem_rounds} short rounds ...")
        mem = memory(tmp, mem_rounds)
        log(f"  {mem['rss_mb_by_round']}")

        exp, text = load_experiment(preset="smoke", overrides=BASE)
        loop = Loop.create(tmp / "base", exp, text)
        loop.run()  # round 0: the labelled round, whose checkpoint the units load
        skill = loop.parts.skills.skills[0]
        cells = list(range(skill.low, loop.parts.skills.labelled_max[skill.name] + 2))

        def problems(n: int) -> list:
            return [(i, sample(loop, derive_seed(7, "bench", i), skill.name, cells[i % len(cells)])) for i in range(n)]

        local = LocalExecutor()
        import logging

        import ray

        # 3 CPUs: the 1-worker and the 2-worker executors keep their actors alive side by side (never busy at once)
        ray.init(num_cpus=3, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        try:
            ray1, ray2 = RayExecutor(1), RayExecutor(2)
            batch = problems(n_problems)
            for ex in (local, ray1, ray2):  # warm-up: actors started, parts built, replicas loaded
                attempt_verify(loop, ex, batch)
            log(f"ATTEMPT + VERIFY of {n_problems} problems, A B C x {repeats} ...")
            secs = alternate(
                {
                    "local": lambda: attempt_verify(loop, local, batch),
                    "ray-1": lambda: attempt_verify(loop, ray1, batch),
                    "ray-2": lambda: attempt_verify(loop, ray2, batch),
                },
                repeats,
            )
            ray1.close()
            ray2.close()
        finally:
            ray.shutdown()
        med = {k: median(v) for k, v in secs.items()}
        rate = {k: n_problems / v for k, v in med.items()}

        log(f"round cost over problems per round {sizes} (local) ...")
        batches = {n: problems(n) for n in sizes}
        runs = {str(n): (lambda n=n: attempt_verify(loop, local, batches[n])) for n in sizes}
        cost = alternate(runs, repeats, "pass")
        ys = [median(cost[str(n)]) for n in sizes]
        intercept, slope, r2 = fit_line([float(n) for n in sizes], ys)
        loop.executor = local
        loop.close()
    bench.emit(
        "attempt_verify_throughput_ray2_over_local",
        round(rate["ray-2"] / rate["local"], 3),
        "x",
        problems=n_problems,
        samples_per_problem=exp.verifier.samples,
        problems_per_s={k: round(v, 2) for k, v in rate.items()},
        seconds_median={k: round(v, 3) for k, v in med.items()},
        seconds_all={k: [round(x, 3) for x in v] for k, v in secs.items()},
        ray1_over_local=round(rate["ray-1"] / rate["local"], 3),
        ray2_over_ray1=round(rate["ray-2"] / rate["ray-1"], 3),
        ray_overhead_s_per_round=round(med["ray-1"] - med["local"], 3),
        round_cost={
            "problems": sizes,
            "seconds": [round(y, 3) for y in ys],
            "intercept_s": round(intercept, 4),
            "s_per_problem": round(slope, 5),
            "r2": round(r2, 4),
        },
        memory=mem,
        memory_target_met=mem["rss_growth_round_2_to_last"] <= 0.05,
        total_s=round(time.perf_counter() - t_start, 1),
    )


if __name__ == "__main__":
    main()
