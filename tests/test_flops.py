"""The peak MFU is measured against: data-sheet peaks by the name torch gives a GPU, the trainer on an A800
(its name faked) and on a GPU nobody knows (trains, without MFU, after one warning), the CPU's estimate."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from tests.test_pretrain import run_config, write_shards
from train import flops
from train.config import load_train_config
from train.pretrain import Trainer


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    write_shards(root)
    return root


@pytest.mark.parametrize("name, bf16_tflops", [
    ("NVIDIA A800-SXM4-80GB", 312), ("NVIDIA A800 80GB PCIe", 312), ("NVIDIA A100-SXM4-40GB", 312),
    ("NVIDIA A100-SXM4-80GB", 312), ("NVIDIA A100-PCIE-40GB", 312), ("NVIDIA A100 80GB PCIe", 312),
    ("NVIDIA H100 80GB HBM3", 989.4), ("NVIDIA H100 PCIe", 756), ("NVIDIA H100 NVL", 835),
    ("NVIDIA H800", 989.4), ("NVIDIA H800 PCIe", 756), ("NVIDIA H200", 989.4), ("NVIDIA H200 NVL", 835),
    ("NVIDIA GH200 480GB", 989.4), ("NVIDIA H20", 148), ("NVIDIA L40S", 362.05), ("NVIDIA L40", 181.05),
    ("NVIDIA L4", 121), ("NVIDIA A10", 125), ("NVIDIA A40", 149.7), ("NVIDIA RTX A6000", 154.8),
])
def test_data_sheet_peak_by_device_name(name, bf16_tflops):
    peak = flops.peak_flops(name, torch.bfloat16)
    assert peak.flops == pytest.approx(bf16_tflops * 1e12) and not peak.estimate


def test_fp32_peak_and_unknown_devices():
    assert flops.peak_flops("NVIDIA A800-SXM4-80GB", torch.float32).flops == pytest.approx(19.5e12)
    assert flops.peak_flops("NVIDIA H100 80GB HBM3", torch.float32).flops == pytest.approx(67e12)
    assert flops.peak_flops("NVIDIA A10G", torch.bfloat16) is None  # not the A10
    assert flops.peak_flops("NVIDIA Mystery GPU 9000", torch.bfloat16) is None
    assert flops.peak_flops("NVIDIA A100-SXM4-80GB", torch.float16) is None  # the trainer never runs fp16


def test_trainer_on_an_a800_uses_its_data_sheet_peak(tmp_path, shards, monkeypatch):
    monkeypatch.setattr(flops, "device_name", lambda device: "NVIDIA A800-SXM4-80GB")
    cfg = load_train_config(run_config(tmp_path, shards, max_steps=2, dtype="bfloat16"))
    trainer = Trainer(cfg, resume="none")
    assert trainer.peak == flops.Peak(312e12, "A800 data sheet, dense bf16 tensor cores")
    history = trainer.run()
    for row in history:
        assert row["mfu"] == pytest.approx(row["tokens_per_s"] * trainer.flops_per_token / 312e12)


def test_unknown_gpu_trains_without_mfu_after_one_warning(tmp_path, shards, monkeypatch, caplog):
    monkeypatch.setattr(flops, "device_name", lambda device: "NVIDIA Mystery GPU 9000")
    cfg = load_train_config(run_config(tmp_path, shards, max_steps=3, dtype="bfloat16"))
    with caplog.at_level(logging.WARNING, logger="train"):
        trainer = Trainer(cfg, resume="none")
        history = trainer.run()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "NVIDIA Mystery GPU 9000" in warnings[0].getMessage()
    assert trainer.peak is None and trainer.mfu(1e6) is None
    assert len(history) == 3 and all("mfu" not in row for row in history)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in rows if "loss" in r]
    assert len(trained) == 3 and all("mfu" not in r and r["tokens_per_s"] > 0 for r in trained)


def test_cpu_peak_is_an_estimate_measured_once(monkeypatch):
    flops.measured_cpu_peak.cache_clear()
    sizes = []
    real_mm = torch.mm

    def counting_mm(a, b, **kwargs):
        sizes.append(a.shape[0] * a.shape[1] * b.shape[1])
        return real_mm(a, b, **kwargs)

    monkeypatch.setattr(torch, "mm", counting_mm)
    first = flops.peak_flops("cpu", torch.float32)
    assert first.estimate and "estimate" in first.source and first.flops > 0
    assert len(sizes) > 2 and min(sizes) >= 2048**3  # several large matmuls, the best kept
    assert flops.peak_flops("cpu", torch.float32) is first and len(sizes) == flops.CPU_GEMM_RUNS  # measured once
    assert flops.device_name(torch.device("cpu")) == "cpu"
