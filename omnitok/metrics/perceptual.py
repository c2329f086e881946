"""LPIPS through the ``lpips`` package (Zhang et al. 2018, linear layers v0.1 on an ImageNet backbone).

The factory builds the real network: the backbone's ImageNet weights come from torchvision's download on first
use (torch hub cache); its linear layers ship inside the ``lpips`` wheel. Where the backbone cannot be loaded the
factory raises :class:`MetricUnavailable` ("weights not found: ..."): LPIPS from a random backbone is not a figure
to report. Tests wrap an explicitly random network (``lpips.LPIPS(pnet_rand=True)``) to exercise the arithmetic.
"""

from __future__ import annotations

import pickle
import warnings

import torch
from torch import Tensor, nn

from omnitok.metrics.checks import check_image_pair
from omnitok.metrics.registry import MetricUnavailable
from omnitok.metrics.weights import hub_weights, package_version

# torchvision's ImageNet weights of each LPIPS backbone (what lpips' ``pretrained_networks`` asks torchvision for).
BACKBONE_WEIGHTS = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights", "squeeze": "SqueezeNet1_1_Weights"}


def backbone_url(net: str) -> str:
    """Download address of the torchvision ImageNet weights behind LPIPS backbone ``net``."""
    import torchvision

    if net not in BACKBONE_WEIGHTS:
        raise ValueError(f"LPIPS backbone must be one of {sorted(BACKBONE_WEIGHTS)}, got {net!r}")
    return getattr(torchvision.models, BACKBONE_WEIGHTS[net]).IMAGENET1K_V1.url


class LPIPS:
    """LPIPS distance per sample (lower is better): ``__call__(original, reconstruction)`` on RGB [B, 3, H, W] in
    [0, 1] -> [B] float32 on the network's device. Inputs are mapped to [-1, 1] as ``lpips`` expects.

    Args:
        network: an ``lpips.LPIPS`` module (in eval mode; moved nowhere: put it on the device first).
        net: its backbone name, for the implementation string.
    """

    name = "lpips"
    higher_is_better = False

    def __init__(self, network: nn.Module, net: str = "alex"):
        self.network = network.eval()
        backbone = (
            "RANDOM backbone (tests only, not a reportable figure)"
            if getattr(network, "pnet_rand", False)
            else "torchvision ImageNet backbone"
        )
        self.implementation = (
            f"lpips {package_version('lpips')} LPIPS(net={net}, version={getattr(network, 'version', '0.1')}), {backbone}, "
            "inputs [0, 1] mapped to [-1, 1], spatial mean"
        )

    @classmethod
    def pretrained(cls, device: torch.device, net: str = "alex") -> LPIPS:
        """The real LPIPS network on ``device``; MetricUnavailable when ``lpips`` or the backbone weights are missing."""
        url = backbone_url(net)
        try:
            import lpips
        except ImportError as err:
            raise MetricUnavailable("lpips is not installed (pip install 'omnitok[eval]')") from err
        path = hub_weights(url, check_hash=True)  # cached or downloaded now, else MetricUnavailable
        try:
            with warnings.catch_warnings():  # lpips 0.1.4 still passes torchvision's deprecated ``pretrained=True``
                warnings.simplefilter("ignore", UserWarning)
                network = lpips.LPIPS(net=net, pretrained=True, pnet_rand=False, verbose=False)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            raise MetricUnavailable(f"weights not loadable: {path} ({type(err).__name__}: {err})") from err
        return cls(network.to(device), net=net)

    @torch.no_grad()
    def __call__(self, original: Tensor, reconstruction: Tensor) -> Tensor:
        check_image_pair(original, reconstruction, self.name, rgb=True)
        device = next(self.network.parameters()).device
        x = original.to(device=device, dtype=torch.float32) * 2 - 1  # [B, 3, H, W] in [-1, 1]
        y = reconstruction.to(device=device, dtype=torch.float32) * 2 - 1
        return self.network(x, y).reshape(-1)  # [B, 1, 1, 1] -> [B]
