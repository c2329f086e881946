"""The learning-rate schedule every omnitok trainer uses: linear warm-up, then constant or cosine decay."""

from __future__ import annotations

import math


def lr_factor(step: int, warmup_steps: int, lr_schedule: str, min_lr_ratio: float, max_steps: int) -> float:
    """Multiplier of the peak learning rate at optimizer ``step`` (what ``LambdaLR`` takes).

    Warm-up: (step + 1) / warmup_steps for the first ``warmup_steps`` steps. After it, 1 for "constant", or for
    "cosine" a half cosine from 1 down to ``min_lr_ratio`` at ``max_steps`` (held there afterwards).
    """
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if lr_schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
