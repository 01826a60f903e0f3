"""The learning-rate schedule: linear warmup, cosine decay to a minimum, then constant.

The schedule is a factor of each parameter group's own peak LR (muP gives the groups different peaks),
a pure function of the step, so a resumed run needs nothing but the step to be back on it.
"""

from __future__ import annotations

import math


def lr_factor(step: int, *, warmup_steps: int, decay_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the peak LR for optimizer step ``step`` (0-based): ``(step + 1) / warmup`` during
    warmup, then cosine from 1 down to ``min_lr_ratio`` at ``decay_steps``, and ``min_lr_ratio`` after."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if step >= decay_steps:
        return min_lr_ratio
    progress = (step - warmup_steps) / max(1, decay_steps - warmup_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
