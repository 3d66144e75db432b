"""The transformers side of the HF student: its parameters checked, a model loaded from a directory or built from a
config, a LoRA adapter put in, and checkpoint tensors read and copied in with every name and shape checked first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from selftaught.errors import SelftaughtError
from selftaught.students.hf_tokenizer import ALPHABETS
from selftaught.students.torch_base import one_line

ARCHITECTURES = ("llama", "gpt2")
POSITIONS = ("absolute", "none", "index")
LORA_KEYS = {"r", "alpha", "dropout", "target_modules"}


def check_settings(s: dict[str, Any], batch_size: int, gen_batch: int) -> None:
    """Refuse, with the value named, a combination of ``params`` the student cannot be built with."""
    model, architecture, lora = s["model"], s["architecture"], s["lora"]
    rope_scale, grad_accum = s["rope_scale"], s["grad_accum"]
    if (model is None) == (architecture is None):
        raise ValueError("give exactly one of 'model' (a directory) and 'architecture' (llama or gpt2)")
    if architecture is not None and architecture not in ARCHITECTURES:
        raise ValueError(f"architecture={architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
    if s["tokenizer"] != "char":
        raise ValueError(f"tokenizer={s['tokenizer']!r}: a model built from a config uses 'char'")
    if s["alphabet"] not in ALPHABETS:
        raise ValueError(f"alphabet={s['alphabet']!r}: expected one of {', '.join(ALPHABETS)}")
    if s["positions"] not in POSITIONS:
        raise ValueError(f"positions={s['positions']!r}: expected one of {', '.join(POSITIONS)}")
    if rope_scale <= 0:
        raise ValueError(f"rope_scale={rope_scale}: must be positive")
    if rope_scale != 1.0 and architecture != "llama":  # the one model whose rotary frequencies the config sets
        whose = "a model loaded by path keeps its own" if model is not None else "a GPT-2 has learned positions"
        raise ValueError(f"rope_scale={rope_scale}: scales a Llama built from a config (architecture = 'llama'); "
                         f"{whose}, so leave it at 1.0")  # fmt: skip
    if batch_size < 1 or gen_batch < 1 or grad_accum < 1:
        raise ValueError(f"batch_size={batch_size}, gen_batch={gen_batch}, grad_accum={grad_accum} must be >= 1")
    if grad_accum > batch_size:
        raise ValueError(f"grad_accum={grad_accum} exceeds batch_size={batch_size}")
    if s["max_new_tokens"] is not None and s["max_new_tokens"] < 1:
        raise ValueError(f"max_new_tokens={s['max_new_tokens']} must be positive")
    if s["dtype"] not in ("float32", "bfloat16", "float16", "auto"):
        raise ValueError(f"dtype={s['dtype']!r}: expected float32, bfloat16, float16 or auto")
    if lora is not None:
        unknown = set(lora) - LORA_KEYS
        if unknown:
            raise ValueError(f"lora: unknown key(s) {', '.join(sorted(unknown))} (known: r, alpha, dropout, "
                             "target_modules)")  # fmt: skip


@contextmanager
def quiet() -> Iterator[None]:
    """No progress bars while transformers reads or writes weights: library code does not print."""
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def load_pretrained(path: str, device: torch.device, dtype: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The causal LM and tokenizer in ``path``, offline; each way a directory can be wrong is one line naming it."""
    d = Path(path).expanduser()
    if not d.is_dir():
        raise SelftaughtError(f"student.params.model: {path} is not a directory")
    try:
        config = AutoConfig.from_pretrained(d, local_files_only=True)
    except Exception as e:
        why = one_line(e)
        raise SelftaughtError(f"student.params.model: {path} is not a Hugging Face model (config: {why})") from None
    try:
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        with quiet():
            model = AutoModelForCausalLM.from_pretrained(d, config=config, local_files_only=True, dtype=torch_dtype)
    except ValueError as e:
        raise SelftaughtError(f"student.params.model: {path} is not a causal language model: {one_line(e)}") from None
    except Exception as e:
        raise SelftaughtError(f"student.params.model: cannot load the model in {path}: {one_line(e)}") from None
    try:
        tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
    except Exception as e:
        raise SelftaughtError(f"student.params.model: {path} has no usable tokenizer: {one_line(e)}") from None
    if not callable(getattr(tok, "encode", None)) or getattr(tok, "get_vocab", None) is None:
        raise SelftaughtError(f"student.params.model: {path} has no usable tokenizer")
    if tok.pad_token_id is None:  # padding is always masked out; any id serves
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    return model.to(device), tok


def build_config(arch: str, vocab: int, layers: int, heads: int, hidden: int, **kw: Any) -> Any:
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


def eos_ids(tok: PreTrainedTokenizerBase, model: PreTrainedModel) -> list[int]:
    """The tokenizer's end token and any the model's generation config names besides."""
    ids = {tok.eos_token_id}
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    ids.update(extra if isinstance(extra, list) else [extra])
    return sorted(i for i in ids if i is not None)


# ------------------------------------------------------------------------------------------------------- LoRA
# peft is imported where it is used: only a student with ``lora`` needs it.
def add_lora(model: PreTrainedModel, spec: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """(``model`` with a LoRA adapter initialised from ``seed``, its LoraConfig)."""
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
            model = get_peft_model(model, cfg)
    except (ValueError, TypeError) as e:
        raise ValueError(f"lora: {one_line(e)}") from None
    return model, cfg


def fresh_adapter(model: nn.Module, seed: int) -> None:
    """Re-initialise the LoRA adapter of ``model`` from ``seed`` (its B matrices zero)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in model.modules():
            if hasattr(module, "reset_lora_parameters") and "default" in getattr(module, "lora_A", {}):
                module.reset_lora_parameters("default", True)


def load_adapter(model: Any, directory: Path, base_dir: Path) -> None:
    """Copy the adapter saved in ``directory`` (and the built base saved in ``base_dir``, if any) into ``model``."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    state = read_weights(directory, "adapter_model")
    own = get_peft_model_state_dict(model)
    check(own, state, directory)
    if base_dir.is_dir():
        copy_checked(base_state(model.get_base_model()), read_weights(base_dir, "model"), base_dir)
    set_peft_model_state_dict(model, state)


# ------------------------------------------------------------------------------------------ checkpoint tensors
def read_weights(directory: Path, stem: str) -> dict[str, torch.Tensor]:
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


def check(
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


def base_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's tensors under their own names, from a model peft has put LoRA layers into."""
    return {k.replace(".base_layer.", "."): v for k, v in model.state_dict().items() if "lora_" not in k}


def copy_checked(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], directory: Path) -> None:
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
    check(own, state, directory, frozenset(tied))
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v)
