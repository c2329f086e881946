"""The pinned evaluation protocol: everything a number in a report depends on, printed with the report.

Two runs with the same protocol (same data fingerprint, policy, resolution, sample count, seed, metric
implementations and versions) give the same reconstruction numbers; speed figures depend on the machine.
``modality`` says what the samples are; ``details`` holds what else they depend on (audio: sample rate, seconds,
channels; video: frames, fps, stride).
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import torch

import omnitok
from omnitok.evaluation.sets import EvalSet

PSNR_CONVENTION = "PSNR on float images in [0, 1], data range 1, mean over pixels and channels per image"
SSIM_CONVENTION = (
    "SSIM: Gaussian window 11x11, sigma 1.5, population covariance, data range 1, on [0, 1] images, averaged "
    "over channels (scikit-image structural_similarity(gaussian_weights=True, sigma=1.5, "
    "use_sample_covariance=False, data_range=1))"
)
INTENSITY_SCALE = (
    "metrics see every tokenizer's input and output mapped to [0, 1] from its own value range "
    "(reconstructions clamped to [0, 1])"
)
AUDIO_SCALE = (
    "metrics see every tokenizer's input and output mapped to [-1, 1] from its own value range "
    "(reconstructions clamped to [-1, 1] and trimmed to the input's length)"
)
AUDIO_CONVENTIONS = (
    (
        "SI-SDR: zero-mean signals, float64, dB, mean over channels; mel distance: log10 mel L1, windows 20/80 ms, "
        "40/80 bands; STFT distance: spectral convergence + log-magnitude L1 at FFT sizes 512/1024/2048"
    ),
    "bitrate: kbps = token frames per second x sum over levels of log2(codebook size) / 1000",
)
VIDEO_CONVENTIONS = (
    (
        "per-frame metrics: each frame scored as an image, a clip's value is the mean over its frames; the "
        "per-frame curve is the mean over clips at each frame index"
    ),
)
_PACKAGES = ("torch", "torchvision", "torchaudio", "torchmetrics", "torch-fidelity", "lpips", "scipy", "numpy")


@dataclasses.dataclass(frozen=True)
class EvalProtocol:
    """What the numbers of a report were computed under; ``to_dict`` is the ``protocol`` block of metrics.json.

    ``device`` and ``dtype`` say where and in which precision the tokenizers' networks ran (``omnitok eval --device
    --dtype``): a bfloat16 report's figures differ slightly from a float32 one's, so ``dtype`` stays in
    :meth:`reproducibility_key`, while the device only changes speed figures."""

    data: str
    fingerprint: str
    num_samples: int
    resolution: int | None
    resize_policy: str
    seed: int
    batch_size: int
    device: str
    metrics: dict[str, str]
    conventions: tuple[str, ...]
    versions: dict[str, str]
    skipped_files: tuple[str, ...] = ()
    modality: str = "image"
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["conventions"] = list(self.conventions)
        out["skipped_files"] = list(self.skipped_files)
        return out

    def reproducibility_key(self) -> dict[str, Any]:
        """The fields that must match for two reports' reconstruction numbers to be comparable."""
        out = self.to_dict()
        for field in ("device", "batch_size"):
            out.pop(field)
        return out


def make_protocol(
    data: EvalSet,
    seed: int,
    batch_size: int,
    device: torch.device,
    metrics: dict[str, str],
    dtype: str = "float32",
) -> EvalProtocol:
    """The protocol of an evaluation of ``data`` with ``metrics`` ({name: implementation}), the tokenizers' networks
    running on ``device`` in ``dtype`` (a name such as "bfloat16")."""
    fields = data.protocol_fields()
    from omnitok.modalities import get_modality

    conventions = tuple(get_modality(data.modality).conventions)
    return EvalProtocol(
        data=data.root,
        fingerprint=data.fingerprint,
        num_samples=len(data),
        resolution=fields["resolution"],
        resize_policy=fields["policy"],
        seed=seed,
        batch_size=batch_size,
        device=_device_name(device),
        metrics=dict(metrics),
        conventions=conventions,
        versions=package_versions(),
        skipped_files=tuple(data.skipped),
        modality=data.modality,
        details=dict(fields["details"]),
        dtype=dtype,
    )


def dtype_name(tokenizers: Sequence[Any]) -> str:
    """The precision the tokenizers' networks run in, as the protocol names it: "bfloat16", or the names of several
    joined by " / " in the tokenizers' order; a tokenizer without a ``dtype`` attribute counts as float32."""
    names = [str(getattr(t, "dtype", torch.float32)).removeprefix("torch.") for t in tokenizers]
    return " / ".join(dict.fromkeys(names)) or "float32"


def package_versions() -> dict[str, str]:
    versions = {"omnitok": omnitok.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
