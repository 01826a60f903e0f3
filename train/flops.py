"""Model FLOPs per token and the peak the MFU is measured against.

Training FLOPs per token follow PaLM (Chowdhery et al. 2022, appendix B), as Megatron-LM and nanoGPT
count them: ``6 * N + 12 * L * d * T``, where ``N`` is the number of weights that take part in a
matrix multiply (every linear layer, the LM head included; the embedding lookup and the norms are
not matmuls), ``L`` the layers, ``d`` the width and ``T`` the sequence length: 2 FLOPs per weight per
token forward and 4 backward, plus the attention scores and their weighted sum (the full ``T x T``
matrix, although a causal kernel skips half of it). MFU = achieved model FLOP/s over the peak.

The peak of a GPU is its data sheet's; a GPU the table does not know gets no MFU (training goes on).
A CPU has no sheet figure torch reaches, so its peak is measured, once per process, and is an estimate.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DataSheet:
    """Dense (no 2:4 sparsity) peak TFLOP/s of one GPU, matched on ``torch.cuda.get_device_name``."""

    pattern: str                 # searched, ignoring case, in the device name
    gpu: str
    bf16: float                  # tensor cores, FP32 accumulate
    fp32: float                  # CUDA cores: the trainer does not enable TF32


# Data sheets quote tensor throughput "with sparsity" (marked * below): the dense figure is half of it.
# First match wins, so a variant comes before its family (H100 NVL and PCIe before H100, L40S before L40).
GPU_PEAKS = (
    # NVIDIA H200 data sheet (2024): H200 SXM BF16 1,979* / FP32 67; H200 NVL BF16 1,671* / FP32 60
    DataSheet(r"\bH200\b.*\bNVL\b", "H200 NVL", 835.0, 60.0),
    DataSheet(r"\bH200\b", "H200 SXM", 989.4, 67.0),
    # NVIDIA GH200 Grace Hopper data sheet: the H100 SXM's compute
    DataSheet(r"\bGH200\b", "GH200", 989.4, 67.0),
    # NVIDIA H100 data sheet: SXM BF16 1,979* / FP32 67; PCIe 1,513* / 51; NVL (per GPU) 1,671* / 60.
    # torch names the SXM part "NVIDIA H100 80GB HBM3"
    DataSheet(r"\bH100\b.*\bNVL\b", "H100 NVL", 835.0, 60.0),
    DataSheet(r"\bH100\b.*\bPCIe\b", "H100 PCIe", 756.0, 51.0),
    DataSheet(r"\bH100\b", "H100 SXM", 989.4, 67.0),
    # H800 (the H100 sold in China): the H100's BF16 and FP32 compute, NVLink cut to 400 GB/s
    DataSheet(r"\bH800\b.*\bPCIe\b", "H800 PCIe", 756.0, 51.0),
    DataSheet(r"\bH800\b", "H800 SXM", 989.4, 67.0),
    # H20: BF16 148 dense, FP32 44, as NVIDIA's partners publish them (no public data sheet)
    DataSheet(r"\bH20\b", "H20", 148.0, 44.0),
    # NVIDIA A100 data sheet: BF16 312 (624*), FP32 19.5, the same for SXM4 and PCIe, 40 and 80 GB;
    # A800 (the report's GPU, "NVIDIA A800-SXM4-80GB") is the A100 with NVLink cut to 400 GB/s
    DataSheet(r"\bA800\b", "A800", 312.0, 19.5),
    DataSheet(r"\bA100\b", "A100", 312.0, 19.5),
    # NVIDIA A30 / A40 / A10 / RTX A6000 data sheets: BF16 165 / 149.7 / 125 / 154.8 dense, FP32 10.3 / 37.4 / 31.2 / 38.7
    DataSheet(r"\bA30\b", "A30", 165.0, 10.3),
    DataSheet(r"\bA40\b", "A40", 149.7, 37.4),
    DataSheet(r"\bA10\b", "A10", 125.0, 31.2),
    DataSheet(r"\bRTX A6000\b", "RTX A6000", 154.8, 38.7),
    # NVIDIA L40S / L40 / L4 data sheets: BF16 362.05 (733*) / 181.05 (362.1*) / 121 (242*), FP32 91.6 / 90.5 / 30.3
    DataSheet(r"\bL40S\b", "L40S", 362.05, 91.6),
    DataSheet(r"\bL40\b", "L40", 181.05, 90.5),
    DataSheet(r"\bL4\b", "L4", 121.0, 30.3),
)

CPU_GEMM_SIZE = 4096
CPU_GEMM_RUNS = 3


@dataclass(frozen=True)
class Peak:
    """The FLOP/s one device can do, where the figure comes from, and whether it is a measured estimate."""

    flops: float
    source: str
    estimate: bool = False


def matmul_weights(model: nn.Module) -> int:
    """Weights of every linear layer (works on a meta-device model, so for any size)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(model: nn.Module, n_layers: int, dim: int, seq_len: int) -> float:
    """Training (forward + backward) FLOPs per token; see the module docstring."""
    return 6.0 * matmul_weights(model) + 12.0 * n_layers * dim * seq_len


def device_name(device: torch.device) -> str:
    """What torch calls the device: the GPU's product name (``NVIDIA A800-SXM4-80GB``), or ``cpu``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def data_sheet_peak(name: str, dtype: torch.dtype) -> Peak | None:
    """The data-sheet peak of the GPU called ``name`` in ``dtype``; None for a GPU or dtype not in ``GPU_PEAKS``."""
    for sheet in GPU_PEAKS:
        if re.search(sheet.pattern, name, re.IGNORECASE):
            if dtype == torch.bfloat16:
                return Peak(sheet.bf16 * 1e12, f"{sheet.gpu} data sheet, dense bf16 tensor cores")
            if dtype == torch.float32:
                return Peak(sheet.fp32 * 1e12, f"{sheet.gpu} data sheet, fp32")
            return None
    return None


@functools.cache
def measured_cpu_peak(dtype: torch.dtype, threads: int) -> Peak:
    """The best of ``CPU_GEMM_RUNS`` ``n x n x n`` matmuls (n = ``CPU_GEMM_SIZE``) on this CPU, once per
    process and thread count (about a second each on two cores). The first run warms the threads up and
    the best is kept, so that other work on the machine moves the figure less. The size matters: on a
    2-core EPYC a 2048^3 fp32 matmul reaches 60-80% of a 4096^3 one's FLOP/s, and against it the
    trainer's MFU came out above 100%. Still an estimate."""
    n = CPU_GEMM_SIZE
    a, b, out = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype), torch.empty(n, n, dtype=dtype)
    best = float("inf")
    for _ in range(CPU_GEMM_RUNS):
        started = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - started)
    return Peak(2.0 * n**3 / best, f"estimate: best of {CPU_GEMM_RUNS} {n}^3 {dtype} matmuls on this CPU, "
                f"{threads} thread(s)", estimate=True)


def peak_flops(name: str, dtype: torch.dtype) -> Peak | None:
    """The peak FLOP/s in ``dtype`` of the device called ``name`` (``device_name``): a GPU's data sheet, a
    CPU's measured estimate, or None when the device is not known (no MFU is reported then)."""
    if name == "cpu":
        return measured_cpu_peak(dtype, torch.get_num_threads())
    return data_sheet_peak(name, dtype)
