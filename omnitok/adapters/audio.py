"""Adapters for transformers' neural audio codecs: ``DacModel``, ``EncodecModel`` and ``MimiModel``.

All three are SEANet-style codecs with a residual VQ: a waveform ``[B, C, S]`` in [-1, 1] at the config's
``sampling_rate`` becomes ``frames = S / hop`` code vectors of Q levels, ``hop`` the product of the encoder's strides.
transformers returns codes level-first (``[B, Q, frames]``; EnCodec adds a leading chunk axis,
``[chunks, B, Q, frames]``); the adapters return omnitok's layout, ``[B, frames, Q]`` (int64), and ``decode`` takes
``[B, frames, q]`` with any leading subset ``1 <= q <= Q`` of the levels (residual: each level refines the sum).

Input lengths and decoded lengths (checked against the models in tests/adapters/test_audio.py):
- DAC: unpadded strided convs; a length that is not a multiple of ``hop`` is silently floored by the model, so the
  spec requires multiples (``pad_to_multiple=False``). ``decode`` gives ``frames * hop`` samples when every stride is
  even (the released 16/44 kHz models, strides 2, 4, 8, 8). Its transposed conv for an odd stride returns one sample
  less than ``stride`` times its input, and the later (upsampling) blocks multiply that shortfall: the 24 kHz model
  (strides 2, 4, 5, 8; decoder 8, 5, 4, 2) decodes ``frames * 320 - 8`` samples.
- EnCodec and Mimi: causal convs that pad the input up to whole frames, so any length is taken,
  ``frames = ceil(S / hop)`` (``pad_to_multiple=True``), and ``decode`` returns ``frames * hop >= S`` samples: trim
  to the input's length when it is known.

transformers is imported only when a model is wrapped or loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from omnitok.adapters.transformers import TransformersAdapter
from omnitok.errors import ConfigError
from omnitok.protocol import TokenizerSpec

WAVEFORM_RANGE = (-1.0, 1.0)


class DacAdapter(TransformersAdapter):
    """transformers ``DacModel`` (Descript Audio Codec, mono) as an omnitok tokenizer.

    ``encode``: x [B, 1, S] in [-1, 1], S a multiple of hop = prod(config.downsampling_ratios) ->
    ``model.encode(x, n_quantizers=Q).audio_codes`` [B, Q, S / hop] -> [B, S / hop, Q].
    ``decode``: tokens [B, frames, q] -> ``model.decode(audio_codes=[B, q, frames]).audio_values`` [B, S'] ->
    [B, 1, S'], S' = frames * hop when every stride is even, a few samples less otherwise (see the module notes).
    ``spec.token_rate`` is sampling_rate / hop exactly (86.13 Hz at 44.1 kHz; DacConfig.frame_rate rounds it up).

    Args:
        model: a ``DacModel``.
        num_quantizers: levels Q that ``encode`` returns (1..config.n_codebooks); default all of them.
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    library = "transformers"
    wrapped_classes = ("DacModel",)
    config_types = ("dac",)

    def __init__(
        self, model: nn.Module, *, num_quantizers: int | None = None, value_range: Sequence[float] | None = None
    ):
        model = _check_class(model, "DacModel")
        c = model.config
        levels = _levels(num_quantizers, c.n_codebooks, 1, "DacModel n_codebooks")
        hop = math.prod(c.downsampling_ratios)
        spec = _audio_spec(c.codebook_size, levels, c.codebook_dim, hop, 1, c.sampling_rate, pad_to_multiple=False)
        super().__init__(model, spec, value_range)
        self.num_quantizers = levels

    def _encode(self, x: Tensor) -> Tensor:
        codes = self.model.encode(x, n_quantizers=self.num_quantizers).audio_codes  # (B, Q, frames)
        return codes.transpose(1, 2)  # (B, frames, Q)

    def _decode(self, tokens: Tensor) -> Tensor:
        audio = self.model.decode(audio_codes=tokens.transpose(1, 2)).audio_values  # (B, S'): channel squeezed
        return audio.unsqueeze(1)  # (B, 1, S')


class EncodecAdapter(TransformersAdapter):
    """transformers ``EncodecModel`` (mono or stereo) at one bandwidth as an omnitok tokenizer.

    ``encode``: x [B, C, S] in [-1, 1] -> ``model.encode(x, bandwidth=bandwidth).audio_codes`` [1, B, Q, frames]
    (one chunk) -> [B, frames, Q], frames = ceil(S / hop), hop = prod(config.upsampling_ratios).
    ``decode``: tokens [B, frames, q] -> ``model.decode([1, B, q, frames], [None]).audio_values`` [B, C, frames * hop].

    The number of levels follows the bandwidth, as in the model:
    Q = floor(bandwidth * 1000 / (log2(codebook_size) * frame_rate)), e.g. 24 kHz EnCodec (75 Hz, 1024 codes):
    1.5 / 3 / 6 / 12 / 24 kbps -> 2 / 4 / 8 / 16 / 32 levels. The default is the highest of
    ``config.target_bandwidths`` (all levels; its leading subsets decode as the lower bandwidths), whereas
    ``EncodecModel.encode`` defaults to the lowest.

    Only unchunked, unnormalised configs (``chunk_length_s=None``, ``normalize=False``: the 24 kHz checkpoint) are
    supported: the 48 kHz checkpoint encodes overlapping 1 s chunks, each with a loudness scale that the codes do
    not carry, so its tokens alone do not decode.

    Args:
        model: an ``EncodecModel``.
        bandwidth: target bandwidth in kbps, one of ``config.target_bandwidths``; default the highest.
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    library = "transformers"
    wrapped_classes = ("EncodecModel",)
    config_types = ("encodec",)

    def __init__(self, model: nn.Module, *, bandwidth: float | None = None, value_range: Sequence[float] | None = None):
        model = _check_class(model, "EncodecModel")
        c = model.config
        if c.chunk_length_s is not None or c.normalize:
            raise ConfigError(
                "EncodecAdapter supports unchunked, unnormalised EnCodec models (chunk_length_s=None, normalize=False, "
                f"like the 24 kHz checkpoint); this config has chunk_length_s={c.chunk_length_s}, "
                f"normalize={c.normalize}: its codes need per-chunk scales that tokens do not carry"
            )
        bandwidths = [float(b) for b in c.target_bandwidths]
        if bandwidth is None:
            bandwidth = max(bandwidths)
        if float(bandwidth) not in bandwidths:
            raise ConfigError(f"bandwidth must be one of the model's target_bandwidths {bandwidths}, got {bandwidth}")
        levels = model.quantizer.get_num_quantizers_for_bandwidth(float(bandwidth))
        if not 1 <= levels <= c.num_quantizers:
            raise ConfigError(f"bandwidth {bandwidth} gives {levels} levels; the model has {c.num_quantizers}")
        spec = _audio_spec(
            c.codebook_size,
            levels,
            c.codebook_dim,
            c.hop_length,
            c.audio_channels,
            c.sampling_rate,
            pad_to_multiple=True,
        )
        super().__init__(model, spec, value_range)
        self.bandwidth = float(bandwidth)

    def _encode(self, x: Tensor) -> Tensor:
        codes = self.model.encode(x, bandwidth=self.bandwidth).audio_codes  # (1 chunk, B, Q, frames)
        return codes[0].transpose(1, 2)  # (B, frames, Q)

    def _decode(self, tokens: Tensor) -> Tensor:
        codes = tokens.transpose(1, 2).unsqueeze(0)  # (1 chunk, B, q, frames)
        return self.model.decode(codes, [None]).audio_values  # (B, C, frames * hop); no scale: normalize=False


class MimiAdapter(TransformersAdapter):
    """transformers ``MimiModel`` (Kyutai's Moshi codec: 1 semantic + acoustic RVQ levels) as an omnitok tokenizer.

    ``encode``: x [B, C, S] in [-1, 1] -> ``model.encode(x, num_quantizers=Q).audio_codes`` [B, Q, frames] ->
    [B, frames, Q], frames = ceil(S / hop), hop = ``config.frame_size`` = prod(config.upsampling_ratios) *
    latent_stride (the downsampling conv after the encoder transformer; 1920 samples = 12.5 Hz at 24 kHz).
    ``decode``: tokens [B, frames, q] -> ``model.decode([B, q, frames]).audio_values`` [B, C, frames * hop].
    The first ``num_semantic_quantizers`` levels come from the semantic RVQ, the rest from the acoustic RVQ; the
    model decodes any leading subset (its codes are summed), so the spec is "residual".

    Args:
        model: a ``MimiModel``.
        num_quantizers: levels Q that ``encode`` returns (num_semantic_quantizers..config.num_quantizers); default
            all of them (32 for kyutai/mimi; Moshi uses the first 8).
        value_range: the range ``encode`` takes and ``decode`` returns; default the model's own (-1, 1).
    """

    library = "transformers"
    wrapped_classes = ("MimiModel",)
    config_types = ("mimi",)

    def __init__(
        self, model: nn.Module, *, num_quantizers: int | None = None, value_range: Sequence[float] | None = None
    ):
        model = _check_class(model, "MimiModel")
        c = model.config
        if model.encoder is None or model.decoder is None:
            raise ConfigError("MimiAdapter needs a MimiModel with both its encoder and its decoder")
        levels = _levels(num_quantizers, c.num_quantizers, c.num_semantic_quantizers, "MimiModel num_quantizers")
        spec = _audio_spec(
            c.codebook_size,
            levels,
            c.codebook_dim,
            c.frame_size,
            c.audio_channels,
            c.sampling_rate,
            pad_to_multiple=True,
            token_rate=float(c.frame_rate),
        )
        super().__init__(model, spec, value_range)
        self.num_quantizers = levels

    def _encode(self, x: Tensor) -> Tensor:
        codes = self.model.encode(x, num_quantizers=self.num_quantizers).audio_codes  # (B, Q, frames)
        return codes.transpose(1, 2)  # (B, frames, Q)

    def _decode(self, tokens: Tensor) -> Tensor:
        return self.model.decode(tokens.transpose(1, 2)).audio_values  # (B, C, frames * hop)


def _audio_spec(
    codebook_size: int,
    levels: int,
    code_dim: int,
    hop: int,
    channels: int,
    sample_rate: int,
    *,
    pad_to_multiple: bool,
    token_rate: float | None = None,
) -> TokenizerSpec:
    """Q residual levels of ``codebook_size`` codes, one token per ``hop`` samples, waveforms in [-1, 1]."""
    return TokenizerSpec(
        modality="audio",
        discrete=True,
        codebook_sizes=(int(codebook_size),) * levels,
        codebook_kind="residual",
        latent_dim=int(code_dim),
        downsample=(int(hop),),
        channels=int(channels),
        value_range=WAVEFORM_RANGE,
        sample_rate=int(sample_rate),
        token_rate=token_rate if token_rate is not None else sample_rate / hop,
        pad_to_multiple=pad_to_multiple,
    )


def _levels(requested: int | None, available: int, least: int, what: str) -> int:
    if requested is None:
        return int(available)
    if isinstance(requested, bool) or not isinstance(requested, int) or not least <= requested <= available:
        raise ConfigError(f"num_quantizers must be an int in [{least}, {available}] ({what}), got {requested!r}")
    return requested


def _check_class(model: Any, class_name: str) -> nn.Module:
    import transformers

    if not isinstance(model, getattr(transformers, class_name)):
        raise ConfigError(f"expected a transformers.{class_name}, got {type(model).__module__}.{type(model).__name__}")
    return model


__all__ = ["DacAdapter", "EncodecAdapter", "MimiAdapter"]
