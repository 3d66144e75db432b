"""The built-in student: the tiny transformer of ``gpt.py`` behind the Student interface."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from selftaught.errors import SelftaughtError
from selftaught.students.base import Completion
from selftaught.students.gpt import GPT, GPTConfig
from selftaught.students.tokenizer import CharTokenizer
from selftaught.students.torch_base import Batch, TorchStudent, pad_examples, resolve_device
from selftaught.training.trainer import OptimConfig
from selftaught.training.warmstart import shrink_perturb
from selftaught.types import Example

WEIGHTS, CONFIG = "model.pt", "student.json"


class GPTStudent(TorchStudent):
    """A character-level decoder-only transformer trained from scratch.

    ``gen_batch`` bounds how many rows (prompts x samples) are decoded at once, which bounds the KV cache's memory.
    """

    kind, META = "gpt", CONFIG

    def __init__(
        self,
        model: GPTConfig | None = None,
        optim: OptimConfig | None = None,
        batch_size: int = 128,
        gen_batch: int = 2048,
        device: str = "auto",
        init_seed: int = 0,
    ) -> None:
        if batch_size < 1 or gen_batch < 1:
            raise ValueError(f"batch_size={batch_size} and gen_batch={gen_batch} must be positive")
        self.tok = CharTokenizer()
        self.model_cfg = model or GPTConfig()
        self.model_cfg.vocab_size = self.tok.vocab_size
        self.optim = optim or OptimConfig()
        self.batch_size = batch_size
        self.gen_batch = gen_batch
        self.device_name = device
        self.device = resolve_device(device)
        self.model = self._initialised(init_seed).to(self.device).eval()

    def _initialised(self, seed: int) -> GPT:
        with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the caller's stream
            torch.manual_seed(seed)
            model = GPT(self.model_cfg)
        model.set_run_tokens(self.tok.alnum_ids())
        return model

    def unencodable(self, text: str) -> set[str]:
        """Characters outside the character tokenizer's alphabet (printable ASCII)."""
        return self.tok.unencodable(text)

    def restart(self, how: str, shrink: float = 1.0, perturb: float = 0.0, seed: int = 0) -> None:
        if how == "fresh":
            self.model = self._initialised(seed).to(self.device).eval()
        elif how == "shrink-perturb":
            shrink_perturb(self.model, self._initialised(seed), shrink, perturb)
        else:
            super().restart(how, shrink, perturb, seed)

    # ------------------------------------------------------------------------------------------------ encoding
    def encode_examples(self, examples: Sequence[Example]) -> Batch:
        """(inputs, targets, lengths): ``[BOS] prompt answer [EOS]`` right-padded; targets only on answer + EOS."""
        seqs, starts = [], []
        for e in examples:
            p = self.tok.encode(e.prompt)
            seqs.append([self.tok.bos_id, *p, *self.tok.encode(e.answer), self.tok.eos_id])
            starts.append(1 + len(p))
        return pad_examples(seqs, starts, self.tok.pad_id)

    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        return [[self.tok.bos_id, *self.tok.encode(p)] for p in prompts]

    def _logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)[0]

    # ---------------------------------------------------------------------------------------------- generation
    def _decode(
        self, prompts: list[list[int]], max_new_tokens: int, temperature: float, generator: torch.Generator
    ) -> list[Completion]:
        lens = torch.tensor([len(p) for p in prompts], dtype=torch.long)
        width = int(lens.max())
        x = torch.full((len(prompts), width), self.tok.pad_id, dtype=torch.long)
        for r, p in enumerate(prompts):
            x[r, width - len(p) :] = torch.tensor(p, dtype=torch.long)
        new = self.model.generate(
            x.to(self.device),
            lens.to(self.device),
            max_new_tokens,
            eos_id=self.tok.eos_id,
            pad_id=self.tok.pad_id,
            temperature=temperature,
            generator=generator,
        )
        out = []
        for row in new.tolist():  # padding follows the end token
            ended = self.tok.eos_id in row
            ids = row[: row.index(self.tok.eos_id) + 1] if ended else row
            out.append(Completion(self.tok.decode(ids), tuple(ids), ended))
        return out

    # ------------------------------------------------------------------------------------------------ training
    @contextmanager
    def _dropout_rng(self, seed: int) -> Iterator[None]:
        """Dropout draws from torch's global stream: seeded per fit and, unlike the HF student, left so afterwards
        (as it always was: runs repeat their records)."""
        torch.manual_seed(seed)
        yield

    # ------------------------------------------------------------------------------------------- persistence
    def _meta(self) -> dict[str, Any]:
        return {"model": self.model_cfg.to_dict()}

    @classmethod
    def _params_from(cls, meta: dict[str, Any]) -> dict[str, Any]:
        return {"model": GPTConfig(**meta["model"])}

    def _weights_at(self, directory: Path) -> Path:
        return directory / WEIGHTS

    def _save_weights(self, directory: Path) -> None:
        # Serialised in memory first, so a full disk is an OSError (ENOSPC), not torch's own.
        buffer = io.BytesIO()
        torch.save(self.model.state_dict(), buffer)
        (directory / WEIGHTS).write_bytes(buffer.getbuffer())

    def _load_state(self, directory: Path) -> None:
        try:
            state = torch.load(directory / WEIGHTS, map_location=self.device, weights_only=True)
        except FileNotFoundError:
            raise SelftaughtError(f"checkpoint {directory} has no {WEIGHTS}") from None
        own = self.model.state_dict()
        # Check every name and shape before copying anything, so a mismatch never leaves a half-loaded model.
        if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
            raise ValueError("its parameters do not match this student's architecture")
        self.model.load_state_dict(state)
