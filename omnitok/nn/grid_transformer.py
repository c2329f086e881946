"""A Transformer over a token grid: latents [B, D, *grid] (1 to 3 grid axes) in, the same shape out.

The optional shared block at the bottleneck of :class:`omnitok.models.OmniTokenizer`: every modality's latents pass
through the same layers before the shared codebook, so the encoders meet in one learned space. Attention is
bidirectional over the whole grid (no causal mask), so a tokenizer that uses it no longer streams chunk by chunk.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.errors import ConfigError, ShapeError


class GridTransformer(nn.Module, Configurable):
    """Pre-norm Transformer encoder layers (``torch.nn.TransformerEncoderLayer``) over the flattened grid.

    Args:
        dim: latent channels D (the quantizer's ``input_dim``).
        heads: attention heads; must divide ``dim``.
        layers: Transformer layers.
        mlp_ratio: feed-forward width as a multiple of ``dim``.
        dropout: dropout inside the layers (training only).

    The output projection of every layer starts at zero, so a freshly built block is the identity: adding it to a
    tokenizer does not change what the tokenizer computed before training.
    """

    def __init__(self, dim: int, heads: int = 4, layers: int = 1, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if dim < 1 or heads < 1 or dim % heads:
            raise ConfigError(f"GridTransformer: heads ({heads}) must divide dim ({dim})")
        if layers < 1:
            raise ConfigError(f"GridTransformer: layers must be >= 1, got {layers}")
        self.dim = dim
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                dim, heads, int(dim * mlp_ratio), dropout, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        with torch.no_grad():
            for layer in self.layers:  # residual branches start at zero: the block starts as the identity
                layer.self_attn.out_proj.weight.zero_()
                layer.self_attn.out_proj.bias.zero_()
                layer.linear2.weight.zero_()
                layer.linear2.bias.zero_()

    def forward(self, z: Tensor) -> Tensor:
        """z: [B, dim, *grid] -> [B, dim, *grid]."""
        if not 3 <= z.ndim <= 5 or z.shape[1] != self.dim:
            raise ShapeError(
                f"GridTransformer takes [B, {self.dim}, *grid] with 1 to 3 grid axes, got {tuple(z.shape)}"
            )
        grid = z.shape[2:]
        tokens = z.flatten(2).transpose(1, 2)  # (B, N, D)
        for layer in self.layers:
            tokens = layer(tokens)
        return tokens.transpose(1, 2).reshape(z.shape[0], self.dim, *grid)
