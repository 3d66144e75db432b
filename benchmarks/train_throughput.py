"""Training throughput: selftaught's trainer (``GPTStudent.fit`` -> ``training.trainer.train``) vs a bare PyTorch loop.

    python benchmarks/train_throughput.py [--quick]

Both sides train the same model (the quickstart architecture, GPTConfig(n_layer=2, n_head=4, n_embd=64,
pos="index"), initialised from the same seed) on the same data: 20000 reversed-addition examples of 1..5 digits
(the quickstart's labelled round), encoded by ``GPTStudent.encode_examples``. Each step draws 128 rows with a
torch.Generator seeded alike on both sides and trims the padding columns no drawn row uses, exactly as ``fit`` does,
so both sides see identical batches. The optimiser is AdamW with the same settings on both sides (lr 3e-3, betas
(0.9, 0.98), weight decay 0.1 on parameters of 2+ dimensions only, gradient clipping at 1.0) and a constant learning
rate. Because everything matches, both sides must produce the same loss curve; the script checks that first.

Each run starts from a fresh model, does a few warmup steps (not timed) and then the timed steps; runs alternate
A B A B. Tokens per step = batch rows x trimmed width. The time ``fit`` spends before its first step (encoding the
examples, building the optimiser) is outside the timed window and is reported separately.
Metric: median selftaught tokens/s / median bare tokens/s.
"""

from __future__ import annotations

import sys
import time

import torch
from _common import Bench, alternate, log, median, mixed_problems, parser

from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPT, GPTConfig
from selftaught.students.tokenizer import CharTokenizer
from selftaught.tasks import ReversedAddition
from selftaught.training.schedules import Constant
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example

NAME = "train_throughput"
TARGET = 0.95
BATCH = 128
INIT_SEED = 0
DATA_SEED = 0
N_EXAMPLES = 20000
DIFFICULTIES = range(1, 6)
WARMUP_STEPS = 5
LR, BETAS, WEIGHT_DECAY, GRAD_CLIP = 3e-3, (0.9, 0.98), 0.1, 1.0


def model_config() -> GPTConfig:
    return GPTConfig(n_layer=2, n_head=4, n_embd=64, pos="index", vocab_size=CharTokenizer.vocab_size)


def run_selftaught(examples: list[Example], steps: int) -> tuple[float, int, list[float]]:
    """One ``fit`` of ``steps`` steps on a fresh student; (seconds of the timed steps, tokens of all steps as the
    trainer counts them, all losses)."""
    student = GPTStudent(
        model_config(),
        OptimConfig(lr=LR, weight_decay=WEIGHT_DECAY, beta1=BETAS[0], beta2=BETAS[1], grad_clip=GRAD_CLIP),
        batch_size=BATCH,
        device="cpu",
        init_seed=INIT_SEED,
    )
    marks: dict[int, float] = {}

    def mark(step: int, _total: int, _loss: float) -> None:
        if step == WARMUP_STEPS or step == steps:
            marks[step] = time.perf_counter()

    stats = student.fit(examples, Constant(), steps, seed=DATA_SEED, callbacks=[mark])
    return marks[steps] - marks[WARMUP_STEPS], stats.tokens, stats.losses


def run_bare(
    inputs: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, steps: int
) -> tuple[float, int, list[float]]:
    """The same training written as a plain PyTorch loop; (seconds of the timed steps, their tokens, all losses)."""
    torch.manual_seed(INIT_SEED)
    model = GPT(model_config())
    model.set_run_tokens(CharTokenizer().alnum_ids())
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=LR,
        betas=BETAS,
    )
    g = torch.Generator().manual_seed(DATA_SEED)
    torch.manual_seed(DATA_SEED)
    n = inputs.shape[0]
    losses = []
    tokens = 0
    t0 = 0.0
    for step in range(steps):
        if step == WARMUP_STEPS:
            t0 = time.perf_counter()
        rows = torch.randint(n, (BATCH,), generator=g)
        width = int(lengths[rows].max())
        x, y = inputs[rows, :width], targets[rows, :width]
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        opt.step()
        losses.append(loss.detach())
        if step >= WARMUP_STEPS:
            tokens += x.numel()
    seconds = time.perf_counter() - t0
    return seconds, tokens, [float(v) for v in losses]


