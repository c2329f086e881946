"""``Modality``: everything omnitok knows about one kind of media, in one definition object.

Code outside the definitions asks the object (``omnitok.modalities.get_modality(spec.modality)``) and never compares
a modality's name. A definition says:

- its grid: axis names in order (``axes``), their one-letter names for layouts (``letters``), whether the first
  axis is time (``has_time``: causal tokenizers code frame 0 alone);
- its files: which suffixes it lists, how a file becomes a batch for ``encode`` and a decoded batch a file;
- its evaluation: the evaluation set a source becomes, the metric set (the metric registry under its name), the
  conventions of those metrics, the figures of tokens per second or per value, the report's pictures;
- its held-out scorer for training runs, and its baselines;
- how the shared vocabulary lays out its spans (frames x rows x columns, with row and frame separators).

The defaults here make a modality with 1 to 3 grid axes, no time axis and no files of its own workable; a new
modality overrides what differs. Heavy libraries are imported inside the methods that use them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnitok.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from omnitok.protocol import Tokenizer, TokenizerSpec

TOKEN_SUFFIX = ".safetensors"


class Modality:
    """One kind of media. Subclass it (directly) and register an instance with
    :func:`omnitok.modalities.register_modality`.

    Attributes:
        name: the registered name, what ``TokenizerSpec.modality`` holds.
        axes: grid axis names in order, as media records name them (e.g. ``("height", "width")``).
        letters: one letter per axis for layouts in messages (e.g. ``("H", "W")`` gives ``[B, C, H, W]``).
        plural: what several samples are called in reports and messages ("images", "clips").
        has_time: the first grid axis is time (causal tokenizers may code its first step alone).
        file_suffixes: lower-case suffixes of the files ``omnitok encode`` and ``omnitok eval`` read.
        conventions: sentences stating how this modality's metrics are computed (in every report's protocol).
        value_bits: bits per input value of the uncompressed media, for compression ratios (8 for pictures).
        value_unit: what one input value is called in token figures ("pixel", "value").
        metric_scale: the range the metrics take (an evaluation set's ``scale``): [0, 1] for pictures.
    """

    name: str = ""
    axes: tuple[str, ...] = ()
    letters: tuple[str, ...] = ()
    plural: str = "samples"
    has_time: bool = False
    file_suffixes: frozenset[str] = frozenset()
    conventions: tuple[str, ...] = ()
    value_bits: int = 8
    value_unit: str = "value"
    metric_scale: tuple[float, float] = (0.0, 1.0)

    # -- grid --------------------------------------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        """The batch layout, e.g. ``[B, C, H, W]``."""
        return "[B, C, " + ", ".join(self.letters or self.axes) + "]"

    @property
    def contents(self) -> str:
        """What a collection of this modality's samples holds, in messages ("images", "audio clips")."""
        return f"{self.name} {self.plural}"

    # -- the shared vocabulary's spans ------------------------------------------------------------------------------
    @property
    def row_separators(self) -> bool:
        """Whether packed spans mark the end of each row (grids of 2 or more axes)."""
        return len(self.axes) >= 2

    @property
    def frame_separators(self) -> bool:
        """Whether packed spans mark the end of each frame (grids of 3 axes)."""
        return len(self.axes) >= 3

    def cells(self, grid: Sequence[int]) -> tuple[int, int, int]:
        """A span's grid as (frames, rows, columns): 1-D grids are one row of frames, 2-D one frame."""
        grid = tuple(int(g) for g in grid)
        if len(grid) == 1:
            return grid[0], 1, 1
        if len(grid) == 2:
            return 1, grid[0], grid[1]
        if len(grid) == 3:
            return grid  # type: ignore[return-value]
        raise ConfigError(f"{self.name}: spans lay out grids of 1 to 3 axes, got {grid}; override cells()")

    def grid_of_cells(self, frames: int, rows: int, columns: int) -> tuple[int, ...]:
        """The inverse of :meth:`cells`."""
        return {1: (frames,), 2: (rows, columns), 3: (frames, rows, columns)}[len(self.axes)]

    # -- files -------------------------------------------------------------------------------------------------------
    def list_files(self, root: Path) -> list[Path]:
        """Every file of this modality under ``root``, sorted (one lister for every command)."""
        from omnitok.data.files import list_files

        return list_files(root, set(self.file_suffixes), self.name)

    def check_file(self, path: Path) -> None:
        """Raise DataError (naming ``path``) unless the file reads as this modality with the readers training uses:
        what ``omnitok data pack`` checks before it stores a file's bytes. By default, the file can be read."""
        from omnitok.errors import DataError

        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as err:
            raise DataError(f"{path}: cannot read file ({err.strerror or err})") from None

    def check_codec_options(self, tokenizer: Tokenizer, options: dict[str, Any]) -> None:
        """Refuse options that cannot apply to ``tokenizer`` before any file is touched (ConfigError)."""

    def read_input(self, path: Path, spec: TokenizerSpec, options: dict[str, Any]) -> tuple[Tensor, dict]:
        """The file at ``path`` as one input for tokenizers of ``spec`` (no batch axis, float32 in the spec's value
        range, resized / padded as ``options`` ask) and its media record: the CPU half of ``encode_file``, which
        needs no model (``omnitok tokenize`` runs it in CPU tasks, apart from the encoding actors)."""
        raise ConfigError(f"omnitok encode does not read {self.name} files: the {self.name} modality has no reader")

    def encode_input(self, x: Tensor, tokenizer: Tokenizer, options: dict[str, Any], device: Any) -> Tensor:
        """Tokens [1, ...] of one input ``x`` from :meth:`read_input` (chunked where ``options`` ask)."""
        return tokenizer.encode(x.unsqueeze(0).to(device))

    def batchable(self, options: dict[str, Any]) -> bool:
        """Whether ``omnitok encode`` / ``decode`` with these options may code several files of one shape in one
        forward pass (:meth:`encode_inputs`); False where the options ask for chunked coding, file by file."""
        return True

    def encode_inputs(
        self, inputs: Sequence[Tensor], tokenizer: Tokenizer, options: dict[str, Any], device: Any
    ) -> list[Tensor]:
        """Tokens [1, ...] of each input from :meth:`read_input` (all of one shape), from one ``encode`` call on
        the stacked batch: the same tokens as one call per input (``--batch-size``)."""
        if len(inputs) == 1:
            return [self.encode_input(inputs[0], tokenizer, options, device)]
        import torch

        tokens = tokenizer.encode(torch.stack(list(inputs)).to(device))
        return [t.clone() for t in tokens.split(1)]

    def encode_file(
        self, path: Path, tokenizer: Tokenizer, options: dict[str, Any], device: Any
    ) -> tuple[Tensor, dict]:
        """Read ``path``, encode it with ``tokenizer``: (tokens [1, ...], media record for the token file)."""
        x, media = self.read_input(path, tokenizer.spec, options)
        return self.encode_input(x, tokenizer, options, device), media

    def decode_tokens(self, tokenizer: Tokenizer, tokens: Tensor, options: dict[str, Any]) -> Tensor:
        """Tokens [1, ...] -> media [1, C, ...] in the tokenizer's value range."""
        return tokenizer.decode(tokens)

    def output_name(self, token_file: Path) -> Path:
        """Where ``omnitok decode`` writes the media of ``token_file`` (``a.x.safetensors`` -> ``a.x``)."""
        return token_file.with_name(token_file.name.removesuffix(TOKEN_SUFFIX))

    def write(self, target: Path, media: Tensor, spec: TokenizerSpec, record: dict | None = None) -> None:
        """Decoded media [1, C, ...] in ``spec``'s value range -> the file ``target``, written atomically."""
        raise ConfigError(f"omnitok decode does not write {self.name} files: the {self.name} modality has no writer")

    # -- media in, media out (omnitok.preprocess / omnitok.postprocess) ----------------------------------------------
    def preprocess(self, media: Any, spec: TokenizerSpec, sample_rate: int | None = None) -> Tensor:
        """User media -> the batch ``encode`` takes: float32 [B, C, *axes] in ``spec.value_range``, on the CPU.

        The default takes float tensors already in the layout, [C, *axes] (one sample) or [B, C, *axes], and warns
        when their values do not look like the tokenizer's range; a modality adds its own kinds (pixels, waveforms).
        """
        from omnitok.errors import DTypeError
        from omnitok.modalities.conversion import as_tensor, check_float_range

        if sample_rate is not None:
            raise ConfigError(f"sample_rate applies to media with a sample rate; {self.name} media have none")
        x = as_tensor(media, f"{self.name} input")
        if not x.is_floating_point():
            raise DTypeError(f"{self.name} input: give float {self.layout} in {spec.value_range}, got {x.dtype}")
        if x.ndim == len(self.axes) + 1:
            x = x.unsqueeze(0)
        check_float_range(x, spec.value_range, f"{self.name} input", "map it to the tokenizer's range first")
        return self.checked(x.float(), spec)

    def checked(self, x: Tensor, spec: TokenizerSpec) -> Tensor:
        """``x`` after :func:`omnitok.check_media` (layout, channels, grid), so a prepared batch encodes."""
        from omnitok.protocol import check_media

        check_media(x, spec)
        return x

    def postprocess(
        self,
        decoded: Tensor,
        spec: TokenizerSpec,
        to: str = "float",
        clamp: bool = True,
        sample_rate: int | None = None,
    ) -> Any:
        """Decoded media [B, C, *axes] -> ``to``; the default knows "float": float32 on the CPU in
        ``spec.value_range``, clamped to it unless ``clamp`` is False (raw decoder output)."""
        from omnitok.modalities.conversion import check_kind, clamped

        if sample_rate is not None:
            raise ConfigError(f"sample_rate applies to media with a sample rate; {self.name} media have none")
        check_kind(to, {"float": f"float32 {self.layout} in the tokenizer's range"}, clamp, self.name)
        return clamped(decoded, spec.value_range, clamp)

    # -- evaluation --------------------------------------------------------------------------------------------------
    def eval_set(self, source: str, spec: TokenizerSpec, options: dict[str, Any]) -> Any:
        """The evaluation set (:class:`omnitok.evaluation.EvalSet`) ``source`` becomes for tokenizers of ``spec``.

        ``options`` holds ``omnitok eval``'s settings (resolution, seconds, frames, stride, generated_clips,
        max_samples, seed, skip_unreadable)."""
        raise ConfigError(f"the {self.name} modality has no evaluation set")

    def metrics(self, device: torch.device) -> tuple[list[Any], dict[str, str]]:
        """(metrics that run, {name: why not} for unavailable ones): the metric registry under this name."""
        from omnitok.metrics.registry import build_metrics

        return build_metrics(self.name, device)

    def fit_reconstruction(self, reconstruction: Tensor, original: Tensor) -> Tensor:
        """The reconstruction as the metrics compare it with ``original`` (e.g. audio trimmed to its length)."""
        return reconstruction

    def frame_metrics(self, sample_metrics: Sequence[Any]) -> list[Any]:
        """The sample metrics scored per frame index (a curve along time in the report); none without time."""
        return []

    def rate_figures(self, spec: TokenizerSpec, input_shape: Sequence[int], token_bits: float, floats: float) -> dict:
        """Figures of how much the tokens carry per input value: bits per value and compression (discrete), latent
        floats per value (continuous)."""
        values = math.prod(int(s) for s in input_shape)
        if spec.discrete:
            return {
                f"bits_per_{self.value_unit}": token_bits / values,
                "compression_ratio": self.value_bits * spec.channels * values / token_bits,
            }
        return {f"latent_floats_per_{self.value_unit}": floats / values}

    def extra_measures(
        self, tokenizer: Tokenizer, spec: TokenizerSpec, inputs: Callable[[], list[Tensor]]
    ) -> dict[str, Any]:
        """Measurements beyond the metric set (e.g. audio's bitrate ladder, key ``"ladder"``); ``inputs()`` gives
        the samples to measure on, in the tokenizer's input range."""
        return {}

    def report_figures(self, run: Any) -> list[Any]:
        """The report's pictures of ``run`` (``omnitok.report.pictures.Figure``), before the codebook figures that
        every discrete tokenizer gets; none by default."""
        return []

    def reconstruction_note(self, count: int, unit: str) -> str:
        """The note under the report's reconstruction table."""
        return f"Mean over {count} {unit}."

    @property
    def policy_label(self) -> str:
        """How the report's protocol block names the way files became samples."""
        return f"{self.name} sample policy"

    # -- held-out scoring during training ---------------------------------------------------------------------------
    def heldout_metrics(self) -> tuple[str, ...]:
        """The metrics of :meth:`metrics` a training run scores its held-out data with (the first ranks the
        baselines): cheap ones, without pretrained networks."""
        raise ConfigError(f"the {self.name} modality names no held-out metrics")

    def heldout_scores(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> dict[str, float]:
        """Mean of each held-out metric over the batch, media in the tokenizer's value range: the same metric
        objects ``omnitok eval`` runs, on the same scale (``metric_scale``)."""
        import torch

        metrics = self._heldout_metric_objects(spec)
        low, high = spec.value_range
        lo, hi = self.metric_scale

        def to_scale(v: Tensor) -> Tensor:
            return ((v.float() - low) / (high - low) * (hi - lo) + lo).clamp(lo, hi)

        original, reconstruction = to_scale(x), to_scale(self.fit_reconstruction(x_hat, x))
        with torch.no_grad():
            return {name: float(metric(original, reconstruction).mean()) for name, metric in metrics.items()}

    def _heldout_metric_objects(self, spec: TokenizerSpec) -> dict[str, Any]:
        import torch

        from omnitok.metrics.registry import metric_factories

        names = self.heldout_metrics()
        factories = dict(metric_factories(self.name))
        missing = [n for n in names if n not in factories]
        if missing:
            raise ConfigError(f"held-out metric(s) {missing} are not registered for {self.name}: {sorted(factories)}")
        metrics = {name: factories[name](torch.device("cpu")) for name in names}
        for metric in metrics.values():
            if hasattr(metric, "sample_rate") and spec.sample_rate:
                metric.sample_rate = spec.sample_rate  # as the evaluation runner sets it from its set
        return metrics

    def heldout_baselines(self, spec: TokenizerSpec, x: Tensor) -> tuple[dict[str, Tensor], str]:
        """(name -> trivial reconstruction of ``x`` to score beside the tokenizer, a sentence saying what they are)."""
        return {}, "No baselines for this modality."

    def heldout_details(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> dict[str, Any]:
        """Extra fields of ``heldout.json`` (e.g. a per-frame curve)."""
        return {}

    def heldout_picture(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> bytes | None:
        """PNG bytes comparing a few held-out samples with their reconstructions, or None for none."""
        return None

    def __repr__(self) -> str:
        return f"<modality {self.name!r}: {self.layout}>"
