"""Greedy decoding speed: selftaught's KV-cached batched ``GPTStudent.generate`` vs a naive full-recompute decoder.

    python benchmarks/decode_speed.py [--quick] [--per-prompt]

Both decoders run the same briefly trained quickstart-architecture model (GPTConfig(n_layer=2, n_head=4, n_embd=64,
pos="index"), trained 150 steps on reversed addition of 1..24 digits: enough that it ends every answer with EOS,
about half of them at the right length, as a student early in a run would) on the same 512 reversed-addition
prompts, greedy, strings in and strings out. The metric's prompts mix difficulties 8..24: the self-labelled range of
the length-gen experiment (labelled up to 8 digits, aiming at 32), where decoding is most of a round's cost. The
short prompts of the quickstart's first rounds (5..8 digits) are timed in the same alternation and reported as a
detail: there answers are ~8 tokens, and the naive decoder pushes only ~8x the token positions of a cached one,
which bounds any cache's speedup there.

The naive decoder is written here the way research code commonly decodes: all 512 prompts in one right-padded batch,
and for every new token the whole sequence so far goes through ``model(idx)`` again (no cache); the logits at each
row's last real column give its next token, and a Python loop over rows checks which rows hit EOS and collects their
outputs. It stops when every row has ended or after max_new_tokens. (Batched full recomputation is the stronger
baseline; with ``--per-prompt`` a per-prompt variant, one prompt at a time with ``torch.cat`` appends, is timed too,
in the same alternation, and reported as a detail.)

First both decoders must give identical answers on all 512 prompts (the script fails otherwise); then they are
timed alternately, A B A B, and the metric is naive median seconds / selftaught median seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from _common import Bench, alternate, log, median, mixed_problems, parser

from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.tasks import ReversedAddition
from selftaught.training.schedules import Constant
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example

NAME = "decode_speed"
PROMPTS = 512
DIFFICULTIES = range(8, 25)
SHORT = range(5, 9)
TRAIN_STEPS = 150
TARGET = 10.0


@torch.no_grad()
def naive_generate(model, tok, prompts: list[str], max_new_tokens: int) -> tuple[list[str], int, int, int]:
    """Batched greedy decoding by full recomputation.

    Returns (answers, generated tokens including EOS, forward passes, token positions pushed through the model).
    """
    model.eval()
    seqs = [[tok.bos_id, *tok.encode(p)] for p in prompts]
    n = len(seqs)
    lens = [len(s) for s in seqs]
    buf = torch.full((n, max(lens) + max_new_tokens), tok.pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        buf[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    cur = torch.tensor(lens, dtype=torch.long)  # next free column of each row
    rows = torch.arange(n)
    outputs: list[list[int]] = [[] for _ in range(n)]
    finished = [False] * n
    generated = passes = positions = 0
    for _ in range(max_new_tokens):
        width = int(cur.max())
        logits, _ = model(buf[:, :width])  # the whole sequence again, every step
        passes += 1
        positions += n * width
        nxt = logits[rows, cur - 1].argmax(-1)
        buf[rows, cur] = nxt
        cur += 1
        ids = nxt.tolist()
        for i in range(n):  # per-row bookkeeping in Python
            if finished[i]:
                continue
            generated += 1
            if ids[i] == tok.eos_id:
                finished[i] = True
            else:
                outputs[i].append(ids[i])
        if all(finished):
            break
    return [tok.decode(o) for o in outputs], generated, passes, positions


@torch.no_grad()
def naive_generate_per_prompt(model, tok, prompts: list[str], max_new_tokens: int) -> list[str]:
    """One prompt at a time, appending each token with torch.cat and recomputing the whole sequence."""
    model.eval()
    answers = []
    for p in prompts:
        idx = torch.tensor([[tok.bos_id, *tok.encode(p)]], dtype=torch.long)
        out: list[int] = []
        for _ in range(max_new_tokens):
            logits, _ = model(idx)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            if nxt.item() == tok.eos_id:
                break
            out.append(nxt.item())
            idx = torch.cat((idx, nxt), dim=1)
        answers.append(tok.decode(out))
    return answers


def train_student(task: ReversedAddition, steps: int) -> tuple[GPTStudent, float, float]:
    """The quickstart architecture, trained briefly on reversed addition of 1..24 digits; (student, loss, seconds)."""
    student = GPTStudent(
        GPTConfig(n_layer=2, n_head=4, n_embd=64, pos="index"),
        OptimConfig(lr=1e-2),
        batch_size=64,
        device="cpu",
        init_seed=0,
    )
    problems = mixed_problems(task, 20000, range(1, DIFFICULTIES.stop), seed=1)
    examples = [Example(p.prompt, p.target, p.difficulty, "labelled", 0, task.name) for p in problems]
    t0 = time.perf_counter()
    stats = student.fit(examples, Constant(warmup=0.05), steps, seed=0)
    return student, stats.final_loss, time.perf_counter() - t0


class Workload:
    """512 prompts of a difficulty range, both decoders as closures, and their checked agreement."""

    def __init__(self, student: GPTStudent, task: ReversedAddition, difficulties: range, seed: int) -> None:
        self.student, self.difficulties = student, difficulties
        self.problems = mixed_problems(task, PROMPTS, difficulties, seed=seed)
        self.prompts = [p.prompt for p in self.problems]
        self.max_new = task.max_answer_len(max(difficulties)) + 1

    def selftaught(self) -> list[str]:
        rows = self.student.generate(self.prompts, n=1, temperature=0.0, max_new_tokens=self.max_new, seed=0)
        return [row[0] for row in rows]

    def naive(self) -> tuple[list[str], int, int, int]:
        return naive_generate(self.student.model, self.student.tok, self.prompts, self.max_new)

    def naive_per_prompt(self) -> list[str]:
        return naive_generate_per_prompt(self.student.model, self.student.tok, self.prompts, self.max_new)

    def check(self, per_prompt: bool) -> dict:
        """Fail unless both decoders give the same answers; return counts describing the work."""
        ours = self.selftaught()
        theirs, generated, passes, naive_positions = self.naive()
        tok = self.student.tok
        # The cached decoder pushes the (left-padded) prompts through once, then one column per further step: the
        # ratio of token positions is the speedup if both ran at equal cost per position (ignoring attention, and
        # before the cached decoder drops finished rows).
        width = max(len(tok.encode(p)) + 1 for p in self.prompts)
        cached_positions = PROMPTS * (width + passes - 1)
        label = f"{self.difficulties.start}..{self.difficulties.stop - 1} digits"
        mismatches = [i for i in range(PROMPTS) if ours[i] != theirs[i]]
        for i in mismatches[:10]:
            log(f"MISMATCH prompt {self.prompts[i]!r}: selftaught {ours[i]!r} naive {theirs[i]!r}")
        if mismatches:
            sys.exit(f"{NAME}: the decoders disagree on {len(mismatches)}/{PROMPTS} prompts ({label})")
        if per_prompt and self.naive_per_prompt() != ours:
            sys.exit(f"{NAME}: the per-prompt naive decoder disagrees with selftaught ({label})")
        ended = sum(len(a) < self.max_new for a in ours)  # an answer shorter than the budget stopped at EOS
        correct = sum(a == p.target for a, p in zip(ours, self.problems))
        right_length = sum(len(a) == len(p.target) for a, p in zip(ours, self.problems))
        log(f"{label}: outputs identical on all {PROMPTS} prompts; {ended} ended with EOS, {correct} correct")
        return {
            "difficulties": [self.difficulties.start, self.difficulties.stop - 1],
            "max_new_tokens": self.max_new,
            "generated_tokens": generated,
            "forward_passes": passes,
            "token_positions": {"naive": naive_positions, "selftaught": cached_positions},
            "work_ratio": round(naive_positions / cached_positions, 3),
            "rows_ended_with_eos": ended,
            "rows_right_length": right_length,
            "rows_correct": correct,
        }


def _timed(fn) -> Callable[[], float]:
    def run() -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return run


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument(
        "--per-prompt",
        action="store_true",
        help="also time a naive decoder that runs one prompt at a time (a detail, not the metric; slow)",
    )
    bench = Bench(NAME, ap.parse_args())
    args, threads = bench.args, bench.threads
    repeats = 3 if args.quick else 5
    task = ReversedAddition()
    log(f"{NAME}: {'quick' if args.quick else 'full'} run, {threads} threads, {PROMPTS} prompts, {repeats} repeats")

    student, loss, secs = train_student(task, TRAIN_STEPS)
    log(f"trained {TRAIN_STEPS} steps in {secs:.1f}s, final loss {loss:.3f}")
    main_load, short_load = Workload(student, task, DIFFICULTIES, seed=2), Workload(student, task, SHORT, seed=3)
    main_info, short_info = main_load.check(args.per_prompt), short_load.check(False)

    runs = {
        "selftaught": _timed(main_load.selftaught),
        "naive_batched": _timed(main_load.naive),
        "selftaught_short": _timed(short_load.selftaught),
        "naive_batched_short": _timed(short_load.naive),
    }
    if args.per_prompt:
        runs["naive_per_prompt"] = _timed(main_load.naive_per_prompt)
    times = alternate(runs, repeats)

    med = {k: median(v) for k, v in times.items()}
    speedup = med["naive_batched"] / med["selftaught"]
    tokens = main_info["generated_tokens"]
    details = {
        "target": TARGET,
        "meets_target": speedup >= TARGET,
        "prompts": PROMPTS,
        "repeats": repeats,
        "selftaught_median_s": round(med["selftaught"], 5),
        "naive_median_s": round(med["naive_batched"], 5),
        "selftaught_tokens_per_s": round(tokens / med["selftaught"], 1),
        "naive_tokens_per_s": round(tokens / med["naive_batched"], 1),
        **main_info,
        "short": {
            **short_info,
            "speedup": round(med["naive_batched_short"] / med["selftaught_short"], 3),
            "selftaught_median_s": round(med["selftaught_short"], 5),
            "naive_median_s": round(med["naive_batched_short"], 5),
        },
        "model": "GPTConfig(n_layer=2, n_head=4, n_embd=64, pos='index'), CharTokenizer vocab",
        "model_training": f"GPTStudent.fit, {TRAIN_STEPS} steps, reversed addition 1..{DIFFICULTIES.stop - 1} digits, "
        f"lr 1e-2, batch 64, final loss {loss:.3f}; decoding stops at EOS (not forced length)",
        "work_ratio_note": "naive / cached token positions through the model: the speedup at equal per-position cost",
        "outputs_identical": True,
        "naive": "one right-padded batch of all prompts, full recomputation through model(idx) per new token, "
        "Python loop over rows for EOS checks and output collection",
        "selftaught": "GPTStudent.generate(n=1, temperature=0): one left-padded batch, KV cache, finished rows dropped",
        "seconds": {k: [round(x, 5) for x in v] for k, v in times.items()},
    }
    details["per_prompt_timed"] = args.per_prompt
    if args.per_prompt:
        details["naive_per_prompt"] = "one prompt at a time, torch.cat append, full recomputation per new token"
        details["naive_per_prompt_median_s"] = round(med["naive_per_prompt"], 5)
        details["speedup_vs_per_prompt"] = round(med["naive_per_prompt"] / med["selftaught"], 3)
    bench.emit("speedup", round(speedup, 3), "x", **details)


if __name__ == "__main__":
    main()
