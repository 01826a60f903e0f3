"""Masked structural growth (MSG, Yao et al., ICLR 2024) of a trained ``Transformer`` to a larger config.

``grow(old, target)`` returns a ``GrowingTransformer``: a plain ``Transformer`` of the target config (its
parameters, named as from scratch) plus mask buffers, with a forward that applies the masks. Every new
weight is drawn by ``train.mup.init_parameter`` at the target config (real random init, not zeros); every old
weight is copied into the leading block of its grown tensor. At mask 0 the grown model computes the old
model's function; ``set_mask`` ramps the masks (``MaskRamp``) and at mask 1 the masked forward is the plain
forward of the target config, so ``fold`` returns an ordinary ``Transformer`` (strict state-dict load).

The operators, each function-preserving at mask 0 (``m`` is the mask value of the new structure):

- hidden size d -> d': the ``hidden_mask`` (1 on the old d dims, m on the new ones) multiplies the embedding
  output and every residual write, so the new dims of the residual stream are exactly 0 at m = 0. The
  mask-aware RMSNorm divides the sum of squares by the number of active dims, ``hidden_mask.sum()``
  (d + m (d' - d)): at m = 0 that is the old RMSNorm over the old dims (the new ones are 0), at m = 1 it is
  plain RMSNorm over d'. Projections read the normalised state, whose new dims are 0 at m = 0, so their
  new input columns do not contribute. The head dimension is fixed (``n_heads x head_dim = dim``), so
  widening also adds heads (next item).
  muP: the logit scale ``output_mult / width_mult`` changes with the width; the old head weight is
  multiplied by ``new_width_mult / old_width_mult``, so ``scale_new x W_head`` equals ``scale_old x W_old``
  (exact up to one rounding), and the grown model keeps the plain forward's logit scale.
- attention heads (new rows of wq/wk/wv, new columns of wo): the ``head_mask`` (1 old heads, m new) multiplies
  each head's attention output before wo. GQA is handled when the query heads per key/value head stay the
  same (the old heads keep their key/value heads); otherwise ``grow`` refuses.
- FFN size (new rows of w1/w3, new columns of w2): the ``ffn_mask`` (1 old units, m new) multiplies the
  SwiGLU activations ``silu(w1 x) * w3 x`` before w2.
- depth: new blocks (full target width) whose two residual branches are multiplied by ``layer_mask`` (m),
  so at m = 0 a new block is the identity. Placement (``depth_plan``): ``"stack"`` appends the new blocks
  on top; ``"uniform"`` spreads them evenly, old layer j followed by round((j+1) k/n) - round(j k/n) of the
  k new ones (rounding half up); ``"distance"`` (default) runs the old model on a calibration batch and
  scores each old layer j by the distance between its input and output hidden states, mean over tokens of
  ``1 - cos(h_j, h_{j+1})``; new blocks go, one at a time, after the layer with the largest score
  ``distance_j / (1 + new blocks already after j)`` (ties: the lower layer), i.e. after the layers that
  change the representation most, sharing that change among the blocks placed there. Layers are then
  renumbered 0..n'-1 as in a from-scratch model.

``grow_optimizer`` carries the AdamW state across the growth (old moments in the leading blocks, 0 on new
entries, the head's moments rescaled with its weight), rebuilds the muP groups and learning rates at the new
width, and keeps the schedule going (no re-warmup); its docstring gives the rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from train import mup
from train.config import ModelConfig, OptimizerConfig
from train.model import Transformer

DEPTH_RULES = ("distance", "uniform", "stack")
# Config fields that growth may change; every other field must be the same in the old and target configs.
GROWABLE_FIELDS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "mup_scale_factor")


@dataclass(frozen=True)
class MaskRamp:
    """The mask value at a step: 0 before ``start``, then linear up to 1 over ``steps`` steps (1 from
    ``start + steps`` on; ``steps`` 0 jumps to 1 at ``start``)."""

    steps: int
    start: int = 0

    def __post_init__(self):
        if self.steps < 0 or self.start < 0:
            raise ValueError(f"ramp steps and start must be >= 0, got {self.steps}, {self.start}")

    def value(self, step: int) -> float:
        if step < self.start:
            return 0.0
        if self.steps == 0:
            return 1.0
        return min(1.0, (step - self.start) / self.steps)


def check_growth(old: ModelConfig, target: ModelConfig) -> None:
    """Raise ``ValueError`` unless ``target`` is ``old`` grown: same fixed fields, no size smaller, GQA groups kept."""
    changed = {k for k in ModelConfig.model_fields if k not in GROWABLE_FIELDS and getattr(old, k) != getattr(target, k)}
    if changed:
        raise ValueError(f"growth changes only {', '.join(GROWABLE_FIELDS)}; these differ: {sorted(changed)}")
    if old.embedding_rows != target.embedding_rows:
        raise ValueError(f"embedding rows differ: {old.embedding_rows} -> {target.embedding_rows}")
    for field in ("dim", "n_layers", "n_heads", "ffn_dim"):
        if getattr(target, field) < getattr(old, field):
            raise ValueError(f"growth cannot shrink {field}: {getattr(old, field)} -> {getattr(target, field)}")
    if target.kv_heads < old.kv_heads or old.n_heads // old.kv_heads != target.n_heads // target.kv_heads:
        raise ValueError(f"GQA growth must keep the query heads per key/value head: {old.n_heads}/{old.kv_heads} -> "
                         f"{target.n_heads}/{target.kv_heads}")


@torch.no_grad()
def layer_distances(model: Transformer, tokens: torch.Tensor) -> list[float]:
    """Per layer j, the mean over tokens of ``1 - cos(input of layer j, output of layer j)`` on ``tokens``."""
    h = model.tok_embeddings(tokens) * model.input_mult
    seq = tokens.shape[1]
    cos, sin = model.rope_cos[:seq], model.rope_sin[:seq]
    distances = []
    for layer in model.layers.values():
        out = layer(h, cos, sin)
        distances.append(float((1 - F.cosine_similarity(h.float(), out.float(), dim=-1)).mean()))
        h = out
    return distances


def depth_plan(n_old: int, n_new: int, rule: str = "distance", distances: Sequence[float] | None = None) -> list[int]:
    """The new index of each old layer when ``n_old`` layers grow to ``n_new`` (the other indices are new
    blocks); ``distances`` (``layer_distances``) are needed by the ``"distance"`` rule."""
    if rule not in DEPTH_RULES:
        raise ValueError(f"depth rule must be one of {DEPTH_RULES}, got {rule!r}")
    if n_new < n_old:
        raise ValueError(f"cannot grow {n_old} layers to {n_new}")
    added = n_new - n_old
    after = [0] * n_old  # new blocks placed right after each old layer
    if rule == "stack":
        after[-1] = added
    elif rule == "uniform":
        def cut(j: int) -> int:
            return math.floor(j * added / n_old + 0.5)
        after = [cut(j + 1) - cut(j) for j in range(n_old)]
    else:
        if distances is None or len(distances) != n_old:
            raise ValueError(f"the distance rule needs one distance per old layer ({n_old})")
        for _ in range(added):
            scores = [d / (1 + a) for d, a in zip(distances, after)]
            after[max(range(n_old), key=lambda j: (scores[j], -j))] += 1
    plan, index = [], 0
    for j in range(n_old):
        plan.append(index)
        index += 1 + after[j]
    return plan


class GrowingTransformer(nn.Module):
    """A target-config ``Transformer`` (``self.model``) with masks on its new structure; see the module doc."""

    def __init__(self, model: Transformer, old_config: ModelConfig, old_layers: Sequence[int]):
        super().__init__()
        self.model = model
        self.old_config = old_config
        self.old_layers = list(old_layers)
        config = model.config
        self.register_buffer("hidden_mask", torch.ones(config.dim))
        self.register_buffer("head_mask", torch.ones(config.n_heads))
        self.register_buffer("ffn_mask", torch.ones(config.ffn_dim))
        self.register_buffer("layer_mask", torch.ones(config.n_layers))
        self.register_buffer("mask_level", torch.zeros(()))  # the new structure's mask value, saved with the state
        self.set_mask(0.0)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def mask_value(self) -> float:
        return float(self.mask_level)

    @torch.no_grad()
    def set_mask(self, value: float) -> None:
        """Set every new dimension, head, FFN unit and layer to mask ``value`` in [0, 1]."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"mask value must be in [0, 1], got {value}")
        self.mask_level.fill_(value)
        old = self.old_config
        for mask, n_old in ((self.hidden_mask, old.dim), (self.head_mask, old.n_heads), (self.ffn_mask, old.ffn_dim)):
            mask.fill_(value)
            mask[:n_old] = 1.0
        self.layer_mask.fill_(value)
        self.layer_mask[self.old_layers] = 1.0

    def _norm(self, x: torch.Tensor, norm: nn.RMSNorm) -> torch.Tensor:
        """RMSNorm whose statistics cover the active dims: sum of squares over ``hidden_mask.sum()``."""
        mean_square = x.float().pow(2).sum(-1, keepdim=True) / self.hidden_mask.sum()
        return (x.float() * torch.rsqrt(mean_square + norm.eps)).type_as(x) * norm.weight

    def _feed_forward(self, ffn: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return ffn.w2(F.silu(ffn.w1(x)) * ffn.w3(x) * self.ffn_mask.to(x.dtype))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        model = self.model
        seq = tokens.shape[1]
        if seq > self.config.max_seq_len:
            raise ValueError(f"sequence of {seq} tokens is longer than max_seq_len {self.config.max_seq_len}")
        hidden_mask = self.hidden_mask.to(model.tok_embeddings.weight.dtype)
        h = model.tok_embeddings(tokens) * model.input_mult * hidden_mask
        cos, sin = model.rope_cos[:seq], model.rope_sin[:seq]
        for i, layer in enumerate(model.layers.values()):
            write = hidden_mask * self.layer_mask[i].to(hidden_mask.dtype)
            h = h + write * layer.attention(self._norm(h, layer.attention_norm), cos, sin, self.head_mask)
            h = h + write * self._feed_forward(layer.feed_forward, self._norm(h, layer.ffn_norm))
        return model.output(self._norm(h, model.norm)) * model.logit_scale

    def fold(self) -> Transformer:
        """At mask 1: an ordinary ``Transformer`` of the target config holding these weights (strict load)."""
        if self.mask_value != 1.0:
            raise ValueError(f"fold needs the masks at 1, they are at {self.mask_value}")
        device = self.model.tok_embeddings.weight.device
        with torch.device("meta"):
            plain = Transformer(self.config)
        plain.to_empty(device=device)
        plain.init_rope(device)
        plain.load_state_dict(self.model.state_dict(), strict=True)
        return plain


@torch.no_grad()
def grow(old: Transformer, target: ModelConfig, *, depth_rule: str = "distance",
         calibration_tokens: torch.Tensor | None = None, seed: int = 0) -> GrowingTransformer:
    """Grow ``old`` to ``target`` (any of hidden size with its heads, FFN size and depth, or all at once);
    new weights are drawn from ``seed`` by their muP role at the target config. The ``"distance"`` depth rule
    needs ``calibration_tokens`` when layers are added."""
    source = old.config
    check_growth(source, target)
    if target.n_layers > source.n_layers and depth_rule == "distance":
        if calibration_tokens is None:
            raise ValueError("the distance depth rule needs calibration_tokens")
        plan = depth_plan(source.n_layers, target.n_layers, "distance", layer_distances(old, calibration_tokens))
    else:
        plan = depth_plan(source.n_layers, target.n_layers, "stack" if depth_rule == "distance" else depth_rule)
    device = old.tok_embeddings.weight.device
    new = Transformer(target, seed=seed).to(device)  # every weight drawn by init_parameter at its final name
    new_params = dict(new.named_parameters())
    scale = head_scale(source, target)  # keeps the muP logit scale's product with the head weight
    for name, value in old.named_parameters():
        _copy_leading(new_params[grown_name(name, plan)], value * scale if name == HEAD else value)
    return GrowingTransformer(new, source, plan)


HEAD = "output.weight"


def head_scale(old: ModelConfig, target: ModelConfig) -> float:
    """The factor ``s = new width_mult / old width_mult`` by which ``grow`` multiplies the old LM head weight."""
    return target.width_mult / old.width_mult


def grown_name(name: str, old_layers: Sequence[int]) -> str:
    """The name in the grown model of the old parameter ``name``: layer ``j`` becomes layer ``old_layers[j]``."""
    if name.startswith("layers."):
        _, index, rest = name.split(".", 2)
        return f"layers.{old_layers[int(index)]}.{rest}"
    return name


def _copy_leading(out: torch.Tensor, value: torch.Tensor) -> None:
    """Copy ``value`` into the leading block of ``out`` (same number of dims, each at least as large)."""
    out[tuple(slice(0, n) for n in value.shape)] = value.to(out.dtype)


@torch.no_grad()
def grow_optimizer(old: Transformer, old_optimizer: torch.optim.Optimizer, grown: GrowingTransformer,
                   optimizer_config: OptimizerConfig) -> torch.optim.AdamW:
    """The AdamW of ``grown.model`` that continues ``old_optimizer`` (the AdamW of ``old``, built by
    ``mup.build_optimizer``) across the growth ``grown = grow(old, ...)``. ``old_optimizer`` is not changed.

    Groups and learning rates: the new optimizer is ``mup.build_optimizer`` on ``grown.model`` at the target
    config with ``optimizer_config``'s base learning rates, so every parameter, old or new, is in its muP group
    and every group's ``peak_lr`` (and weight decay) follows the new width multiplier: the hidden matrices'
    peak is ``lr_matrix / new width_mult``, so their old entries move at the new, smaller learning rate (the
    muP rule; ``lr x weight_decay`` of the matrices stays put); vector-like groups keep ``lr_vector``. Each
    group's current ``lr`` is its new peak times the old group's ``lr / peak_lr`` (the schedule factor in effect).

    Schedule rule at a growth step: the step counter continues (the run's step, and AdamW's per-parameter
    ``step``); there is no new warmup and the cosine goes on from where it was, every group at the same factor
    of its (new) peak. The new structure is brought in by the MSG mask ramp instead of a warmup; an optional
    re-warmup at growth is not done.

    Per-parameter state, at each old parameter's grown name (layers renumbered by ``grown.old_layers``, as in
    ``grow``): ``exp_avg`` and ``exp_avg_sq`` (and ``max_exp_avg_sq`` with amsgrad) are copied into the leading
    block of the grown tensor and are 0 on its new entries; ``step`` is the old parameter's. A torch AdamW
    ``step`` is one per tensor, so new entries of an old tensor share its step; so that all new structure is
    treated alike, the wholly new parameters (the blocks of new layers) get zero moments at the largest old
    step too (not step 0). With zero moments and a late step, bias correction is about 1 and a new entry's
    first updates are ``(1 - beta1) g / sqrt((1 - beta2) g^2) ~ 0.45`` of a full Adam step, growing as its
    moments fill, a gentle start; at mask 0 every new entry's gradient is exactly 0, so (without weight decay)
    new entries stay put and the function moves exactly as the old model's would.

    LM head (muP readout): ``grow`` multiplies the old head weight by ``s = new width_mult / old width_mult``
    while the logit scale ``c = output_mult / width_mult`` becomes ``c / s``. Logits ``c W x`` =
    ``(c / s)(s W) x``, so the gradient with respect to the grown weight is ``dL/dW_new = (c / s) g x^T =
    dL/dW_old / s``. The moments are moved to that frame: ``exp_avg / s``, ``exp_avg_sq / s^2``, so they are the
    moments the grown weight would have collected had it always been in that frame, and later gradients
    (1/s as large) accumulate consistently. (Adam's update ``m / (sqrt(v) + eps)`` is then the old one, up to
    ``eps`` scaled by ``s``; the head's function-space step shrinks by 1/s at the same ``lr_vector``, which is
    muP's readout rule.) Gradient clipping by global norm sees the head's smaller gradient after a widening.

    Only plain (not sharded) parameters are handled; an old parameter without optimizer state (never stepped)
    leaves its grown parameter without state, and an old optimizer without any state gives a fresh one.
    """
    if grown.old_config != old.config:
        raise ValueError("grown was not grown from old: its old_config differs from old.config")
    target = grown.config
    o = optimizer_config
    optimizer = mup.build_optimizer(grown.model, target, o.lr_vector, o.lr_matrix, betas=o.betas, eps=o.eps,
                                    weight_decay=o.weight_decay)
    factors = {g["name"]: g["lr"] / g["peak_lr"] for g in old_optimizer.param_groups}
    for group in optimizer.param_groups:
        if group["name"] not in factors:
            raise ValueError(f"the old optimizer has no {group['name']!r} group")
        group["lr"] = group["peak_lr"] * factors[group["name"]]
    old_states = {name: old_optimizer.state[p] for name, p in old.named_parameters() if p in old_optimizer.state}
    if not old_states:
        return optimizer
    steps = [state["step"] for state in old_states.values()]
    last_step = max(steps, key=float)
    scale = head_scale(old.config, target)
    moved = {grown_name(name, grown.old_layers): (name, state) for name, state in old_states.items()}
    old_names = {grown_name(name, grown.old_layers) for name, _ in old.named_parameters()}
    for name, param in grown.model.named_parameters():
        if name in moved:
            old_name, old_state = moved[name]
            state = {}
            for key, value in old_state.items():
                if key == "step" or value.dim() == 0:
                    state[key] = value.clone()
                    continue
                if old_name == HEAD:
                    value = value / scale if key == "exp_avg" else value / scale**2
                out = torch.zeros_like(param, dtype=value.dtype, memory_format=torch.preserve_format)
                _copy_leading(out, value)
                state[key] = out
        elif name in old_names:
            continue  # an old parameter without state keeps none
        else:
            sample = next(iter(old_states.values()))
            state = {key: value.clone() if key == "step" or value.dim() == 0 else
                     torch.zeros_like(param, dtype=value.dtype, memory_format=torch.preserve_format)
                     for key, value in sample.items()}
            state["step"] = last_step.clone()
        optimizer.state[param] = state
    return optimizer
