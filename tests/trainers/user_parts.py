"""A loss term defined outside omnitok, as a user's own module would be (for the --trust-remote-code tests)."""

from __future__ import annotations

from torch import Tensor, nn


class HalfL1(nn.Module):
    """Half the mean absolute error; a recipe names it as tests.trainers.user_parts.HalfL1."""

    name = "half_l1"

    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, x_hat: Tensor, x: Tensor) -> Tensor:
        return 0.5 * (x_hat - x).abs().mean()
