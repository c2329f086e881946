"""Video discriminators: a 3-D PatchGAN that judges space-time patches, so motion (not just each frame) is
adversarially trained. Use it inside ``AdversarialLoss`` like the 2-D ``PatchDiscriminator``."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.trainers.adversarial import init_discriminator_weights


class PatchDiscriminator3d(nn.Module, Configurable):
    """3-D PatchGAN (the MAGVIT / Open-Sora video discriminator family): strided 3-D convs -> one logit per
    overlapping space-time patch.

    x: [B, C, T, H, W] in [-1, 1] (an image is a 1-frame video) -> logits [B, 1, t, h, w]. Spatial layers are those
    of the 2-D ``PatchDiscriminator`` (4x4 kernels, stride 2 then 1); in time, kernels span ``temporal_kernel``
    frames (zero-padded at both ends, so any T >= 1 works) and the first ``temporal_downsample`` strided layers
    also halve time: T -> (T - 1) // 2 + 1 each.

    Args:
        in_channels: video channels.
        base_channels: channels of the first layer, doubled per layer up to 8x.
        num_layers: strided layers (3 gives a 70x70-pixel receptive field per frame, as in VQGAN).
        temporal_kernel: odd temporal extent of every kernel.
        temporal_downsample: how many of the strided layers (first ones) also stride 2 in time.
        norm: "group" (per-sample, so train and eval agree) or "none".
    """

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 64,
        num_layers: int = 3,
        temporal_kernel: int = 3,
        temporal_downsample: int = 2,
        norm: Literal["group", "none"] = "group",
    ):
        super().__init__()
        if norm not in ("group", "none"):
            raise ConfigError(f"PatchDiscriminator3d norm must be group or none, got {norm!r}")
        if temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ConfigError(f"temporal_kernel must be odd and >= 1, got {temporal_kernel}")
        if not 0 <= temporal_downsample <= num_layers:
            raise ConfigError(f"temporal_downsample must be in [0, num_layers={num_layers}], got {temporal_downsample}")
        kt, pt = temporal_kernel, temporal_kernel // 2
        self.in_channels = in_channels

        def conv(cin: int, cout: int, index: int, spatial_stride: int, bias: bool = True) -> nn.Conv3d:
            time_stride = 2 if index < temporal_downsample else 1  # index num_layers (stride 1) never strides
            return nn.Conv3d(
                cin, cout, (kt, 4, 4), (time_stride, spatial_stride, spatial_stride), (pt, 1, 1), bias=bias
            )

        layers: list[nn.Module] = [conv(in_channels, base_channels, 0, 2), nn.LeakyReLU(0.2)]
        channels = base_channels
        for n in range(1, num_layers + 1):
            out = base_channels * min(2**n, 8)
            stride = 2 if n < num_layers else 1
            norm_layer = nn.GroupNorm(min(32, out), out) if norm == "group" else nn.Identity()
            layers += [conv(channels, out, n, stride, bias=norm == "none"), norm_layer]
            layers.append(nn.LeakyReLU(0.2))
            channels = out
        layers.append(nn.Conv3d(channels, 1, (kt, 4, 4), 1, (pt, 1, 1)))
        self.layers = nn.Sequential(*layers)
        self.apply(init_discriminator_weights)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 4:  # an image batch: one frame each
            x = x.unsqueeze(2)
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ShapeError(f"PatchDiscriminator3d takes [B, {self.in_channels}, T, H, W], got {tuple(x.shape)}")
        return self.layers(x)


