"""The ``Tokenizer`` protocol and ``TokenizerSpec``: what any tokenizer, ours or a user's, offers its consumers.

A tokenizer maps media to tokens and back. Discrete tokenizers return LongTensor indices ``[B, *grid]`` (or
``[B, *grid, Q]`` with several codebooks); continuous ones return latents ``[B, D, *grid]``. The unified
Transformer, the reports and the CLI rely only on this protocol, so nothing needs to subclass anything.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from omnitok.errors import ConfigError, DTypeError, IndexRangeError, NonFiniteError, ShapeError
from omnitok.limits import DECODED_VALUES

Modality = str  # a registered modality's name (omnitok.modalities): "image", "video", "audio" or a user's own
CodebookKind = Literal["single", "residual", "grouped"]


@dataclasses.dataclass(frozen=True)
class TokenizerSpec:
    """What a tokenizer takes and what it returns.

    Attributes:
        modality: a registered modality's name (:mod:`omnitok.modalities`): "image" ([B, C, H, W]), "video"
            ([B, C, T, H, W]), "audio" ([B, C, S]) or a user's own.
        discrete: True when ``encode`` returns indices, False when it returns latents.
        codebook_sizes: one size per level / group; empty for continuous tokenizers.
        codebook_kind: "single", "residual" (levels refine each other; a leading subset decodes) or "grouped".
        latent_dim: channels of continuous latents; for discrete tokenizers the size of a code vector.
        downsample: input samples per token along each grid axis (time first for video).
        channels: input channels (3 for RGB, 1 or 2 for audio).
        value_range: range of input values, e.g. (-1, 1).
        sample_rate: audio samples per second, where it applies.
        fps: modalities with a time axis (video): input frames per second the tokenizer was trained at.
        token_rate: token steps per second along a 1-D signal (audio: sample_rate / hop). Files written before
            these two names held either in ``frame_rate``; :meth:`from_dict` reads it as ``fps`` for modalities
            with a time axis and as ``token_rate`` otherwise.
        latent_scale, latent_shift: what a consumer applies to continuous latents, ``(z - shift) * scale``.
        causal_time: video only: the first frame is tokenized alone, so T frames give 1 + (T - 1) / f steps.
        pad_to_multiple: grid sizes round up (the tokenizer pads) instead of requiring exact multiples.
    """

    modality: Modality
    discrete: bool
    codebook_sizes: tuple[int, ...] = ()
    codebook_kind: CodebookKind = "single"
    latent_dim: int = 0
    downsample: tuple[int, ...] = ()
    channels: int = 3
    value_range: tuple[float, float] = (-1.0, 1.0)
    sample_rate: int | None = None
    fps: float | None = None
    token_rate: float | None = None
    latent_scale: float = 1.0
    latent_shift: float = 0.0
    causal_time: bool = False
    pad_to_multiple: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "codebook_sizes", tuple(int(s) for s in self.codebook_sizes))
        object.__setattr__(self, "downsample", tuple(int(d) for d in self.downsample))
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
        definition = _modality(self.modality)
        if len(self.downsample) != len(definition.axes):
            raise ValueError(
                f"{self.modality} needs {len(definition.axes)} downsample factors ({', '.join(definition.axes)}), "
                f"got {self.downsample}"
            )
        if any(d < 1 for d in self.downsample):
            raise ValueError(f"downsample factors must be >= 1, got {self.downsample}")
        if self.discrete != bool(self.codebook_sizes):
            raise ValueError("discrete tokenizers need codebook_sizes; continuous ones must leave them empty")
        if any(s < 2 for s in self.codebook_sizes):
            raise ValueError(f"codebook sizes must be >= 2, got {self.codebook_sizes}")
        if self.codebook_kind not in ("single", "residual", "grouped"):
            raise ValueError(f"codebook_kind must be single, residual or grouped, got {self.codebook_kind!r}")
        if self.codebook_kind == "single" and len(self.codebook_sizes) > 1:
            raise ValueError("a single-codebook tokenizer has exactly one codebook size")
        if self.causal_time and not definition.has_time:
            raise ValueError(f"causal_time applies to modalities with a time axis; {self.modality} has none")

    @property
    def num_levels(self) -> int:
        """Codebooks per token position (Q); 1 for single-codebook and continuous tokenizers."""
        return max(1, len(self.codebook_sizes))

    def grid(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Token grid for an input of shape ``input_shape`` (without batch and channel axes)."""
        input_shape = tuple(int(s) for s in input_shape)
        if len(input_shape) != len(self.downsample):
            raise ShapeError(
                f"{self.modality} input shape needs {len(self.downsample)} axes (without batch and channels), "
                f"got {input_shape}"
            )
        grid = []
        for axis, (size, factor) in enumerate(zip(input_shape, self.downsample)):
            if size < 1:
                raise ShapeError(f"input axis {axis} has size {size}")
            if axis == 0 and self.causal_time:
                size, extra = size - 1, 1
            else:
                extra = 0
            if size % factor and not self.pad_to_multiple:
                need = f"1 + a multiple of {factor}" if extra else f"a multiple of {factor}"
                raise ShapeError(f"input axis {axis} has size {input_shape[axis]}; this tokenizer needs {need}")
            grid.append(extra + math.ceil(size / factor))
        return tuple(grid)

    def input_extent(self, grid: Sequence[int]) -> tuple[int, ...]:
        """The largest input shape (without batch and channels) whose grid is ``grid``: what decoding it gives."""
        extent = [int(g) * f for g, f in zip(grid, self.downsample)]
        if self.causal_time and extent:
            extent[0] = 1 + (int(grid[0]) - 1) * self.downsample[0]
        return tuple(extent)

    def token_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of ``encode``'s output for one sample: the grid, plus Q (discrete, several levels) or D first."""
        grid = self.grid(input_shape)
        if not self.discrete:
            return (self.latent_dim, *grid)
        return (*grid, self.num_levels) if self.codebook_kind != "single" else grid

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerSpec:
        """A spec from a saved mapping (a token file's or config's), every field's type checked.

        Raises:
            ConfigError: not a mapping, unknown or missing fields, a field of the wrong type, or an invalid value.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a tokenizer spec must be a JSON object, got {type(data).__name__}")
        if "frame_rate" in data and isinstance(data.get("modality"), str):  # written before fps / token_rate
            try:
                data = {**data, **rate_fields(data["modality"], data["frame_rate"])}
            except ValueError as err:
                raise ConfigError(f"invalid tokenizer spec: {err}") from None
            del data["frame_rate"]
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown TokenizerSpec fields {sorted(unknown)}")
        missing = [name for name in ("modality", "discrete") if name not in data]
        if missing:
            raise ConfigError(f"tokenizer spec lacks the field(s) {missing}")
        for name, value in data.items():
            if not _SPEC_FIELD_CHECKS[name](value):
                raise ConfigError(f"tokenizer spec field {name!r} has an invalid value {value!r}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid tokenizer spec: {err}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TokenizerSpec:
        """:meth:`from_dict` of a JSON text; ConfigError when it is not valid JSON."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ConfigError(f"tokenizer spec is not valid JSON ({err})") from None
        return cls.from_dict(data)


