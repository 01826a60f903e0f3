"""Model FLOPs per token and the peak the MFU is measured against.

Training FLOPs per token follow PaLM (Chowdhery et al. 2022, appendix B), as Megatron-LM and nanoGPT
count them: ``6 * N + 12 * L * d * T``, where ``N`` is the number of weights that take part in a
matrix multiply (every linear layer, the LM head included; the embedding lookup and the norms are
not matmuls), ``L`` the layers, ``d`` the width and ``T`` the sequence length: 2 FLOPs per weight per
token forward and 4 backward, plus the attention scores and their weighted sum (the full ``T x T``
matrix, although a causal kernel skips half of it). MFU = achieved model FLOP/s over the peak.
"""

from __future__ import annotations

import time

import torch
from torch import nn

# Dense (not sparse) peak tensor throughput per device from the vendors' data sheets, FLOP/s.
GPU_PEAK = {
    ("H200", torch.bfloat16): 989.4e12,
    ("H100", torch.bfloat16): 989.4e12,
    ("A100", torch.bfloat16): 312e12,
    ("H200", torch.float32): 66.9e12,
    ("H100", torch.float32): 66.9e12,
    ("A100", torch.float32): 19.5e12,
}


def matmul_weights(model: nn.Module) -> int:
    """Weights of every linear layer (works on a meta-device model, so for any size)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(model: nn.Module, n_layers: int, dim: int, seq_len: int) -> float:
    """Training (forward + backward) FLOPs per token; see the module docstring."""
    return 6.0 * matmul_weights(model) + 12.0 * n_layers * dim * seq_len


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """The peak FLOP/s of one device and where the figure comes from. A GPU's comes from its data
    sheet; a CPU has no meaningful sheet figure for torch, so its peak is a measured large matmul
    (MFU on CPU therefore says how close the model gets to the best this machine does)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for (gpu, dt), flops in GPU_PEAK.items():
            if gpu in name and dt == dtype:
                return flops, f"{gpu} data sheet, dense {dt}"
        raise ValueError(f"no peak FLOP/s known for {name} in {dtype}; add it to train.flops.GPU_PEAK")
    n = 1024
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm up the kernel and its threads
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, (time.perf_counter() - t) / 4)
    return 2.0 * n**3 / best, f"measured {n}x{n} {dtype} matmul on this CPU ({torch.get_num_threads()} threads)"
