"""selftaught's GRPO beside TRL's ``GRPOTrainer``: the same model, reward function, settings and wall time, both sides'
weights judged by one evaluation.

The model: hf-quickstart's 2 x 64 Llama (built from a config, the default character alphabet, ``index`` positions)
after a selftaught round 0 on reversed additions of 1-5 digits (``train_round_zero``), which leaves it near 38 % on 6
digits. Its checkpoint directory (``save_pretrained``: config, safetensors, tokenizer) is both sides' model: each
selftaught arm is a copy of that run (``fork_run``) whose round 1 is an on-policy GRPO round on 6-digit problems; TRL
opens the directory with ``from_pretrained`` into ``IndexPositionsLlama``, a ``LlamaForCausalLM`` that computes from
the input ids the position ids the model was trained with (TRL passes none; the directory is a stock Llama's).
The reward of both sides is ``exact_answer`` (TRL's signature; ``train.grpo.reward`` on selftaught's): 1.0 when the
extracted answer is the sum, else 0.0; it counts what it scores. TRL's dataset: the prompts and targets of the
selftaught arm's round-1 problems of the same seed.

Matched (``Matched``): completions per prompt, prompts per optimiser step, learning rate, beta, epsilon, temperature,
the longest completion (8 tokens: a 7-digit sum and its end token); AdamW with betas (0.9, 0.98), no weight decay,
clipping at 1, a constant rate without warmup; one pass per batch of rollouts; groups with equal rewards kept at
advantage 0; advantages divided by the group's std + 1e-4. Each side trains for ``budget`` wall seconds from its first
training step's start (selftaught's TRAIN phase, TRL's ``on_train_begin``), cut at the first step ending past it; the
weights are copied at ``points`` even times (the clock paused while copying) and judged afterwards.

What differs, as configured:

- loss normalisation: selftaught's default ``train.grpo.loss = "sequence"`` (each answer's token mean, then the mean
  over answers: the GRPO paper); TRL's default ``loss_type = "dapo"`` (the sum over the batch's tokens / their number);
- KL: beta = 0 on both, so neither scores a reference (both would use the k3 estimator);
- keep-best: selftaught's held-out slice (``train.grpo.eval_every``) is off, as it would spend the budget and a cut
  round keeps no weights; TRL has none; both sides are judged on the weights they hold at each time;
- generation: selftaught samples with its own batched KV cache; TRL through ``model.generate``, and scores through
  its fused LM head.

One evaluation (``Judge``): greedy answers to the round-0 run's 200 held-out 6-digit problems, the same extraction
and exact match, for every copy of either side's weights. Seeds 0-2, per seed selftaught then TRL (A B A B, never
concurrently). Reported per side (medians over seeds): the start, the end's accuracy and gain, the best over the
points (best-so-far), completions scored per second; and the differences and ratio. Targets: gain >= TRL's,
best-so-far >= TRL's, completions/s >= 2 x TRL's. ``value``: the completions-per-second ratio.

    pip install 'selftaught[trl]'
    python benchmarks/grpo_vs_trl.py [--quick] [--out DIR] [--round0 DIR] [--set KEY=VALUE ...]

About 10 minutes on 2 quiet cores (round 0 about 2, then 6 x (60 s + set-up) and the evaluations); ``--quick``
about 30 s. ``--set`` adds overrides to selftaught's side; ``--round0`` reuses a round-0 run (``--out``'s round-0).
On cores other work is using, set ``BENCH_THREADS=1``: two threads there made each step of this tiny model some 80
times slower, on both sides.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from _common import Bench, log, parser
from _runs import fork_run, train_round_zero
from pydantic import ValidationError
from transformers import AutoTokenizer, LlamaForCausalLM, TrainerCallback
from transformers.utils import logging as hf_logging

from selftaught.config import load_experiment
from selftaught.errors import SelftaughtError
from selftaught.run.loop import Loop, LoopCallback
from selftaught.store.reader import Reader
from selftaught.students.hf import HFStudent
from selftaught.students.hf_tokenizer import run_positions, run_tokens
from selftaught.tasks.arithmetic import ReversedAddition
from selftaught.types import Problem
from selftaught.verifiers.reward_function import load_reward_function

try:  # the optional extra: pip install 'selftaught[trl]'
    import trl
    from datasets import Dataset
except ImportError:
    trl = None

TASK, DIFFICULTY = ReversedAddition(), 6
MODEL = "checkpoints/round-000/model-0"  # the round-0 run's checkpoint: the model directory of both sides
REWARD = f"{Path(__file__).resolve()}:exact_answer"
ROUND_ZERO = ['student.params.alphabet="code"', "eval.ahead=1", "eval.problems=200", "loop.problems_per_round=1000",
              "loop.stop_accuracy=0.0", "loop.min_accepted=0.0"]  # fmt: skip
QUICK_ROUND_ZERO = ["loop.labelled_problems=500", "train.labelled_steps=20", "train.batch_size=32", "eval.problems=24",
                    "loop.problems_per_round=64"]  # fmt: skip
SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)


@dataclass(frozen=True)
class Matched:
    """The settings both sides share."""

    group: int = 8  # completions per prompt
    prompts: int = 8  # prompts per optimiser step
    lr: float = 1e-3
    beta: float = 0.0
    epsilon: float = 0.2
    temperature: float = 1.0
    max_completion: int = TASK.max_answer_len(DIFFICULTY) + 1  # the answer and its end token
    budget: float = 60.0  # wall seconds of training per side and seed
    points: int = 12  # copies of the weights judged, at budget * k / points


QUICK = Matched(budget=3.0, points=2)


def selftaught_sets(m: Matched) -> list[str]:
    """selftaught's side, as ``--set`` overrides on the round-0 run's config (the seed is added per arm): the one
    place to adjust it."""
    return [
        'train.method="grpo"',
        "train.grpo.on_policy=true",
        "train.grpo.num_iterations=1",
        f"verifier.samples={m.group}",
        f"train.grpo.groups={m.prompts}",
        f"train.grpo.lr={m.lr}",
        f"train.grpo.beta={m.beta}",
        f"train.grpo.epsilon={m.epsilon}",
        f"train.grpo.temperature={m.temperature}",
        'train.grpo.scale="group"',
        "train.grpo.drop_equal=false",
        "train.grpo.eval_every=0",  # no slice measurements inside the budget (see the module docstring)
        f'train.grpo.reward="{REWARD}"',
        'train.schedule="constant"',
        "train.warmup=0.0",
        'train.warm_start="continue"',
        "train.weight_decay=0.0",
        "train.grad_clip=1.0",
        "train.round_steps=1000000",  # the wall-time budget ends the round
        "loop.max_rounds=1",
    ]


def trl_config(m: Matched, seed: int, out: Path) -> Any:
    """TRL's side: a ``GRPOConfig`` with the matched settings, on the CPU, no logging, no checkpoints, no hub."""
    return trl.GRPOConfig(
        output_dir=str(out), seed=seed, data_seed=seed, num_generations=m.group,
        per_device_train_batch_size=m.group * m.prompts, gradient_accumulation_steps=1, num_iterations=1,
        learning_rate=m.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, adam_beta1=0.9,
        adam_beta2=0.98, max_grad_norm=1.0, beta=m.beta, epsilon=m.epsilon, epsilon_high=m.epsilon,
        temperature=m.temperature, top_p=1.0, top_k=0, max_completion_length=m.max_completion, scale_rewards="group",
        max_steps=1_000_000,  # the wall-time budget ends training
        use_cpu=True, bf16=False, fp16=False, report_to="none", logging_strategy="no", save_strategy="no",
        disable_tqdm=True, push_to_hub=False, dataloader_num_workers=0, log_completions=False,
    )  # fmt: skip


