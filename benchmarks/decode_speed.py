"""Decoding speed: the built-in ``GPTStudent.generate`` against Hugging Face ``model.generate``.

    python benchmarks/decode_speed.py [--quick]

Headline: the built-in decoder against ``model.generate`` of a Hugging Face GPT-2 and of a Llama of the same shape
as the built-in model (3 layers, 4 heads, 128 wide, 4x MLP, the same 98-token vocabulary; the built-in uses rotary
positions), as in hf_student.py's ``builtin_vs_hf``: 512 prompts of 8..24-digit reversed addition, 26 new tokens on
every row (the built-in's end token is disabled, ``min_new_tokens`` on the HF side), greedy, all timed alternately in
one process (A B A B ..., medians). The metric is the smaller of the two ratios HF seconds / built-in seconds
(target >= 2). Weights are random (the work does not depend on them); before timing, the built-in's greedy outputs
must equal a plain uncached decoder's on the first 64 prompts (the script fails otherwise).

Details:
- HF's own fast path on CPU: a static cache (``cache_implementation="static"``) with and without ``torch.compile``
  of the forward (transformers' CompileConfig, mode "default", compiling on CPU); the compile's first-call seconds,
  any failure, and how many rows' outputs differ from the plain ``generate``'s are reported. Full run only.
- where the built-in's time goes: torch.profiler self time of one call by op category, for the prefill and for the
  decoding steps, with the same breakdown of the decoder before this rework (a fixed record, see PROFILE_BEFORE).
- full run only: the earlier comparison, the KV-cached decoder against a naive full-recomputation decoder on a
  briefly trained quickstart model (outputs must agree; ``--per-prompt`` adds a one-prompt-at-a-time naive decoder).

``--quick``: 256 prompts, 3 repeats, no compiled arms and no naive comparison.
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
TARGET = 2.0
NEW_TOKENS = 26
HF_DIFFICULTIES = range(8, 25)
CHECKED = 64
# The naive comparison (full runs): the quickstart model, briefly trained.
PROMPTS = 512
DIFFICULTIES = range(8, 25)
SHORT = range(5, 9)
TRAIN_STEPS = 150
NAIVE_TARGET = 10.0
# The built-in decoder before this rework (commit eaf3010: per-layer Block.forward with a boolean mask, keys and
# values read through a column slice of the cache, padded prefill), one call on the headline workload, torch.profiler
# self milliseconds by category, 1 thread, 2-core machine with other work running.
PROFILE_BEFORE = {
    "commit": "eaf3010",
    "threads": 1,
    "wall_s": 1.43,
    "prefill_ms": {"matmul": 348, "attention": 71, "copies_and_cache": 150, "elementwise": 51, "gelu": 82,
                   "layer_norm": 12, "other": 32},
    "decode_ms": {"matmul": 167, "attention": 349, "copies_and_cache": 34, "elementwise": 42, "gelu": 15,
                  "layer_norm": 18, "sampling": 2, "other": 19},
    "decode_steps": 25,
}  # fmt: skip
CATEGORIES = {
    "matmul": ("aten::addmm", "aten::mm"),
    "attention": ("aten::bmm", "aten::baddbmm", "aten::_softmax", "aten::_scaled_dot_product_flash_attention_for_cpu"),
    "copies_and_cache": ("aten::copy_", "aten::fill_", "aten::zero_", "aten::_index_put_impl_", "aten::cat",
                         "aten::index", "aten::index_select"),
    "elementwise": ("aten::mul", "aten::add", "aten::sub", "aten::masked_fill_", "aten::bitwise_not", "aten::where"),
    "gelu": ("aten::gelu",),
    "layer_norm": ("aten::native_layer_norm",),
    "sampling": ("aten::argmax",),
}  # fmt: skip


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


# ------------------------------------------------------------------------------------- built-in vs HF generate
class HFWorkload:
    """The built-in student and the HF models of the same shape, and one left-padded batch of prompts."""

    def __init__(self, n_prompts: int) -> None:
        from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

        task = ReversedAddition()
        self.prompts = [p.prompt for p in mixed_problems(task, n_prompts, HF_DIFFICULTIES, seed=3)]
        self.student = GPTStudent(GPTConfig(n_layer=3, n_head=4, n_embd=128, pos="rope"), device="cpu")
        self.student.tok.eos_id = -1  # this instance never ends a row early: every row decodes all new tokens
        ids = {"vocab_size": 98, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
        self.models = {
            "gpt2": GPT2LMHeadModel(GPT2Config(n_layer=3, n_head=4, n_embd=128, n_positions=256, **ids)).eval(),
            "llama": LlamaForCausalLM(LlamaConfig(num_hidden_layers=3, num_attention_heads=4, hidden_size=128,
                                                  intermediate_size=512, **ids)).eval(),
        }  # fmt: skip
        encoded = self.student.encode_prompts(self.prompts)  # the same character ids as the HF student's
        width = max(len(e) for e in encoded)
        self.ids = torch.zeros((len(encoded), width), dtype=torch.long)
        for r, e in enumerate(encoded):
            self.ids[r, width - len(e) :] = torch.tensor(e)
        self.mask = (self.ids != 0).long()

    def builtin(self) -> list[list[str]]:
        out = self.student.generate(self.prompts, max_new_tokens=NEW_TOKENS)
        assert all(len(o[0]) == NEW_TOKENS for o in out)
        return out

    def hf(self, name: str, **kw) -> torch.Tensor:
        with torch.no_grad():
            out = self.models[name].generate(
                input_ids=self.ids, attention_mask=self.mask, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                do_sample=False, pad_token_id=0, eos_token_id=2, **kw,
            )  # fmt: skip
        assert out.shape[1] == self.ids.shape[1] + NEW_TOKENS
        return out

    def check(self) -> None:
        """Fail unless the built-in's greedy outputs equal an uncached decoder's (first CHECKED prompts)."""
        ours = [row[0] for row in self.builtin()[:CHECKED]]
        theirs, *_ = naive_generate(self.student.model, self.student.tok, self.prompts[:CHECKED], NEW_TOKENS)
        bad = sum(a != b for a, b in zip(ours, theirs))
        if bad:
            sys.exit(f"{NAME}: the built-in decoder disagrees with an uncached decoder on {bad}/{CHECKED} prompts")
        log(f"built-in greedy outputs equal an uncached decoder's on {CHECKED} prompts")

    def compiled_arm(self, name: str) -> tuple[Callable[[], torch.Tensor] | None, dict]:
        """HF generate with a static cache and the forward compiled (on CPU transformers compiles only when asked
        to): the arm, or None and why, and the first call's seconds."""
        from transformers import CompileConfig

        config = CompileConfig(mode="default", dynamic=False)
        config._compile_all_devices = True  # transformers' switch for compiling on CPU

        def run() -> torch.Tensor:
            return self.hf(name, cache_implementation="static", compile_config=config)

        t0 = time.perf_counter()
        try:
            first = run()
        except Exception as e:  # a compiler missing or failing on this machine is a result, not a crash
            return None, {"compiled": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}
        secs = time.perf_counter() - t0
        differ = int((first != self.hf(name)).any(1).sum())  # compiled kernels may round differently
        log(f"hf {name} static cache + torch.compile: first call {secs:.1f}s, {differ} rows differ from generate's")
        return run, {"compiled": True, "first_call_s": round(secs, 1), "rows_differing_from_generate": differ}


