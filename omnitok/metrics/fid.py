"""rFID: the Fréchet distance between Inception features of the originals and of their reconstructions.

Features come from torchmetrics' ``FrechetInceptionDistance`` around torch-fidelity's InceptionV3 (the port of
the TensorFlow FID network, 2048-d pool3 features). Images enter as uint8 (``round(255 x)``, what saving them as
8-bit files gives) and are resized to 299x299 with torch-fidelity's TF1-compatible bilinear resize
(``antialias=False``), so figures match torch-fidelity and the original TensorFlow FID on the same images.

rFID is biased upward on few samples (the bias shrinks roughly as 1/N): compare figures only at equal sample
counts; :attr:`RFID.count` gives the count for the report.

:func:`frechet_distance` is our own float64 formula on feature statistics, for raw features (FVD and other
feature sets reuse it) and as a check of the library's figure.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import torch
from torch import Tensor, nn

from omnitok.metrics.checks import MetricInputError, check_image_pair
from omnitok.metrics.registry import MetricUnavailable
from omnitok.metrics.weights import hub_weights, package_version
from omnitok.utils import to_uint8

FID_FEATURES = 2048


def feature_statistics(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean [D] and unbiased covariance [D, D] (divisor N - 1), in float64, of features [N, D] with N >= 2."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise MetricInputError(
            f"feature statistics need features [N, D] with N >= 2, got shape {tuple(features.shape)}"
        )
    f = features.detach().double()
    mean = f.mean(0)
    centred = f - mean
    return mean, centred.T @ centred / (f.shape[0] - 1)


def frechet_distance(mean1: Tensor, cov1: Tensor, mean2: Tensor, cov2: Tensor) -> float:
    """Fréchet distance between N(mean1, cov1) and N(mean2, cov2), in float64:

    ``|mean1 - mean2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2))``, where
    ``tr((cov1 cov2)^(1/2)) = sum sqrt(eig(S cov2 S))`` with ``S = cov1^(1/2)`` (symmetric, so ``eigh`` applies;
    round-off negative eigenvalues are clipped to 0). Means [D], covariances [D, D].
    """
    mean1, mean2, cov1, cov2 = (t.detach().double() for t in (mean1, mean2, cov1, cov2))
    if mean1.shape != mean2.shape or cov1.shape != cov2.shape or cov1.shape != (*mean1.shape, *mean1.shape):
        raise MetricInputError(
            f"frechet_distance needs means [D] and covariances [D, D] of one D, got {tuple(mean1.shape)}, "
            f"{tuple(cov1.shape)}, {tuple(mean2.shape)}, {tuple(cov2.shape)}"
        )
    values, vectors = torch.linalg.eigh((cov1 + cov1.T) / 2)
    root1 = (vectors * values.clamp_min(0).sqrt()) @ vectors.T  # cov1^(1/2)
    middle = root1 @ cov2 @ root1
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mean1 - mean2).square().sum() + cov1.trace() + cov2.trace() - 2 * trace_root)




class RFID:
    """rFID over a dataset (lower is better): ``update(original, reconstruction)`` per batch of RGB
    [B, 3, H, W] in [0, 1], then ``compute()``; needs at least 2 samples.

    Args:
        device: where features are computed.
        feature_extractor: ``None`` for the real InceptionV3 (use :meth:`pretrained`, which makes sure of the
            weights), or any module mapping uint8 images [B, 3, H, W] to features [B, D] (tests: a random one;
            such a figure is not an rFID and the implementation string says so).
    """

    name = "rfid"
    higher_is_better = False

    def __init__(self, device: torch.device | str = "cpu", feature_extractor: nn.Module | None = None):
        try:
            from torchmetrics.image.fid import FrechetInceptionDistance
        except ImportError as err:
            raise MetricUnavailable("torchmetrics is not installed (pip install 'omnitok[eval]')") from err
        libraries = f"torchmetrics {package_version('torchmetrics')} FrechetInceptionDistance"
        if feature_extractor is None:
            if not _torch_fidelity_available():
                raise MetricUnavailable("torch-fidelity is not installed (pip install 'omnitok[eval]')")
            weights = _inception_weights()
            try:
                # torchmetrics >= 1.8 resizes with antialiasing by default; the TF1-compatible resize of
                # torch-fidelity (and of older torchmetrics, which lack the argument) keeps figures comparable.
                resize = (
                    {"antialias": False}
                    if "antialias" in inspect.signature(FrechetInceptionDistance).parameters
                    else {}
                )
                fid = FrechetInceptionDistance(
                    feature=FID_FEATURES, normalize=False, feature_extractor_weights_path=str(weights), **resize
                )
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
                raise MetricUnavailable(f"weights not loadable: {weights} ({type(err).__name__}: {err})") from err
            features = (
                f"torch-fidelity {package_version('torch-fidelity')} InceptionV3 (FID weights {weights.name}), "
                f"{FID_FEATURES}-d pool3 features, uint8 input resized to 299x299 with the TF1-compatible bilinear"
            )
        else:
            fid = FrechetInceptionDistance(feature=feature_extractor.eval(), normalize=False)
            features = (
                f"custom feature extractor {type(feature_extractor).__name__} (not Inception: not a reportable rFID)"
            )
        self._fid = fid.to(device)
        self.implementation = (
            f"{libraries} + {features}; float64 statistics; biased upward on few samples: compare only at equal "
            "sample counts (the report prints the count)"
        )

    @classmethod
    def pretrained(cls, device: torch.device | str = "cpu") -> RFID:
        """rFID with the real InceptionV3 weights (downloaded on first use); MetricUnavailable when they cannot be
        loaded or torchmetrics/torch-fidelity are missing."""
        return cls(device)

    @property
    def count(self) -> int:
        """Original/reconstruction pairs seen so far."""
        return int(self._fid.real_features_num_samples)

    @torch.no_grad()
    def update(self, original: Tensor, reconstruction: Tensor) -> None:
        check_image_pair(original, reconstruction, self.name, rgb=True)
        device = self._fid.real_features_sum.device
        self._fid.update(to_uint8(original).to(device), real=True)
        self._fid.update(to_uint8(reconstruction).to(device), real=False)

    def compute(self) -> float:
        if self.count < 2:
            raise MetricInputError(f"rfid needs at least 2 samples, got {self.count}")
        return float(self._fid.compute())

    def reset(self) -> None:
        self._fid.reset()


def _torch_fidelity_available() -> bool:
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        return False
    return True


def _inception_weights() -> Path:
    """Path of torch-fidelity's InceptionV3 FID weights, from the torch hub cache or downloaded now."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return hub_weights(URL_INCEPTION_V3)
