"""Masked structural growth (MSG, Yao et al., ICLR 2024) of a trained ``Transformer`` to a larger config.

A grown model is a plain ``Transformer`` of the target config (its parameters named as from scratch) with
growth masks set on its modules (``set_masks``; ``train.model`` applies them): non-persistent buffers,
sliced per tensor-parallel shard as the weights are, so every layout runs them and no state dict holds
them. ``Growth`` records what they need (old and target configs, where the old layers went, the
``MaskRamp``) and goes into every checkpoint written during the ramp. Every new weight is drawn by
``train.mup.init_parameter`` at the target config (real random init, not zeros); every old weight goes into
the leading block of its grown tensor. At mask 0 the grown model computes the old model's function; at 1
the masks are removed, which folds it into an ordinary model of the target config.

Where the growth runs: ``grow`` (and ``grow_optimizer``) in one process on a model in memory;
``grow_from_checkpoint`` on each rank's shards from a checkpoint of the old model, which is how the
trainer grows a run at any layout (``growth:`` stages of a run config) and how ``python -m train.grow``
grows a saved run offline; both use the same per-tensor rules (``place_old``, ``grown_state``), so they
give the same weights and AdamW state.

The operators, each function-preserving at mask 0 (``m`` is the mask value of the new structure):

- hidden size d -> d': a hidden mask (1 on the old d dims, m on the new ones) multiplies the embedding output
  and every residual write, so the new dims of the residual stream are exactly 0 at m = 0. The mask-aware
  RMSNorm divides the sum of squares by the number of active dims, d + m (d' - d): at m = 0 that is the old
  RMSNorm over the old dims (the new ones are 0), at m = 1 it is plain RMSNorm over d'. Projections read the
  normalised state, whose new dims are 0 at m = 0, so their new input columns do not contribute. The head
  dimension is fixed (``n_heads x head_dim = dim``), so widening also adds heads (next item). muP: the logit
  scale ``output_mult / width_mult`` changes with the width (and with ``output_mult``, which a target may also
  change: the released 1T has 2.0 at width multiplier 80, the 52B 0.5 at 16, 102B at 20, the same 0.025 as
  1T); the old head weight is multiplied by ``s = old logit scale / new logit scale`` (``new_width_mult /
  old_width_mult`` when ``output_mult`` is kept), so ``scale_new x W_head`` equals ``scale_old x W_old``
  (exact up to one rounding), and the grown model keeps the plain forward's logit scale.
- attention heads (new rows of wq/wk/wv, new columns of wo): a head mask (1 old heads, m new) multiplies each
  head's attention output before wo. GQA is handled when the query heads per key/value head stay the same (the
  old heads keep their key/value heads); otherwise ``grow`` refuses.
- FFN size (new rows of w1/w3, new columns of w2): a unit mask (1 old units, m new) multiplies the SwiGLU
  activations ``silu(w1 x) * w3 x`` before w2.
- depth: new blocks (full target width) whose two residual branches are multiplied by m, so at m = 0 a new
  block is the identity. Placement (``depth_plan``): ``"stack"`` appends the new blocks on top; ``"uniform"``
  spreads them evenly, old layer j followed by round((j+1) k/n) - round(j k/n) of the k new ones (rounding
  half up); ``"distance"`` (default) runs the old model on a calibration batch (``ProbeLayerDistances``: at
  any layout, the ranks' sums added up) and scores each old layer j by the distance between its input and
  output hidden states, mean over tokens of ``1 - cos(h_j, h_{j+1})``; new blocks go, one at a time, after the
  layer with the largest score ``distance_j / (1 + new blocks already after j)`` (ties: the lower layer), i.e.
  after the layers that change the representation most, sharing that change among the blocks placed there.
  Layers are then renumbered 0..n'-1 as in a from-scratch model.

``grow_optimizer`` carries the AdamW state across the growth (old moments in the leading blocks, 0 on new
entries, the head's moments rescaled with its weight), rebuilds the muP groups and learning rates at the new
width, and keeps the schedule going (no re-warmup); its docstring gives the rules.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

from datapipe.cli import main_of
from train import mup
from train.checkpoint import CheckpointError, read_tensors, save_checkpoint, set_rng_state, tensor_shapes, verify
from train.collectives import sum_over_ranks
from train.config import ModelConfig, OptimizerConfig, TrainConfig, load_model_config
from train.data import TokenSamples
from train.model import RMSNorm, Transformer

DEPTH_RULES = ("distance", "uniform", "stack")
# Config fields that growth may change; every other field must be the same in the old and target configs.
GROWABLE_FIELDS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "mup_scale_factor", "output_mult")


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


def keep_vocabulary_rows(old: ModelConfig, target: ModelConfig) -> ModelConfig:
    """``target`` with ``old``'s embedding and LM-head rows: growth keeps the vocabulary (new LM-head rows
    would add logits to every softmax, so no growth of them is function-preserving), whatever padding the
    target's config names (the released 1T pads to 81,920 rows, the 52B it grows from to 80,384)."""
    if target.embedding_rows == old.embedding_rows:
        return target
    return target.with_changes(padded_vocab_size=old.embedding_rows, pad_vocab_to_multiple_of=None)


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


