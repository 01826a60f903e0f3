"""The Tele-FLM decoder: pre-norm RMSNorm, RoPE, causal multi-head attention, SwiGLU, untied LM head.

It matches the released checkpoints' computation (Llama layout, see ``train/mup.py`` for the sources):
no linear biases, RoPE with theta 10,000 in the rotate-half layout of the Hugging Face checkpoints,
attention scaled by ``1 / sqrt(head_dim)``, the embedding output multiplied by ``input_mult`` and the
logits by ``output_mult / mup_scale_factor``.

The model knows nothing of parallelism but is laid out for it, as torchtitan's Llama is: layers live in
an ``nn.ModuleDict`` keyed by their index (a pipeline stage deletes the ones it does not run), and
``tok_embeddings``, ``norm`` and ``output`` may be set to None (the forward then takes or returns hidden
states); attention infers its head count from the projection's width, so a tensor-parallel shard with
fewer local heads runs unchanged; RoPE tables are non-persistent buffers recomputed by ``init_rope``,
so ``torch.device("meta")`` construction, ``to_empty`` and ``init_weights`` give a fully initialised model.
The weights are a function of the seed alone (``train.mup.init_parameter``: blocks seeded by parameter
name), not of the global random state.

Growth masks (``train.grow`` sets them while a grown model ramps its new structure in; None otherwise):
``embed_mask`` and each block's ``branch_mask`` scale the embedding output and the residual writes per
hidden dim, ``head_mask`` each head's attention output, ``unit_mask`` the SwiGLU activations, and a norm's
``active_dims`` is the number of hidden dims its mean square is taken over. They are non-persistent
buffers, sized to what the module holds (a tensor-parallel shard gets its slice), so a state dict never
has them and a model without them is the plain model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from train import mup
from train.config import ModelConfig


def rope_tables(head_dim: int, max_seq_len: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every position's rotation angles, ``(max_seq_len, head_dim // 2)`` each, in float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(max_seq_len, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (batch, seq, heads, head_dim): pairs are (i, i + head_dim/2), as in the HF Llama layout.
    ``cos``/``sin`` are (seq, head_dim/2), or (batch, seq, head_dim/2) for per-row positions."""
    first, second = x.float().chunk(2, dim=-1)
    if cos.dim() == 2:
        cos, sin = cos[None], sin[None]
    cos, sin = cos[:, :, None, :], sin[:, :, None, :]
    rotated = torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)
    return rotated.type_as(x)


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` whose mean square can be taken over ``active_dims`` dims (growth: new dims are masked
    and count only in part); None: over all, the fused plain norm."""

    active_dims: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active_dims is None:
            return super().forward(x)
        mean_square = x.float().pow(2).sum(-1, keepdim=True) / self.active_dims
        return (x.float() * torch.rsqrt(mean_square + self.eps)).type_as(x) * self.weight


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.head_dim = config.head_dim
        self.register_buffer("head_mask", None, persistent=False)
        self.wq = nn.Linear(config.dim, config.n_heads * config.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.kv_heads * config.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.kv_heads * config.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * config.head_dim, config.dim, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask`` (batch, seq, seq), True where a position may attend: packed documents; None: causal."""
        batch, seq, _ = x.shape
        # -1 heads: a tensor-parallel shard holds fewer heads than the config says.
        q = self.wq(x).view(batch, seq, -1, self.head_dim)
        k = self.wk(x).view(batch, seq, -1, self.head_dim)
        v = self.wv(x).view(batch, seq, -1, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        gqa = k.shape[1] != q.shape[1]
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None], enable_gqa=gqa)
        out = out.transpose(1, 2)
        if self.head_mask is not None:
            out = out * self.head_mask[:, None].to(out.dtype)
        return self.wo(out.reshape(batch, seq, -1))


class FeedForward(nn.Module):
    """SwiGLU: ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.w1 = nn.Linear(config.dim, config.ffn_dim, bias=False)
        self.w3 = nn.Linear(config.dim, config.ffn_dim, bias=False)
        self.w2 = nn.Linear(config.ffn_dim, config.dim, bias=False)
        self.register_buffer("unit_mask", None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        units = F.silu(self.w1(x)) * self.w3(x)
        if self.unit_mask is not None:
            units = units * self.unit_mask.to(units.dtype)
        return self.w2(units)


class TransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, eps=config.norm_eps)
        self.attention = Attention(config)
        self.ffn_norm = RMSNorm(config.dim, eps=config.norm_eps)
        self.feed_forward = FeedForward(config)
        self.register_buffer("branch_mask", None, persistent=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if self.branch_mask is None else self.branch_mask.to(x.dtype)
        attention = self.attention(self.attention_norm(x), cos, sin, attention_mask)
        h = x + (attention if mask is None else attention * mask)
        feed_forward = self.feed_forward(self.ffn_norm(h))
        return h + (feed_forward if mask is None else feed_forward * mask)


class Transformer(nn.Module):
    """Tokens (or a previous pipeline stage's hidden states) in, logits (or hidden states) out."""

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.input_mult = config.input_mult if config.use_mup else 1.0
        self.logit_scale = config.output_mult / config.width_mult if config.use_mup else 1.0
        self.tok_embeddings = nn.Embedding(config.embedding_rows, config.dim)
        self.layers = nn.ModuleDict({str(i): TransformerBlock(config) for i in range(config.n_layers)})
        self.norm = RMSNorm(config.dim, eps=config.norm_eps)
        self.output = nn.Linear(config.dim, config.embedding_rows, bias=False)
        self.register_buffer("rope_cos", torch.empty(config.max_seq_len, config.head_dim // 2), persistent=False)
        self.register_buffer("rope_sin", torch.empty(config.max_seq_len, config.head_dim // 2), persistent=False)
        self.register_buffer("embed_mask", None, persistent=False)
        self.init_weights(seed)

    def init_weights(self, seed: int = 0, buffer_device: torch.device | str | None = None) -> None:
        """(Re)compute the RoPE tables and draw every weight by its muP role from ``seed``; call after ``to_empty``."""
        self.init_rope(buffer_device)
        mup.init_parameters(self.named_parameters(), self.config, seed)

    def init_rope(self, device: torch.device | str | None = None) -> None:
        """(Re)compute the RoPE tables, which no checkpoint holds; enough after ``to_empty`` when every weight
        is then loaded."""
        self.rope_cos, self.rope_sin = rope_tables(
            self.config.head_dim, self.config.max_seq_len, self.config.rope_theta, device=device or self.rope_cos.device
        )

    def forward(self, tokens: torch.Tensor, documents: torch.Tensor | None = None) -> torch.Tensor:
        """``tokens`` (batch, seq) of ids, or (batch, seq, dim) hidden states on a stage without embeddings.
        ``documents`` (batch, seq): which packed document each position belongs to (consecutive positions
        of one id); attention stays within a document and positions restart at each, so a packed row
        computes what its documents would alone. None: one document per row."""
        seq = tokens.shape[1]
        if seq > self.config.max_seq_len:
            raise ValueError(f"sequence of {seq} tokens is longer than max_seq_len {self.config.max_seq_len}")
        if self.tok_embeddings is not None:
            h = self.tok_embeddings(tokens) * self.input_mult
            h = h if self.embed_mask is None else h * self.embed_mask.to(h.dtype)
        else:
            h = tokens
        cos, sin = self.rope_cos[:seq], self.rope_sin[:seq]
        attention_mask = None
        if documents is not None:
            positions, attention_mask = document_positions_and_mask(documents)
            cos, sin = self.rope_cos[positions], self.rope_sin[positions]
        for layer in self.layers.values():
            h = layer(h, cos, sin, attention_mask)
        if self.norm is not None:
            h = self.norm(h)
        return self.output(h) * self.logit_scale if self.output is not None else h


def document_positions_and_mask(documents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per position its index within its document, and the (batch, seq, seq) mask of causal attention
    within a document, for rows of packed documents (``documents``: an id per position, runs of one id)."""
    seq = documents.shape[1]
    index = torch.arange(seq, device=documents.device).expand_as(documents)
    starts = torch.ones_like(documents, dtype=torch.bool)
    starts[:, 1:] = documents[:, 1:] != documents[:, :-1]
    first = torch.where(starts, index, torch.zeros_like(index)).cummax(dim=1).values
    causal = torch.ones(seq, seq, dtype=torch.bool, device=documents.device).tril()
    return index - first, (documents[:, :, None] == documents[:, None, :]) & causal


def cross_entropy_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean next-token loss; ``targets`` are the inputs shifted by one (``ignore_index`` where there is none)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(0, 1), ignore_index=ignore_index)
