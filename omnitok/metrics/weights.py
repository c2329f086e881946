"""Provenance of the metrics: versions of the libraries that compute them, and the pretrained weights of the
networks inside them (LPIPS backbones, Inception for rFID).

They live in torch hub's cache (``$TORCH_HOME/hub/checkpoints``), where torchvision and torch-fidelity look for
them. :func:`hub_weights` makes sure a file is there before a library asks for it, so that a missing file turns
into :class:`MetricUnavailable` quickly instead of a library's own retries or a figure from a random network:

- the file is cached: its path is returned;
- offline (``HF_HUB_OFFLINE`` or ``OMNITOK_OFFLINE`` set to 1/true/yes/on): MetricUnavailable at once;
- otherwise it is downloaded once, with a socket timeout; any failure is MetricUnavailable.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import torch

from omnitok.metrics.registry import MetricUnavailable

DOWNLOAD_TIMEOUT_S = 30.0
_OFFLINE_VARIABLES = ("OMNITOK_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}


def package_version(package: str) -> str:
    """Installed version of ``package`` (distribution name), or "not installed"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def offline() -> bool:
    """Whether the environment asks for no network access (``OMNITOK_OFFLINE`` or ``HF_HUB_OFFLINE``)."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in _OFFLINE_VARIABLES)


def hub_cache_path(url: str) -> Path:
    """Where torch hub keeps (or would keep) the file at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def hub_weights(url: str, *, check_hash: bool = False) -> Path:
    """Path of the cached weights file from ``url``, downloaded first if needed (see the module docstring).

    Args:
        url: the download address the library itself uses.
        check_hash: verify the SHA-256 prefix in the file name (``name-<hex>.pth``) after downloading, as
            torchvision does for its weights.

    Raises:
        MetricUnavailable: "weights not found: ..." when the file is not cached and cannot be downloaded.
    """
    path = hub_cache_path(url)
    if path.is_file():
        return path
    if offline():
        raise MetricUnavailable(
            f"weights not found: {path} is not cached and the environment is offline (download: {url})"
        )
    match = re.search(r"-([a-f0-9]+)\.", os.path.basename(url)) if check_hash else None
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # urllib inside torch.hub takes no timeout of its own
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match else None, progress=False)
    except Exception as err:
        raise MetricUnavailable(f"weights not found: could not download {url} ({type(err).__name__}: {err})") from err
    finally:
        socket.setdefaulttimeout(previous)
    return path