@dataclass(frozen=True)
class Growth:
    """One growth of a model: the old and target configs, where the old layers went, and the mask ramp. It is
    all the masks need (``set_masks``), and goes into every checkpoint written during the ramp."""

    old: ModelConfig
    target: ModelConfig
    old_layers: tuple[int, ...]
    ramp: MaskRamp

    def to_json(self) -> dict:
        return {"old": self.old.model_dump(), "target": self.target.model_dump(), "old_layers": list(self.old_layers),
                "ramp": {"start": self.ramp.start, "steps": self.ramp.steps}}

    @classmethod
    def from_json(cls, data: dict) -> Growth:
        return cls(ModelConfig.model_validate(data["old"]), ModelConfig.model_validate(data["target"]),
                   tuple(data["old_layers"]), MaskRamp(**data["ramp"]))

    def old_name(self, name: str) -> str | None:
        """The old parameter a grown parameter ``name`` grew from; None for a block of a new layer."""
        if not name.startswith("layers."):
            return name
        _, index, rest = name.split(".", 2)
        if int(index) not in self.old_layers:
            return None
        return f"layers.{self.old_layers.index(int(index))}.{rest}"


def _mask(n_old: int, n_new: int, value: float, shard: tuple[int, int] = (0, 1)) -> torch.Tensor | None:
    """1 on the first ``n_old`` of ``n_new`` entries and ``value`` on the others, this TP shard's slice of it
    (``shard``: rank, size); None when all of it is 1."""
    rank, size = shard
    mask = torch.full((n_new,), value)
    mask[:n_old] = 1.0
    mask = mask.chunk(size)[rank]
    return None if bool((mask == 1.0).all()) else mask


