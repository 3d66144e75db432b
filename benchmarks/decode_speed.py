"""Greedy decoding speed: selftaught's KV-cached batched ``GPTStudent.generate`` vs a naive full-recompute decoder.

    python benchmarks/decode_speed.py [--quick] [--per-prompt]

Both decoders run the same briefly trained quickstart-architecture model (GPTConfig(n_layer=2, n_head=4, n_embd=64,
pos="index"), trained 300 steps on reversed addition so that it ends its answers with EOS where a real student
would) on the same 512 reversed-addition prompts (difficulties 5..8 mixed), greedy, max_new_tokens =
max_answer_len(8) + 1, strings in and strings out.

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

import torch
from _common import alternate, check_idle, emit, environment, log, median, mixed_problems, parser, set_threads

from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.tasks import ReversedAddition
from selftaught.training.schedules import Constant
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example

NAME = "decode_speed"
PROMPTS = 512
DIFFICULTIES = range(5, 9)
TRAIN_STEPS = 300
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
    """The quickstart architecture, trained briefly on reversed addition of 1..8 digits; (student, loss, seconds)."""
    student = GPTStudent(
        GPTConfig(n_layer=2, n_head=4, n_embd=64, pos="index"),
        OptimConfig(lr=3e-3),
        batch_size=128,
        device="cpu",
        init_seed=0,
    )
    problems = mixed_problems(task, 20000, range(1, 9), seed=1)
    examples = [Example(p.prompt, p.target, p.difficulty, "labelled", 0, task.name) for p in problems]
    t0 = time.perf_counter()
    stats = student.fit(examples, Constant(warmup=0.05), steps, seed=0)
    return student, stats.final_loss, time.perf_counter() - t0


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument(
        "--per-prompt",
        action="store_true",
        help="also time a naive decoder that runs one prompt at a time (a detail, not the metric; slow)",
    )
    args = ap.parse_args()
    threads = set_threads()
    load_start = check_idle()
    repeats = 3 if args.quick else 5
    per_prompt = args.per_prompt
    task = ReversedAddition()
    max_new = task.max_answer_len(max(DIFFICULTIES)) + 1
    log(
        f"{NAME}: {'quick' if args.quick else 'full'} run, {threads} threads, {PROMPTS} prompts, "
        f"max_new_tokens={max_new}, {repeats} repeats"
    )

    student, loss, secs = train_student(task, TRAIN_STEPS)
    log(f"trained {TRAIN_STEPS} steps in {secs:.1f}s, final loss {loss:.3f}")
    model, tok = student.model, student.tok

    problems = mixed_problems(task, PROMPTS, DIFFICULTIES, seed=2)
    prompts = [p.prompt for p in problems]

    def run_selftaught() -> list[str]:
        return [row[0] for row in student.generate(prompts, n=1, temperature=0.0, max_new_tokens=max_new, seed=0)]

    # ---- correctness: identical answers on every prompt
    ours = run_selftaught()
    theirs, generated, passes, naive_positions = naive_generate(model, tok, prompts, max_new)
    # The cached decoder pushes the (left-padded) prompts through once, then one column per further step: the ratio
    # of token positions is the speedup if both ran at the same cost per position (a ceiling, ignoring attention).
    width = max(len(tok.encode(p)) + 1 for p in prompts)
    cached_positions = PROMPTS * (width + passes - 1)
    mismatches = [i for i in range(PROMPTS) if ours[i] != theirs[i]]
    if mismatches:
        for i in mismatches[:10]:
            log(f"MISMATCH prompt {prompts[i]!r}: selftaught {ours[i]!r} naive {theirs[i]!r}")
        sys.exit(f"{NAME}: the decoders disagree on {len(mismatches)}/{PROMPTS} prompts")
    if per_prompt:
        single = naive_generate_per_prompt(model, tok, prompts, max_new)
        bad = [i for i in range(PROMPTS) if single[i] != ours[i]]
        if bad:
            sys.exit(f"{NAME}: the per-prompt naive decoder disagrees on {len(bad)}/{PROMPTS} prompts")
    ended = sum(len(a) < max_new for a in ours)  # an answer shorter than the budget stopped at EOS
    correct = sum(a == p.target for a, p in zip(ours, problems))
    log(
        f"outputs identical on all {PROMPTS} prompts; {ended} ended with EOS, {correct} correct, "
        f"{generated} tokens generated (incl. EOS)"
    )

    # ---- timing, alternating
    def timed(fn):
        def run() -> float:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        return run

    runs = {
        "selftaught": timed(run_selftaught),
        "naive_batched": timed(lambda: naive_generate(model, tok, prompts, max_new)),
    }
    if per_prompt:
        runs["naive_per_prompt"] = timed(lambda: naive_generate_per_prompt(model, tok, prompts, max_new))
    run_selftaught()  # warm up both paths once more before timing
    naive_generate(model, tok, prompts, max_new)
    times = alternate(runs, repeats)

    med = {k: median(v) for k, v in times.items()}
    speedup = med["naive_batched"] / med["selftaught"]
    result = {
        "benchmark": NAME,
        "metric": "speedup",
        "value": round(speedup, 3),
        "unit": "x",
        "target": TARGET,
        "meets_target": speedup >= TARGET,
        "prompts": PROMPTS,
        "repeats": repeats,
        "quick": args.quick,
        "selftaught_median_s": round(med["selftaught"], 5),
        "naive_median_s": round(med["naive_batched"], 5),
        "selftaught_tokens_per_s": round(generated / med["selftaught"], 1),
        "naive_tokens_per_s": round(generated / med["naive_batched"], 1),
        "generated_tokens": generated,
        "max_new_tokens": max_new,
        "difficulties": [DIFFICULTIES.start, DIFFICULTIES.stop - 1],
        "model": "GPTConfig(n_layer=2, n_head=4, n_embd=64, pos='index'), CharTokenizer vocab",
        "model_training": f"GPTStudent.fit, {TRAIN_STEPS} steps, reversed addition 1..8 digits, lr 3e-3, "
        f"final loss {loss:.3f}; decoding stops at EOS (not forced length)",
        "forward_passes": passes,
        "token_positions": {"naive": naive_positions, "selftaught": cached_positions},
        "work_ratio": round(naive_positions / cached_positions, 3),
        "work_ratio_note": "naive / cached token positions through the model: the speedup at equal per-position cost",
        "rows_ended_with_eos": ended,
        "rows_correct": correct,
        "outputs_identical": True,
        "naive": "one right-padded batch of all prompts, full recomputation through model(idx) per new token, "
        "Python loop over rows for EOS checks and output collection",
        "selftaught": "GPTStudent.generate(n=1, temperature=0): one left-padded batch, KV cache",
        "seconds": {k: [round(x, 5) for x in v] for k, v in times.items()},
        **environment(threads, load_start),
    }
    result["per_prompt_timed"] = per_prompt
    if per_prompt:
        result["naive_per_prompt"] = "one prompt at a time, torch.cat append, full recomputation per new token"
        result["naive_per_prompt_median_s"] = round(med["naive_per_prompt"], 5)
        result["speedup_vs_per_prompt"] = round(med["naive_per_prompt"] / med["selftaught"], 3)
    emit(result)


if __name__ == "__main__":
    main()
