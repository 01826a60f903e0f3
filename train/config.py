"""The model's shape and muP settings (``configs/model/*.yaml``) and the training run (``configs/train/*.yaml``), typed and validated.

The muP fields follow the released Tele-FLM configs (``use_mup``, ``input_mult``, ``output_mult``,
``mup_scale_factor``); see ``train/mup.py`` for what they mean and where that comes from. The seven
hyperparameters the Tele-FLM report searched on its proxy (Table 4) are fields: ``std_vector``,
``std_matrix``, ``input_mult`` and ``output_mult`` of the model, ``lr_vector``, ``lr_matrix`` and ``lr_min``
of the optimizer, each at the base (proxy) width, where the search sets them; muP turns them into the
values in effect at the model's width (``python -m train.hparams`` prints both). Their defaults are the
report's values taken back to the base width. The width multiplier ``mup_scale_factor`` is ``dim /
base_dim`` unless a config sets it (the released 1T says 80 where its width gives 40), so that moving a
config to another width changes only ``dim`` (and the head count and FFN size that go with it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from datapipe.config import StrictModel, invalid, load_config, load_named_config

MODEL_CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs" / "model"


class ModelConfig(StrictModel):
    """A decoder-only Tele-FLM: its size, vocabulary, position encoding and muP parametrisation."""

    dim: PositiveInt = Field(description="hidden size")
    n_layers: PositiveInt
    n_heads: PositiveInt
    n_kv_heads: PositiveInt | None = Field(None, description="key/value heads for GQA; None: as many as n_heads (MHA)")
    head_dim: PositiveInt
    ffn_dim: PositiveInt = Field(description="inner size of the SwiGLU feed-forward")
    vocab_size: PositiveInt = Field(80_000, description="tokens of the tokenizer")
    pad_vocab_to_multiple_of: PositiveInt | None = Field(
        None, description="embedding/LM-head rows rounded up to a multiple of this (Megatron: 128 x TP size)"
    )
    padded_vocab_size: PositiveInt | None = Field(None, description="explicit embedding/LM-head rows (>= vocab_size)")
    max_seq_len: PositiveInt = 4096
    rope_theta: PositiveFloat = 10_000.0
    norm_eps: PositiveFloat = 1e-5

    use_mup: bool = True
    base_dim: PositiveInt | None = Field(None, description="hidden size of the muP proxy the hyperparameters were searched on")
    mup_scale_factor: PositiveFloat | None = Field(
        None, description="muP width multiplier (released config.json key); None: dim / base_dim")
    input_mult: PositiveFloat = Field(1.0, description="muP: embedding output multiplier (Table 4: 1.0)")
    output_mult: PositiveFloat = Field(
        0.5, description="muP: logits times output_mult / mup_scale_factor (released 52B: 0.5, i.e. Table 4's 3.125e-2 at 16)")
    std_vector: PositiveFloat = Field(4e-3, description="init std of vector-like weights, embeddings and LM head (Table 4: 4e-3)")
    std_matrix: PositiveFloat = Field(
        1.6968e-2, description="init std of hidden matrices at the base width, divided by sqrt(mup_scale_factor) "
                               "at this width (Table 4's 4.242e-3 at the 52B's 16 is 1.6968e-2 at the base)")
    depth_scaled_init: bool = Field(True, description="output projections get std / sqrt(2 n_layers) (GPT-2)")
    readout_zero_init: bool = Field(False, description="start the LM head at zero (muP option)")

    @model_validator(mode="after")
    def _check_shape(self) -> ModelConfig:
        if self.n_heads * self.head_dim != self.dim:
            raise ValueError(f"n_heads x head_dim must equal dim: {self.n_heads} x {self.head_dim} != {self.dim}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, got {self.head_dim}")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.kv_heads})")
        if self.pad_vocab_to_multiple_of is not None and self.padded_vocab_size is not None:
            raise ValueError("give pad_vocab_to_multiple_of or padded_vocab_size, not both")
        if self.padded_vocab_size is not None and self.padded_vocab_size < self.vocab_size:
            raise ValueError(
                f"padded_vocab_size ({self.padded_vocab_size}) is smaller than vocab_size ({self.vocab_size})"
            )
        if self.use_mup and self.base_dim is None and self.mup_scale_factor is None:
            raise ValueError("use_mup needs base_dim (the hidden size of the muP proxy) or mup_scale_factor")
        if not self.use_mup and self.mup_scale_factor is not None:
            raise ValueError("mup_scale_factor is set but use_mup is false (without muP the width multiplier is 1)")
        return self

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def embedding_rows(self) -> int:
        """Rows of the embedding and of the LM head: the vocabulary after padding."""
        if self.padded_vocab_size is not None:
            return self.padded_vocab_size
        if self.pad_vocab_to_multiple_of is not None:
            return math.ceil(self.vocab_size / self.pad_vocab_to_multiple_of) * self.pad_vocab_to_multiple_of
        return self.vocab_size

    @property
    def width_mult(self) -> float:
        """The muP width multiplier in effect: ``mup_scale_factor`` when set, else hidden size over the proxy's;
        1 without muP (standard parametrisation)."""
        if not self.use_mup:
            return 1.0
        return self.mup_scale_factor if self.mup_scale_factor is not None else self.dim / self.base_dim

    def with_vocab_size(self, vocab_size: int) -> ModelConfig:
        """The same model for another tokenizer (e.g. the demo tokenizer's small vocabulary), validated."""
        return self.with_changes(vocab_size=vocab_size)

    def with_changes(self, **changes) -> ModelConfig:
        """A validated copy with some fields changed (``model_copy`` would skip validation)."""
        return ModelConfig.model_validate({**self.model_dump(exclude_unset=True), **changes})


def load_model_config(path: str | Path) -> ModelConfig:
    """Load a model config; a bad or missing value raises ``datapipe.config.ConfigError`` naming the key."""
    return load_config(ModelConfig, path)


# --- the parallel layout ------------------------------------------------------------------------

MESH_DIMS = ("dp", "pp", "tp")
"""Mesh dimension names, outermost first; rank = tp_rank + tp * (pp_rank + pp * dp_rank)."""

class ParallelConfig(StrictModel):
    """Sizes of the data, pipeline and tensor parallel dimensions and how each is run."""

    dp: PositiveInt = 1
    tp: PositiveInt = 1
    pp: PositiveInt = 1
    pp_schedule: Literal["1f1b", "interleaved_1f1b"] = "1f1b"
    stages_per_rank: PositiveInt = 1
    microbatches: PositiveInt | None = None
    sequence_parallel: bool = True
    data_parallel: Literal["zero1", "fsdp2", "ddp"] = "zero1"
    gpus_per_node: PositiveInt = 8

    @model_validator(mode="after")
    def _check_schedule(self) -> ParallelConfig:
        if self.pp_schedule == "1f1b" and self.stages_per_rank != 1:
            raise ValueError(f"1f1b runs one stage per rank: stages_per_rank must be 1, got {self.stages_per_rank} "
                             "(use pp_schedule: interleaved_1f1b for virtual stages)")
        if self.pp_schedule == "interleaved_1f1b" and self.stages_per_rank < 2:
            raise ValueError(f"interleaved_1f1b needs stages_per_rank >= 2 (virtual stages per rank), "
                             f"got {self.stages_per_rank}")
        return self

    @property
    def world_size(self) -> int:
        return self.dp * self.pp * self.tp

    @property
    def mesh_shape(self) -> tuple[int, int, int]:
        """Sizes in ``MESH_DIMS`` order, for ``init_device_mesh(..., mesh_dim_names=MESH_DIMS)``."""
        return self.dp, self.pp, self.tp

    @property
    def n_stages(self) -> int:
        """Pipeline stages in all: pp ranks times the virtual stages on each."""
        return self.pp * self.stages_per_rank


# --- the training run ----------------------------------------------------------------------------


class OptimizerConfig(StrictModel):
    """AdamW and the schedule. Defaults follow the Tele-FLM report where it states them (Table 4's learning
    rates, weight decay 0, gradient clipping 1.0). The learning rates are the muP proxy's, at the base width:
    vector-like weights (embeddings, LM head, norm gains) train at ``lr_vector`` at every width, hidden
    matrices at ``lr_matrix / mup_scale_factor`` (``train.mup.param_groups``). Every group follows the same
    schedule, warmup then cosine down to the fraction ``lr_min / lr_vector`` of its own peak."""

    lr_vector: PositiveFloat = Field(1.5e-4, description="peak LR of vector-like weights (Table 4's Learning Rate)")
    lr_matrix: PositiveFloat = Field(
        2.4e-3, description="peak LR of hidden matrices at the base width (Table 4's 1.5e-4 at the 52B's width 16)")
    lr_min: NonNegativeFloat = Field(
        1.5e-5, description="floor of lr_vector after the cosine; every group ends at the same fraction of its peak")
    warmup_steps: NonNegativeInt = 2000
    decay_steps: PositiveInt | None = Field(None, description="end of the cosine; None: max_steps")
    betas: tuple[float, float] = (0.9, 0.95)
    eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    grad_clip: PositiveFloat | None = 1.0

    @model_validator(mode="after")
    def _check(self) -> OptimizerConfig:
        if self.lr_min > self.lr_vector:
            raise ValueError(f"lr_min ({self.lr_min}) is larger than lr_vector ({self.lr_vector})")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        return self

    @property
    def min_lr_ratio(self) -> float:
        """The fraction of its peak every group's LR decays to."""
        return self.lr_min / self.lr_vector


class SpikeConfig(StrictModel):
    """Loss-spike and NaN handling: a step whose loss or gradient norm is not finite, or whose loss is
    more than ``factor`` times the running mean, is skipped (no update) and counted."""

    factor: PositiveFloat = 3.0
    warmup_steps: NonNegativeInt = Field(20, description="steps before the running mean is trusted for spikes")
    ema: float = Field(0.98, gt=0, lt=1, description="decay of the loss running mean")
    max_consecutive: PositiveInt = Field(5, description="stop after this many skipped steps in a row")
    max_total: PositiveInt = Field(50, description="stop after this many skipped steps in all")


DepthRule = Literal["distance", "uniform", "stack"]


class GrowthStage(StrictModel):
    """One MSG growth of the run (``train.grow``): at the start of step ``at_step`` the model grows to
    ``model``; its new structure ramps in from mask 0 to 1 over ``ramp_steps`` steps, then the masks fold away."""

    at_step: PositiveInt
    model: str = Field(description="model config to grow to (configs/model/*.yaml); vocabulary as the run's")
    ramp_steps: NonNegativeInt = Field(100, description="steps from mask 0 to 1 (0: the new structure at full strength at once)")
    depth_rule: DepthRule = Field("distance", description="where new layers go: after the layers that change their "
                                                          "input most (distance), evenly (uniform), or on top (stack)")
    parallel: ParallelConfig | None = Field(None, description="layout from this growth on (same number of ranks); "
                                                               "None: the run's")


class TrainConfig(StrictModel):
    """One training run (``configs/train/*.yaml``): model, data, batch, optimizer, logging, checkpoints."""

    model: str = Field(description="model config (configs/model/*.yaml); its vocabulary comes from the shards' tokenizer")
    data: str = Field(description="the tokenize stage's output directory (manifest.json and shards)")
    out: str = Field(description="run directory: checkpoints/, metrics.jsonl, tensorboard/, loss.png")
    seq_len: PositiveInt = 4096
    micro_batch_size: PositiveInt = Field(1, description="samples per forward/backward")
    global_batch_tokens: PositiveInt = Field(description="tokens per optimizer step (a multiple of seq_len x micro batch)")
    max_steps: PositiveInt
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = Field("auto", description="auto: bf16 autocast on GPU, fp32 on CPU")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    spikes: SpikeConfig = Field(default_factory=SpikeConfig)
    log_interval: PositiveInt = 10
    eval_interval: PositiveInt | None = Field(200, description="steps between validations; None: only at the end")
    eval_tokens: PositiveInt = Field(65_536, description="held-out tokens per domain per validation")
    checkpoint_interval: PositiveInt = 500
    verify_shards: bool = Field(True, description="check every shard against manifest.json (size, SHA-256) before training")
    keep_checkpoints: PositiveInt | None = Field(3, description="newest complete checkpoints kept; None: all")
    parallel: ParallelConfig = Field(default_factory=ParallelConfig,
                                     description="data x pipeline x tensor layout (checked by train/layout.py)")
    collective_timeout_s: PositiveFloat = Field(
        600, description="seconds a rank waits on the others (to join, in a collective) before it fails, so that a dead or "
                         "stuck rank ends the run, or lets torchrun restart it, instead of blocking the rest")
    growth: list[GrowthStage] = Field(default_factory=list, description="MSG growth stages, in step order (one at or "
                                                                         "after max_steps is not reached)")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        per_micro = self.seq_len * self.micro_batch_size
        if self.global_batch_tokens % per_micro:
            raise ValueError(f"global_batch_tokens ({self.global_batch_tokens}) must be a multiple of seq_len x "
                             f"micro_batch_size ({per_micro})")
        if self.optimizer.decay_steps is not None and self.optimizer.decay_steps < self.optimizer.warmup_steps:
            raise ValueError("optimizer.decay_steps is before the end of the warmup")
        ramp_end = 0
        for i, stage in enumerate(self.growth):
            if stage.at_step < ramp_end:
                raise ValueError(f"growth.{i}.at_step ({stage.at_step}) is before the previous growth's ramp ends "
                                 f"(step {ramp_end}): a growth starts from a plain model")
            if stage.parallel is not None and stage.parallel.world_size != self.parallel.world_size:
                raise ValueError(f"growth.{i}.parallel has {stage.parallel.world_size} ranks, the run "
                                 f"{self.parallel.world_size}: a growth can change the layout, not the number of ranks")
            ramp_end = stage.at_step + stage.ramp_steps
        return self

    @property
    def global_batch_samples(self) -> int:
        return self.global_batch_tokens // self.seq_len

    def build_model_config(self, vocab_size: int | None, path: str | None = None) -> ModelConfig:
        """The model for this run (or the model config at ``path``, a growth stage's), with the tokenizer's
        vocabulary (None: the config's own) and a context of at least seq_len."""
        cfg = load_model_config(path or self.model)
        if vocab_size is not None:
            cfg = cfg.with_vocab_size(vocab_size)
        if cfg.max_seq_len < self.seq_len:
            cfg = cfg.with_changes(max_seq_len=self.seq_len)
        return cfg


def load_train_config(path: str | Path, overrides: dict | None = None, kind: type[TrainConfig] = TrainConfig) -> TrainConfig:
    """A run config (or a subclass's: an SFT run's) from YAML; relative ``model``/``data``/``out`` paths stay
    relative to the working directory. The model configs it names (``model``, each ``growth.N.model``) are
    loaded too, so that a missing or bad one is reported as the run config's key before any work."""
    cfg = load_config(kind, path)
    if overrides:
        data = {**cfg.model_dump(), **overrides}
        try:
            cfg = kind.model_validate(data)
        except ValidationError as exc:
            raise invalid(f"{path} with {overrides}", exc, data) from None
    load_named_config(ModelConfig, cfg.model, "model", path)
    for i, stage in enumerate(cfg.growth):
        load_named_config(ModelConfig, stage.model, f"growth.{i}.model", path)
    return cfg