def exact_answer(prompts: list[str], completions: list[str], target: list[str], **_: Any) -> list[float]:
    """The reward of both sides: 1.0 when the extracted answer is the target, else 0.0; counts what it scores."""
    exact_answer.completions += len(completions)  # type: ignore[attr-defined]
    return [float(TASK.extract(c) == t) for c, t in zip(completions, target, strict=True)]


exact_answer.completions = 0  # type: ignore[attr-defined]


class IndexPositionsLlama(LlamaForCausalLM):
    """A Llama whose position ids count along runs of letters and digits (selftaught's ``index`` scheme), computed from
    the input ids: a whole sequence (training, or a prompt's first generation step) from its ids and attention mask
    (left padding is in no run), a generated token from the previous position. They are set by a pre-hook on the
    backbone, which every caller's forward reaches (TRL's fused head calls the backbone itself); ``in_run`` is set
    after loading."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.in_run: torch.Tensor | None = None
        self._last: torch.Tensor | None = None
        self.model.register_forward_pre_hook(self._positions, with_kwargs=True)

    def _positions(self, backbone: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        cache, mask = kwargs.get("cache"), kwargs.get("attention_mask")
        if cache is None or cache.get_seq_length() == 0:
            position_ids = run_positions(ids, self.in_run, None if mask is None else mask.long().argmax(1))
        else:
            step = self.in_run[ids[:, -1]]
            position_ids = torch.where(step, self._last + 1, torch.zeros_like(self._last))[:, None]
        self._last = position_ids[:, -1]
        return args, {**kwargs, "position_ids": position_ids}


class OutOfTime(Exception):
    """Ends selftaught's round once its budget is spent."""


