"""What the torch students share: batches for training, the generation loop, the GRPO log-probabilities and the
checkpoint's settings file. The built-in ``GPTStudent`` and ``HFStudent`` override only what their models do
differently (encoding, decoding a batch, the logits, which weights a checkpoint holds)."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from selftaught.errors import SelftaughtError
from selftaught.students.base import Completion, Pick, Student
from selftaught.training.averaging import WeightAverage
from selftaught.training.schedules import Schedule
from selftaught.training.trainer import OptimConfig, StepCallback, StopCheck, train
from selftaught.types import Example, TrainStats

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (inputs, targets, lengths)
T = TypeVar("T", bound="TorchStudent")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def one_line(e: BaseException) -> str:
    return str(e).strip().split("\n")[0]


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """log softmax(logits / temperature) at ``targets`` (-100: not an answer token, 0 there) and the answer mask."""
    mask = targets != -100
    scaled = logits.float() / (temperature if temperature > 0 else 1.0)
    logp = torch.log_softmax(scaled, dim=-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
    return logp * mask, mask


def pad_examples(seqs: Sequence[Sequence[int]], starts: Sequence[int], pad_id: int) -> Batch:
    """(inputs, targets, lengths) from whole token sequences whose answers begin at ``starts``: right-padded, the
    targets shifted by one and -100 everywhere but on the answer tokens (and the end token that closes them)."""
    width = max(len(s) for s in seqs)
    full = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    tgt = torch.full((len(seqs), width), -100, dtype=torch.long)
    for i, (s, a) in enumerate(zip(seqs, starts)):
        row = torch.tensor(s, dtype=torch.long)
        full[i, : len(s)] = row
        tgt[i, a : len(s)] = row[a:]
    lengths = torch.tensor([len(s) - 1 for s in seqs], dtype=torch.long)
    return full[:, :-1].contiguous(), tgt[:, 1:].contiguous(), lengths


class TorchStudent(Student):
    """A student whose model is a ``torch.nn.Module`` in ``self.model``, trained by the shared trainer.

    A subclass sets ``model``, ``optim``, ``batch_size``, ``gen_batch`` and ``device`` and provides: ``encode_prompts``
    and ``encode_examples`` (text to ids), ``_decode`` (a chunk of prompts to completions), ``_logits`` (the
    training forward pass), ``_save_weights`` / ``_load_state`` (the checkpoint's tensors) and ``_meta`` /
    ``_params_from`` (its settings file's own part).
    """

    kind: ClassVar[str]  # "kind" in the checkpoint's settings file
    META: ClassVar[str]  # the name of that file
    model: torch.nn.Module
    optim: OptimConfig
    batch_size: int
    gen_batch: int
    device: torch.device
    _average: WeightAverage | None = None  # while ``fit`` runs with ``optim.average``: what ``generate`` answers with

    # ------------------------------------------------------------------------------------------------ encoding
    @abstractmethod
    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        """Each prompt's ids, ready to be continued."""

    @abstractmethod
    def encode_examples(self, examples: Sequence[Example]) -> Batch:
        """(inputs, targets, lengths) of ``examples``; see ``pad_examples``."""

    @abstractmethod
    def _logits(self, idx: torch.Tensor) -> torch.Tensor:
        """The logits (B, T, V) of right-padded ``idx`` (B, T), with gradient."""

    # --------------------------------------------------------------------------------- learning from rewards
    def completion_of(self, text: str) -> Completion:
        """``text`` encoded as a supervised answer is (its tokens and the end token): the tokens a recorded answer
        trains."""
        _, targets, _ = self.encode_examples([Example("", text, 0, "rollout", 0)])
        return Completion(text, tuple(t for t in targets[0].tolist() if t != -100), True)

    def answer_logprobs(
        self, prompts: Sequence[str], answers: Sequence[Completion | str], temperature: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logp, mask), (B, T): the log-probability at ``temperature`` of each token of each answer's ``ids``, with
        gradient (a text is taken as ``completion_of`` encodes it); see ``Student.answer_logprobs``."""
        encoded = self.encode_prompts(prompts)
        ids = [a.ids if isinstance(a, Completion) else self.completion_of(a).ids for a in answers]
        # Right padding is never attended to by a real token and carries no target, so any valid id pads.
        inputs, targets, _ = pad_examples([[*p, *a] for p, a in zip(encoded, ids)], [len(p) for p in encoded], 0)
        inputs, targets = inputs.to(self.device), targets.to(self.device)
        return token_logprobs(self._logits(inputs), targets, temperature)

    def trainable(self) -> torch.nn.Module:
        return self.model

    # ---------------------------------------------------------------------------------------------- generation
    @abstractmethod
    def _decode(
        self, prompts: list[list[int]], max_new_tokens: int, temperature: float, generator: torch.Generator
    ) -> list[Completion]:
        """One completion per encoded prompt (a chunk of at most ``gen_batch`` rows): the ids sampled, the end
        token last when one was, and the text without it."""

    def generate(
        self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int = 0
    ) -> list[list[str]]:
        """``n`` answers per prompt, decoded ``gen_batch`` rows at a time; sampling draws from a generator seeded by
        ``seed`` (torch's global stream is left alone)."""
        got = self.sample_tokens(prompts, n, temperature, max_new_tokens, seed)
        return [[c.text for c in row] for row in got]

    def sample_tokens(
        self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int = 0
    ) -> list[list[Completion]]:
        """As ``generate``, each answer as a ``Completion`` (text, the ids sampled, whether it ended)."""
        if n < 1:
            raise ValueError(f"n={n}: need at least one sample per prompt")
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must be >= 0")
        encoded = self.encode_prompts(prompts)
        # Rows sorted by prompt length keep left-padding (wasted compute) small within a chunk.
        rows = sorted(((i, s) for i in range(len(encoded)) for s in range(n)), key=lambda r: len(encoded[r[0]]))
        out: list[list[Completion]] = [[Completion("", (), False)] * n for _ in prompts]
        gen = torch.Generator(device=self.device).manual_seed(seed)
        training = self.model.training  # generate may be called in the middle of fit (a teacher's slice)
        self.model.eval()
        # Mid-fit with a weight average, the average answers (what training ends with if it is stopped here).
        averaged = self._average.swapped() if self._average is not None else nullcontext()
        try:
            with averaged:
                for c in range(0, len(rows), self.gen_batch):
                    chunk = rows[c : c + self.gen_batch]
                    got = self._decode([encoded[i] for i, _ in chunk], max_new_tokens, temperature, gen)
                    for (i, s), completion in zip(chunk, got):
                        out[i][s] = completion
        finally:
            self.model.train(training)
        return out

    # ------------------------------------------------------------------------------------------------ training
    def _train_module(self) -> torch.nn.Module:
        """The module the trainer runs: ``forward(idx, targets) -> (logits, loss)``."""
        return self.model

    @contextmanager
    def _dropout_rng(self, seed: int) -> Iterator[None]:
        """Dropout draws from torch's global stream: seeded per fit, and restored afterwards."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            yield

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

        module = self._train_module()
        self._average = WeightAverage(module, self.optim.average) if self.optim.average else None
        try:
            with self._dropout_rng(seed):
                return train(module, next_batch, steps, schedule, self.optim, callbacks, stop, self._average)
        finally:
            self._average = None

    # ------------------------------------------------------------------------------------------- persistence
    @abstractmethod
    def _save_weights(self, directory: Path) -> None:
        """Write the model's tensors (and whatever else opens it) into ``directory``."""

    @abstractmethod
    def _meta(self) -> dict[str, Any]:
        """This student's own part of the settings file (its architecture)."""

    @abstractmethod
    def _load_state(self, directory: Path) -> None:
        """Copy the tensors saved in ``directory`` into the model, every name and shape checked before anything is
        copied; a missing file raises SelftaughtError naming it."""

    @classmethod
    @abstractmethod
    def _params_from(cls, meta: dict[str, Any]) -> dict[str, Any]:
        """The constructor's own keyword arguments from the settings file ``_meta`` wrote."""

    def _weights_at(self, directory: Path) -> Path:
        """Where a corrupt checkpoint's tensors are said to be."""
        return directory

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._save_weights(directory)
        meta = {
            "kind": self.kind,
            **self._meta(),
            "optim": asdict(self.optim),
            "batch_size": self.batch_size,
            "gen_batch": self.gen_batch,
        }
        (directory / self.META).write_text(json.dumps(meta, indent=2))

    def load_weights(self, directory: Path) -> None:
        """Replace the weights in place by those saved in ``directory``; a mismatch or a damaged file raises
        SelftaughtError and never leaves a half-loaded model."""
        directory = Path(directory)
        try:
            self._load_state(directory)
        except SelftaughtError:
            raise
        except Exception as e:  # torch, safetensors and peft raise many types for a damaged file
            raise SelftaughtError(
                f"checkpoint {self._weights_at(directory)} is corrupt or incompatible: {one_line(e)}"
            ) from None
        self.model.eval()

    @classmethod
    def load(cls: type[T], directory: Path, device: str = "auto") -> T:
        directory = Path(directory)
        try:
            meta = json.loads((directory / cls.META).read_text())
            student = cls(
                **cls._params_from(meta),
                optim=OptimConfig(**meta["optim"]),
                batch_size=meta["batch_size"],
                gen_batch=meta["gen_batch"],
                device=device,
            )
        except FileNotFoundError:
            raise SelftaughtError(f"checkpoint {directory} has no {cls.META}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise SelftaughtError(f"checkpoint {directory / cls.META} is corrupt: {one_line(e)}") from None
        student.load_weights(directory)
        return student
