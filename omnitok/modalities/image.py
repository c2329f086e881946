"""Images: ``[B, C, H, W]``, read with Pillow, evaluated on [0, 1] pixels (PSNR, SSIM, LPIPS, rFID)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.modalities.base import TOKEN_SUFFIX, Modality

if TYPE_CHECKING:
    from omnitok.protocol import TokenizerSpec


class ImageModality(Modality):
    name = "image"
    axes = ("height", "width")
    letters = ("H", "W")
    plural = "images"
    value_unit = "pixel"
    value_bits = 8

    @property
    def file_suffixes(self) -> frozenset[str]:  # type: ignore[override]
        from omnitok.data.images import IMAGE_EXTENSIONS

        return frozenset(IMAGE_EXTENSIONS)

    @property
    def conventions(self) -> tuple[str, ...]:  # type: ignore[override]
        from omnitok.evaluation.protocol import INTENSITY_SCALE, PSNR_CONVENTION, SSIM_CONVENTION

        return (PSNR_CONVENTION, SSIM_CONVENTION, INTENSITY_SCALE)

    @property
    def contents(self) -> str:
        return "images"

    @property
    def policy_label(self) -> str:
        return "resolution and resize / crop policy"

    # -- files -------------------------------------------------------------------------------------------------------
    def check_file(self, path: Path) -> None:
        """The whole image decodes (Pillow, within the pixel limit)."""
        from omnitok.data import read_image

        read_image(path)

    def read_input(self, path: Path, spec: TokenizerSpec, options: dict[str, Any]) -> tuple[Tensor, dict]:
        """The image at ``path`` (``--size``: shorter side resized, centre square cropped) in the spec's range."""
        from omnitok.data import read_image, resize_and_crop

        size = options.get("size")
        image = read_image(path, size)
        x = resize_and_crop(image, size, crop="center") if size else image.float() / 127.5 - 1.0
        try:
            spec.grid(x.shape[-2:])
        except ShapeError as err:
            raise ShapeError(f"{path}: {err}; pass --size to resize and crop") from None
        return to_value_range(x, spec.value_range), {}

    def output_name(self, token_file: Path) -> Path:
        """a.png.safetensors -> a.png; a.jpg.safetensors -> a.jpg.png (no two token files share an image name)."""
        name = token_file.name.removesuffix(TOKEN_SUFFIX)
        return token_file.with_name(name if name.lower().endswith(".png") else f"{name}.png")

    def write(self, target: Path, media: Tensor, spec: TokenizerSpec, record: dict | None = None) -> None:
        """image [1, C, H, W] in the tokenizer's range -> a PNG file (written atomically)."""
        from torchvision.utils import save_image

        from omnitok.utils import atomic_path

        low, high = spec.value_range
        image = ((media - low) / (high - low)).clamp(0, 1)
        with atomic_path(target) as tmp:
            save_image(image[0], tmp, format="png")

    # -- media in, media out -----------------------------------------------------------------------------------------
    def preprocess(self, media: Any, spec: TokenizerSpec, sample_rate: int | None = None) -> Tensor:
        """PIL images, numpy uint8 [H, W, C] / [B, H, W, C] (or [H, W] grey), torch uint8 [C, H, W] / [B, C, H, W],
        a list of any of these (one size), or float tensors [C, H, W] / [B, C, H, W] already in the tokenizer's
        range (a warning when they look like [0, 1] or [0, 255]) -> float32 [B, C, H, W] in ``spec.value_range``.
        Pixels map as ``omnitok encode`` maps a PNG's, so both give the same tokens."""
        from omnitok.modalities.image_media import image_batch

        if sample_rate is not None:
            return super().preprocess(media, spec, sample_rate)  # refuses it
        return self.checked(image_batch(media, spec), spec)

    def postprocess(
        self,
        decoded: Tensor,
        spec: TokenizerSpec,
        to: str = "numpy",
        clamp: bool = True,
        sample_rate: int | None = None,
    ) -> Any:
        """Decoded [B, C, H, W] -> "numpy" (uint8 [B, H, W, C]), "pil" (a list of PIL images), "uint8" (torch uint8
        [B, C, H, W]) or "float" (float32 [B, C, H, W] in the tokenizer's range); pixels round as the PNG files of
        ``omnitok decode``."""
        from omnitok.modalities.image_media import image_output

        if sample_rate is not None or to == "float":
            return super().postprocess(decoded, spec, to, clamp, sample_rate)
        return image_output(decoded, spec, to, clamp)

    # -- evaluation --------------------------------------------------------------------------------------------------
    def eval_set(self, source: str, spec: TokenizerSpec, options: dict[str, Any]) -> Any:
        from omnitok.evaluation import load_eval_images

        if source == "generated":
            raise ConfigError("--data generated makes audio or video clips; for images use a folder or 'builtin'")
        return load_eval_images(
            source,
            options.get("resolution", 256),
            max_samples=options.get("max_samples"),
            seed=options.get("seed", 0),
            skip_unreadable=options.get("skip_unreadable", False),
        )

    def report_figures(self, run: Any) -> list[Any]:
        from omnitok.report.pictures import image_figures

        return image_figures(run)

    def reconstruction_note(self, count: int, unit: str) -> str:
        return f"Mean over {count} {unit}; rFID over the same images (few images bias it upward)."

    # -- held-out scoring --------------------------------------------------------------------------------------------
    def heldout_metrics(self) -> tuple[str, ...]:
        return ("psnr",)

    def heldout_baselines(self, spec: TokenizerSpec, x: Tensor) -> tuple[dict[str, Tensor], str]:
        """The per-image mean colour, the held-out mean image, and resampling to the tokens' information budget."""
        from omnitok.metrics import budget_pixels, mean_colour_baseline, mean_image_baseline, resample_baseline

        x = x.float()
        pixels = max(1, budget_pixels(spec, tuple(x.shape[2:])))
        out = {
            "mean_colour": mean_colour_baseline(x),
            "mean_image": mean_image_baseline(x),
            f"resample_{pixels}px": resample_baseline(x, pixels),
        }
        return out, budget_note(pixels, "")

    def heldout_details(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> dict[str, Any]:
        from omnitok.metrics import budget_pixels

        return {"resolution": list(x.shape[-2:]), "budget_pixels": budget_pixels(spec, tuple(x.shape[-2:]))}

    def heldout_picture(self, spec: TokenizerSpec, x: Tensor, x_hat: Tensor) -> bytes | None:
        return comparison_grid(x, x_hat)


def to_value_range(x: Tensor, value_range: tuple[float, float]) -> Tensor:
    """Images in [-1, 1] (``uint8 / 127.5 - 1``, what the image readers give) -> ``value_range``."""
    low, high = value_range
    return (x + 1.0) / 2.0 * (high - low) + low


def budget_note(pixels: int, per: str) -> str:
    """What the resampling baseline keeps, in words."""
    return (
        f"The resampling baseline keeps {pixels} RGB pixels{per}, the information the tokens carry (bits / 24 for "
        "discrete tokens, latent scalars / 3 for continuous ones)."
    )


def comparison_grid(x: Tensor, x_hat: Tensor, count: int = 8) -> bytes:
    """PNG bytes: a row of originals, a row of reconstructions and a row of 4x absolute errors (images in [-1, 1])."""
    import io

    import torch
    from torchvision.utils import make_grid, save_image

    from omnitok.metrics.image import to_unit_range

    count = min(count, x.shape[0])
    original, recon = to_unit_range(x[:count]), to_unit_range(x_hat[:count])
    error = (original - recon).abs().mean(1, keepdim=True).mul(4).clamp(0, 1).expand_as(original)
    grid = make_grid(torch.cat([original, recon, error]), nrow=count, padding=2, pad_value=1.0)
    buffer = io.BytesIO()
    save_image(grid, buffer, format="png")
    return buffer.getvalue()
