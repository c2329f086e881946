"""One codebook for several modalities: per-modality encoders and decoders around one shared quantizer.

:class:`OmniTokenizer` holds one :class:`OmniBranch` per modality (an encoder, a decoder and the input format) and
ONE quantizer, so an image code, a video code and an audio code are rows of the same table and live in one id space.
Each encoder projects to the quantizer's ``input_dim`` (its last layer's ``out_channels``) and each decoder reads the
quantizer's ``dim``; an optional shared block (e.g. :class:`omnitok.nn.GridTransformer`) runs on every modality's
latents just before the codebook.

The omni model is not itself one ``Tokenizer`` (it has no single spec); ``omni.view("audio")``, or ``omni.audio``,
is: an :class:`OmniView` with that modality's spec, ``encode``/``decode`` and ``forward``, usable wherever a
single-modality tokenizer is. ``omni.save_pretrained(folder)`` writes one folder; ``omnitok.load_tokenizer(folder)``
gives the omni model back and ``load_tokenizer(folder, modality="audio")`` its audio view.

Example (YAML, any encoder/decoder pairs of the single-modality recipes)::

    class_path: omnitok.models.OmniTokenizer
    init_args:
      quantizer: {class_path: omnitok.quantizers.VectorQuantizer, init_args: {dim: 8, codebook_size: 1024}}
      branches:
        image:
          class_path: omnitok.models.OmniBranch
          init_args:
            encoder: {class_path: omnitok.nn.ConvEncoder2d, init_args: {out_channels: 8, ...}}
            decoder: {class_path: omnitok.nn.ConvDecoder2d, init_args: {in_channels: 8, ...}}
        audio:
          class_path: omnitok.models.OmniBranch
          init_args: {encoder: ..., decoder: ..., channels: 1, sample_rate: 16000, token_rate: 50.0,
                      pad_to_multiple: true}
      bottleneck: {class_path: omnitok.nn.GridTransformer, init_args: {dim: 8, heads: 2}}   # optional
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import overload

import torch
from torch import Tensor, nn

from omnitok.config import Configurable
from omnitok.distributed import pooled_rows
from omnitok.errors import ConfigError
from omnitok.fingerprint import record_fingerprint, weights_fingerprint
from omnitok.models.autoencoder import AutoencoderOutput, _check_channels, _downsample, _pad_to_multiple
from omnitok.models.precision import MixedPrecisionModule
from omnitok.protocol import TokenizerSpec, check_decodable, check_media
from omnitok.quantizers import Quantizer
from omnitok.quantizers.base import QuantizerOutput
from omnitok.quantizers.stats import batch_code_metrics


@dataclasses.dataclass
class JointOutput:
    """What ``omni(batches)`` returns: a batch of several modalities reconstructed through ONE quantizer call.

    Attributes:
        outputs: modality -> its reconstruction and its slice of the quantizer output (quantized [B, D, *grid],
            indices [B, *grid(, Q)], the pooled loss, this modality's batch code metrics).
        quantizer: the one quantizer call on the pooled tokens: quantized [1, D, N], indices [1, N(, Q)], loss,
            metrics over all modalities' tokens.
        tokens: modality -> its number of token positions N_m in the pool (in pool order).
    """

    outputs: dict[str, AutoencoderOutput]
    quantizer: QuantizerOutput
    tokens: dict[str, int]


class OmniBranch(nn.Module, Configurable):
    """One modality's encoder, decoder and input format inside an :class:`OmniTokenizer` (no quantizer of its own).

    Args:
        encoder: media [B, C, *axes] -> latents [B, quantizer.input_dim, *grid].
        decoder: quantized [B, quantizer.dim, *grid] -> media [B, C, *axes].
        downsample, channels, value_range, sample_rate, fps, token_rate, causal_time, pad_to_multiple: this
            modality's input format, as :class:`omnitok.models.Autoencoder` takes them (``downsample`` defaults to
            the encoder's ``downsample_factor``; ``pad_to_multiple`` to the encoder's own setting).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        downsample: Sequence[int] | None = None,
        channels: int = 3,
        value_range: tuple[float, float] = (-1.0, 1.0),
        sample_rate: int | None = None,
        fps: float | None = None,
        token_rate: float | None = None,
        causal_time: bool = False,
        pad_to_multiple: bool | None = None,
    ):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self._format = {
            "downsample": downsample,
            "channels": channels,
            "value_range": tuple(value_range),
            "sample_rate": sample_rate,
            "fps": fps,
            "token_rate": token_rate,
            "causal_time": causal_time,
            "pad_to_multiple": pad_to_multiple,
        }

    def make_spec(self, modality: str, quantizer: Quantizer) -> TokenizerSpec:
        """This branch's spec when it feeds ``quantizer`` (ConfigError when the channels do not fit it)."""
        _check_channels(self.encoder, quantizer, self.decoder, quantizer.dim)
        fmt = dict(self._format)
        try:
            return TokenizerSpec(
                modality=modality,
                discrete=quantizer.discrete,
                codebook_sizes=quantizer.codebook_sizes,
                codebook_kind=quantizer.kind,
                latent_dim=quantizer.dim,
                downsample=_downsample(self.encoder, modality, fmt.pop("downsample")),
                pad_to_multiple=_pad_to_multiple(self.encoder, fmt.pop("pad_to_multiple")),
                **fmt,
            )
        except ValueError as err:
            raise ConfigError(f"the {modality!r} branch: {err}") from None


