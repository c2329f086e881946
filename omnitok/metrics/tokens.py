"""Token figures of a tokenizer: how many tokens, how many bits, and how the codebook is used.

The evaluation runner calls::

    stats = codebook_stats(tokenizer.spec)            # None for continuous tokenizers
    for x in batches:
        tokens = tokenizer.encode(x)
        if stats is not None:
            stats.update(tokens)
    figures = token_figures(tokenizer.spec, x.shape[2:], stats)

Names in the returned dict (all floats; a figure that does not apply is absent, never NaN):

- ``tokens_per_sample``: token grid positions x levels (every index a sequence model would see); for continuous
  tokenizers, grid positions (latent vectors).
- images and video (per pixel = per H x W location, over all frames for video):
  ``bits_per_pixel`` = positions x sum over levels of log2(K) / pixels (discrete);
  ``compression_ratio`` = 8-bit input bits (8 x channels x pixels, 24 per RGB pixel) / token bits (discrete);
  ``latent_floats_per_pixel`` = positions x latent_dim / pixels (continuous; bits do not apply).
- audio (per second at ``spec.sample_rate``): ``kbps`` and ``compression_ratio`` against 16-bit PCM (discrete);
  ``latent_floats_per_second`` (continuous).
- codebook use, from :class:`~omnitok.quantizers.stats.CodebookStats` over all encoded samples (discrete, when
  ``stats`` is given): ``codebook_usage`` (fraction of codes used at least once), ``perplexity`` (2^entropy),
  ``dead_codes`` (codes never used), ``entropy_bits``; with several levels each also per level as
  ``level{q}/codebook_usage``, ``level{q}/perplexity``, ``level{q}/dead_codes``, ``level{q}/entropy_bits``, and the
  unprefixed names are means over levels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from omnitok.protocol import TokenizerSpec
from omnitok.quantizers.stats import CodebookStats

_STATS_NAMES = {
    "usage": "codebook_usage",
    "perplexity": "perplexity",
    "dead_codes": "dead_codes",
    "entropy_bits": "entropy_bits",
}


def codebook_stats(spec: TokenizerSpec) -> CodebookStats | None:
    """An empty :class:`CodebookStats` for ``spec``'s codebooks, or ``None`` for a continuous tokenizer.

    Raises:
        ValueError: from CodebookStats, for codebooks too large for a dense histogram (above 2^26 codes).
    """
    return CodebookStats(spec.codebook_sizes) if spec.discrete else None


def token_figures(
    spec: TokenizerSpec, input_shape: Sequence[int], stats: CodebookStats | None = None
) -> dict[str, float]:
    """Token figures of one sample of ``input_shape`` (see the module docstring for the names).

    Args:
        spec: the tokenizer's spec.
        input_shape: one sample's shape without batch and channels, as ``spec.grid`` takes it: (H, W) for images,
            (T, H, W) for video, (S,) for audio.
        stats: code histograms over the evaluated samples (discrete tokenizers), or ``None`` to leave out the
            codebook figures.

    Raises:
        ShapeError: ``input_shape`` does not fit the tokenizer (from ``spec.grid``).
        ValueError: ``stats`` given for a continuous tokenizer or for other codebook sizes; audio without a
            sample rate.
    """
    positions = math.prod(spec.grid(input_shape))
    out: dict[str, float] = {"tokens_per_sample": float(positions * spec.num_levels if spec.discrete else positions)}
    token_bits = positions * sum(math.log2(size) for size in spec.codebook_sizes)  # 0 for continuous
    floats = positions * spec.latent_dim
    from omnitok.modalities import get_modality

    out.update(get_modality(spec.modality).rate_figures(spec, input_shape, token_bits, floats))
    if stats is not None:
        out.update(codebook_figures(spec, stats))
    return out


def codebook_figures(spec: TokenizerSpec, stats: CodebookStats) -> dict[str, float]:
    """Codebook usage, perplexity, dead codes and entropy (overall and ``level{q}/`` per level) from ``stats``."""
    if not spec.discrete:
        raise ValueError("codebook figures apply to discrete tokenizers only; this spec is continuous")
    if tuple(stats.codebook_sizes) != spec.codebook_sizes:
        raise ValueError(f"stats count codebooks of sizes {stats.codebook_sizes}, the spec has {spec.codebook_sizes}")
    out: dict[str, float] = {}
    for key, value in stats.compute().items():
        prefix, _, base = key.rpartition("/")
        if base in _STATS_NAMES:
            out[f"{prefix}/{_STATS_NAMES[base]}" if prefix else _STATS_NAMES[base]] = value
    return out