@torch.no_grad()
def set_masks(parts: Sequence[Transformer], growth: Growth, value: float, tp_rank: int = 0, tp: int = 1) -> None:
    """Put the masks of ``growth`` at ``value`` on this rank's model parts (whole models, pipeline stages,
    tensor-parallel shards: heads and FFN units are sharded over ``tp`` as the weights are); at 1 they are
    removed, which folds the grown model into the plain model of the target config."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"mask value must be in [0, 1], got {value}")
    old, new = growth.old, growth.target
    full = value == 1.0
    hidden = None if full else _mask(old.dim, new.dim, value)
    active = None if full or old.dim == new.dim else old.dim + value * (new.dim - old.dim)
    for part in parts:
        device = next(part.parameters()).device
        on = (lambda m: None if m is None else m.to(device))  # noqa: E731
        part.embed_mask = on(hidden)
        for module in part.modules():
            if isinstance(module, RMSNorm):
                module.active_dims = active
        for key, block in part.layers.items():
            if full or int(key) in growth.old_layers:
                branch = hidden
            else:  # a new layer: both residual branches at value (times the hidden mask)
                branch = (torch.ones(new.dim) if hidden is None else hidden) * value
            block.branch_mask = on(branch)
            block.attention.head_mask = on(None if full else _mask(old.n_heads, new.n_heads, value, (tp_rank, tp)))
            block.feed_forward.unit_mask = on(None if full else _mask(old.ffn_dim, new.ffn_dim, value, (tp_rank, tp)))


class ProbeLayerDistances:
    """Forward hooks on the blocks of ``parts`` that add up ``1 - cos(input, output)`` per token of each
    layer (by its index in the whole model) while forwards run; ``distances()`` sums over all ranks, so
    pipeline stages each hold their layers, sequence-parallel shards their tokens, data-parallel ranks
    their batch, and the result is the mean over every token seen, the same on every rank."""

    def __init__(self, parts: Sequence[Transformer], n_layers: int, device: torch.device | str = "cpu"):
        self.totals = torch.zeros(n_layers, 2, dtype=torch.float64, device=device)
        self.handles = [block.register_forward_hook(self._hook(int(key))) for part in parts for key, block in part.layers.items()]

    def _hook(self, index: int):
        def hook(_module, args, output):
            x, out = args[0], output
            distance = 1 - F.cosine_similarity(x.float(), out.float(), dim=-1)
            self.totals[index, 0] += distance.sum().double()
            self.totals[index, 1] += distance.numel()
        return hook

    def distances(self) -> list[float]:
        for handle in self.handles:
            handle.remove()
        totals = sum_over_ranks(self.totals)
        if bool((totals[:, 1] == 0).any()):
            raise ValueError("no token reached some layers: the calibration forward did not run every layer")
        return (totals[:, 0] / totals[:, 1]).cpu().tolist()


@torch.no_grad()
def layer_distances(model: Transformer, tokens: torch.Tensor) -> list[float]:
    """Per layer j, the mean over tokens of ``1 - cos(input of layer j, output of layer j)`` on ``tokens``."""
    probe = ProbeLayerDistances([model], model.config.n_layers)
    model(tokens)
    return probe.distances()


def plan_growth(old: ModelConfig, target: ModelConfig, ramp: MaskRamp, depth_rule: str = "distance",
                distances: Sequence[float] | None = None) -> Growth:
    """The ``Growth`` of ``old`` to ``target``; the ``"distance"`` rule needs ``layer_distances`` when
    layers are added (without new layers every rule places nothing)."""
    check_growth(old, target)
    if target.n_layers == old.n_layers or depth_rule != "distance":
        plan = depth_plan(old.n_layers, target.n_layers, "stack" if depth_rule == "distance" else depth_rule)
    elif distances is None:
        raise ValueError("the distance depth rule needs the old layers' distances (calibration tokens)")
    else:
        plan = depth_plan(old.n_layers, target.n_layers, "distance", distances)
    return Growth(old, target, tuple(plan), ramp)


class GrowingTransformer(nn.Module):
    """A target-config ``Transformer`` (``self.model``) with the masks of ``growth`` on it, in one process;
    see the module doc."""

    def __init__(self, model: Transformer, growth: Growth):
        super().__init__()
        self.model = model
        self.growth = growth
        self.mask_value = 0.0
        self.set_mask(0.0)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def old_config(self) -> ModelConfig:
        return self.growth.old

    @property
    def old_layers(self) -> list[int]:
        return list(self.growth.old_layers)

    def set_mask(self, value: float) -> None:
        """Set every new dimension, head, FFN unit and layer to mask ``value`` in [0, 1]."""
        set_masks([self.model], self.growth, value)
        self.mask_value = value

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def fold(self) -> Transformer:
        """At mask 1: the model without masks, an ordinary ``Transformer`` of the target config."""
        if self.mask_value != 1.0:
            raise ValueError(f"fold needs the masks at 1, they are at {self.mask_value}")
        return self.model


@torch.no_grad()
def grow(old: Transformer, target: ModelConfig, *, depth_rule: str = "distance",
         calibration_tokens: torch.Tensor | None = None, seed: int = 0) -> GrowingTransformer:
    """Grow ``old`` to ``target`` (any of hidden size with its heads, FFN size and depth, or all at once);
    new weights are drawn from ``seed`` by their muP role at the target config. The ``"distance"`` depth rule
    needs ``calibration_tokens`` when layers are added."""
    source = old.config
    check_growth(source, target)
    distances = None
    if target.n_layers > source.n_layers and depth_rule == "distance":
        if calibration_tokens is None:
            raise ValueError("the distance depth rule needs calibration_tokens")
        distances = layer_distances(old, calibration_tokens)
    growth = plan_growth(source, target, MaskRamp(0), depth_rule, distances)
    device = old.tok_embeddings.weight.device
    new = Transformer(target, seed=seed).to(device)  # every weight drawn by init_parameter at its final name
    old_params = dict(old.named_parameters())
    for name, param in new.named_parameters():
        old_name = growth.old_name(name)
        if old_name is not None:
            place_old(param, old_params[old_name], name, growth)
    return GrowingTransformer(new, growth)


HEAD = "output.weight"


def head_scale(old: ModelConfig, target: ModelConfig) -> float:
    """The factor ``s`` by which ``grow`` multiplies the old LM head weight: the old logit scale over the new
    (``output_mult / width_mult``; ``new width_mult / old width_mult`` when ``output_mult`` is kept)."""
    def logit_scale(config: ModelConfig) -> float:
        return config.output_mult / config.width_mult if config.use_mup else 1.0
    return logit_scale(old) / logit_scale(target)


def grown_name(name: str, old_layers: Sequence[int]) -> str:
    """The name in the grown model of the old parameter ``name``: layer ``j`` becomes layer ``old_layers[j]``."""
    if name.startswith("layers."):
        _, index, rest = name.split(".", 2)
        return f"layers.{old_layers[int(index)]}.{rest}"
    return name


def _local_box(tensor: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """This rank's values of ``tensor`` and where they sit in the whole tensor (a DTensor's local shard)."""
    if isinstance(tensor, DTensor):
        _, offset = compute_local_shape_and_global_offset(tensor.shape, tensor.device_mesh, tensor.placements)
        return tensor.to_local(), tuple(offset)
    return tensor, (0,) * tensor.dim()


def _copy_leading(out: torch.Tensor, value: torch.Tensor) -> None:
    """Copy ``value`` (whole, on any device) into the leading block of ``out`` (a tensor or a DTensor shard,
    each dim at least as large), each rank only where its shard overlaps it."""
    local, offset = _local_box(out)
    region_out, region_in = [], []
    for start, size, old in zip(offset, local.shape, value.shape):
        stop = min(start + size, old)
        if stop <= start:
            return
        region_out.append(slice(0, stop - start))
        region_in.append(slice(start, stop))
    local[tuple(region_out)] = value[tuple(region_in)].to(local.device, local.dtype)


def place_old(param: torch.Tensor, value: torch.Tensor, name: str, growth: Growth) -> None:
    """Put an old weight (whole) into the leading block of its grown parameter; the LM head times ``head_scale``."""
    _copy_leading(param, value * head_scale(growth.old, growth.target) if name == HEAD else value)


def grown_state(param: torch.Tensor, old_state: dict[str, torch.Tensor] | None, step: torch.Tensor, name: str,
                growth: Growth) -> dict[str, torch.Tensor]:
    """The AdamW state of a grown parameter (see ``grow_optimizer``): its old moments (whole) in the leading
    block, in the head's rescaled frame, 0 elsewhere, at the old ``step`` (a new layer's: the largest old step)."""
    state = {"step": step.clone()}
    scale = head_scale(growth.old, growth.target) if name == HEAD else 1.0
    for key, power in (("exp_avg", 1), ("exp_avg_sq", 2)):
        state[key] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if old_state is not None:
            _copy_leading(state[key], old_state[key] / scale**power)
    return state


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

    LM head (muP readout): ``grow`` multiplies the old head weight by ``s = head_scale(old, target)`` (``new
    width_mult / old width_mult`` when ``output_mult`` is kept) while the logit scale ``c = output_mult /
    width_mult`` becomes ``c / s``. Logits ``c W x`` =
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
    optimizer = build_grown_optimizer(grown.model, optimizer_config, {g["name"]: g["lr"] / g["peak_lr"] for g in old_optimizer.param_groups})
    old_states = {name: old_optimizer.state[p] for name, p in old.named_parameters() if p in old_optimizer.state}
    if not old_states:
        return optimizer
    last_step = max((state["step"] for state in old_states.values()), key=float)
    old_names = {name for name, _ in old.named_parameters()}
    for name, param in grown.model.named_parameters():
        old_name = grown.growth.old_name(name)
        if old_name in old_names and old_name not in old_states:
            continue  # an old parameter without state keeps none
        old_state = old_states.get(old_name)
        step = old_state["step"] if old_state is not None else last_step
        optimizer.state[param] = grown_state(param, old_state, step, name, grown.growth)
    return optimizer


def build_grown_optimizer(model: Transformer, optimizer_config: OptimizerConfig,
                          schedule_factors: dict[str, float] | None = None) -> torch.optim.AdamW:
    """The muP AdamW of a grown model (part) at its config, each group's LR at its new peak times the old
    group's schedule factor (``schedule_factors`` by group name; None: at the peak, the trainer sets it)."""
    o = optimizer_config
    optimizer = mup.build_optimizer(model, model.config, o.lr_vector, o.lr_matrix, betas=o.betas, eps=o.eps,
                                    weight_decay=o.weight_decay)
    for group in optimizer.param_groups if schedule_factors is not None else ():
        if group["name"] not in schedule_factors:
            raise ValueError(f"the old optimizer has no {group['name']!r} group")
        group["lr"] = group["peak_lr"] * schedule_factors[group["name"]]
    return optimizer


