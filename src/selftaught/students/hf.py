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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, DynamicCache, PreTrainedModel

from selftaught.errors import SelftaughtError
from selftaught.students.base import Completion
from selftaught.students.hf_model import (
    add_lora,
    base_state,
    build_config,
    check_settings,
    copy_checked,
    eos_ids,
    fresh_adapter,
    load_adapter,
    load_pretrained,
    quiet,
    read_weights,
)
from selftaught.students.hf_tokenizer import BYTE_FALLBACK, char_tokenizer, run_positions, run_tokens
from selftaught.students.sampling import sample_next
from selftaught.students.torch_base import Batch, TorchStudent, pad_examples, resolve_device
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example

META = "selftaught.json"
BASE = "base"


class _CausalLM(nn.Module):
    """The HF model behind the trainer's contract, ``forward(idx, targets) -> (logits, loss)``, so the shared loop
    (AdamW, clipping, schedule, gradient norms) trains it unchanged.

    ``targets`` are already shifted (-100 where no loss is taken). Rows are right-padded, so causal attention alone
    keeps real tokens from seeing padding. With ``accum > 1`` the batch runs as that
    many micro-batches (see ``forward``).
    """

    def __init__(self, student: HFStudent) -> None:
        super().__init__()
        self.lm = student.model  # registered here so the trainer finds its parameters
        self.student = student  # not a module: for the forward pass and settings only
        self.accum = student.grad_accum

    def _loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self.student._logits(idx)  # the forward pass of self.lm
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


