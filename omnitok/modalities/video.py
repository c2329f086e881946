"""Video: ``[B, C, T, H, W]`` (time first), read with decord, evaluated per frame on [0, 1] pixels and by FVD."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from omnitok.modalities.base import Modality

if TYPE_CHECKING:
    from omnitok.protocol import Tokenizer, TokenizerSpec


class VideoModality(Modality):
    name = "video"
    axes = ("frames", "height", "width")
    letters = ("T", "H", "W")
    plural = "clips"
    has_time = True
    value_unit = "pixel"
    value_bits = 8

    @property
    def file_suffixes(self) -> frozenset[str]:  # type: ignore[override]
        from omnitok.data.video import VIDEO_EXTENSIONS

        return frozenset(VIDEO_EXTENSIONS)

    @property
    def conventions(self) -> tuple[str, ...]:  # type: ignore[override]
        from omnitok.evaluation.protocol import INTENSITY_SCALE, PSNR_CONVENTION, SSIM_CONVENTION, VIDEO_CONVENTIONS

        return (PSNR_CONVENTION, SSIM_CONVENTION, *VIDEO_CONVENTIONS, INTENSITY_SCALE)

    @property
    def contents(self) -> str:
        return "videos"

    @property
    def policy_label(self) -> str:
        return "video clip policy"

    # -- files -------------------------------------------------------------------------------------------------------
    def check_file(self, path: Path) -> None:
        """The container opens (decord) and its first frame decodes."""
        from omnitok.data.video import video_info

        video_info(path)

    def check_codec_options(self, tokenizer: Tokenizer, options: dict[str, Any]) -> None:
        from omnitok.modalities.video_files import check_causal

        if options.get("chunk_frames"):
            check_causal(tokenizer, "--chunk-frames")

    def batchable(self, options: dict[str, Any]) -> bool:
        """``--chunk-frames`` codes each clip chunk by chunk, one file at a time."""
        return not options.get("chunk_frames")

    def read_input(self, path: Path, spec: TokenizerSpec, options: dict[str, Any]) -> tuple[Tensor, dict]:
        from omnitok.modalities.video_files import read_video_input

        return read_video_input(path, spec, options)

    def encode_input(self, x: Tensor, tokenizer: Tokenizer, options: dict[str, Any], device: Any) -> Tensor:
        from omnitok.modalities.video_files import encode_video_input

        return encode_video_input(x, tokenizer, options, device)

    def decode_tokens(self, tokenizer: Tokenizer, tokens: Tensor, options: dict[str, Any]) -> Tensor:
        from omnitok.modalities.video_files import decode_video_tokens

        return decode_video_tokens(tokenizer, tokens, options.get("chunk_frames"))

    def output_name(self, token_file: Path) -> Path:
        from omnitok.modalities.video_files import video_name

        return video_name(token_file)

    def write(self, target: Path, media: Tensor, spec: TokenizerSpec, record: dict | None = None) -> None:
        from omnitok.modalities.video_files import write_decoded_video

        write_decoded_video(target, media, spec, record)

    # -- media in, media out -----------------------------------------------------------------------------------------
    def preprocess(self, media: Any, spec: TokenizerSpec, sample_rate: int | None = None) -> Tensor:
        """uint8 frames [T, H, W, C] / [B, T, H, W, C] (numpy or torch, as video readers give them), a list of clips
        of one size, or float [C, T, H, W] / [B, C, T, H, W] already in the tokenizer's range (a warning when they
        look like [0, 1] or [0, 255]) -> float32 [B, C, T, H, W] in ``spec.value_range``, as ``omnitok encode``
        maps a file's frames. No padding: the frame count and size must fit the tokenizer's grid."""
        from omnitok.modalities.video_media import video_batch

        if sample_rate is not None:
            return super().preprocess(media, spec, sample_rate)  # refuses it
        return self.checked(video_batch(media, spec), spec)

    def postprocess(
        self,
        decoded: Tensor,
        spec: TokenizerSpec,
        to: str = "numpy",
        clamp: bool = True,
        sample_rate: int | None = None,
    ) -> Any:
        """Decoded [B, C, T, H, W] -> "numpy" (uint8 [B, T, H, W, C]), "uint8" (torch uint8 [B, T, H, W, C]) or
        "float" (float32 [B, C, T, H, W] in the tokenizer's range); frames round as the mp4 files of
        ``omnitok decode``."""
        from omnitok.modalities.video_media import video_output

        if sample_rate is not None or to == "float":
            return super().postprocess(decoded, spec, to, clamp, sample_rate)
        return video_output(decoded, spec, to, clamp)

    # -- evaluation --------------------------------------------------------------------------------------------------
    def eval_set(self, source: str, spec: TokenizerSpec, options: dict[str, Any]) -> Any:
        from omnitok.evaluation import load_eval_videos

        return load_eval_videos(
            source,
            options.get("frames", 17),
            options.get("resolution", 256),
            stride=options.get("stride", 1),
            generated_clips=options.get("generated_clips", 16),
            max_samples=options.get("max_samples"),
            seed=options.get("seed", 0),
            skip_unreadable=options.get("skip_unreadable", False),
        )

    def frame_metrics(self, sample_metrics: Any) -> list[Any]:
        """Sample metrics with a ``per_frame(original, reconstruction) -> [B, T]`` method give a curve along time."""
        return [m for m in sample_metrics if callable(getattr(m, "per_frame", None))]

    def report_figures(self, run: Any) -> list[Any]:
        from omnitok.report.pictures import video_figures

        return video_figures(run)

    def reconstruction_note(self, count: int, unit: str) -> str:
        return (
            f"Mean over {count} {unit}; FVD over the same clips (few clips bias it upward). "
            "Per-frame metrics: mean over each clip's frames, then over clips."
        )

    # -- held-out scoring --------------------------------------------------------------------------------------------
    def heldout_metrics(self) -> tuple[str, ...]:
        return ("psnr",)

    def heldout_baselines(self, spec: TokenizerSpec, x: Tensor) -> tuple[dict[str, Tensor], str]:
        """The image baselines frame by frame, the information budget split evenly over the frames."""
        from omnitok.metrics import budget_pixels, mean_colour_baseline, mean_image_baseline, resample_baseline
        from omnitok.modalities.image import budget_note
        from omnitok.utils import fold_frames, unfold_frames

        b, _, t = x.shape[:3]
        frames = fold_frames(x.float())
        pixels = max(1, budget_pixels(spec, tuple(x.shape[2:])) // t)
        out = {
            "mean_colour": mean_colour_baseline(frames),
            "mean_image": mean_image_baseline(frames),
            f"resample_{pixels}px": resample_baseline(frames, pixels),
        }
        return {k: unfold_frames(v, b) for k, v in out.items()}, budget_note(pixels, " per frame")

    def heldout_details(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> dict[str, Any]:
        """The resolution and the PSNR at each frame index, mean over clips."""
        from omnitok.metrics import psnr
        from omnitok.metrics.image import to_unit_range
        from omnitok.utils import fold_frames

        b, _, t = x.shape[:3]
        curve = psnr(to_unit_range(fold_frames(x_hat)), to_unit_range(fold_frames(x))).reshape(b, t).mean(0)
        return {"resolution": list(x.shape[-2:]), "psnr_per_frame": curve.tolist()}

    def heldout_picture(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> bytes | None:
        from omnitok.metrics.image import to_unit_range
        from omnitok.report.video_figures import strips_figure
        from omnitok.utils import to_uint8

        count = min(4, x.shape[0])

        def uint8(v: Tensor) -> Tensor:
            return to_uint8(to_unit_range(v[:count].cpu()))

        return strips_figure(uint8(x), [("reconstruction", uint8(x_hat))])
