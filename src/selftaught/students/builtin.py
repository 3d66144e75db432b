"""The built-in student: the tiny transformer of ``gpt.py`` behind the Student interface."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from selftaught.errors import SelftaughtError
from selftaught.students.base import Pick, Student
from selftaught.students.gpt import GPT, GPTConfig
from selftaught.students.tokenizer import CharTokenizer
from selftaught.training.schedules import Schedule
from selftaught.training.trainer import OptimConfig, StepCallback, StopCheck, train
from selftaught.training.warmstart import shrink_perturb
from selftaught.types import Example, TrainStats

WEIGHTS, CONFIG = "model.pt", "student.json"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """log softmax(logits / temperature) at ``targets`` (-100: not an answer token, 0 there) and the answer mask."""
    mask = targets != -100
    scaled = logits.float() / (temperature if temperature > 0 else 1.0)
    logp = torch.log_softmax(scaled, dim=-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
    return logp * mask, mask


class GPTStudent(Student):
    """A character-level decoder-only transformer trained from scratch.

    ``gen_batch`` bounds how many rows (prompts x samples) are decoded at once, which bounds the KV cache's memory.
    """

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
    def encode_examples(self, examples: Sequence[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, targets, lengths): ``[BOS] prompt answer [EOS]`` right-padded; targets only on answer + EOS."""
        seqs, starts = [], []
        for e in examples:
            p = self.tok.encode(e.prompt)
            seqs.append([self.tok.bos_id, *p, *self.tok.encode(e.answer), self.tok.eos_id])
            starts.append(1 + len(p))
        width = max(len(s) for s in seqs)
        full = torch.full((len(seqs), width), self.tok.pad_id, dtype=torch.long)
        tgt = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, (s, a) in enumerate(zip(seqs, starts)):
            row = torch.tensor(s, dtype=torch.long)
            full[i, : len(s)] = row
            tgt[i, a : len(s)] = row[a:]
        lengths = torch.tensor([len(s) - 1 for s in seqs], dtype=torch.long)
        return full[:, :-1].contiguous(), tgt[:, 1:].contiguous(), lengths

    def _encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        return [[self.tok.bos_id, *self.tok.encode(p)] for p in prompts]

    # --------------------------------------------------------------------------------- learning from rewards
    def answer_logprobs(
        self, prompts: Sequence[str], answers: Sequence[str], temperature: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logp, mask), (B, T): each answer token's and the end token's log-probability at ``temperature``, with
        gradient; see ``Student.answer_logprobs``."""
        inputs, targets, _ = self.encode_examples([Example(p, a, 0, "rollout", 0) for p, a in zip(prompts, answers)])
        inputs, targets = inputs.to(self.device), targets.to(self.device)
        logits, _ = self.model(inputs)
        return _token_logprobs(logits, targets, temperature)

    def trainable(self) -> torch.nn.Module:
        return self.model

    # ---------------------------------------------------------------------------------------------- generation
    def generate(
        self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int = 0
    ) -> list[list[str]]:
        if n < 1:
            raise ValueError(f"n={n}: need at least one sample per prompt")
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must be >= 0")
        encoded = self._encode_prompts(prompts)
        # Rows sorted by prompt length keep left-padding (wasted compute) small within a chunk.
        rows = sorted(((i, s) for i in range(len(encoded)) for s in range(n)), key=lambda r: len(encoded[r[0]]))
        out: list[list[str]] = [[""] * n for _ in prompts]
        gen = torch.Generator(device=self.device).manual_seed(seed)
        training = self.model.training  # generate may be called in the middle of fit (a teacher's slice)
        self.model.eval()
        for c in range(0, len(rows), self.gen_batch):
            chunk = rows[c : c + self.gen_batch]
            lens = torch.tensor([len(encoded[i]) for i, _ in chunk], dtype=torch.long)
            width = int(lens.max())
            x = torch.full((len(chunk), width), self.tok.pad_id, dtype=torch.long)
            for r, (i, _) in enumerate(chunk):
                x[r, width - len(encoded[i]) :] = torch.tensor(encoded[i], dtype=torch.long)
            new = self.model.generate(
                x.to(self.device),
                lens.to(self.device),
                max_new_tokens,
                eos_id=self.tok.eos_id,
                pad_id=self.tok.pad_id,
                temperature=temperature,
                generator=gen,
            )
            for (i, s), ids in zip(chunk, new.tolist()):
                out[i][s] = self.tok.decode(ids)
        self.model.train(training)
        return out

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
        torch.manual_seed(seed)  # dropout draws from the global stream
        n = len(examples)

        def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            if pick is None:
                rows = torch.randint(n, (self.batch_size,), generator=g)
            else:
                rows = torch.as_tensor(pick(step, self.batch_size), dtype=torch.long)
            width = int(lengths[rows].max())  # trim the padding columns no row in this batch uses
            return inputs[rows, :width].to(self.device), targets[rows, :width].to(self.device)

        return train(self.model, next_batch, steps, schedule, self.optim, callbacks, stop)

    # ------------------------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": "gpt",
            "model": self.model_cfg.to_dict(),
            "optim": asdict(self.optim),
            "batch_size": self.batch_size,
            "gen_batch": self.gen_batch,
        }
        (directory / CONFIG).write_text(json.dumps(meta, indent=2))
        buffer = io.BytesIO()  # serialised in memory first, so a full disk is an OSError (ENOSPC), not torch's own
        torch.save(self.model.state_dict(), buffer)
        (directory / WEIGHTS).write_bytes(buffer.getbuffer())

    def load_weights(self, directory: Path) -> None:
        """Replace this student's weights by those saved in ``directory`` (same architecture)."""
        try:
            state = torch.load(directory / WEIGHTS, map_location=self.device, weights_only=True)
            own = self.model.state_dict()
            # Check every name and shape before copying anything, so a mismatch never leaves a half-loaded model.
            if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
                raise ValueError("its parameters do not match this student's architecture")
            self.model.load_state_dict(state)
        except FileNotFoundError:
            raise SelftaughtError(f"checkpoint {directory} has no {WEIGHTS}") from None
        except Exception as e:  # torch raises many types for a damaged file
            raise SelftaughtError(
                f"checkpoint {directory / WEIGHTS} is corrupt or incompatible: {e}".split("\n")[0]
            ) from None
        self.model.eval()

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> GPTStudent:
        try:
            meta = json.loads((directory / CONFIG).read_text())
            student = cls(
                GPTConfig(**meta["model"]),
                OptimConfig(**meta["optim"]),
                batch_size=meta["batch_size"],
                gen_batch=meta["gen_batch"],
                device=device,
            )
        except FileNotFoundError:
            raise SelftaughtError(f"checkpoint {directory} has no {CONFIG}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise SelftaughtError(f"checkpoint {directory / CONFIG} is corrupt: {e}") from None
        student.load_weights(directory)
        return student