class HFStudent(TorchStudent):
    """A transformers causal LM behind the Student interface (see the module docstring for ``params``)."""

    kind, META = "hf", META  # the checkpoint's settings file: its "kind" and its name

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
        self.settings = {
            "model": model, "architecture": architecture, "layers": layers, "heads": heads, "hidden": hidden,
            "intermediate": intermediate, "kv_heads": kv_heads, "context": context, "dropout": dropout,
            "tokenizer": tokenizer, "alphabet": alphabet, "positions": positions, "rope_scale": rope_scale,
            "rope_theta": rope_theta,
            "chat": chat, "lora": lora, "grad_accum": grad_accum, "max_new_tokens": max_new_tokens, "bf16": bf16,
            "gradient_checkpointing": gradient_checkpointing, "dtype": dtype, "init_seed": init_seed,
        }  # fmt: skip
        check_settings(self.settings, batch_size, gen_batch)
        if model is not None:
            self.settings["model"] = str(Path(model).expanduser().resolve())
        self.optim = optim or OptimConfig()
        self.batch_size, self.gen_batch, self.grad_accum = batch_size, gen_batch, grad_accum
        self.positions_kind, self.chat, self.max_new_tokens = positions, chat, max_new_tokens
        self.device_name = device
        self.device = resolve_device(device)
        self.use_bf16 = bf16 and self.device.type == "cuda"
        if model is not None:
            self.model, self.tok = load_pretrained(model, self.device, dtype)
            if chat and not getattr(self.tok, "chat_template", None):
                raise SelftaughtError(f"student.params.chat: the tokenizer in {model} has no chat template")
        else:
            self.tok = char_tokenizer(alphabet)
            self.config_ = build_config(
                architecture, len(self.tok), layers, heads, hidden, intermediate=intermediate, kv_heads=kv_heads,
                context=context, dropout=dropout, rope_scale=rope_scale, rope_theta=rope_theta,
            )  # fmt: skip
            self.model = self._initialised(init_seed)
            if chat:
                raise ValueError("chat=true needs a model with a chat template; the char tokenizer has none")
        self.lora = None
        if lora is not None:
            self.model, self.lora = add_lora(self.model, lora, init_seed)
        if gradient_checkpointing and self.device.type == "cuda":
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.model.eval()
        vocab = self.model.get_input_embeddings().num_embeddings
        self.in_run = run_tokens(self.tok, vocab).to(self.device)
        self.eos_ids = eos_ids(self.tok, self.model)
        self._encodable: set[str] = set()  # characters found encodable (unencodable's cache)

    # ------------------------------------------------------------------------------------------- construction
    def _initialised(self, seed: int) -> PreTrainedModel:
        """A model from ``self.config_`` initialised from ``seed`` without touching torch's global random stream."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(self.config_)
        return model.to(self.device)

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

    def encode_examples(self, examples: Sequence[Example]) -> Batch:
        """(inputs, targets, lengths): ``prompt answer EOS`` right-padded; targets only on the answer and EOS."""
        prompts = self.encode_prompts([e.prompt for e in examples])
        answers = self.tok([e.answer for e in examples], add_special_tokens=False)["input_ids"]
        eos = self.eos_ids[0] if self.tok.eos_token_id is None else self.tok.eos_token_id
        seqs = [[*p, *a, eos] for p, a in zip(prompts, answers)]
        return pad_examples(seqs, [len(p) for p in prompts], self.tok.pad_token_id)

    # --------------------------------------------------------------------------------------- forward passes
    def _logits(self, idx: torch.Tensor) -> torch.Tensor:
        """The whole batch in one pass (``grad_accum`` applies in training only, see ``_CausalLM``)."""
        with self.autocast():
            # An explicit mask, even all ones: without one, transformers reads position ids that restart (the
            # "index" and "none" schemes) as packed sequences and cuts attention at every restart.
            mask = torch.ones_like(idx)
            return self.model(
                input_ids=idx, attention_mask=mask, position_ids=self.positions(idx), use_cache=False
            ).logits

    def _train_module(self) -> nn.Module:
        return _CausalLM(self)

    # ---------------------------------------------------------------------------------------------- generation
    def _decode(
        self, prompts: list[list[int]], max_new_tokens: int, temperature: float, generator: torch.Generator
    ) -> list[Completion]:
        """The text excludes the prompt and special tokens; ``params.max_new_tokens``, when set, bounds it instead."""
        new = self.decode_batch(prompts, self.max_new_tokens or max_new_tokens, temperature, generator, True)
        ended = [bool(ids) and ids[-1] in self.eos_ids for ids in new]
        texts = self.tok.batch_decode(
            [ids[:-1] if e else ids for ids, e in zip(new, ended)],
            skip_special_tokens=True,
            clean_up_tokenization_spaces=False,
        )
        return [Completion(t, tuple(ids), e) for t, ids, e in zip(texts, new, ended)]

    @torch.no_grad()
    def decode_batch(
        self,
        prompts: list[list[int]],
        steps: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
        with_end: bool = False,
    ) -> list[list[int]]:
        """New tokens for each prompt (ids), up to its end token (included ``with_end``); at most ``steps`` each."""
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
            nxt = sample_next(logits, temperature, generator)
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
            result.append(row[: cut + 1] if with_end and cut < len(row) and row[cut] >= 0 else row[:cut])
        return result

    # ------------------------------------------------------------------------------------------------ training
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
                fresh_adapter(self.model, seed)
                fresh = {k: p.detach().clone() for k, p in params.items()}
            elif how == "fresh" and self.settings["model"] is not None:
                self.model, _ = load_pretrained(self.settings["model"], self.device, self.settings["dtype"])
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

    # ------------------------------------------------------------------------------------------- persistence
    def _save_weights(self, directory: Path) -> None:
        with quiet():
            self.model.save_pretrained(directory, safe_serialization=True)
            self.tok.save_pretrained(directory)
            if self.lora is not None and self.settings["model"] is None:
                base = self.model.get_base_model()
                base.save_pretrained(directory / BASE, state_dict=base_state(base), safe_serialization=True)
                self.tok.save_pretrained(directory / BASE)

    def _meta(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def _load_state(self, directory: Path) -> None:
        """With LoRA: the adapter (and a saved built base, if any)."""
        if self.lora is None:
            copy_checked(self.model.state_dict(), read_weights(directory, "model"), directory)
        else:
            load_adapter(self.model, directory, directory / BASE)

    @classmethod
    def _params_from(cls, meta: dict[str, Any]) -> dict[str, Any]:
        settings = meta["settings"]
        # A checkpoint from before newline and tab joined the character alphabet does not name it.
        if isinstance(settings, dict):
            settings.setdefault("alphabet", "printable")
        return settings
