"""Generator-side loss terms: each compares reconstruction and target and carries its own weight.

A term is any module ``term(reconstruction, target) -> scalar`` with ``name`` and ``weight`` attributes; the
trainer sums them. Audio's spectral losses join the same list.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, WeightsError


class ReconstructionLoss(nn.Module, Configurable):
    """Pixel loss: mean absolute ("l1") or squared ("l2") error."""

    def __init__(self, kind: Literal["l1", "l2"] = "l1", weight: float = 1.0):
        super().__init__()
        if kind not in ("l1", "l2"):
            raise ConfigError(f"ReconstructionLoss kind must be 'l1' or 'l2', got {kind!r}")
        self.kind, self.weight, self.name = kind, float(weight), kind

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        if self.kind == "l1":
            return F.l1_loss(reconstruction.float(), target.float())
        return F.mse_loss(reconstruction.float(), target.float())


class PerceptualLoss(nn.Module, Configurable):
    """LPIPS (the ``lpips`` package) on images in [-1, 1]; video frames are folded into the batch.

    Args:
        net: "alex", "vgg" or "squeeze" backbone.
        pretrained: load the ImageNet backbone (downloaded by torchvision on first use). ``False`` builds a random
            backbone with LPIPS's calibrated heads: only for tests, never a meaningful loss.
        weight: weight of the term.
    """

    def __init__(self, net: Literal["alex", "vgg", "squeeze"] = "alex", pretrained: bool = True, weight: float = 1.0):
        super().__init__()
        import lpips

        self.weight, self.name, self.pretrained = float(weight), "lpips", pretrained
        try:
            self.lpips = lpips.LPIPS(net=net, pnet_rand=not pretrained, verbose=False)
        except Exception as err:  # network, missing cache: one clear failure
            raise WeightsError(
                f"could not load the LPIPS {net!r} backbone weights ({err}); download them once with network access, "
                "or set the perceptual term's pretrained: false (tests only) or remove it"
            ) from err
        self.lpips.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.lpips.eval()  # frozen network: dropout off, always
        return self

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        if reconstruction.ndim == 5:  # [B, C, T, H, W] -> frames
            reconstruction, target = (t.transpose(1, 2).flatten(0, 1) for t in (reconstruction, target))
        with torch.autocast(reconstruction.device.type, enabled=False):
            return self.lpips(reconstruction.float(), target.float()).mean()
