"""FVD (Unterthiner et al., 2018) between original clips and their reconstructions ("rFVD").

The Fréchet distance (:func:`omnitok.metrics.fid.frechet_distance`, float64) between Gaussians fitted to the I3D
features of the originals and of the reconstructions. Preprocessing follows the reference implementation
(google-research ``frechet_video_distance.py``):

1. the first ``frames`` (16) frames of each clip; clips in [0, 1] become 8-bit levels (``round(255 x)``, what
   decoding a video file gives);
2. every frame resized to 224x224 as TensorFlow 1's ``tf.image.resize_bilinear`` (``align_corners=False``: no
   half-pixel centres, no antialiasing) does it (:func:`resize_like_tensorflow1`; tested against torch-fidelity's
   TF1-exact ``interpolate_bilinear_2d_like_tensorflow1x``);
3. scaled to [-1, 1] and fed to the Kinetics-400 Inception-I3D (:mod:`omnitok.metrics.i3d`), whose 400 logits
   averaged over time are the features.

FVD is biased upward on few clips, like rFID: compare figures at equal clip counts (:attr:`FVD.count`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omnitok.metrics.checks import MetricInputError
from omnitok.metrics.fid import feature_statistics, frechet_distance, to_uint8
from omnitok.metrics.i3d import FVD_FRAMES, I3D_SIZE, I3D_WEIGHTS_URL, InceptionI3d
from omnitok.metrics.video import check_video_pair, fold_frames

CLIP_CHUNK = 4  # clips per I3D call (a 16x224x224 clip holds ~0.5 GB of activations in float32)


def tf1_resize_matrix(length: int, size: int, device: torch.device | None = None) -> Tensor:
    """[size, length] float32 weights of TF1's bilinear resize along one axis: output i samples input position
    ``i * length / size`` (no half-pixel centres), linear between its two neighbours, the last input repeated past
    the edge."""
    position = torch.arange(size, dtype=torch.float64, device=device) * (length / size)
    low = position.floor().long().clamp(max=length - 1)
    high = (low + 1).clamp(max=length - 1)
    fraction = position - low
    matrix = torch.zeros(size, length, dtype=torch.float64, device=device)
    rows = torch.arange(size, device=device)
    matrix.index_put_((rows, low), 1 - fraction, accumulate=True)
    matrix.index_put_((rows, high), fraction, accumulate=True)
    return matrix.float()


def resize_like_tensorflow1(frames: Tensor, size: int = I3D_SIZE) -> Tensor:
    """Frames [N, C, H, W] -> [N, C, size, size] as TensorFlow 1's ``resize_bilinear(align_corners=False)`` (the
    reference FVD's resize): no half-pixel centres, no antialiasing; float32."""
    rows = tf1_resize_matrix(frames.shape[2], size, frames.device)  # (size, H)
    columns = tf1_resize_matrix(frames.shape[3], size, frames.device)  # (size, W)
    return rows @ frames.float() @ columns.T


def i3d_input(clips: Tensor, frames: int = FVD_FRAMES, size: int = I3D_SIZE) -> Tensor:
    """FVD preprocessing (module docstring, steps 1-3 before the network): clips [B, 3, T, H, W] in [0, 1],
    T >= ``frames`` -> [B, 3, frames, size, size] float32 in [-1, 1]."""
    b, c, t = clips.shape[:3]
    if t < frames:
        raise MetricInputError(f"FVD scores the first {frames} frames of each clip; got clips of {t} frames")
    levels = to_uint8(clips[:, :, :frames]).float()  # (B, C, frames, H, W), 0..255
    resized = resize_like_tensorflow1(fold_frames(levels), size)  # (B * frames, C, size, size)
    resized = resized.reshape(b, frames, c, size, size).transpose(1, 2)
    return resized * (2.0 / 255.0) - 1.0


class FVD:
    """FVD over a dataset (lower is better): ``update(original, reconstruction)`` per batch of RGB clips
    [B, 3, T, H, W] in [0, 1] (T >= ``frames``), then ``compute()``; needs at least 2 clips.

    Args:
        network: the feature network, clips [B, 3, frames, 224, 224] in [-1, 1] -> features [B, D]; use
            :meth:`pretrained` for the real Kinetics I3D. Tests pass a random ``InceptionI3d()`` (or any small
            module): such a figure is not an FVD, and the implementation string says so.
        frames: frames scored per clip (FVD-16 by default).
        pretrained: whether ``network`` carries the Kinetics-400 I3D weights (set by :meth:`pretrained`); only
            changes the implementation string.
    """

    name = "fvd"
    higher_is_better = False

    def __init__(self, network: nn.Module, *, frames: int = FVD_FRAMES, pretrained: bool = False):
        self.network = network.eval()
        self.frames = frames
        self._real: list[Tensor] = []
        self._fake: list[Tensor] = []
        features = (
            f"Kinetics-400 RGB Inception-I3D ({I3D_WEIGHTS_URL}), 400 logits averaged over time"
            if pretrained
            else f"custom feature network {type(network).__name__} with its own weights (not the Kinetics I3D: "
            "not a reportable FVD)"
        )
        self.implementation = (
            f"omnitok FVD: first {frames} frames as 8-bit levels, TF1 resize_bilinear to {I3D_SIZE}x{I3D_SIZE}, "
            f"[-1, 1]; {features}; float64 Fréchet distance; biased "
            "upward on few clips: compare only at equal clip counts (the report prints the count)"
        )

    @classmethod
    def pretrained(cls, device: torch.device | str = "cpu", frames: int = FVD_FRAMES) -> FVD:
        """FVD with the Kinetics-400 I3D weights (downloaded on first use); MetricUnavailable when they cannot be
        loaded."""
        return cls(InceptionI3d.pretrained(device), frames=frames, pretrained=True)

    @property
    def count(self) -> int:
        """Original/reconstruction pairs seen so far."""
        return sum(len(f) for f in self._real)

    @torch.no_grad()
    def features(self, clips: Tensor) -> Tensor:
        """Network features of clips [B, 3, T, H, W] in [0, 1] -> [B, D] float64 on the CPU."""
        device = next(self.network.parameters()).device
        out = []
        for start in range(0, clips.shape[0], CLIP_CHUNK):
            batch = i3d_input(clips[start : start + CLIP_CHUNK].to(device), self.frames)
            out.append(self.network(batch).double().cpu())
        return torch.cat(out)

    def update(self, original: Tensor, reconstruction: Tensor) -> None:
        check_video_pair(original, reconstruction, self.name, rgb=True, min_frames=self.frames)
        self._real.append(self.features(original))
        self._fake.append(self.features(reconstruction))

    def compute(self) -> float:
        if self.count < 2:
            raise MetricInputError(f"fvd needs at least 2 clips, got {self.count}")
        real, fake = torch.cat(self._real), torch.cat(self._fake)
        return frechet_distance(*feature_statistics(real), *feature_statistics(fake))

    def reset(self) -> None:
        self._real, self._fake = [], []


__all__ = ["FVD", "i3d_input", "resize_like_tensorflow1"]
