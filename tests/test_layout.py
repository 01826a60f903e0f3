"""The parallel layout: config validation, divisibility and placement checks, memory estimate, dry run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.conftest import ROOT
from train.config import ModelConfig, TrainConfig, load_model_config, load_train_config
from train.layout import (
    GPU_MEMORY_BYTES,
    ParallelConfig,
    coords_of,
    dry_run_report,
    layout_checks,
    layout_errors,
    memory_by_pp_rank,
    memory_estimate,
    rank_of,
    stage_layers,
)


def report_layout(name: str) -> tuple[ModelConfig, TrainConfig, ParallelConfig]:
    """configs/train/NAME.yaml as model, run and layout."""
    run = load_train_config(ROOT / "configs" / "train" / f"{name}.yaml")
    return load_model_config(ROOT / run.model), run, run.parallel


def with_layout(parallel: ParallelConfig, **changes) -> ParallelConfig:
    return ParallelConfig.model_validate({**parallel.model_dump(), **changes})


# A hand-sized model: per layer q,o 2*64*64 + k,v 2*64*64 + SwiGLU 3*64*128 + norms 2*64 = 41,088.
SMALL = ModelConfig(dim=64, n_layers=4, n_heads=4, head_dim=16, ffn_dim=128, vocab_size=256, use_mup=False)
SMALL_RUN = TrainConfig(model="small", data="unused", out="unused", seq_len=32, micro_batch_size=1,
                        global_batch_tokens=32 * 8, max_steps=1)


def test_parallel_config_validates_the_schedule():
    assert ParallelConfig(dp=2, tp=4, pp=3).world_size == 24
    assert ParallelConfig(dp=2, tp=4, pp=3).mesh_shape == (2, 3, 4)
    with pytest.raises(ValidationError, match="interleaved_1f1b needs stages_per_rank >= 2"):
        ParallelConfig(pp=2, pp_schedule="interleaved_1f1b")
    with pytest.raises(ValidationError, match="1f1b runs one stage per rank"):
        ParallelConfig(pp=2, stages_per_rank=2)
    with pytest.raises(ValidationError, match="data_parallel"):
        ParallelConfig(data_parallel="zero3")


@pytest.mark.parametrize("name, world", [("52b", 896), ("1t", 896)])
def test_report_layouts_pass_and_fit(name, world):
    model, run, parallel = report_layout(name)
    assert parallel.world_size == world
    assert layout_errors(model, run) == []  # the run's own parallel section
    estimate = memory_estimate(model, run)
    assert estimate["fits"], estimate
    assert estimate["pp_rank"] == 0  # embedding and the most microbatches in flight


def test_1t_tp_spans_whole_nodes_with_a_warning():
    model, run, parallel = report_layout("1t")
    placement = {c.name: c for c in layout_checks(model, run, parallel)}["tp placement"]
    assert placement.status == "WARN" and "spans 4 nodes of 8 GPUs" in placement.detail


@pytest.mark.parametrize("changes, message", [
    ({"tp": 3, "dp": 1}, "heads: attention heads 64 is not divisible by tp 3"),
    ({"tp": 3, "dp": 1}, "ffn: ffn_dim 21,824 is not divisible by tp 3"),
    ({"pp": 3}, "layers: layers 64 is not divisible by pp x stages_per_rank 3"),
    ({"dp": 100}, "batch: global batch of 1,344 samples is not divisible by dp 100 x micro_batch_size 1 = 100"),
    ({"microbatches": 6}, "batch: microbatches 6 x dp 112 x micro_batch_size 1 = 672 samples, but the global "
                          "batch is 1,344"),
    ({"tp": 16, "gpus_per_node": 12}, "tp placement: tp 16 straddles nodes of 12 GPUs"),
    ({"gpus_per_node": 6}, "nodes: world size 896 is not a whole number of 6-GPU nodes"),
])
def test_bad_layouts_name_the_numbers(changes, message):
    model, run, parallel = report_layout("52b")
    errors = layout_errors(model, run, with_layout(parallel, **changes))
    assert any(e.startswith(message) for e in errors), errors


def test_vocab_rows_and_sequence_parallel_by_tp():
    model, run, parallel = report_layout("52b")
    unpadded = model.with_changes(padded_vocab_size=None, pad_vocab_to_multiple_of=None)
    errors = layout_errors(unpadded.with_changes(vocab_size=80_001), run, parallel)
    assert errors == ["vocab rows: embedding/LM-head rows 80,001 is not divisible by tp 4 "
                      "(pad the vocabulary: pad_vocab_to_multiple_of: 512)"]
    short = TrainConfig.model_validate({**run.model_dump(), "seq_len": 4098, "global_batch_tokens": 4098 * 1344})
    assert layout_errors(model, short, parallel) == ["sequence parallel: seq_len 4,098 is not divisible by tp 4"]
    assert layout_errors(model, short, with_layout(parallel, sequence_parallel=False)) == []


def test_microbatches_against_torch_schedules():
    model, run = SMALL, SMALL_RUN  # 8 samples per step
    one_f_one_b = ParallelConfig(pp=2, microbatches=1, dp=8)
    assert layout_errors(model, run, one_f_one_b) == ["schedule: 1f1b needs microbatches >= pp: 1 < 2"]
    # ScheduleInterleaved1F1B: rounds = max(1, m // pp), m % rounds == 0
    interleaved = ParallelConfig(pp=2, pp_schedule="interleaved_1f1b", stages_per_rank=2)
    assert layout_errors(model, run, interleaved) == []           # m 8: 4 rounds of 2
    nine = TrainConfig.model_validate({**run.model_dump(), "global_batch_tokens": 32 * 9})
    four_stages = SMALL.with_changes(n_layers=8)
    pp4 = ParallelConfig(pp=4, pp_schedule="interleaved_1f1b", stages_per_rank=2)
    assert layout_errors(four_stages, nine, pp4) == [
        "schedule: interleaved_1f1b needs microbatches a multiple of its rounds max(1, m // pp) = 2: 9 is not "
        "(use a multiple of pp 4)"]


def test_stage_layers_and_rank_placement():
    model, _, parallel = report_layout("52b")
    assert stage_layers(model, parallel) == [range(0, 32), range(32, 64)]
    interleaved = ParallelConfig(pp=2, pp_schedule="interleaved_1f1b", stages_per_rank=2)
    assert stage_layers(model, interleaved) == [range(0, 16), range(16, 32), range(32, 48), range(48, 64)]
    for rank in range(parallel.world_size):
        c = coords_of(parallel, rank)
        assert rank_of(parallel, c["dp"], c["pp"], c["tp"]) == rank
        peers = {coords_of(parallel, rank_of(parallel, c["dp"], c["pp"], t))["node"] for t in range(parallel.tp)}
        assert peers == {c["node"]}  # a TP group never leaves its node


def test_memory_hand_computed():
    parallel = ParallelConfig(tp=2, pp=2, microbatches=8)
    first, last = memory_by_pp_rank(SMALL, SMALL_RUN, parallel)
    # pp rank 0: 2 layers x ((41,088 - 128 norm gains) / tp 2 + 128) + embedding 256 x 64 / 2
    assert first["params"] == 2 * (40_960 // 2 + 128) + 256 * 64 // 2 == 49_408
    # dp 1: fp32 weights and their bf16 copy for autocast's matmuls, fp32 gradients, Adam m and v
    assert first["weights"] == 6 * 49_408 and first["gradients"] == 4 * 49_408
    assert first["optimizer"] == 8 * 49_408
    # per layer: s b h (12 + 4 kv/h + 8 f/h) / t = 32 x 64 x (12 + 4 + 16) / 2 = 32,768 bytes;
    # 1F1B: pp rank 0 holds pp = 2 microbatches of its 2 layers
    assert first["microbatches_in_flight"] == 2 and first["activations"] == 2 * 2 * 32_768
    assert first["total"] == 296_448 + 197_632 + 395_264 + 131_072
    # last rank: + final norm 64 + head 256 x 64 / 2; one microbatch + fp32 logits 4 s b v / t
    assert last["params"] == 2 * (40_960 // 2 + 128) + 64 + 256 * 64 // 2
    assert last["activations"] == 2 * 32_768 + 4 * 32 * 256 // 2


def test_memory_per_data_parallel_layout():
    """What each rank keeps at dp 2, pp 1, 4 microbatches per step, in bytes per parameter P (bf16 autocast):
    zero1 gathers all the bf16 weights for the step and accumulates whole fp32 gradients; fsdp2 gathers two
    layers at a time and reduce-scatters every microbatch; ddp keeps everything."""
    layer, P = 41_088, 4 * 41_088 + 2 * 256 * 64 + 64
    zero1, fsdp2, ddp = (memory_by_pp_rank(SMALL, SMALL_RUN, ParallelConfig(dp=2, data_parallel=mode))[0]
                         for mode in ("zero1", "fsdp2", "ddp"))
    assert zero1["params"] == P and zero1["microbatches_in_flight"] == 1
    assert (zero1["weights"], zero1["gradients"], zero1["optimizer"]) == (4 * P / 2 + 2 * P, 4 * P, 8 * P / 2)
    assert (fsdp2["weights"], fsdp2["gradients"], fsdp2["optimizer"]) == (
        4 * P / 2 + 2 * 2 * layer, 4 * P / 2 + 4 * 2 * layer, 8 * P / 2)
    assert (ddp["weights"], ddp["gradients"], ddp["optimizer"]) == (6 * P, 4 * P, 8 * P)
    # one microbatch per step: zero1 reduce-scatters each layer's gradients as its backward ends (ZeRO-2)
    one_microbatch = TrainConfig.model_validate({**SMALL_RUN.model_dump(), "global_batch_tokens": 32 * 2})
    zero2 = memory_by_pp_rank(SMALL, one_microbatch, ParallelConfig(dp=2))[0]
    assert zero2["gradients"] == 4 * P / 2 + 4 * 2 * layer and zero2["weights"] == zero1["weights"]
    # a fp32 run: no copy beside the weights in one process; fp32 weights gathered under FSDP
    fp32 = TrainConfig.model_validate({**SMALL_RUN.model_dump(), "dtype": "float32"})
    assert memory_by_pp_rank(SMALL, fp32, ParallelConfig())[0]["weights"] == 4 * P
    assert memory_by_pp_rank(SMALL, fp32, ParallelConfig(dp=2))[0]["weights"] == 4 * P / 2 + 4 * P


def test_memory_scales_with_the_layout():
    model, run, parallel = report_layout("52b")
    base = memory_estimate(model, run, parallel)
    wider = memory_estimate(model, run, with_layout(parallel, tp=8, dp=56))
    assert wider["gradients"] / base["gradients"] == pytest.approx(0.5, rel=0.01)
    one = memory_estimate(model, run, with_layout(parallel, dp=1))
    assert base["optimizer"] == pytest.approx(one["optimizer"] / 112)
    assert base["gradients"] == one["gradients"]  # accumulated whole over 12 microbatches either way
    # zero1's bytes per parameter are Megatron's distributed optimizer's, 6 + 12/dp, against 18 unsharded
    assert base["weights"] + base["gradients"] + base["optimizer"] == pytest.approx(base["params"] * (6 + 12 / 112))
    assert one["weights"] + one["gradients"] + one["optimizer"] == pytest.approx(one["params"] * 18)
    ddp = memory_estimate(model, run, with_layout(parallel, data_parallel="ddp"))
    assert ddp["optimizer"] == pytest.approx(one["optimizer"])
    flat = with_layout(parallel, pp=1, tp=8)  # without a pipeline fsdp2 keeps two layers gathered, not the stage
    fsdp = memory_estimate(model, run, with_layout(flat, data_parallel="fsdp2"))
    zero1 = memory_estimate(model, run, flat)
    assert fsdp["weights"] < zero1["weights"] / 10 and fsdp["gradients"] < zero1["gradients"] / 10
    no_sp = memory_estimate(model, run, with_layout(parallel, sequence_parallel=False))
    assert no_sp["activations"] > base["activations"]


def test_interleaving_holds_korthikanti_factor_on_the_first_rank():
    model = SMALL.with_changes(n_layers=16)
    run = TrainConfig.model_validate({**SMALL_RUN.model_dump(), "global_batch_tokens": 32 * 8})
    flat = memory_by_pp_rank(model, run, ParallelConfig(pp=4))
    looped = memory_by_pp_rank(model, run, ParallelConfig(pp=4, pp_schedule="interleaved_1f1b", stages_per_rank=2))
    per_layer = flat[0]["activations"] / (4 * 4)       # 1F1B: pp = 4 microbatches of 4 layers
    assert [r["microbatches_in_flight"] for r in flat] == [4, 3, 2, 1]
    # interleaved: a whole stage's layers x pp x (1 + (pp - 1) / (pp v)) = 4 x 4 x 1.375 layer-microbatches
    assert looped[0]["activations"] == pytest.approx(per_layer * 4 * 4 * (1 + 3 / 8))


def test_a_layout_that_does_not_fit_is_flagged():
    model, run, parallel = report_layout("52b")
    no_model_parallel = with_layout(parallel, tp=1, pp=1)
    estimate = memory_estimate(model, run, no_model_parallel)
    assert not estimate["fits"] and estimate["weights"] > GPU_MEMORY_BYTES
    assert "DOES NOT FIT" in dry_run_report(model, run, no_model_parallel)


def test_dry_run_report_text():
    model, run, parallel = report_layout("52b")
    text = dry_run_report(model, run, parallel)
    assert "Mesh (dp, pp, tp) = (112, 2, 4): 896 ranks on 112 node(s) of 8 GPUs" in text
    assert "stage   0 on pp rank   0: embedding + layers 0-31" in text
    assert "stage   1 on pp rank   1: layers 32-63 + norm + LM head" in text
    assert "1,344 samples / dp 112 = 12 microbatches x 1" in text
    assert "OK   heads" in text and "FAIL" not in text
    assert "fits" in text

    model_1t, run_1t, parallel_1t = report_layout("1t")
    text_1t = dry_run_report(model_1t, run_1t, parallel_1t)
    assert "stage  27 on pp rank  27: layers 135-139 + norm + LM head" in text_1t
    assert "WARN tp placement" in text_1t

    bad = dry_run_report(model, run, with_layout(parallel, pp=3))
    assert "FAIL layers" in bad and "Memory: not estimated" in bad