@torch.no_grad()
def grow_from_checkpoint(path: str | Path, growth: Growth, parts: Sequence[Transformer],
                         optimizers: Sequence[torch.optim.Optimizer]) -> int:
    """Grow a run from its checkpoint ``path`` (written at the old config, any layout) into this rank's parts
    and their fresh optimizers (built at the target config and layout; the parts drawn from the run's seed
    at the target config, as ``parallelize`` does): every old weight goes into the leading block of its
    grown parameter and the AdamW state is ``grown_state`` of the old one, exactly what ``grow`` and
    ``grow_optimizer`` do in one process, each rank on its own shards only.

    This rank alone reads (no collective) one old parameter at a time, whole, with its moments, and keeps
    the part that overlaps its shard: the host memory it needs beyond the model is the largest old tensor
    three times (weight, two moments). Returns the number of old parameters read."""
    shapes = tensor_shapes(path, "model")
    optimizer_shapes = tensor_shapes(path, "optimizer")
    steps = {}
    for name in shapes:
        key = f"state.{name}.step"
        if key in optimizer_shapes:
            steps[key] = torch.zeros(())
    if steps:
        read_tensors(path, {}, steps)
    last_step = max(steps.values(), key=float) if steps else None
    read = 0
    for part, optimizer in zip(parts, optimizers):
        for name, param in part.named_parameters():
            old_name = growth.old_name(name)
            if old_name is not None and old_name not in shapes:
                raise ValueError(f"{path}: no weight {old_name!r} (is it a checkpoint of the old model?)")
            has_state = old_name is None or f"state.{old_name}.step" in steps
            if old_name is None:
                old_state = None
            else:
                weight = torch.empty(shapes[old_name])
                moments = {f"state.{old_name}.{key}": torch.empty(shapes[old_name])
                           for key in ("exp_avg", "exp_avg_sq") if has_state}
                read_tensors(path, {old_name: weight}, moments)
                place_old(param, weight, name, growth)
                old_state = {key.rsplit(".", 1)[1]: value for key, value in moments.items()} or None
                read += 1
            if last_step is not None and has_state:
                step = steps[f"state.{old_name}.step"] if old_state is not None else last_step
                optimizer.state[param] = grown_state(param, old_state, step, name, growth)
    return read


