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
- The released checkpoints' ``config.json`` (Hugging Face CofeAI/Tele-FLM and CofeAI/Tele-FLM-1T):
  52B ``use_mup`` true, ``input_mult`` 1.0, ``output_mult`` 0.5, ``mup_scale_factor`` 16 (8,192 / 512);
  1T ``input_mult`` 1.0, ``output_mult`` 2.0, ``mup_scale_factor`` 80. The report's Table 4 gives the
  seven searched hyperparameters; ``train.hparams`` states how they map onto our config fields.

The LM head is untied in Tele-FLM. As in the ``mup`` package's ``MuReadout`` (whose init is rescaled to
the base fan-in) it is initialised like a vector-like weight, at a width-independent std, and trained at
the base learning rate; the ``1 / width_mult`` on the logits does the width scaling (or it starts at
zero with ``readout_zero_init``). Weights are drawn from a normal truncated at 3 std, as torchtitan does
(Mu-scaling rescales plain normal draws to the exact std instead).

The learning rates (``OptimizerConfig``): vector-like weights (embeddings, LM head, norm gains) at
``lr_vector``, hidden matrices at ``lr_matrix / width_mult``, both peaks of the same schedule.

Initialisation by block: a weight is drawn in blocks of ``INIT_BLOCK`` (rows x columns), each from its
own generator seeded by the run's seed, the parameter's name (the model's own fully-qualified name, which
every layout keeps) and the block's position. Any part of a
weight, such as a tensor- or data-parallel shard, is then drawn by drawing only the blocks it overlaps,
and is the same as that part of the whole weight drawn in one process; a rank draws about its own shard
(plus the blocks cut by its shard's edges), never the whole model. Blocks are drawn on the CPU in
float32, so the weights are the same on any device. The blocks are 16 rows (FSDP's row shards of the
52B, about 49 rows, cost at most 1.6 times their size) by 128 columns (one attention head: the column
shards of row-parallel weights, head or FFN slices, are cut at most once inside a block). Drawing costs
about as much as one ``trunc_normal_`` of the same values on one CPU thread (some 15-25M values/s).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from enum import Enum

import torch
from torch import nn

from train.config import ModelConfig

TRUNCATE_AT_STD = 3.0
INIT_BLOCK = (16, 128)
OUTPUT_PROJECTIONS = ("attention.wo.weight", "feed_forward.w2.weight")


class Role(str, Enum):
    """How muP treats a parameter: which init std and which learning rate it gets."""

    EMBEDDING = "embedding"  # vector-like: one width dimension (the output of a lookup)
    READOUT = "readout"  # the LM head: width-sized input, vocabulary-sized output
    NORM = "norm"  # vector-like gains
    MATRIX = "matrix"  # hidden matrices: width-sized input and output
    OUTPUT_PROJECTION = "output_projection"  # hidden matrices that write into the residual stream


MATRIX_ROLES = (Role.MATRIX, Role.OUTPUT_PROJECTION)


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
    """The init std of a role at the config's width (norms are not drawn: they start at 1)."""
    if role is Role.EMBEDDING:
        return config.std_vector
    if role is Role.READOUT:
        return 0.0 if config.readout_zero_init else config.std_vector
    if role is Role.NORM:
        raise ValueError("norm gains are initialised to 1, not drawn")
    std = config.std_matrix / math.sqrt(config.width_mult)
    if role is Role.OUTPUT_PROJECTION and config.depth_scaled_init:
        std /= math.sqrt(2 * config.n_layers)
    return std


def block_seed(seed: int, name: str, row_block: int, col_block: int) -> int:
    """The seed of one block of one weight: a hash of the run's seed, the parameter's name and the block."""
    key = f"{seed}/{name}/{row_block}/{col_block}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


@torch.no_grad()
def init_parameter(name: str, out: torch.Tensor, config: ModelConfig, seed: int,
                   shape: tuple[int, ...] | None = None, offset: tuple[int, ...] = (0, 0)) -> int:
    """Fill ``out`` with its part of parameter ``name`` by its muP role: the block at ``offset`` of the whole
    weight of ``shape`` (by default ``out`` is the whole weight). Returns the number of values drawn: those
    of the ``INIT_BLOCK`` blocks that ``out`` overlaps."""
    role = role_of(name)
    if role is Role.NORM:
        out.fill_(1.0)
        return 0
    std = init_std(role, config)
    if std == 0.0:
        out.zero_()
        return 0
    shape = tuple(shape or out.shape)
    if len(shape) != 2 or out.dim() != 2:
        raise ValueError(f"{name}: only matrices are drawn, got shape {shape}")
    if out.numel() == 0:
        return 0
    (row0, col0), (rows, cols) = offset, out.shape
    block_rows, block_cols = INIT_BLOCK
    local = torch.empty(rows, cols, dtype=torch.float32)
    generator = torch.Generator()
    drawn = 0
    for i in range(row0 // block_rows, -(-(row0 + rows) // block_rows)):
        r0, r1 = i * block_rows, min((i + 1) * block_rows, shape[0])
        for j in range(col0 // block_cols, -(-(col0 + cols) // block_cols)):
            c0, c1 = j * block_cols, min((j + 1) * block_cols, shape[1])
            block = torch.empty(r1 - r0, c1 - c0)
            generator.manual_seed(block_seed(seed, name, i, j))
            nn.init.trunc_normal_(block, mean=0.0, std=std, a=-TRUNCATE_AT_STD * std, b=TRUNCATE_AT_STD * std,
                                  generator=generator)
            drawn += block.numel()
            top, bottom = max(r0, row0), min(r1, row0 + rows)
            left, right = max(c0, col0), min(c1, col0 + cols)
            local[top - row0:bottom - row0, left - col0:right - col0] = block[top - r0:bottom - r0, left - c0:right - c0]
    out.copy_(local)
    return drawn


def init_parameters(named_parameters: Iterable[tuple[str, torch.Tensor]], config: ModelConfig, seed: int) -> int:
    """Initialise whole parameters in place by their muP role (meta tensors are left as they are); returns
    the number of values drawn."""
    return sum(init_parameter(name, param, config, seed) for name, param in named_parameters if not param.is_meta)


def lr_multiplier(role: Role, config: ModelConfig) -> float:
    """Multiplier of a role's base learning rate at this width: ``1 / width_mult`` for hidden matrices, 1 for
    the rest."""
    return 1.0 / config.width_mult if role in MATRIX_ROLES else 1.0


def param_groups(model: nn.Module, config: ModelConfig, lr_vector: float, lr_matrix: float,
                 weight_decay: float = 0.0) -> list[dict]:
    """AdamW parameter groups with muP learning rates; ``lr_vector`` and ``lr_matrix`` are at the base width.

    Matrix-like weights get ``lr_matrix / width_mult`` and ``weight_decay * width_mult`` (decoupled decay is
    ``lr x wd``, which muP keeps width-independent, as Mu-scaling does); embeddings and the LM head get
    ``lr_vector`` and ``weight_decay``; norm gains get ``lr_vector`` and no decay. Each group carries its
    ``name`` and ``peak_lr``, which the schedule scales.
    """
    by_group: dict[str, list[torch.Tensor]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            role = role_of(name)
            group = Role.MATRIX.value if role in MATRIX_ROLES else role.value
            by_group.setdefault(group, []).append(param)
    groups = []
    for group, params in by_group.items():
        role = Role(group)
        mult = lr_multiplier(role, config)
        peak = (lr_matrix if role is Role.MATRIX else lr_vector) * mult
        decay = 0.0 if role is Role.NORM else weight_decay / mult
        groups.append({"name": group, "params": params, "lr": peak, "peak_lr": peak, "weight_decay": decay})
    return groups


def build_optimizer(
    model: nn.Module,
    config: ModelConfig,
    lr_vector: float,
    lr_matrix: float,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> torch.optim.AdamW:
    """AdamW over ``param_groups``; the learning rates are the base (proxy-width) ones."""
    return torch.optim.AdamW(param_groups(model, config, lr_vector, lr_matrix, weight_decay), lr=lr_vector,
                             betas=betas, eps=eps)
