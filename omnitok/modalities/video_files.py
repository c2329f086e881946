"""Video files <-> token files, for ``omnitok encode`` / ``omnitok decode`` (through the video modality).

Encoding decodes each file with decord: every frame, or the first ``--frames`` frames, at the file's rate or
resampled to ``--fps``; ``--size`` resizes the shorter side and center-crops a square. A clip that does not fill the
tokenizer's grid is padded up to it (the last frame repeated to ``1 + k t`` frames for causal tokenizers, edge
pixels replicated to multiples of the spatial factor); the token file records the clip's real frame count, size and
frame rate, and decoding crops back to them. ``--chunk-frames`` encodes (and decodes) a causal tokenizer's clip that
many frames at a time, with the same tokens, bounding memory by the chunk.

Decoding writes H.264 mp4 with PyAV at the recorded frame rate, atomically: a.mp4.safetensors -> a.mp4,
a.avi.safetensors -> a.avi.mp4.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import ConfigError

TOKEN_SUFFIX = ".safetensors"
DEFAULT_FPS = 8.0


def read_video_input(path: Path, spec, options: dict[str, Any]) -> tuple[Tensor, dict]:
    """The video at ``path`` (``frames``, ``fps``, ``size`` from ``options``) as [3, T, H, W] in the spec's range,
    padded to the tokenizer's grid, and its media record: real frames, height, width and the frame rate where
    usable."""
    from omnitok.data import read_video, resize_and_crop_video, video_info

    info = video_info(path)
    video = read_video(path, options.get("frames"), fps=options.get("fps"))  # uint8 [3, T, H, W]
    if options.get("size"):
        x = resize_and_crop_video(video, options["size"], crop="center", value_range=spec.value_range)
    else:
        low, high = spec.value_range
        x = video.float() / 255.0 * (high - low) + low
    frames, height, width = x.shape[1:]
    media: dict[str, Any] = {"frames": frames, "height": height, "width": width}
    fps = float(options.get("fps") or info.fps)
    if 0 < fps < math.inf:  # a container without a usable rate decodes at the spec's (or 8 fps)
        media["fps"] = fps
    return pad_to_grid(x, spec), media


def encode_video_input(x: Tensor, tokenizer, options: dict[str, Any], device) -> Tensor:
    """Tokens [1, ...] of one padded video [3, T, H, W] (``chunk_frames`` at a time where ``options`` ask)."""
    x = x.unsqueeze(0).to(device)
    chunk = options.get("chunk_frames")
    if chunk:
        from omnitok.models import encode_video_chunked

        return encode_video_chunked(tokenizer, x, chunk)
    return tokenizer.encode(x)


def pad_to_grid(x: Tensor, spec) -> Tensor:
    """[C, T, H, W] padded to the smallest shape the tokenizer takes: T up to ``1 + k t`` (causal) or a multiple of
    ``t``, by repeating the last frame; H and W up to multiples of the spatial factors, by replicating edge pixels."""
    t, sh, sw = spec.downsample
    frames, height, width = x.shape[1:]
    if spec.causal_time:
        want_t = 1 + math.ceil((frames - 1) / t) * t
    else:
        want_t = math.ceil(frames / t) * t
    want_h, want_w = math.ceil(height / sh) * sh, math.ceil(width / sw) * sw
    if (want_t, want_h, want_w) == (frames, height, width):
        return x
    padded = F.pad(x.unsqueeze(0), (0, want_w - width, 0, want_h - height, 0, want_t - frames), mode="replicate")
    return padded[0]


def video_name(token_file: Path) -> Path:
    """a.mp4.safetensors -> a.mp4; a.avi.safetensors -> a.avi.mp4 (decoded video is always H.264 mp4)."""
    name = token_file.name.removesuffix(TOKEN_SUFFIX)
    return token_file.with_name(name if name.lower().endswith(".mp4") else f"{name}.mp4")


def decode_video_tokens(tokenizer, tokens: Tensor, chunk: int | None = None) -> Tensor:
    """Decode tokens, ``chunk`` frames' worth of latents at a time when asked (``--chunk-frames``, causal
    tokenizers)."""
    if not chunk:
        return tokenizer.decode(tokens)
    from omnitok.models import decode_video_chunked

    check_causal(tokenizer, "--chunk-frames")
    return decode_video_chunked(tokenizer, tokens, max(1, chunk // tokenizer.spec.downsample[0]))


def write_decoded_video(target: Path, video: Tensor, spec, media: dict | None = None) -> None:
    """video [1, 3, T, H, W] in the tokenizer's range -> mp4 at the recorded frame rate (else the spec's, else 8),
    cropped to the recorded frames and size (written atomically)."""
    from omnitok.data import write_video

    media = media or {}
    clip = video[0]
    frames, height, width = (int(media.get(k, n)) for k, n in zip(("frames", "height", "width"), clip.shape[1:]))
    clip = clip[:, :frames, :height, :width]
    fps = float(media.get("fps") or spec.fps or DEFAULT_FPS)
    pix_fmt = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
    write_video(target, clip, fps, value_range=spec.value_range, pix_fmt=pix_fmt)


def check_causal(tokenizer, option: str) -> None:
    spec = tokenizer.spec
    if not spec.causal_time or not hasattr(tokenizer, "encoder"):
        raise ConfigError(f"{option} needs a causal omnitok video tokenizer (chunked tokens would differ otherwise)")