class Clock:
    """One side's training clock: copies of the weights at ``budget * k / points`` seconds, then the end."""

    def __init__(self, m: Matched, reward: Any) -> None:
        self.marks = [m.budget * (k + 1) / m.points for k in range(m.points)]
        self.reward, self.t0, self.paused, self.steps = reward, 0.0, 0.0, 0
        self.copies: list[dict[str, Any]] = []

    def start(self) -> None:
        self.reward.completions = 0
        self.t0, self.paused, self.steps = time.perf_counter(), 0.0, 0

    def tick(self, module: torch.nn.Module) -> bool:
        """After each step: copy the weights at each mark passed; True once the last mark is."""
        self.steps += 1
        spent = time.perf_counter() - self.t0 - self.paused
        if spent < self.marks[len(self.copies)]:
            return False
        t = time.perf_counter()
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        while len(self.copies) < len(self.marks) and spent >= self.marks[len(self.copies)]:
            at = self.marks[len(self.copies)]
            row = {"at": at, "seconds": spent, "steps": self.steps, "completions": self.reward.completions}
            self.copies.append(row | {"state": state})
        self.paused += time.perf_counter() - t
        return len(self.copies) == len(self.marks)


class LoopClock(LoopCallback):
    """selftaught's side: the clock runs from round 1's TRAIN; ``student`` is set once the loop is built."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.student = clock, None

    def on_phase_start(self, round_: int, phase: str) -> None:
        if round_ >= 1 and phase == "TRAIN":
            self.clock.start()

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None:
        if self.clock.tick(self.student.trainable()):
            raise OutOfTime


class TrainerClock(TrainerCallback):
    """TRL's side: the clock runs from ``on_train_begin``; training stops once it is out."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        self.clock.start()

    def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN201
        if self.clock.tick(model):
            control.should_training_stop = True


class Judge:
    """The one evaluation of both sides: greedy answers to the same held-out problems, the task's extraction and exact
    match, the model in the directory with each side's weights in turn."""

    def __init__(self, model_dir: Path, problems: list[Problem]) -> None:
        self.student = HFStudent(model=str(model_dir), positions="index", device="cpu")
        self.problems = problems
        self.budget = TASK.max_answer_len(DIFFICULTY) + 1

    def __call__(self, state: dict[str, torch.Tensor] | None = None) -> float:
        if state is not None:
            self.student.trainable().load_state_dict(state)
        got = self.student.generate([p.prompt for p in self.problems], 1, 0.0, self.budget)
        right = [TASK.check(p, TASK.extract(g[0])) == 1.0 for p, g in zip(self.problems, got, strict=True)]
        return sum(right) / len(right)


def run_selftaught(start: Path, run_dir: Path, m: Matched, seed: int, extra: list[str], reward: Any) -> tuple:
    """selftaught's arm: its clock's copies and the round's problems (for TRL's dataset)."""
    fork_run(start, run_dir, [*selftaught_sets(m), f"seed={seed}", *extra])
    clock = Clock(m, reward)
    relay = LoopClock(clock)
    loop = Loop.resume(run_dir, callbacks=[relay])
    relay.student = loop.parts.students[0]
    try:
        loop.run()
    except OutOfTime:
        pass
    finally:
        loop.close()
    with Reader.open(run_dir / "run.db") as store:
        problems = [p for _, p in store.problems(1, "train")]
    return clock, problems