def rate_fields(modality: str, frame_rate: float | None) -> dict[str, float | None]:
    """The older single ``frame_rate`` as the field it meant: ``fps`` for a modality with a time axis (video),
    ``token_rate`` otherwise (audio)."""
    if frame_rate is None:
        return {}
    return {"fps" if _modality(modality).has_time else "token_rate": frame_rate}


def _modality(name: str) -> Any:
    """The registered definition of ``name`` (ValueError naming the registered ones otherwise)."""
    from omnitok.modalities import get_modality

    try:
        return get_modality(name)
    except ConfigError as err:
        raise ValueError(str(err)) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _ints(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(_is_int(v) for v in value)


_SPEC_FIELD_CHECKS = {  # what a saved (JSON) spec may hold in each field; ranges are checked by __post_init__
    "modality": lambda v: isinstance(v, str),
    "discrete": lambda v: isinstance(v, bool),
    "codebook_sizes": _ints,
    "codebook_kind": lambda v: isinstance(v, str),
    "latent_dim": lambda v: _is_int(v) and v >= 0,
    "downsample": _ints,
    "channels": lambda v: _is_int(v) and v >= 1,
    "value_range": lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(_is_number, v)) and v[0] < v[1],
    "sample_rate": lambda v: v is None or (_is_int(v) and v >= 1),
    "fps": lambda v: v is None or (_is_number(v) and v > 0),
    "token_rate": lambda v: v is None or (_is_number(v) and v > 0),
    "latent_scale": _is_number,
    "latent_shift": _is_number,
    "causal_time": lambda v: isinstance(v, bool),
    "pad_to_multiple": lambda v: isinstance(v, bool),
}