# --- offline: a saved run grown into a new checkpoint ---------------------------------------------


def grow_checkpoint(checkpoint: str | Path, target_path: str | Path, output: str | Path, ramp_steps: int = 100,
                    depth_rule: str = "distance") -> Path:
    """Grow a run's checkpoint (a step directory, or a run's newest) to the model config ``target_path`` and
    write the grown run at mask 0 as ``output/checkpoints/step-N`` (same step, same run config), which
    ``train.evaluate`` evaluates and ``train.pretrain --out output`` resumes, the masks ramping over
    ``ramp_steps`` steps from there. The same operators and calibration batch as a growth in the loop at
    one process (the first micro-batch of the step's data), so both give the same checkpoint. One process:
    the grown model is built whole on the CPU."""
    from train.evaluate import EvaluationError, find_checkpoint, load_model  # evaluate loads grown checkpoints with set_masks

    step_dir = find_checkpoint(checkpoint)
    meta = verify(step_dir)
    saved = meta["trainer"]
    if (saved.get("growth") or {}).get("ramping"):
        raise EvaluationError(f"{step_dir} was written during a growth ramp: grow a checkpoint from after it")
    run = TrainConfig.model_validate(saved["config"]["run"])
    old = ModelConfig.model_validate(saved["config"]["model"])
    target = keep_vocabulary_rows(old, load_model_config(target_path).with_vocab_size(old.vocab_size))
    if target.max_seq_len < run.seq_len:
        target = target.with_changes(max_seq_len=run.seq_len)
    try:
        check_growth(old, target)
    except ValueError as exc:
        raise EvaluationError(f"{target_path}: {exc}") from None
    step = meta["step"]
    distances = None
    if target.n_layers > old.n_layers and depth_rule == "distance":
        samples = TokenSamples(run.data, run.seq_len, split="train", seed=run.seed)
        first = step * run.global_batch_samples
        tokens = torch.from_numpy(samples.batch(range(first, first + run.micro_batch_size)))[:, :-1]
        distances = layer_distances(load_model(step_dir, old, torch.device("cpu")), tokens)
    growth = plan_growth(old, target, MaskRamp(ramp_steps, step), depth_rule, distances)
    model = Transformer(target, seed=run.seed)
    optimizer = build_grown_optimizer(model, run.optimizer)
    grow_from_checkpoint(step_dir, growth, [model], [optimizer])
    state = {**saved, "config": {"run": saved["config"]["run"], "model": target.model_dump()},
             "growth": {"stages_done": (saved.get("growth") or {}).get("stages_done", 0), "ramping": growth.to_json()}}
    rng = step_dir / "rng-00000.json"
    if rng.is_file():  # a resume at one process continues the source run's generators
        set_rng_state(json.loads(rng.read_text()))
    return save_checkpoint(Path(output) / "checkpoints", step, [model], [optimizer], state)


