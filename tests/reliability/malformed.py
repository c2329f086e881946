"""Malformed inputs, generated on the spot: broken and hostile media files, forged token files, bad configs.

Each writer makes one file and returns its path. Nothing here is committed as a binary."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import torch

from omnitok.protocol import TokenizerSpec
from omnitok.tokens import MEDIA_KEY, SPEC_KEY


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, idat: bytes) -> bytes:
    """A PNG (8-bit RGB) whose header says ``width`` x ``height`` and whose pixel data is ``idat`` as given."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def corrupt_png(path: Path, side: int = 32) -> Path:
    """Valid signature, header and chunk CRCs; the compressed pixel stream is damaged (every 7th byte flipped).
    torchvision's libpng decoder crashes the process on this file."""
    generator = torch.Generator().manual_seed(0)
    rows = [b"\0" + bytes(torch.randint(0, 256, (side * 3,), generator=generator).tolist()) for _ in range(side)]
    stream = bytearray(zlib.compress(b"".join(rows)))
    for i in range(10, len(stream), 7):
        stream[i] ^= 0x5A
    path.write_bytes(png_bytes(side, side, bytes(stream)))
    return path


def bomb_png_header(path: Path, side: int = 100_000) -> Path:
    """A few hundred bytes whose header claims ``side`` x ``side`` pixels (30 GB decoded)."""
    path.write_bytes(png_bytes(side, side, zlib.compress(b"\0" * 64)))
    return path


def text_file(path: Path, text: str = "this is not media\n") -> Path:
    path.write_text(text)
    return path


def truncated(path: Path, source: Path, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``source``'s bytes."""
    data = source.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def forged_token_file(
    path: Path, tokens: torch.Tensor, spec: TokenizerSpec | dict | str, media: dict | str | None = None
) -> Path:
    """A token file written by hand, so that its spec (dict or raw JSON text), tokens and media record can be
    anything, including what ``save_tokens`` refuses to write."""
    from safetensors.torch import save_file

    spec_text = (
        spec if isinstance(spec, str) else json.dumps(spec.to_dict() if isinstance(spec, TokenizerSpec) else spec)
    )
    metadata = {SPEC_KEY: spec_text}
    if media is not None:
        metadata[MEDIA_KEY] = media if isinstance(media, str) else json.dumps(media)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "latents" if tokens.is_floating_point() else "indices"
    save_file({key: tokens.contiguous()}, str(path), metadata=metadata)
    return path


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` (or the file itself) -> SHA-256 of its bytes: to check inputs stay untouched."""
    import hashlib

    state = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for file in files:
            state[str(file)] = hashlib.sha256(file.read_bytes()).hexdigest()
    return state
