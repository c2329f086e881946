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
from omnitok.errors import ConfigError, ShapeError, WeightsError


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
    """LPIPS (the ``lpips`` package) on images in [-1, 1]; video is scored per frame.

    Video [B, C, T, H, W] is folded into a batch of frames [B*T, C, H, W] (per-frame LPIPS, averaged). With
    ``max_frames`` set, a clip longer than that is scored on ``max_frames`` of its frames, the same ones for the
    whole batch: in training a random subset (drawn from torch's global generator, which checkpoints restore),
    in eval mode evenly spaced frames, first and last included. This bounds the cost at ``B * max_frames`` LPIPS
    passes, and every frame still gets the loss on average.

    Args:
        net: "alex", "vgg" or "squeeze" backbone.
        pretrained: load the ImageNet backbone (downloaded by torchvision on first use). ``False`` builds a random
            backbone with LPIPS's calibrated heads: only for tests, never a meaningful loss.
        weight: weight of the term.
        max_frames: video: score at most this many frames per clip (None: all).
    """

    def __init__(
        self,
        net: Literal["alex", "vgg", "squeeze"] = "alex",
        pretrained: bool = True,
        weight: float = 1.0,
        max_frames: int | None = None,
    ):
        super().__init__()
        import lpips

        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"PerceptualLoss max_frames must be >= 1 or None, got {max_frames}")
        self.weight, self.name, self.pretrained, self.max_frames = float(weight), "lpips", pretrained, max_frames
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

    def frames(self, count: int, device: torch.device) -> Tensor | None:
        """Indices of the frames scored in a clip of ``count`` frames, or None for all of them."""
        if self.max_frames is None or count <= self.max_frames:
            return None
        if self.training:
            return torch.randperm(count, device=device)[: self.max_frames].sort().values
        return torch.linspace(0, count - 1, self.max_frames, device=device).round().long()

    def forward(self, reconstruction: Tensor, target: Tensor) -> Tensor:
        """reconstruction, target: [B, C, H, W] or [B, C, T, H, W] in [-1, 1] -> mean LPIPS (a scalar)."""
        if reconstruction.shape != target.shape:
            raise ShapeError(f"PerceptualLoss: shapes differ {tuple(reconstruction.shape)} vs {tuple(target.shape)}")
        if reconstruction.ndim == 5:  # [B, C, T, H, W] -> frames [B*T', C, H, W]
            chosen = self.frames(reconstruction.shape[2], reconstruction.device)
            if chosen is not None:
                reconstruction, target = reconstruction[:, :, chosen], target[:, :, chosen]
            reconstruction, target = (t.transpose(1, 2).flatten(0, 1) for t in (reconstruction, target))
        elif reconstruction.ndim != 4:
            raise ShapeError(f"PerceptualLoss takes [B, C, H, W] or [B, C, T, H, W], got {tuple(reconstruction.shape)}")
        with torch.autocast(reconstruction.device.type, enabled=False):
            return self.lpips(reconstruction.float(), target.float()).mean()
