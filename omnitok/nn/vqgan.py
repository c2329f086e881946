"""The VQGAN / latent-diffusion 2-D convolutional encoder and decoder (taming-transformers, Stable Diffusion VAE).

Level ``i`` works at resolution H / 2**i and has ``base_channels * channel_multipliers[i]`` channels, in the encoder
and in the decoder alike; the downsampling factor is ``2 ** (len(channel_multipliers) - 1)``. Diffusers'
``Encoder`` / ``Decoder`` (``block_out_channels = base_channels * channel_multipliers``) are the same networks, and
:mod:`omnitok.nn.convert` loads their weights. One difference from taming-transformers: ``conv_in`` of the encoder
emits ``base_channels * channel_multipliers[0]`` channels (diffusers' choice), the same thing whenever the first
multiplier is 1, as in every published VQGAN and LDM configuration.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError
from omnitok.nn.blocks import MidBlock2d, ResolutionLevel2d, group_norm, norm_silu


def _check_architecture(
    in_channels: int,
    out_channels: int,
    base_channels: int,
    channel_multipliers: Sequence[int],
    num_res_blocks: int,
    attention_levels: Sequence[int],
    dropout: float,
    norm_groups: int,
) -> tuple[list[int], set[int]]:
    """Validate the shared arguments; returns the channels per level and the set of attention levels."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("base_channels", base_channels)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    multipliers = list(channel_multipliers)
    if not multipliers or not all(isinstance(m, int) and m >= 1 for m in multipliers):
        raise ConfigError(f"channel_multipliers must be a non-empty sequence of positive ints, got {channel_multipliers!r}")
    if not isinstance(num_res_blocks, int) or num_res_blocks < 1:
        raise ConfigError(f"num_res_blocks must be an int >= 1, got {num_res_blocks!r}")
    levels = set(attention_levels)
    bad = sorted(level for level in levels if not isinstance(level, int) or not 0 <= level < len(multipliers))
    if bad:
        raise ConfigError(f"attention_levels {bad} outside the levels 0..{len(multipliers) - 1}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    channels = [base_channels * m for m in multipliers]
    for c in channels:
        if not isinstance(norm_groups, int) or norm_groups < 1 or c % norm_groups:
            raise ConfigError(
                f"every level's channels must be divisible by norm_groups={norm_groups!r}; "
                f"base_channels={base_channels} x channel_multipliers={tuple(multipliers)} gives {channels}"
            )
    return channels, levels


def _check_input(module: nn.Module, x: Tensor, channels: int, multiple: int, layout: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{type(module).__name__} expects {layout} with {channels} channels, got {shape}")
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise ShapeError(
            f"{type(module).__name__} needs H and W divisible by its downsampling factor {multiple}, "
            f"got H={x.shape[2]}, W={x.shape[3]} (pad or crop the image)"
        )


class ConvEncoder2d(nn.Module, Configurable):
    """VQGAN / LDM encoder: image -> latent grid.

    x: [B, in_channels, H, W] (images in [-1, 1]) -> [B, out_channels, H/f, W/f], f = ``downsample_factor``.
    H and W must be multiples of f.

    Args:
        in_channels: image channels.
        out_channels: latent channels emitted; pass ``quantizer.input_dim`` (``2 * dim`` for a Gaussian bottleneck).
        base_channels: channels of level 0 (times its multiplier).
        channel_multipliers: one per resolution level; level i has ``base_channels * channel_multipliers[i]``
            channels; levels are separated by a 2x downsampling, so f = 2 ** (len - 1): (1, 2, 4, 4) is f8,
            (1, 1, 2, 2, 4) is f16.
        num_res_blocks: ResNet blocks per level.
        attention_levels: levels (indices into ``channel_multipliers``) with a self-attention block after each
            ResNet block; () for none (the usual VQGAN f16 setting puts one at the lowest level, 4).
        mid_attention: self-attention between the two ResNet blocks of the middle block.
        dropout: dropout inside the ResNet blocks.
        norm_groups: GroupNorm groups; every level's channels must be divisible by it.
        gradient_checkpointing: recompute ResNet and attention blocks in the backward pass (less memory, slower).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 8,
        base_channels: int = 128,
        channel_multipliers: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        attention_levels: Sequence[int] = (),
        mid_attention: bool = True,
        dropout: float = 0.0,
        norm_groups: int = 32,
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        channels, attention = _check_architecture(
            in_channels, out_channels, base_channels, channel_multipliers, num_res_blocks, attention_levels,
            dropout, norm_groups,
        )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.downsample_factor = 2 ** (len(channels) - 1)
        self.gradient_checkpointing = gradient_checkpointing

        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        last = len(channels) - 1
        self.down = nn.ModuleList(
            ResolutionLevel2d(
                channels[max(i - 1, 0)], channels[i], num_res_blocks, i in attention,
                resample=None if i == last else "down", dropout=dropout, norm_groups=norm_groups,
            )
            for i in range(len(channels))
        )
        self.mid = MidBlock2d(channels[-1], mid_attention, dropout, norm_groups)
        self.norm_out = group_norm(channels[-1], norm_groups)
        self.conv_out = nn.Conv2d(channels[-1], out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, in_channels, H, W] in [-1, 1] -> [B, out_channels, H/f, W/f]."""
        _check_input(self, x, self.in_channels, self.downsample_factor, "images [B, C, H, W]")
        checkpointing = self.gradient_checkpointing and self.training
        h = self.conv_in(x)
        for level in self.down:
            h = level(h, checkpointing)
        h = self.mid(h, checkpointing)
        return self.conv_out(norm_silu(self.norm_out, h))


class ConvDecoder2d(nn.Module, Configurable):
    """VQGAN / LDM decoder: latent grid -> image, the mirror of :class:`ConvEncoder2d`.

    z: [B, in_channels, h, w] -> [B, out_channels, h*f, w*f] (images in about [-1, 1]), f = ``downsample_factor``.

    ``up`` holds the levels in the order they run, lowest resolution first: ``up[j]`` is level
    ``len(channel_multipliers) - 1 - j`` (diffusers' ``up_blocks`` order; taming-transformers' ``up[i]`` is level i).
    Each level has ``num_res_blocks + 1`` ResNet blocks and ends with a nearest 2x upsample + conv3x3 (not the last).

    Args:
        in_channels: latent channels taken; pass ``quantizer.dim``.
        out_channels: image channels.
        base_channels, channel_multipliers, num_res_blocks, attention_levels, mid_attention, dropout, norm_groups,
            gradient_checkpointing: as in :class:`ConvEncoder2d`; level i again has
            ``base_channels * channel_multipliers[i]`` channels at resolution ``h * f / 2**i``.
    """

    def __init__(
        self,
        in_channels: int = 8,
        out_channels: int = 3,
        base_channels: int = 128,
        channel_multipliers: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        attention_levels: Sequence[int] = (),
        mid_attention: bool = True,
        dropout: float = 0.0,
        norm_groups: int = 32,
        gradient_checkpointing: bool = False,
    ):
        super().__init__()
        channels, attention = _check_architecture(
            in_channels, out_channels, base_channels, channel_multipliers, num_res_blocks, attention_levels,
            dropout, norm_groups,
        )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.downsample_factor = 2 ** (len(channels) - 1)
        self.gradient_checkpointing = gradient_checkpointing

        self.conv_in = nn.Conv2d(in_channels, channels[-1], 3, padding=1)
        self.mid = MidBlock2d(channels[-1], mid_attention, dropout, norm_groups)
        order = list(reversed(range(len(channels))))  # level indices, lowest resolution first
        self.up = nn.ModuleList(
            ResolutionLevel2d(
                channels[min(i + 1, len(channels) - 1)], channels[i], num_res_blocks + 1, i in attention,
                resample=None if i == 0 else "up", dropout=dropout, norm_groups=norm_groups,
            )
            for i in order
        )
        self.norm_out = group_norm(channels[0], norm_groups)
        self.conv_out = nn.Conv2d(channels[0], out_channels, 3, padding=1)

    @property
    def last_layer(self) -> Tensor:
        """The output convolution's weight: where the trainer balances reconstruction and adversarial gradients."""
        return self.conv_out.weight

    def forward(self, z: Tensor) -> Tensor:
        """z: [B, in_channels, h, w] -> [B, out_channels, h*f, w*f]."""
        _check_input(self, z, self.in_channels, 1, "latents [B, C, h, w]")
        checkpointing = self.gradient_checkpointing and self.training
        h = self.conv_in(z)
        h = self.mid(h, checkpointing)
        for level in self.up:
            h = level(h, checkpointing)
        return self.conv_out(norm_silu(self.norm_out, h))