def profile_builtin(load: HFWorkload) -> dict:
    """torch.profiler self milliseconds of one built-in call by op category: prefill (a call making one token) and
    the decoding steps (a full call minus the prefill-only one)."""
    from torch.profiler import ProfilerActivity, profile

    def by_op(new_tokens: int) -> tuple[dict[str, float], float]:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            load.student.generate(load.prompts, max_new_tokens=new_tokens)
            wall = time.perf_counter() - t0
        return {e.key: e.self_cpu_time_total / 1000 for e in prof.key_averages()}, wall

    def grouped(ops: dict[str, float]) -> dict[str, float]:
        out = {c: sum(ops.get(k, 0.0) for k in keys) for c, keys in CATEGORIES.items()}
        out["other"] = sum(ops.values()) - sum(out.values())
        return {k: round(v, 1) for k, v in out.items()}

    load.builtin()  # warm
    prefill, _ = by_op(1)
    full, wall = by_op(NEW_TOKENS)
    decode = {k: v - prefill.get(k, 0.0) for k, v in full.items()}
    return {
        "threads": torch.get_num_threads(),
        "wall_s": round(wall, 3),
        "prefill_ms": grouped(prefill),
        "decode_ms": grouped(decode),
        "decode_steps": NEW_TOKENS - 1,
        "note": "self time of aten ops; profiler overhead included; wall minus their sum is Python between ops",
    }


