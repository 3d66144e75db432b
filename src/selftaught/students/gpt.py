"""The built-in student: a small decoder-only transformer, in one file.

GPTConfig -> CausalSelfAttention, MLP, Block -> GPT (forward for training, generate with a KV cache).
Positions are given per row (``pos`` tensors) rather than implied by the column index, so that batched generation
can left-pad prompts of different lengths and every row still sees its first real token at position 0, exactly as
in training.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from selftaught.students.sampling import sample_next

POSITIONAL_SCHEMES = ("none", "rope", "learned", "index")


@dataclass
class GPTConfig:
    vocab_size: int = 98
    n_layer: int = 3
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 256  # longest sequence; a hard limit only for learned positions
    pos: str = "index"  # one of POSITIONAL_SCHEMES
    dropout: float = 0.0
    rope_base: float = 10000.0
    # Multiplies every rotary frequency (1.0, the default, is standard RoPE). Below 1 the fastest rotation is slower
    # than one radian per position, so an offset never seen in training looks like its seen neighbour: with "index"
    # positions at 0.6, trained on <= 5 digits, three seeds reached 83-100 % at 6 digits (vs 0-42 % at 1.0) and 0 %
    # at 8. Learning the alignment is slower; a learning rate near 1e-2 gets it past the early plateau.
    rope_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.pos not in POSITIONAL_SCHEMES:
            raise ValueError(f"pos={self.pos!r}: expected one of {', '.join(POSITIONAL_SCHEMES)}")
        if self.rope_scale <= 0:
            raise ValueError(f"rope_scale={self.rope_scale} must be positive")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.pos in ("rope", "index") and (self.n_embd // self.n_head) % 2:
            raise ValueError("rope needs an even head size (n_embd / n_head)")

    def to_dict(self) -> dict:
        return asdict(self)


def _rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, H, T, D); cos/sin: (B, 1, T, D/2). Rotate pairs (x1, x2) of the two halves of the head dimension.
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x, rope=None):
        """Causal self-attention over ``x`` (B, T, C), as in training (decoding has its own path in GPT)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        if rope is not None:  # rotating contiguous copies is ~3x faster than rotating the permuted views
            q, k = _rope(q.contiguous(), *rope), _rope(k.contiguous(), *rope)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.out = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.out(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x, rope=None):
        x = x + self.attn(self.ln1(x), rope)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.pos == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # weight tying: one matrix reads and writes tokens
        # "index" positions restart inside every run of letters/digits, so digit i of every number shares position i.
        self.register_buffer("in_run", torch.zeros(cfg.vocab_size, dtype=torch.bool), persistent=False)
        inv = None
        if cfg.pos in ("rope", "index"):
            hd = cfg.n_embd // cfg.n_head
            inv = cfg.rope_scale / (cfg.rope_base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        self.register_buffer("rope_inv_freq", inv, persistent=False)
        self.apply(self._init)
        # Residual projections scaled by depth so the residual stream's variance does not grow with n_layer.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("out.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_run_tokens(self, token_ids: list[int]) -> None:
        """Tell the "index" scheme which token ids are letters/digits (the tokenizer knows, the model does not)."""
        self.in_run.zero_()
        self.in_run[torch.tensor(token_ids, dtype=torch.long)] = True

    def positions(self, idx: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
        """Position of every token of ``idx`` (B, T); ``start`` (B,) = first real column for left-padded rows."""
        B, T = idx.shape
        cols = torch.arange(T, device=idx.device).expand(B, T)
        if self.cfg.pos != "index":
            return cols if start is None else (cols - start[:, None]).clamp(min=0)
        # Run index: 1, 2, 3 ... along a run of letters/digits, 0 on any other token.
        run = self.in_run[idx]
        last_break = torch.where(run, torch.full_like(cols, -1), cols).cummax(dim=1).values
        return torch.where(run, cols - last_break, torch.zeros_like(cols))

    def _embed(self, idx: torch.Tensor, pos: torch.Tensor):
        x = self.wte(idx)
        rope = None
        if self.wpe is not None:
            if int(pos.max()) >= self.cfg.block_size:
                raise ValueError(f"sequence position {int(pos.max())} exceeds block_size={self.cfg.block_size}")
            x = x + self.wpe(pos)
        elif self.rope_inv_freq is not None:
            ang = pos.to(torch.float32)[..., None] * self.rope_inv_freq  # (B, T, D/2)
            rope = (ang.cos()[:, None].to(x.dtype), ang.sin()[:, None].to(x.dtype))
        return x, rope

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Right-padded ``idx`` (B, T); ``targets`` (B, T) with -100 where no loss is taken."""
        x, rope = self._embed(idx, self.positions(idx))
        for blk in self.blocks:
            x = blk(x, rope)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    @torch.no_grad()
    def generate(
        self,
        prompts: torch.Tensor,
        prompt_lens: torch.Tensor,
        max_new_tokens: int,
        eos_id: int,
        pad_id: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue left-padded ``prompts`` (B, P) whose real lengths are ``prompt_lens`` (B,).

        Returns (B, max_new_tokens) new tokens, ``pad_id`` after each row's end token. Greedy when
        ``temperature == 0``. The prompts' real tokens go through the model once, packed without their padding; then
        one forward pass per new token for the whole batch, reading keys and values from a cache written in place.
        Dropout is not applied (decoding is evaluation).
        """
        B, P = prompts.shape
        dev = prompts.device
        total = P + max_new_tokens
        if self.wpe is not None and int(prompt_lens.max()) + max_new_tokens > self.cfg.block_size:
            raise ValueError(f"prompt + {max_new_tokens} new tokens exceeds block_size={self.cfg.block_size}")
        cols = torch.arange(total, device=dev)
        start = (P - prompt_lens).to(dev)  # first real column of each row
        valid = cols[None, :] >= start[:, None]  # (B, total): key columns holding real tokens
        prompt_pos = self.positions(prompts, start)
        H, hd = self.cfg.n_head, self.cfg.n_embd // self.cfg.n_head
        dtype = self.wte.weight.dtype
        # Zeroed, not empty: a decoding step attends over every column and masks the unwritten ones, and a masked
        # column's value must be finite (0 * nan is nan).
        caches = [
            (
                torch.zeros(B, H, total, hd, device=dev, dtype=dtype),
                torch.zeros(B, H, total, hd, device=dev, dtype=dtype),
            )
            for _ in self.blocks
        ]
        logits = torch.empty(B, self.cfg.vocab_size, device=dev, dtype=dtype)
        for r0, r1, width in self._prefill_chunks(prompt_lens.tolist()):
            c0 = P - width  # the chunk's rows are left-padded to ``width``, not to the batch's ``P``
            logits[r0:r1] = self._prefill(
                prompts[r0:r1, c0:],
                prompt_pos[r0:r1, c0:],
                valid[r0:r1, c0:P],
                [(k[r0:r1, :, c0:P], v[r0:r1, :, c0:P]) for k, v in caches],
            )
        # Additive mask of the decoding steps over all ``total`` columns: 0 on real prompt columns, -inf on padding
        # and on columns not generated yet (each step opens its own). Attending over whole cache rows, contiguous,
        # is ~2x faster than over a column slice of them, though it reads up to max_new_tokens masked columns more.
        bias = torch.zeros(B, H, 1, total, device=dev, dtype=dtype)
        bias.masked_fill_(~valid[:, None, None], float("-inf"))
        bias[..., P:] = float("-inf")
        rope_tab = self._rope_table(total, dtype)
        last_pos = prompt_pos[:, -1]
        pos_all = (cols[None, :] - start[:, None]).clamp(min=0)
        out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=dev)
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        rows = torch.arange(B, device=dev)  # the rows of ``out`` that the live state (caches, logits, ...) belongs to
        for t in range(max_new_tokens):
            nxt = sample_next(logits, temperature, generator).masked_fill(done, pad_id)
            out[rows, t] = nxt
            done = done | (nxt == eos_id)
            n_done = int(done.sum())
            if n_done == len(rows) or t == max_new_tokens - 1:
                break
            if 2 * n_done >= len(rows):
                # Drop finished rows once they are half the batch, so later steps cost only what is still running.
                keep = (~done).nonzero().squeeze(1)
                rows, nxt, last_pos, done, bias = rows[keep], nxt[keep], last_pos[keep], done[keep], bias[keep]
                caches = [(k[keep], v[keep]) for k, v in caches]
                if self.cfg.pos != "index":
                    pos_all = pos_all[keep]
            at = P + t
            if self.cfg.pos == "index":
                new_pos = torch.where(self.in_run[nxt], last_pos + 1, torch.zeros_like(last_pos))
            else:
                new_pos = pos_all[:, at]
            last_pos = new_pos
            bias[..., at] = 0.0
            logits = self._step(nxt, new_pos, caches, bias, at, rope_tab)
        return out

    def _rope_table(self, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
        """cos and sin of every position below ``n`` (n, D/2), computed as ``_embed`` computes them."""
        if self.wpe is not None or self.rope_inv_freq is None:
            return None
        ang = torch.arange(n, device=self.rope_inv_freq.device).to(torch.float32)[:, None] * self.rope_inv_freq
        return ang.cos().to(dtype), ang.sin().to(dtype)

    PREFILL_TOKENS = 2048

    def _prefill_chunks(self, lens: list[int]) -> list[tuple[int, int, int]]:
        """Split the rows into runs of about PREFILL_TOKENS padded tokens each: (first row, end row, width). Smaller
        working sets than the whole batch's, and with rows sorted by length (as TorchStudent sorts them) each run is
        padded only to its own longest prompt."""
        chunks, r0, width = [], 0, 0
        for r, n in enumerate(lens):
            if r > r0 and max(width, n) * (r + 1 - r0) > self.PREFILL_TOKENS:
                chunks.append((r0, r, width))
                r0, width = r, 0
            width = max(width, n)
        chunks.append((r0, len(lens), width))
        return chunks

    def _prefill(self, prompts: torch.Tensor, pos: torch.Tensor, real: torch.Tensor, caches) -> torch.Tensor:
        """Run the prompts' real tokens (``real``: (B, P) mask) through the model packed into one (N, C) matrix, so
        that padding costs nothing outside attention; write their keys and values into columns 0:P of ``caches``
        (padding columns stay 0) and return the logits after each row's last token (B, V)."""
        B, P = prompts.shape
        C, H = self.cfg.n_embd, self.cfg.n_head
        hd = C // H
        x, rope = self._embed(prompts[real][None], pos[real][None])  # (1, N, C); rope (1, 1, N, D/2)
        x = x[0]
        N = x.shape[0]
        if rope is not None:
            rope = (rope[0][0, 0][:, None, None], rope[1][0, 0][:, None, None])  # (N, 1, 1, D/2) for (N, 2, H, D)
        causal = torch.ones(P, P, dtype=torch.bool, device=x.device).tril()
        mask = (causal[None] & real[:, None, :])[:, None]  # (B, 1, P, P)
        # A pad query row would see no key at all; let it see itself so softmax stays finite (its output is unused).
        mask = mask | torch.eye(P, dtype=torch.bool, device=x.device)[None, None]
        q_pad = x.new_zeros(B, P, H, hd)
        for blk, (k_buf, v_buf) in zip(self.blocks, caches):
            a = blk.attn
            qkv = a.qkv(blk.ln1(x)).view(N, 3, H, hd)
            qk = qkv[:, :2] if rope is None else _rope(qkv[:, :2], *rope)
            q_pad[real] = qk[:, 0]
            k_buf.transpose(1, 2)[:, :P][real] = qk[:, 1]
            v_buf.transpose(1, 2)[:, :P][real] = qkv[:, 2]
            y = F.scaled_dot_product_attention(q_pad.transpose(1, 2), k_buf[:, :, :P], v_buf[:, :, :P], attn_mask=mask)
            x = x + a.proj(y.transpose(1, 2)[real].reshape(N, C))
            x = x + blk.mlp(blk.ln2(x))
        last = real.sum(1).cumsum(0) - 1  # each row's last real token in the packed order
        return self.head(self.ln_f(x[last]))

    def _step(self, nxt: torch.Tensor, pos: torch.Tensor, caches, bias: torch.Tensor, at: int, rope_tab):
        """One decoding step for the batch: tokens ``nxt`` (B,) at positions ``pos`` (B,) write column ``at`` of the
        caches and attend over all their columns under the additive ``bias`` (B, H, 1, total); logits (B, V)."""
        B = nxt.shape[0]
        C, H = self.cfg.n_embd, self.cfg.n_head
        hd = C // H
        x = self.wte(nxt)
        if self.wpe is not None:
            x = x + self.wpe(pos)
        rope = None if rope_tab is None else (rope_tab[0][pos][:, None, None], rope_tab[1][pos][:, None, None])
        scale = hd**-0.5
        bias3 = bias.view(B * H, 1, -1)
        for blk, (k_buf, v_buf) in zip(self.blocks, caches):
            a = blk.attn
            qkv = a.qkv(blk.ln1(x)).view(B, 3, H, hd)
            qk = qkv[:, :2] if rope is None else _rope(qkv[:, :2], *rope)
            k_buf[:, :, at] = qk[:, 1]
            v_buf[:, :, at] = qkv[:, 2]
            q = qk[:, 0].reshape(B * H, 1, hd)
            att = torch.baddbmm(bias3, q, k_buf.view(B * H, -1, hd).transpose(1, 2), alpha=scale).softmax(-1)
            x = x + a.proj(torch.bmm(att, v_buf.view(B * H, -1, hd)).view(B, C))
            x = x + blk.mlp(blk.ln2(x))
        return self.head(self.ln_f(x))
