"""muP (maximal update parametrisation) as Tele-FLM uses it: init, multipliers and per-group learning rates.

What the released code says:

- Inference code for Tele-FLM, ``vllm/model_executor/models/teleflm.py`` (cofe-ai/vllm, upstreamed to
  vllm-project/vllm) and its config ``vllm/transformers_utils/configs/teleflm.py``: the config carries
  ``use_mup``, ``input_mult``, ``output_mult`` and ``mup_scale_factor`` (defaults False, 1, 1, 1); with
  ``use_mup`` the token embeddings are multiplied by ``input_mult`` and the logits by
  ``output_mult / mup_scale_factor``. Attention is scaled by ``head_dim ** -0.5``: muP's 1/d attention is
  not used, and need not be, because Tele-FLM widens by adding heads at a fixed head_dim of 128 (proxy
  4 x 128, 52B 64 x 128, 1T 160 x 128), so the attention logits' scale does not change with width.
- The team's muP training code (cofe-ai/Mu-scaling, the code of the muScaling paper that file cites:
  Yao et al., arXiv:2304.06875; the same rules in cofe-ai/nanoLM): ``_init_all_weights_for_mup`` draws
  embeddings with the base std at every width ("vector-like, keep the same in all widths"), norms at 1,
  every hidden matrix with variance ``std**2 / width_mult``, output projections with
  ``(std / sqrt(2 n_layers))**2 / width_mult``; the readout (``MuReadout``) computes
  ``W(output_mult * x / width_mult)``; the AdamW re-grouping divides the matrix-like learning rate by
  ``width_mult`` and multiplies its weight decay by ``width_mult`` (so that ``lr x wd`` stays put); every
  other parameter keeps the base learning rate.
- The released ``config.json`` values of ``input_mult`` and ``output_mult`` were not in the index
  searched; the configs here keep the config class's defaults (1.0) until the released values are copied.

The LM head is untied in Tele-FLM. As in the ``mup`` package's ``MuReadout`` (whose init is rescaled to
the base fan-in) it is initialised like a vector-like weight, at a width-independent std, and trained at
the base learning rate; the ``1 / width_mult`` on the logits does the width scaling (or it starts at
zero with ``readout_zero_init``). Weights are drawn from a normal truncated at 3 std, as torchtitan does
(Mu-scaling rescales plain normal draws to the exact std instead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum

import torch
from torch import nn

from train.config import ModelConfig

TRUNCATE_AT_STD = 3.0
OUTPUT_PROJECTIONS = ("attention.wo.weight", "feed_forward.w2.weight")


class Role(str, Enum):
    """How muP treats a parameter: which init std and which learning rate it gets."""

    EMBEDDING = "embedding"  # vector-like: one width dimension (the output of a lookup)
    READOUT = "readout"  # the LM head: width-sized input, vocabulary-sized output
    NORM = "norm"  # vector-like gains
    MATRIX = "matrix"  # hidden matrices: width-sized input and output
    OUTPUT_PROJECTION = "output_projection"  # hidden matrices that write into the residual stream


def role_of(name: str) -> Role:
    """The role of a parameter from its name, so that it survives pipeline cuts, FSDP, TP and wrappers
    (``torch.compile``'s ``_orig_mod``, DDP's ``module.``, activation checkpointing) that keep or extend names."""
    parts = name.split(".")
    if "tok_embeddings" in parts:
        return Role.EMBEDDING
    if "layers" not in parts and "output" in parts:
        return Role.READOUT
    if parts[-1] == "weight" and "norm" in parts[-2]:
        return Role.NORM
    if name.endswith(OUTPUT_PROJECTIONS):
        return Role.OUTPUT_PROJECTION
    if parts[-1] == "weight" and "layers" in parts:
        return Role.MATRIX
    raise ValueError(f"no muP role for parameter {name!r}")


def init_std(role: Role, config: ModelConfig) -> float:
    """The init std of a role (norms are not drawn: they start at 1)."""
    if role is Role.EMBEDDING:
        return config.vector_init_std
    if role is Role.READOUT:
        return 0.0 if config.readout_zero_init else config.vector_init_std
    if role is Role.NORM:
        raise ValueError("norm gains are initialised to 1, not drawn")
    std = config.matrix_init_std / math.sqrt(config.mup_scale_factor)
    if role is Role.OUTPUT_PROJECTION and config.depth_scaled_init:
        std /= math.sqrt(2 * config.n_layers)
    return std


@torch.no_grad()
def init_parameters(named_parameters: Iterable[tuple[str, torch.Tensor]], config: ModelConfig) -> None:
    """Initialise parameters in place by their muP role (meta tensors are left as they are)."""
    for name, param in named_parameters:
        role = role_of(name)
        if role is Role.NORM:
            nn.init.ones_(param)
            continue
        std = init_std(role, config)
        if std == 0.0:
            nn.init.zeros_(param)
        else:
            bound = TRUNCATE_AT_STD * std
            nn.init.trunc_normal_(param, mean=0.0, std=std, a=-bound, b=bound)


def lr_multiplier(role: Role, config: ModelConfig) -> float:
    """Adam learning-rate multiplier: hidden matrices learn ``1 / width_mult`` as fast, the rest at the base LR."""
    return 1.0 / config.mup_scale_factor if role in (Role.MATRIX, Role.OUTPUT_PROJECTION) else 1.0


def param_groups(model: nn.Module, config: ModelConfig, lr: float, weight_decay: float = 0.0) -> list[dict]:
    """AdamW parameter groups with muP learning rates.

    Matrix-like weights get ``lr / width_mult`` and ``weight_decay * width_mult`` (decoupled decay is
    ``lr x wd``, which muP keeps width-independent, as Mu-scaling does); embeddings and the LM head get
    ``lr`` and ``weight_decay``; norm gains get ``lr`` and no decay. Each group carries ``name`` and
    ``lr_multiplier`` so a scheduler or a logger can tell them apart.
    """
    by_group: dict[str, list[torch.Tensor]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            role = role_of(name)
            group = "matrix" if role in (Role.MATRIX, Role.OUTPUT_PROJECTION) else role.value
            by_group.setdefault(group, []).append(param)
    groups = []
    for group, params in by_group.items():
        mult = lr_multiplier(Role(group), config)
        decay = 0.0 if group == Role.NORM.value else weight_decay / mult
        groups.append({"name": group, "params": params, "lr": lr * mult, "lr_multiplier": mult, "weight_decay": decay})
    return groups


def build_optimizer(
    model: nn.Module,
    config: ModelConfig,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> torch.optim.AdamW:
    """AdamW over ``param_groups``; ``lr`` is the base (proxy-width) learning rate."""
    return torch.optim.AdamW(param_groups(model, config, lr, weight_decay), lr=lr, betas=betas, eps=eps)