@runtime_checkable
class Tokenizer(Protocol):
    """Anything with a ``spec``, ``encode`` and ``decode`` is a tokenizer; no base class needed."""

    @property
    def spec(self) -> TokenizerSpec: ...

    def encode(self, x: Tensor) -> Tensor:
        """Media -> tokens.

        Args:
            x: float [B, C, *axes] (the modality's layout) in ``spec.value_range``, fitting ``spec.grid``.

        Returns:
            Discrete: integer indices [B, *grid] or [B, *grid, Q], each below its level's codebook size.
            Continuous: float latents [B, D, *grid] with D = ``spec.latent_dim``.
        """
        ...

    def decode(self, tokens: Tensor) -> Tensor:
        """Tokens as ``encode`` returns them -> float media [B, C, *axes] in ``spec.value_range`` (omnitok's own
        tokenizers do not clamp; ``omnitok.postprocess`` does)."""
        ...


def check_media(x: Tensor, spec: TokenizerSpec) -> None:
    """Raise a clear error unless ``x`` is a finite float batch in the layout ``spec`` describes."""
    axes = len(spec.downsample)
    layout = _modality(spec.modality).layout
    if not isinstance(x, Tensor):
        raise DTypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != axes + 2:
        raise ShapeError(f"{spec.modality} input must be {layout}, got shape {tuple(x.shape)}")
    if x.shape[1] != spec.channels:
        raise ShapeError(f"expected {spec.channels} channels (axis 1 of {layout}), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise DTypeError(f"{spec.modality} input must be floating point in {spec.value_range}, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise NonFiniteError(f"{spec.modality} input holds NaN or Inf")
    spec.grid(x.shape[2:])


LATENT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tokens(tokens: Tensor, spec: TokenizerSpec) -> None:
    """Raise a clear error unless ``tokens`` is what ``spec``'s ``encode`` returns (dtype, rank, index range, no
    empty axis)."""
    axes = len(spec.downsample)
    if not isinstance(tokens, Tensor):
        raise DTypeError(f"expected a torch.Tensor of tokens, got {type(tokens).__name__}")
    if not spec.discrete:
        if tokens.ndim != axes + 2 or tokens.shape[1] != spec.latent_dim:
            raise ShapeError(
                f"latents must be [B, {spec.latent_dim}, *grid] with {axes} grid axes, got {tuple(tokens.shape)}"
            )
        if tokens.numel() == 0:
            raise ShapeError(f"latents are empty (shape {tuple(tokens.shape)}); every axis needs at least one entry")
        if tokens.dtype not in LATENT_DTYPES:
            raise DTypeError(f"latents must be float16, bfloat16, float32 or float64, got {tokens.dtype}")
        if not torch.isfinite(tokens).all():
            raise NonFiniteError("latents hold NaN or Inf")
        return
    check_indices(tokens, spec.codebook_sizes, spec.codebook_kind, grid_axes=(axes,), what="token indices")


def check_decodable(tokens: Tensor, spec: TokenizerSpec) -> None:
    """:func:`check_tokens`, and each sample's decoded size within :data:`omnitok.limits.DECODED_VALUES` (a forged
    1024 x 1024 token grid would decode to tens of GB): called by ``decode`` before any decoder allocates."""
    check_tokens(tokens, spec)
    _check_decoded_size(tokens, spec)


def _check_decoded_size(tokens: Tensor, spec: TokenizerSpec) -> None:
    axes = len(spec.downsample)
    if tokens.ndim < axes + 1:
        return  # the rank checks below give the message
    if spec.discrete:
        grid = tokens.shape[1 : axes + 1]
    else:
        grid = tokens.shape[2 : axes + 2]
    if len(grid) != axes or min(grid, default=1) < 1:
        return
    values = spec.channels * math.prod(spec.input_extent(grid))
    problem = DECODED_VALUES.exceeded(values, f"decoding a token grid {tuple(grid)}")
    if problem:
        raise ShapeError(problem)


def check_encoded(tokens: Tensor, spec: TokenizerSpec, input_shape: Sequence[int], who: str) -> None:
    """Raise a clear error unless ``tokens`` is what ``who``'s ``encode`` must return for a batch of
    ``input_shape`` ([B, C, *axes]): valid tokens (:func:`check_tokens`) of shape [B, *spec.token_shape(axes)]."""
    check_tokens(tokens, spec)
    want = (int(input_shape[0]), *spec.token_shape(input_shape[2:]))
    if tuple(tokens.shape) != want:
        raise ShapeError(f"{who}.encode returned tokens of shape {tuple(tokens.shape)}; its spec says {want}")


def check_indices(
    indices: Tensor, codebook_sizes: Sequence[int], kind: CodebookKind, grid_axes: Sequence[int], what: str
) -> None:
    """Raise a clear error unless ``indices`` are integer codes [B, *grid] (single) or [B, *grid, q] (residual:
    1 <= q <= levels, a bitrate prefix; grouped: q == groups), with a grid rank in ``grid_axes``, in range."""
    if (
        not isinstance(indices, Tensor)
        or indices.dtype.is_floating_point
        or indices.dtype.is_complex
        or indices.dtype == torch.bool
    ):
        raise DTypeError(f"{what} must be an integer tensor, got {getattr(indices, 'dtype', type(indices).__name__)}")
    levels = kind != "single"
    if indices.ndim - 1 - int(levels) not in grid_axes:
        want = f"[B, *grid, {len(codebook_sizes)}]" if levels else "[B, *grid]"
        axes = " or ".join(str(a) for a in grid_axes)
        raise ShapeError(f"{what} must be {want} with {axes} grid axes, got shape {tuple(indices.shape)}")
    if indices.numel() == 0:
        raise ShapeError(f"{what} are empty (shape {tuple(indices.shape)}); every axis needs at least one entry")
    if levels:
        q = indices.shape[-1]
        allowed = range(1, len(codebook_sizes) + 1) if kind == "residual" else (len(codebook_sizes),)
        if q not in allowed:
            raise ShapeError(f"{what} carry {q} levels on the last axis; this {kind} codebook takes {list(allowed)}")
        bounds = torch.tensor(codebook_sizes[:q], device=indices.device)
    else:
        bounds = torch.tensor(codebook_sizes[0], device=indices.device)
    wide = indices.long()  # compare in int64: a bound such as 1024 does not fit uint8/int8 indices
    bad = (wide < 0) | (wide >= bounds)
    if bad.any():
        raise IndexRangeError(
            f"{what}: index {wide[bad][0].item()} is outside the codebook size(s) {tuple(codebook_sizes)}"
        )