def run_trl(model_dir: Path, out: Path, problems: list[Problem], m: Matched, seed: int, reward: Any) -> Clock:
    """TRL's arm on the same model directory and prompts: its clock's copies."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = IndexPositionsLlama.from_pretrained(model_dir, dtype=torch.float32)
    model.in_run = run_tokens(tok, model.get_input_embeddings().num_embeddings)
    data = Dataset.from_dict({"prompt": [p.prompt for p in problems], "target": [p.target for p in problems]})
    clock = Clock(m, reward)
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=trl_config(m, seed, out),
        train_dataset=data,
        processing_class=tok,
        callbacks=[TrainerClock(clock)],
    )
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its summary; standard output is the JSON line's
        trainer.train()
    return clock


def judged(clock: Clock, judge: Judge, start: float) -> dict:
    """One arm's numbers from its copies (the last is the end)."""
    if not clock.copies:
        raise SelftaughtError("an arm ended before its budget was spent (its round did not train)")
    curve = [(round(c["at"], 1), judge(c["state"])) for c in clock.copies]
    last = clock.copies[-1]
    return {
        "final": curve[-1][1], "gain": round(curve[-1][1] - start, 4), "best": max(a for _, a in curve),
        "completions_per_s": round(last["completions"] / last["seconds"], 1), "steps": last["steps"],
        "seconds": round(last["seconds"], 1), "curve": curve,
    }  # fmt: skip


def summary(runs: list[dict]) -> dict:
    keys = ("final", "gain", "best", "completions_per_s")
    out: dict = {f"{k}_median": statistics.median(r[k] for r in runs) for k in keys}
    return out | {"per_seed": runs}


def refuse(msg: str) -> None:
    print(f"grpo_vs_trl: {msg}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    ap = parser(__doc__, out=True, sets=True)
    ap.add_argument("--round0", type=Path, default=None, help="reuse this round-0 run (the round-0 folder of --out)")
    args = ap.parse_args()
    if trl is None:
        refuse("TRL is not installed (pip install 'selftaught[trl]')")
    m, seeds = (QUICK, QUICK_SEEDS) if args.quick else (Matched(), SEEDS)
    r0 = [*ROUND_ZERO, *(QUICK_ROUND_ZERO if args.quick else [])]
    try:  # bad settings are refused before anything is made
        exp, _ = load_experiment(preset="hf-quickstart", overrides=[*r0, *selftaught_sets(m), *args.set])
    except (SelftaughtError, ValidationError) as e:
        refuse(str(e).splitlines()[0])
    bench = Bench("grpo_vs_trl", args)
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    reward = load_reward_function(REWARD)  # the one function both sides call (and its counter)
    with bench.workdir() as root:
        start = args.round0 or root / "round-0"
        round0 = 0.0 if args.round0 else train_round_zero(start, "hf-quickstart", r0)
        model_dir = start / MODEL
        with Reader.open(start / "run.db") as store:
            held_out = [p for _, p in store.eval_problems() if p.difficulty == DIFFICULTY]
        judge = Judge(model_dir, held_out)
        acc0 = judge()
        log(f"round 0 in {round0:.0f} s; {DIFFICULTY} digits: {acc0:.3f} on {len(held_out)} held-out problems")
        runs: dict[str, list[dict]] = {"selftaught": [], "trl": []}
        for seed in seeds:  # A B A B
            clock, problems = run_selftaught(start, root / f"selftaught-{seed}", m, seed, args.set, reward)
            runs["selftaught"].append(judged(clock, judge, acc0))
            clock = run_trl(model_dir, root / f"trl-{seed}", problems, m, seed, reward)
            runs["trl"].append(judged(clock, judge, acc0))
            for side in runs:
                log(f"  seed {seed} {side}: " + str({k: v for k, v in runs[side][-1].items() if k != "curve"}))
        trl_loss = trl_config(m, 0, root / "trl-0").loss_type
    st, tr = summary(runs["selftaught"]), summary(runs["trl"])
    speed = round(st["completions_per_s_median"] / tr["completions_per_s_median"], 3)
    bench.emit(
        "completions scored per second, selftaught's GRPO / TRL's GRPOTrainer (median over seeds), same model, "
        "reward, settings and wall time",
        speed,
        "ratio",
        start=acc0,
        selftaught=st,
        trl=tr,
        gain_minus_trl=round(st["gain_median"] - tr["gain_median"], 4),
        best_minus_trl=round(st["best_median"] - tr["best_median"], 4),
        targets={
            "gain >= trl": st["gain_median"] >= tr["gain_median"],
            "best >= trl": st["best_median"] >= tr["best_median"],
            "completions/s >= 2 x trl": speed >= 2.0,
        },
        matched=asdict(m),
        selftaught_sets=[*selftaught_sets(m), *args.set],
        loss_normalisation={"selftaught": exp.train.grpo.loss, "trl": trl_loss},
        seeds=list(seeds),
        round_0_seconds=round(round0, 1),
        wall_seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
