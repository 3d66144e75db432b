"""A student built on Hugging Face transformers: any causal LM from a local directory, or one built from a config.

``[student] kind = "hf"`` with ``params``:

- ``model = "path/to/dir"``: ``AutoModelForCausalLM`` + ``AutoTokenizer`` from a local directory, offline;
- or ``architecture = "llama" | "gpt2"`` with ``layers``, ``heads``, ``hidden`` (optional ``intermediate``,
  ``kv_heads``, ``context``) and ``tokenizer = "char"``: a model built from a config (random init from
  ``init_seed``) with a character tokenizer: the built-in student's alphabet and ids (every built-in task runs
  unchanged) plus newline, tab and a byte fallback for any other character, so programs keep their lines and every
  text round-trips (``alphabet = "printable"``: printable ASCII only, as checkpoints made before the others were
  added);
- ``positions``: ``"absolute"`` (the model's own scheme over token positions: rotary for Llama, a learned table for
  GPT-2), ``"none"`` (every position id 0: a rotary model then has no positional encoding at all, "NoPE", as the
  Llama of Lee et al.'s Self-Improving Transformers), or ``"index"`` (position ids that count tokens within each run
  of letters/digits and restart after any other token, the built-in student's default); ``rope_scale`` multiplies
  a built Llama's rotary frequencies (a linear RoPE scaling by 1 / rope_scale);
- ``chat = true``: prompts go through the tokenizer's chat template (instruct models);
- ``lora = { r, alpha, dropout, target_modules }``: train a LoRA adapter (peft) instead of every weight;
- ``grad_accum``: micro-batches per optimiser step; ``bf16`` autocast and ``gradient_checkpointing`` apply on CUDA;
- ``max_new_tokens``: the loop asks for the task's answer length in characters + 1, which is the token count for the
  character tokenizer and an upper bound for a sub-word one; set this to use a fixed count instead.

Checkpoints are standard: ``save_pretrained`` of the model (safetensors) and the tokenizer, plus
``selftaught.json``. With LoRA a checkpoint holds the adapter only, and a built base model is saved under ``base/``
(``PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(ckpt / "base"), ckpt)`` opens it); a base loaded
by path is referred to by that path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    GPT2Config,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from selftaught.errors import SelftaughtError
from selftaught.students.base import Pick, Student
from selftaught.students.builtin import _token_logprobs, resolve_device
from selftaught.students.hf_tokenizer import ALPHABETS, BYTE_FALLBACK, char_tokenizer, run_positions, run_tokens
from selftaught.training.schedules import Schedule
from selftaught.training.trainer import OptimConfig, StepCallback, StopCheck, train
from selftaught.types import Example, TrainStats

META = "selftaught.json"
BASE = "base"
ARCHITECTURES = ("llama", "gpt2")
POSITIONS = ("absolute", "none", "index")
LORA_KEYS = {"r", "alpha", "dropout", "target_modules"}


def _one_line(e: BaseException) -> str:
    return str(e).strip().split("\n")[0]


@contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars while transformers reads or writes weights: library code does not print."""
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _load_pretrained(path: str, device: torch.device, dtype: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The causal LM and tokenizer in ``path``, offline; each way a directory can be wrong is one line naming it."""
    d = Path(path).expanduser()
    if not d.is_dir():
        raise SelftaughtError(f"student.params.model: {path} is not a directory")
    try:
        config = AutoConfig.from_pretrained(d, local_files_only=True)
    except Exception as e:
        why = _one_line(e)
        raise SelftaughtError(f"student.params.model: {path} is not a Hugging Face model (config: {why})") from None
    try:
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        with _quiet():
            model = AutoModelForCausalLM.from_pretrained(d, config=config, local_files_only=True, dtype=torch_dtype)
    except ValueError as e:
        raise SelftaughtError(f"student.params.model: {path} is not a causal language model: {_one_line(e)}") from None
    except Exception as e:
        raise SelftaughtError(f"student.params.model: cannot load the model in {path}: {_one_line(e)}") from None
    try:
        tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
    except Exception as e:
        raise SelftaughtError(f"student.params.model: {path} has no usable tokenizer: {_one_line(e)}") from None
    if not callable(getattr(tok, "encode", None)) or getattr(tok, "get_vocab", None) is None:
        raise SelftaughtError(f"student.params.model: {path} has no usable tokenizer")
    if tok.pad_token_id is None:  # padding is always masked out; any id serves
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    return model.to(device), tok


def _build_config(arch: str, vocab: int, layers: int, heads: int, hidden: int, **kw: Any) -> Any:
    for name, v in (("layers", layers), ("heads", heads), ("hidden", hidden)):
        if v < 1:
            raise ValueError(f"{name}={v} must be positive")
    if hidden % heads:
        raise ValueError(f"hidden={hidden} is not divisible by heads={heads}")
    ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "vocab_size": vocab, "tie_word_embeddings": True}
    if arch == "gpt2":
        drop = kw["dropout"]
        return GPT2Config(
            n_layer=layers, n_head=heads, n_embd=hidden, n_inner=kw["intermediate"], n_positions=kw["context"],
            resid_pdrop=drop, embd_pdrop=drop, attn_pdrop=drop, **ids,
        )  # fmt: skip
    if (hidden // heads) % 2:
        raise ValueError("rotary positions need an even head size (hidden / heads)")
    kv = kw["kv_heads"] or heads
    if heads % kv:
        raise ValueError(f"heads={heads} is not a multiple of kv_heads={kv}")
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": kw["rope_theta"]}
    if kw["rope_scale"] != 1.0:  # linear scaling divides positions by its factor: every frequency times rope_scale
        rope = {"rope_type": "linear", "factor": 1.0 / kw["rope_scale"], "rope_theta": kw["rope_theta"]}
    return LlamaConfig(
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv, hidden_size=hidden,
        intermediate_size=kw["intermediate"] or 4 * hidden, max_position_embeddings=kw["context"],
        rope_parameters=rope, attention_dropout=kw["dropout"], **ids,
    )  # fmt: skip


class _CausalLM(nn.Module):
    """The HF model behind the trainer's contract, ``forward(idx, targets) -> (logits, loss)``, so the shared loop
    (AdamW, clipping, schedule, gradient norms) trains it unchanged.

    ``targets`` are already shifted (-100 where no loss is taken). Rows are right-padded, so causal attention alone
    keeps real tokens from seeing padding. With ``accum > 1`` the batch runs as that
    many micro-batches (see ``forward``).
    """

    def __init__(self, student: HFStudent) -> None:
        super().__init__()
        self.lm = student.model
        self.student = student  # not a module: for positions and settings only
        self.accum = student.grad_accum

    def _loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with self.student.autocast():
            # An explicit mask, even all ones: without one, transformers reads position ids that restart (the
            # "index" and "none" schemes) as packed sequences and cuts attention at every restart.
            mask = torch.ones_like(idx)
            pos = self.student.positions(idx)
            logits = self.lm(input_ids=idx, attention_mask=mask, position_ids=pos, use_cache=False).logits
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> tuple[None, torch.Tensor]:
        tokens = (targets != -100).sum().clamp(min=1)
        if self.accum == 1 or not torch.is_grad_enabled() or len(idx) < 2:
            return None, self._loss(idx, targets) / tokens
        # Gradient accumulation inside one trainer step: the gradients of all micro-batches but the last are taken
        # here (torch.autograd.grad, which leaves .grad alone) and summed; the returned loss adds the surrogate
        # sum(g * p) - its value, which is 0 in value and g in gradient, so the trainer's single backward() yields
        # the whole batch's gradient while only one micro-batch's activations are alive at a time.
        params = [p for p in self.parameters() if p.requires_grad]
        acc: list[torch.Tensor | None] = [None] * len(params)
        done = torch.zeros((), device=idx.device)
        parts = list(zip(idx.tensor_split(self.accum), targets.tensor_split(self.accum)))
        parts = [(i, t) for i, t in parts if len(i)]
        for i, t in parts[:-1]:
            loss = self._loss(i, t) / tokens
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            acc = [a if g is None else (g if a is None else a + g) for a, g in zip(acc, grads)]
            done = done + loss.detach()
        last = self._loss(*parts[-1]) / tokens
        surrogate = sum((g * p).sum() for g, p in zip(acc, params) if g is not None)
        if isinstance(surrogate, torch.Tensor):
            last = last + (surrogate - surrogate.detach())
        return None, last + done


class HFStudent(Student):
    """A transformers causal LM behind the Student interface (see the module docstring for ``params``)."""

    def __init__(
        self,
        *,
        model: str | None = None,
        architecture: str | None = None,
        layers: int = 2,
        heads: int = 4,
        hidden: int = 64,
        intermediate: int | None = None,
        kv_heads: int | None = None,
        context: int = 256,
        dropout: float = 0.0,
        tokenizer: str = "char",
        alphabet: str = "code",
        positions: str = "absolute",
        rope_scale: float = 1.0,
        rope_theta: float = 10000.0,
        chat: bool = False,
        lora: dict[str, Any] | None = None,
        grad_accum: int = 1,
        max_new_tokens: int | None = None,
        bf16: bool = True,
        gradient_checkpointing: bool = False,
        dtype: str = "float32",
        init_seed: int = 0,
        batch_size: int = 128,
        optim: OptimConfig | None = None,
        device: str = "auto",
        gen_batch: int = 2048,
    ) -> None:
        if (model is None) == (architecture is None):
            raise ValueError("give exactly one of 'model' (a directory) and 'architecture' (llama or gpt2)")
        if architecture is not None and architecture not in ARCHITECTURES:
            raise ValueError(f"architecture={architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
        if tokenizer != "char":
            raise ValueError(f"tokenizer={tokenizer!r}: a model built from a config uses 'char'")
        if alphabet not in ALPHABETS:
            raise ValueError(f"alphabet={alphabet!r}: expected one of {', '.join(ALPHABETS)}")
        if positions not in POSITIONS:
            raise ValueError(f"positions={positions!r}: expected one of {', '.join(POSITIONS)}")
        if rope_scale <= 0 or (model is not None and rope_scale != 1.0):
            raise ValueError(f"rope_scale={rope_scale}: must be positive, and applies to a built llama only")
        if batch_size < 1 or gen_batch < 1 or grad_accum < 1:
            raise ValueError(f"batch_size={batch_size}, gen_batch={gen_batch}, grad_accum={grad_accum} must be >= 1")
        if grad_accum > batch_size:
            raise ValueError(f"grad_accum={grad_accum} exceeds batch_size={batch_size}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={max_new_tokens} must be positive")
        if dtype not in ("float32", "bfloat16", "float16", "auto"):
            raise ValueError(f"dtype={dtype!r}: expected float32, bfloat16, float16 or auto")
        if lora is not None:
            unknown = set(lora) - LORA_KEYS
            if unknown:
                raise ValueError(f"lora: unknown key(s) {', '.join(sorted(unknown))} (known: r, alpha, dropout, "
                                 "target_modules)")  # fmt: skip
        self.settings = {
            "model": str(Path(model).expanduser().resolve()) if model is not None else None,
            "architecture": architecture, "layers": layers, "heads": heads, "hidden": hidden,
            "intermediate": intermediate, "kv_heads": kv_heads, "context": context, "dropout": dropout,
            "tokenizer": tokenizer, "alphabet": alphabet, "positions": positions, "rope_scale": rope_scale,
            "rope_theta": rope_theta,
            "chat": chat, "lora": lora, "grad_accum": grad_accum, "max_new_tokens": max_new_tokens, "bf16": bf16,
            "gradient_checkpointing": gradient_checkpointing, "dtype": dtype, "init_seed": init_seed,
        }  # fmt: skip
        self.optim = optim or OptimConfig()
        self.batch_size, self.gen_batch, self.grad_accum = batch_size, gen_batch, grad_accum
        self.positions_kind, self.chat, self.max_new_tokens = positions, chat, max_new_tokens
        self.device_name = device
        self.device = resolve_device(device)
        self.use_bf16 = bf16 and self.device.type == "cuda"
        if model is not None:
            self.model, self.tok = _load_pretrained(model, self.device, dtype)
            if chat and not getattr(self.tok, "chat_template", None):
                raise SelftaughtError(f"student.params.chat: the tokenizer in {model} has no chat template")
        else:
            self.tok = char_tokenizer(alphabet)
            self.config_ = _build_config(
                architecture, len(self.tok), layers, heads, hidden, intermediate=intermediate, kv_heads=kv_heads,
                context=context, dropout=dropout, rope_scale=rope_scale, rope_theta=rope_theta,
            )  # fmt: skip
            self.model = self._initialised(init_seed)
            if chat:
                raise ValueError("chat=true needs a model with a chat template; the char tokenizer has none")
        self.lora = None
        if lora is not None:
            self._add_lora(lora, init_seed)
        if gradient_checkpointing and self.device.type == "cuda":
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.model.eval()
        vocab = self.model.get_input_embeddings().num_embeddings
        self.in_run = run_tokens(self.tok, vocab).to(self.device)
        self.eos_ids = self._eos_ids()
        self._encodable: set[str] = set()  # characters found encodable (unencodable's cache)

    # ------------------------------------------------------------------------------------------- construction
    def _initialised(self, seed: int) -> PreTrainedModel:
        """A model from ``self.config_`` initialised from ``seed`` without touching torch's global random stream."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(self.config_)
        return model.to(self.device)

    def _add_lora(self, spec: dict[str, Any], seed: int) -> None:
        from peft import LoraConfig, get_peft_model

        targets = spec.get("target_modules")
        try:
            cfg = LoraConfig(
                r=int(spec.get("r", 8)),
                lora_alpha=float(spec.get("alpha", 16)),
                lora_dropout=float(spec.get("dropout", 0.0)),
                target_modules=list(targets) if isinstance(targets, (list, tuple)) else targets,
                task_type="CAUSAL_LM",
            )
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.model = get_peft_model(self.model, cfg)
        except (ValueError, TypeError) as e:
            raise ValueError(f"lora: {_one_line(e)}") from None
        self.lora = cfg

    def _eos_ids(self) -> list[int]:
        ids = {self.tok.eos_token_id}
        gen = getattr(self.model, "generation_config", None)
        extra = getattr(gen, "eos_token_id", None) if gen is not None else None
        ids.update(extra if isinstance(extra, list) else [extra])
        return sorted(i for i in ids if i is not None)

    def unencodable(self, text: str) -> set[str]:
        """Characters of ``text`` the tokenizer cannot encode: for the character tokenizer, those outside its
        alphabet (none with its byte fallback); for a loaded one, those it encodes as nothing, as its unknown token,
        or as an id the model's embedding does not have."""
        chars = sorted(set(text) - self._encodable)
        if not chars:
            return set()
        if self.settings["model"] is None:
            vocab = self.tok.get_vocab()
            fallback = self.settings["alphabet"] in BYTE_FALLBACK
            ok = [fallback or ch in vocab for ch in chars]
        else:
            size = self.model.get_input_embeddings().num_embeddings
            unk = self.tok.unk_token_id
            encoded = self.tok(chars, add_special_tokens=False)["input_ids"]
            ok = [bool(ids) and unk not in ids and max(ids) < size for ids in encoded]
        self._encodable.update(ch for ch, good in zip(chars, ok) if good)
        return {ch for ch, good in zip(chars, ok) if not good}

    def autocast(self) -> Any:
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.use_bf16)

    # ------------------------------------------------------------------------------------------------ encoding
    def positions(self, ids: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
        """Position ids of ``ids`` (B, T); ``start`` (B,) = first real column of left-padded rows."""
        B, T = ids.shape
        if self.positions_kind == "none":
            return torch.zeros_like(ids)
        if self.positions_kind == "index":
            return run_positions(ids, self.in_run, start)
        cols = torch.arange(T, device=ids.device).expand(B, T)
        return cols if start is None else (cols - start[:, None]).clamp(min=0)

    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        if self.chat:
            texts = [
                self.tok.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                )
                for p in prompts
            ]
            ids = self.tok(list(texts), add_special_tokens=False)["input_ids"]
        else:
            ids = self.tok(list(prompts), add_special_tokens=True)["input_ids"] if prompts else []
        # A model needs at least one token to continue from; a tokenizer that adds no BOS gives none for "".
        start = self.tok.bos_token_id if self.tok.bos_token_id is not None else self.eos_ids[0]
        return [list(i) if i else [start] for i in ids]

    def encode_examples(self, examples: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, targets, lengths): ``prompt answer EOS`` right-padded; targets only on the answer and EOS."""
        prompts = self.encode_prompts([e.prompt for e in examples])
        answers = self.tok([e.answer for e in examples], add_special_tokens=False)["input_ids"]
        eos = self.eos_ids[0] if self.tok.eos_token_id is None else self.tok.eos_token_id
        seqs = [[*p, *a, eos] for p, a in zip(prompts, answers)]
        width = max(len(s) for s in seqs)
        full = torch.full((len(seqs), width), self.tok.pad_token_id, dtype=torch.long)
        tgt = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, (s, p) in enumerate(zip(seqs, prompts)):
            row = torch.tensor(s, dtype=torch.long)
            full[i, : len(s)] = row
            tgt[i, len(p) : len(s)] = row[len(p) :]
        lengths = torch.tensor([len(s) - 1 for s in seqs], dtype=torch.long)
        return full[:, :-1].contiguous(), tgt[:, 1:].contiguous(), lengths

    # --------------------------------------------------------------------------------- learning from rewards
    def answer_logprobs(
        self, prompts: Sequence[str], answers: Sequence[str], temperature: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logp, mask), (B, T): each answer token's and the end token's log-probability at ``temperature``, with
        gradient; see ``Student.answer_logprobs``. The whole batch in one pass (``grad_accum`` does not apply)."""
        inputs, targets, _ = self.encode_examples([Example(p, a, 0, "rollout", 0) for p, a in zip(prompts, answers)])
        idx, targets = inputs.to(self.device), targets.to(self.device)
        with self.autocast():
            logits = self.model(
                input_ids=idx, attention_mask=torch.ones_like(idx), position_ids=self.positions(idx), use_cache=False
            ).logits
        return _token_logprobs(logits, targets, temperature)

    def trainable(self) -> nn.Module:
        return self.model

    # ---------------------------------------------------------------------------------------------- generation
    def generate(
        self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int = 0
    ) -> list[list[str]]:
        """``n`` answers per prompt, decoded ``gen_batch`` rows at a time with a KV cache, left-padded, each row
        ending at an end token; sampling draws from a generator seeded by ``seed`` (torch's global stream is left
        alone). The text excludes the prompt and special tokens."""
        if n < 1:
            raise ValueError(f"n={n}: need at least one sample per prompt")
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must be >= 0")
        steps = self.max_new_tokens or max_new_tokens
        encoded = self.encode_prompts(prompts)
        # Rows sorted by prompt length keep left-padding (wasted compute) small within a chunk.
        rows = sorted(((i, s) for i in range(len(encoded)) for s in range(n)), key=lambda r: len(encoded[r[0]]))
        out: list[list[str]] = [[""] * n for _ in prompts]
        gen = torch.Generator(device=self.device).manual_seed(seed)
        training = self.model.training  # generate may be called in the middle of fit (a teacher's slice)
        self.model.eval()
        try:
            for c in range(0, len(rows), self.gen_batch):
                chunk = rows[c : c + self.gen_batch]
                new = self.decode_batch([encoded[i] for i, _ in chunk], steps, temperature, gen)
                texts = self.tok.batch_decode(new, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                for (i, s), text in zip(chunk, texts):
                    out[i][s] = text
        finally:
            self.model.train(training)
        return out

    @torch.no_grad()
    def decode_batch(
        self, prompts: list[list[int]], steps: int, temperature: float = 0.0, generator: torch.Generator | None = None
    ) -> list[list[int]]:
        """New tokens for each prompt (ids), up to and excluding its end token; at most ``steps`` each."""
        dev = self.device
        lens = torch.tensor([len(p) for p in prompts], device=dev)
        B, P = len(prompts), int(lens.max())
        ids = torch.full((B, P), self.tok.pad_token_id, dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, P - len(p) :] = torch.tensor(p, dtype=torch.long)
        ids = ids.to(dev)
        start = P - lens
        mask = (torch.arange(P, device=dev)[None, :] >= start[:, None]).long()
        pos = self.positions(ids, start)
        cache = DynamicCache(config=self.model.config)
        eos = torch.tensor(self.eos_ids, device=dev)
        out = torch.full((B, steps), -1, dtype=torch.long, device=dev)
        rows = torch.arange(B, device=dev)  # the rows of ``out`` that the live state (cache, mask, ...) belongs to
        x, last = ids, pos[:, -1]
        for t in range(steps):
            with self.autocast():
                logits = self.model(
                    input_ids=x, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True, logits_to_keep=1
                ).logits[:, -1]
            if temperature > 0:
                probs = F.softmax(logits.float() / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            else:
                nxt = logits.argmax(-1)
            out[rows, t] = nxt
            done = torch.isin(nxt, eos)
            if bool(done.all()) or t == steps - 1:
                break
            if 2 * int(done.sum()) >= len(rows):
                # Drop finished rows once they are half the batch, so later steps cost only what is still running.
                keep = (~done).nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, nxt, last, mask, done = rows[keep], nxt[keep], last[keep], mask[keep], done[keep]
            if self.positions_kind == "none":
                last = torch.zeros_like(last)
            elif self.positions_kind == "index":
                last = torch.where(self.in_run[nxt], last + 1, torch.zeros_like(last))
            else:
                last = last + 1
            x, pos = nxt[:, None], last[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        result = []
        eos_set = set(self.eos_ids)
        for row in out.tolist():
            cut = next((k for k, v in enumerate(row) if v in eos_set or v < 0), len(row))
            result.append(row[:cut])
        return result

    # ------------------------------------------------------------------------------------------------ training
    def fit(
        self,
        examples: Sequence[Example],
        schedule: Schedule,
        steps: int,
        seed: int = 0,
        callbacks: Sequence[StepCallback] = (),
        pick: Pick | None = None,
        stop: StopCheck | None = None,
    ) -> TrainStats:
        if not examples:
            raise ValueError("fit needs at least one example")
        inputs, targets, lengths = self.encode_examples(examples)
        g = torch.Generator().manual_seed(seed)
        n = len(examples)

        def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            if pick is None:
                rows = torch.randint(n, (self.batch_size,), generator=g)
            else:
                rows = torch.as_tensor(pick(step, self.batch_size), dtype=torch.long)
            width = int(lengths[rows].max())  # trim the padding columns no row in this batch uses
            return inputs[rows, :width].to(self.device), targets[rows, :width].to(self.device)

        # Dropout (model or LoRA) draws from torch's global stream: seeded per fit, restored afterwards.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            return train(_CausalLM(self), next_batch, steps, schedule, self.optim, callbacks, stop)

    def restart(self, how: str, shrink: float = 1.0, perturb: float = 0.0, seed: int = 0) -> None:
        """``fresh`` returns the trainable weights to a new start (a new initialisation for a built model, the
        weights in ``model`` for one loaded by path, a new adapter with LoRA); ``shrink-perturb`` mixes the trainable
        weights with a fresh initialisation (with LoRA: a fresh adapter, whose B matrices are zero)."""
        if how not in ("fresh", "shrink-perturb"):
            return super().restart(how, shrink, perturb, seed)
        if how == "shrink-perturb" and not (0.0 <= shrink <= 1.0 and perturb >= 0):
            raise ValueError(f"shrink={shrink} must be in [0, 1] and perturb={perturb} >= 0")
        params = {k: p for k, p in self.model.named_parameters() if p.requires_grad}
        old = {k: p.detach().clone() for k, p in params.items()}
        with torch.no_grad():
            if self.lora is not None:
                self._fresh_adapter(seed)
                fresh = {k: p.detach().clone() for k, p in params.items()}
            elif how == "fresh" and self.settings["model"] is not None:
                self.model, _ = _load_pretrained(self.settings["model"], self.device, self.settings["dtype"])
                self.model.eval()
                return
            else:
                config = self.config_ if self.settings["model"] is None else self.model.config
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    other = AutoModelForCausalLM.from_config(config)
                theirs = dict(other.named_parameters())
                fresh = {k: theirs[k].detach().to(p.device, p.dtype) for k, p in params.items()}
            for k, p in params.items():
                p.copy_(fresh[k] if how == "fresh" else shrink * old[k] + perturb * fresh[k])

    def _fresh_adapter(self, seed: int) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for module in self.model.modules():
                if hasattr(module, "reset_lora_parameters") and "default" in getattr(module, "lora_A", {}):
                    module.reset_lora_parameters("default", True)

    # ------------------------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with _quiet():
            self.model.save_pretrained(directory, safe_serialization=True)
            self.tok.save_pretrained(directory)
            if self.lora is not None and self.settings["model"] is None:
                base = self.model.get_base_model()
                base.save_pretrained(directory / BASE, state_dict=_base_state(base), safe_serialization=True)
                self.tok.save_pretrained(directory / BASE)
        meta = {
            "kind": "hf",
            "settings": self.settings,
            "optim": asdict(self.optim),
            "batch_size": self.batch_size,
            "gen_batch": self.gen_batch,
        }
        (directory / META).write_text(json.dumps(meta, indent=2))

    def load_weights(self, directory: Path) -> None:
        """Replace the weights in place by those saved in ``directory``, after checking every name and shape, so a
        mismatch never leaves a half-loaded model. With LoRA: the adapter (and a saved built base, if any)."""
        directory = Path(directory)
        try:
            if self.lora is None:
                _copy_checked(self.model.state_dict(), _read_weights(directory, "model"), directory)
            else:
                from peft import get_peft_model_state_dict, set_peft_model_state_dict

                state = _read_weights(directory, "adapter_model")
                own = get_peft_model_state_dict(self.model)
                _check(own, state, directory)
                if (directory / BASE).is_dir():
                    base = _base_state(self.model.get_base_model())
                    _copy_checked(base, _read_weights(directory / BASE, "model"), directory / BASE)
                set_peft_model_state_dict(self.model, state)
        except SelftaughtError:
            raise
        except Exception as e:  # safetensors and peft raise many types for a damaged file
            raise SelftaughtError(f"checkpoint {directory} is corrupt or incompatible: {_one_line(e)}") from None
        self.model.eval()

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> HFStudent:
        directory = Path(directory)
        try:
            meta = json.loads((directory / META).read_text())
            # A checkpoint from before newline and tab joined the character alphabet does not name it.
            if isinstance(meta.get("settings"), dict):
                meta["settings"].setdefault("alphabet", "printable")
            student = cls(
                **meta["settings"],
                optim=OptimConfig(**meta["optim"]),
                batch_size=meta["batch_size"],
                gen_batch=meta["gen_batch"],
                device=device,
            )
        except FileNotFoundError:
            raise SelftaughtError(f"checkpoint {directory} has no {META}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise SelftaughtError(f"checkpoint {directory / META} is corrupt: {_one_line(e)}") from None
        student.load_weights(directory)
        return student


def _read_weights(directory: Path, stem: str) -> dict[str, torch.Tensor]:
    """The tensors of ``stem.safetensors`` in ``directory``, or of its shards (``stem.safetensors.index.json``)."""
    single = directory / f"{stem}.safetensors"
    index = directory / f"{stem}.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if index.is_file():
        state: dict[str, torch.Tensor] = {}
        for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
            state.update(load_file(directory / shard))
        return state
    raise SelftaughtError(f"checkpoint {directory} has no {single.name}")


def _check(
    own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], directory: Path, tied: frozenset[str] = frozenset()
) -> None:
    missing = set(own) - set(state) - tied
    extra = set(state) - set(own)
    wrong = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    if missing or extra or wrong:
        name = sorted(missing or extra or wrong)[0]
        raise SelftaughtError(
            f"checkpoint {directory} does not match this student: {len(missing)} missing, {len(extra)} unexpected, "
            f"{len(wrong)} of another shape (e.g. {name})"
        )


def _base_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's tensors under their own names, from a model peft has put LoRA layers into."""
    return {k.replace(".base_layer.", "."): v for k, v in model.state_dict().items() if "lora_" not in k}


def _copy_checked(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], directory: Path) -> None:
    """Copy ``state`` into the tensors ``own`` (a state dict: they share the parameters' storage), all names and
    shapes checked first."""
    # Tied weights (the output head that shares the embedding) are saved once; the alias may be absent.
    first: dict[int, str] = {}
    tied = set()
    for k, v in own.items():
        ptr = v.data_ptr()
        if ptr in first:
            tied.add(k if first[ptr] in state else first[ptr])
        else:
            first[ptr] = k
    _check(own, state, directory, frozenset(tied))
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v)