def main() -> None:
    bench = Bench(NAME, parser(__doc__.splitlines()[0]).parse_args())
    args, threads = bench.args, bench.threads
    timed_steps = 60 if args.quick else 200
    repeats = 3 if args.quick else 5
    steps = WARMUP_STEPS + timed_steps
    log(
        f"{NAME}: {'quick' if args.quick else 'full'} run, {threads} threads, batch {BATCH}, "
        f"{WARMUP_STEPS} warmup + {timed_steps} timed steps per run, {repeats} pairs"
    )

    task = ReversedAddition()
    problems = mixed_problems(task, N_EXAMPLES, DIFFICULTIES, seed=1)
    examples = [Example(p.prompt, p.target, p.difficulty, "labelled", 0, task.name) for p in problems]
    encoder = GPTStudent(model_config(), batch_size=BATCH, device="cpu", init_seed=INIT_SEED)
    t0 = time.perf_counter()
    inputs, targets, lengths = encoder.encode_examples(examples)
    encode_seconds = time.perf_counter() - t0
    log(f"encoded {len(examples)} examples to {tuple(inputs.shape)} in {encode_seconds:.2f}s")

    # Tokens of the timed steps: the same generator stream on both sides gives the same rows and widths.
    g = torch.Generator().manual_seed(DATA_SEED)
    widths = [int(lengths[torch.randint(len(examples), (BATCH,), generator=g)].max()) for _ in range(steps)]
    tokens = BATCH * sum(widths[WARMUP_STEPS:])

    # ---- correctness: identical setups must give the same loss curve (also warms both paths up)
    check_steps = WARMUP_STEPS + 10
    _, tok_a, loss_a = run_selftaught(examples, check_steps)
    _, tok_b, loss_b = run_bare(inputs, targets, lengths, check_steps)
    diff = max(abs(a - b) for a, b in zip(loss_a, loss_b))
    if len(loss_a) != len(loss_b) or diff > 1e-5:
        sys.exit(f"{NAME}: the two loops do not train alike (max loss difference {diff:.3g})")
    if tok_a != BATCH * sum(widths[:check_steps]) or tok_b != BATCH * sum(widths[WARMUP_STEPS:check_steps]):
        sys.exit(f"{NAME}: the two loops do not see the same batches (token counts differ)")
    log(f"loss curves match over {check_steps} steps (max abs difference {diff:.2g})")

    # ---- timing, alternating
    curves: dict[str, list[float]] = {}

    def timed(name: str, fn):
        def run() -> float:
            seconds, _, losses = fn()
            curves[name] = losses
            return tokens / seconds

        return run

    rates = alternate(
        {
            "selftaught": timed("selftaught", lambda: run_selftaught(examples, steps)),
            "bare": timed("bare", lambda: run_bare(inputs, targets, lengths, steps)),
        },
        repeats,
        label="pair",
    )
    final_diff = max(abs(a - b) for a, b in zip(curves["selftaught"], curves["bare"]))
    med = {k: median(v) for k, v in rates.items()}
    ratio = med["selftaught"] / med["bare"]
    pair_ratios = [a / b for a, b in zip(rates["selftaught"], rates["bare"])]
    bench.emit(
        "throughput_ratio",
        round(ratio, 4),
        "ratio",
        target=TARGET,
        meets_target=ratio >= TARGET,
        selftaught_tokens_per_s=round(med["selftaught"], 1),
        bare_tokens_per_s=round(med["bare"], 1),
        steps=timed_steps,
        warmup_steps=WARMUP_STEPS,
        repeats=repeats,
        batch_size=BATCH,
        tokens_per_run=tokens,
        mean_width=round(sum(widths[WARMUP_STEPS:]) / timed_steps, 2),
        examples=len(examples),
        difficulties=[DIFFICULTIES.start, DIFFICULTIES.stop - 1],
        optimizer=f"AdamW lr={LR} constant, betas={BETAS}, weight_decay={WEIGHT_DECAY} on 2-D+ params, "
        f"grad_clip={GRAD_CLIP}",
        losses_match_max_abs_diff=final_diff,
        fit_encode_seconds=round(encode_seconds, 4),
        fit_encode_note="fit re-encodes its examples on every call; this is outside the timed window",
        pair_ratios=[round(r, 4) for r in pair_ratios],
        median_pair_ratio=round(median(pair_ratios), 4),
        tokens_per_s={k: [round(x, 1) for x in v] for k, v in rates.items()},
    )


if __name__ == "__main__":
    main()