class OmniTokenizer(MixedPrecisionModule, Configurable):
    """Several modalities, one shared codebook: ``branches[m].encoder -> bottleneck -> quantizer ->
    branches[m].decoder``.

    Args:
        quantizer: the one discrete quantizer every modality uses (VQ with a learned codebook; a residual or
            grouped one shares each of its codebooks the same way). Its ids are one id space for all modalities.
        branches: modality name ("image", "video", "audio" or another registered one) -> :class:`OmniBranch`.
        bottleneck: optional module [B, quantizer.input_dim, *grid] -> same shape, shared by every modality and
            run between each encoder and the quantizer (e.g. :class:`omnitok.nn.GridTransformer`).

    Training calls ``omni(x, modality="image")`` (an :class:`~omnitok.models.AutoencoderOutput`, as a
    single-modality tokenizer's ``forward``), or ``omni({"image": x, "audio": a})`` for a batch of several modalities
    quantized together (a :class:`JointOutput`; what ``OmniTrainer`` trains on); inference goes through the views
    (``omni.image.encode(x)``) or ``omni.encode(x, "image")``. Precision as :class:`~omnitok.models.Autoencoder`: the quantizer stays float32.
    """

    def __init__(self, quantizer: Quantizer, branches: Mapping[str, OmniBranch], bottleneck: nn.Module | None = None):
        super().__init__()
        if not isinstance(quantizer, Quantizer) or not quantizer.discrete:
            raise ConfigError(
                f"an OmniTokenizer shares one discrete codebook; got {type(quantizer).__name__}, which is "
                f"{'continuous' if isinstance(quantizer, Quantizer) else 'not an omnitok quantizer'}"
            )
        if not branches:
            raise ConfigError("an OmniTokenizer needs at least one branch (modality name -> OmniBranch)")
        for name, branch in branches.items():
            if not isinstance(branch, OmniBranch):
                raise ConfigError(f"branch {name!r} must be an omnitok.models.OmniBranch, got {type(branch).__name__}")
            if not isinstance(name, str) or hasattr(type(self), name) or name.startswith("_"):
                raise ConfigError(f"{name!r} cannot name a branch: OmniTokenizer has an attribute of that name")
        width = getattr(bottleneck, "dim", None)
        if isinstance(width, int) and width != quantizer.input_dim:
            raise ConfigError(
                f"the bottleneck works on {width} channels but the quantizer takes {quantizer.input_dim}; "
                f"set its dim to {quantizer.input_dim}"
            )
        self.quantizer, self.bottleneck = quantizer, bottleneck
        self.branches = nn.ModuleDict(dict(branches))
        self._specs = {name: branch.make_spec(name, quantizer) for name, branch in branches.items()}

    # -- the modalities --------------------------------------------------------------------------------------------
    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this tokenizer holds, in the order its branches were given."""
        return tuple(self._specs)

    @property
    def specs(self) -> dict[str, TokenizerSpec]:
        """modality -> its spec (same codebook sizes, own grid, channels and rates)."""
        return dict(self._specs)

    @property
    def views(self) -> dict[str, OmniView]:
        """modality -> its :class:`OmniView` (a single-modality ``Tokenizer`` over this model)."""
        return {name: OmniView(self, name) for name in self._specs}

    def view(self, modality: str) -> OmniView:
        """The ``Tokenizer`` of one modality; ConfigError naming the ones held when ``modality`` is not."""
        self._branch(modality)
        return OmniView(self, modality)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            specs = self.__dict__.get("_specs")
            if specs is not None and name in specs:
                return OmniView(self, name)
            raise

    def _branch(self, modality: str) -> OmniBranch:
        if modality not in self._specs:
            raise ConfigError(f"this omni tokenizer has no {modality!r} branch; it holds {', '.join(self._specs)}")
        return self.branches[modality]

    # -- coding ----------------------------------------------------------------------------------------------------
    def latents(self, x: Tensor, modality: str) -> Tensor:
        """Media -> the latents the quantizer takes [B, quantizer.input_dim, *grid] (encoder, then bottleneck)."""
        z = self._branch(modality).encoder(self.to_compute_dtype(x))
        return z if self.bottleneck is None else self.bottleneck(z)

    @overload
    def forward(self, x: Tensor, modality: str) -> AutoencoderOutput: ...

    @overload
    def forward(self, x: Mapping[str, Tensor], modality: None = None) -> JointOutput: ...

    def forward(self, x: Tensor | Mapping[str, Tensor], modality: str | None = None) -> AutoencoderOutput | JointOutput:
        """Training: reconstruct media through the shared quantizer.

        Args:
            x: a batch of ``modality``'s media [B, C, *axes]; or modality -> a batch of that modality's media (batch
                sizes may differ), quantized together (:meth:`_joint`).
            modality: the modality of ``x`` when it is one batch; None when it is a mapping.

        Returns:
            For one batch, an :class:`~omnitok.models.AutoencoderOutput` (reconstruction and the quantizer's output);
            for a mapping, a :class:`JointOutput`. Both pass through this module's call, so wrappers that hook the
            forward (FSDP gathers the quantizer's weights there) see every training step.
        """
        if isinstance(x, Mapping):
            if modality is not None:
                raise ConfigError(f"omni(batches) takes modality -> media; got modality={modality!r} as well")
            return self._joint(x)
        if modality is None:
            raise ConfigError(f"omni(x, modality=...): name the modality of x, one of {', '.join(self._specs)}")
        branch = self._branch(modality)
        check_media(x, self._specs[modality])
        q = self.quantizer(self.latents(x, modality))
        return AutoencoderOutput(branch.decoder(self.to_compute_dtype(q.quantized)), q)

    def _joint(self, batches: Mapping[str, Tensor]) -> JointOutput:
        """A batch of every modality in ``batches`` reconstructed with ONE call of the shared quantizer.

        Token positions are pooled modality by modality in ``batches`` order, each modality's positions in
        ``[B, *grid]`` row-major order, so the pool is ``[1, D, N_1 + N_2 + ...]``; under data parallelism the
        quantizer's random draws follow the global pool (:func:`omnitok.distributed.pooled_rows`).
        """
        latents: dict[str, Tensor] = {}
        for modality, x in batches.items():
            self._branch(modality)
            check_media(x, self._specs[modality])
            latents[modality] = self.latents(x, modality)  # [B, D, *grid]
        flat = [z.movedim(1, -1).reshape(-1, z.shape[1]) for z in latents.values()]  # each [B * prod(grid), D]
        sizes = [f.shape[0] for f in flat]
        pooled = torch.cat([f.float() for f in flat]).t().unsqueeze(0)  # [1, D, N]
        with pooled_rows(sizes):  # draws over the pool in the 1-process order, whatever the number of ranks
            q = self.quantizer(pooled)
        quantized = q.quantized[0].t().split(sizes)  # each [N_m, D]
        indices = None if q.indices is None else q.indices[0].split(sizes)  # each [N_m] or [N_m, Q]
        outputs: dict[str, AutoencoderOutput] = {}
        for index, (modality, z) in enumerate(latents.items()):
            batch_grid = (z.shape[0], *z.shape[2:])
            part = quantized[index].reshape(*batch_grid, -1).movedim(-1, 1)  # [B, D, *grid]
            ids = None if indices is None else indices[index].reshape(*batch_grid, *indices[index].shape[1:])
            metrics = {} if ids is None else batch_code_metrics(ids, self.quantizer.codebook_sizes)
            reconstruction = self.branches[modality].decoder(self.to_compute_dtype(part))
            outputs[modality] = AutoencoderOutput(reconstruction, QuantizerOutput(part, ids, q.loss, metrics))
        return JointOutput(outputs, q, dict(zip(latents, sizes)))

    @torch.no_grad()
    def encode(self, x: Tensor, modality: str) -> Tensor:
        """Media of one modality -> indices into the shared codebook, for inference (no gradient: this runs under
        ``torch.no_grad``; train through ``forward``).

        Args:
            x: float media [B, C, *axes] of ``modality`` (image [B, C, H, W], video [B, C, T, H, W], audio
                [B, C, S]) in ``specs[modality].value_range``, any floating dtype (cast to :attr:`dtype`), fitting
                that spec's grid.
            modality: one of :attr:`modalities`.

        Returns:
            int64 indices [B, *grid] (one codebook) or [B, *grid, Q], in ``[0, codebook size)`` whatever the
            modality: one id space. Deterministic in eval mode; the code search runs in float32.

        Raises:
            ConfigError: a modality this tokenizer does not hold. ShapeError, DTypeError, NonFiniteError: ``x`` is
            not media of that modality's spec.
        """
        self._branch(modality)
        check_media(x, self._specs[modality])
        return self.quantizer.encode(self.latents(x, modality))

    @torch.no_grad()
    def decode(self, tokens: Tensor, modality: str) -> Tensor:
        """Indices of the shared codebook -> media of ``modality``, for inference (no gradient: this runs under
        ``torch.no_grad``). Any modality's ids decode through any branch: they index one table.

        Args:
            tokens: integer indices [B, *grid] (or [B, *grid, q]) with ``modality``'s number of grid axes.
            modality: one of :attr:`modalities`.

        Returns:
            Media [B, C, *specs[modality].input_extent(grid)] in :attr:`dtype`, nominally in that spec's
            ``value_range`` but not clamped (``omnitok.postprocess`` clamps).

        Raises:
            ConfigError: a modality this tokenizer does not hold. DTypeError, ShapeError, IndexRangeError: tokens
            this modality's spec cannot decode.
        """
        branch = self._branch(modality)
        check_decodable(tokens, self._specs[modality])
        return branch.decoder(self.to_compute_dtype(self.quantizer.decode(tokens)))

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors``: every branch, the shared quantizer and the bottleneck in one
        folder, which ``omnitok.load_tokenizer(directory)`` rebuilds (``modality=...`` picks one view)."""
        from omnitok.hub import save_pretrained
        from omnitok.modalities import is_shipped

        unshipped = [name for name in self._specs if not is_shipped(name)]
        if unshipped:
            raise ConfigError(
                f"an omni folder records shipped modalities only (image, video, audio); {unshipped} are not"
            )
        return save_pretrained(self, directory)


class OmniView(nn.Module, Configurable):
    """One modality of an :class:`OmniTokenizer` as a single-modality ``Tokenizer``.

    ``spec``, ``encode``, ``decode`` and ``forward`` run the omni model's branch for ``modality``; ``encoder``,
    ``quantizer`` and ``decoder`` are its parts (the quantizer shared with every other view), so chunked and streamed
    coding work as for an :class:`~omnitok.models.Autoencoder` when there is no bottleneck. Moving or casting a
    view moves the whole omni model. The view holds no weights of its own.
    """

    def __init__(self, omni: OmniTokenizer, modality: str):
        super().__init__()
        omni._branch(modality)
        self.omni, self.modality = omni, modality

    @property
    def spec(self) -> TokenizerSpec:
        return self.omni._specs[self.modality]

    @property
    def encoder(self) -> nn.Module:
        """The branch's encoder (refused when a shared bottleneck sits between it and the codebook)."""
        if self.omni.bottleneck is not None:
            raise AttributeError(f"the {self.modality!r} view runs its encoder through a shared bottleneck")
        return self.omni.branches[self.modality].encoder

    @property
    def decoder(self) -> nn.Module:
        return self.omni.branches[self.modality].decoder

    @property
    def quantizer(self) -> Quantizer:
        return self.omni.quantizer

    @property
    def dtype(self) -> torch.dtype:
        return self.omni.dtype

    @property
    def device(self) -> torch.device:
        return self.omni.device

    @property
    def weights_sha256(self) -> str | None:
        """The omni model's weights fingerprint (``omnitok.fingerprint``): token files record the one folder."""
        return weights_fingerprint(self.omni)

    @weights_sha256.setter
    def weights_sha256(self, digest: str) -> None:
        record_fingerprint(self.omni, digest)

    def to_compute_dtype(self, x: Tensor) -> Tensor:
        return self.omni.to_compute_dtype(x)

    def forward(self, x: Tensor) -> AutoencoderOutput:
        return self.omni(x, modality=self.modality)

    def encode(self, x: Tensor) -> Tensor:
        """Media [B, C, *axes] in ``spec.value_range`` -> int64 indices [B, *grid(, Q)] into the shared codebook,
        no gradient (:meth:`OmniTokenizer.encode`)."""
        return self.omni.encode(x, self.modality)

    def decode(self, tokens: Tensor) -> Tensor:
        """Indices [B, *grid(, q)] -> media [B, C, *axes] in :attr:`dtype`, nominally in ``spec.value_range`` (not
        clamped), no gradient (:meth:`OmniTokenizer.decode`)."""
        return self.omni.decode(tokens, self.modality)

    def __repr__(self) -> str:
        return f"OmniView({self.modality!r} of an OmniTokenizer of {', '.join(self.omni.modalities)})"