def run(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.grow", description=grow_checkpoint.__doc__.split("\n\n")[0].replace("\n    ", " "))
    p.add_argument("--checkpoint", required=True, help="a run directory (its newest verified checkpoint) or a step directory")
    p.add_argument("--to", required=True, help="model config to grow to (configs/model/*.yaml)")
    p.add_argument("--output", required=True, help="run directory for the grown checkpoint (OUTPUT/checkpoints/step-N)")
    p.add_argument("--ramp-steps", type=int, default=100, help="steps from mask 0 to 1 once training resumes (default 100)")
    p.add_argument("--depth-rule", choices=DEPTH_RULES, default="distance", help="where new layers go (default distance)")
    args = p.parse_args(argv)
    if args.ramp_steps < 0:
        p.error("--ramp-steps must be >= 0")
    path = grow_checkpoint(args.checkpoint, args.to, args.output, args.ramp_steps, args.depth_rule)
    growth = Growth.from_json(json.loads((path / "trainer.json").read_text())["trainer"]["growth"]["ramping"])
    print(f"grew {args.checkpoint} ({growth.old.n_layers} x {growth.old.dim}, FFN {growth.old.ffn_dim}, {growth.old.n_heads} heads) "
          f"to {args.to} ({growth.target.n_layers} x {growth.target.dim}, FFN {growth.target.ffn_dim}, {growth.target.n_heads} heads); "
          f"old layers now {list(growth.old_layers)}; masks at 0, ramp {args.ramp_steps} steps from step {growth.ramp.start}: {path}")
    return 0


def main() -> int:
    from train.evaluate import EvaluationError

    return main_of(run, EvaluationError, CheckpointError, FileNotFoundError, logs=True)()


if __name__ == "__main__":
    raise SystemExit(main())