def vs_hf(quick: bool, repeats: int) -> dict:
    n_prompts = 256 if quick else 512
    load = HFWorkload(n_prompts)
    load.check()
    runs: dict[str, Callable[[], float]] = {
        "builtin": _timed(load.builtin),
        "hf_gpt2": _timed(lambda: load.hf("gpt2")),
        "hf_llama": _timed(lambda: load.hf("llama")),
    }
    compiled: dict[str, dict] = {}
    if not quick:
        for name in load.models:
            runs[f"hf_{name}_static"] = _timed(lambda name=name: load.hf(name, cache_implementation="static"))
            arm, compiled[name] = load.compiled_arm(name)
            if arm is not None:
                runs[f"hf_{name}_static_compiled"] = _timed(arm)
    for fn in runs.values():  # warm every arm once
        fn()
    times = alternate(runs, repeats, label="decoder round")
    med = {k: median(v) for k, v in times.items()}
    ratios = {k.removeprefix("hf_"): round(v / med["builtin"], 3) for k, v in med.items() if k != "builtin"}
    return {
        "ratios": ratios,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "compile": compiled or "not run in --quick",
        "prompts": n_prompts,
        "new_tokens": NEW_TOKENS,
        "builtin_tokens_per_s": round(n_prompts * NEW_TOKENS / med["builtin"], 1),
        "shape": "3 layers x 128 wide, 4 heads, 4x MLP, vocabulary 98; built-in rope, GPT-2 learned, Llama rope",
        "outputs_checked": f"built-in greedy == uncached decoder on {CHECKED} prompts",
        "profile_after": profile_builtin(load),
        "profile_before": PROFILE_BEFORE,
    }


# ---------------------------------------------------------------------------------- cached vs naive (details)
def vs_naive(per_prompt: bool, repeats: int) -> dict:
    task = ReversedAddition()
    student, loss, secs = train_student(task, TRAIN_STEPS)
    log(f"trained {TRAIN_STEPS} steps in {secs:.1f}s, final loss {loss:.3f}")
    main_load, short_load = Workload(student, task, DIFFICULTIES, seed=2), Workload(student, task, SHORT, seed=3)
    main_info, short_info = main_load.check(per_prompt), short_load.check(False)
    runs = {
        "selftaught": _timed(main_load.selftaught),
        "naive_batched": _timed(main_load.naive),
        "selftaught_short": _timed(short_load.selftaught),
        "naive_batched_short": _timed(short_load.naive),
    }
    if per_prompt:
        runs["naive_per_prompt"] = _timed(main_load.naive_per_prompt)
    times = alternate(runs, repeats, label="naive round")
    med = {k: median(v) for k, v in times.items()}
    speedup = med["naive_batched"] / med["selftaught"]
    details = {
        "speedup": round(speedup, 3),
        "target": NAIVE_TARGET,
        "meets_target": speedup >= NAIVE_TARGET,
        "selftaught_median_s": round(med["selftaught"], 5),
        "naive_median_s": round(med["naive_batched"], 5),
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
        "naive": "one right-padded batch of all prompts, full recomputation through model(idx) per new token, "
        "Python loop over rows for EOS checks and output collection",
        "seconds": {k: [round(x, 5) for x in v] for k, v in times.items()},
    }
    if per_prompt:
        details["naive_per_prompt_median_s"] = round(med["naive_per_prompt"], 5)
        details["speedup_vs_per_prompt"] = round(med["naive_per_prompt"] / med["selftaught"], 3)
    return details


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument(
        "--per-prompt",
        action="store_true",
        help="in the naive comparison, also time a decoder that runs one prompt at a time (slow; full runs only)",
    )
    bench = Bench(NAME, ap.parse_args())
    args = bench.args
    repeats = 3 if args.quick else 5
    log(f"{NAME}: {'quick' if args.quick else 'full'} run, {bench.threads} threads, {repeats} repeats")
    hf = vs_hf(args.quick, repeats)
    naive = "not run in --quick" if args.quick else vs_naive(args.per_prompt, 3)
    value = min(hf["ratios"]["gpt2"], hf["ratios"]["llama"])
    bench.emit(
        "speedup_vs_hf_generate",
        value,
        "x",
        target=TARGET,
        meets_target=value >= TARGET,
        vs_gpt2=hf["ratios"]["gpt2"],
        vs_llama=hf["ratios"]["llama"],
        vs_gpt2_static_compiled=hf["ratios"].get("gpt2_static_compiled"),
        vs_llama_static_compiled=hf["ratios"].get("llama_static_compiled"),
        metric_is="min over GPT-2 and Llama of HF generate median seconds / built-in median seconds",
        **hf,
        vs_naive=naive,
    )


if __name__ == "__main__":
    main()
