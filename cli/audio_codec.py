"""The audio side of ``omnitok encode`` / ``omnitok decode``: audio files <-> token files.

Encoding reads each file (wav/flac/ogg/mp3), resamples it to the tokenizer's rate and converts its channels. With
``--chunk-seconds`` a causal tokenizer encodes long files that many seconds at a time, with the same tokens: a file
already at the tokenizer's rate is streamed off the disk block by block (memory bounded by the block); one that
needs resampling is read and resampled whole first, then encoded in chunks.
Decoding writes 16-bit audio at the tokenizer's rate, atomically: a.wav.safetensors -> a.wav, a.flac -> a.flac,
a.mp3 / a.ogg -> a.mp3.wav / a.ogg.wav. The token grid covers whole frames, so a decoded file is the original
length rounded up to a multiple of the hop (at most one frame of trailing audio).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omnitok.errors import ConfigError, OmnitokError

TOKEN_SUFFIX = ".safetensors"
KEPT_SUFFIXES = (".wav", ".flac")


def encode_audio_files(args: argparse.Namespace, tokenizer, files, targets) -> list[str]:
    """Encode ``files`` [(path, relative)] into ``targets``; returns the failure messages."""
    import torch

    from omnitok.data import read_audio
    from omnitok.data.audio import audio_info, stream_audio
    from omnitok.models import encode_chunked, encode_stream
    from omnitok.nn.streaming import is_causal
    from omnitok.tokens import save_tokens

    spec = tokenizer.spec
    chunk = int(args.chunk_seconds * spec.sample_rate) if getattr(args, "chunk_seconds", None) else None
    encoder = getattr(tokenizer, "encoder", None)
    if chunk and (encoder is None or not is_causal(encoder)):
        raise ConfigError("--chunk-seconds needs a causal omnitok audio tokenizer (chunked tokens would differ otherwise)")
    failures = []
    for (path, _), target in zip(files, targets):
        try:
            if chunk and audio_info(path)[1] == spec.sample_rate:  # no resampling: stream blocks off the disk
                blocks = (b.unsqueeze(0).to(args.device) for b in stream_audio(path, chunk, spec.channels))
                tokens = torch.cat(list(encode_stream(tokenizer, blocks)), dim=1 if spec.discrete else 2)
            else:
                x = read_audio(path, spec.sample_rate, spec.channels).unsqueeze(0).to(args.device)
                tokens = encode_chunked(tokenizer, x, chunk) if chunk and x.shape[-1] > chunk else tokenizer.encode(x)
        except OmnitokError as err:
            failures.append(str(err) if str(path) in str(err) else f"{path}: {err}")
            continue
        save_tokens(target, tokens, spec)
    return failures


def audio_name(token_file: Path) -> Path:
    """a.wav.safetensors -> a.wav, a.flac.safetensors -> a.flac, a.mp3.safetensors -> a.mp3.wav."""
    name = token_file.name.removesuffix(TOKEN_SUFFIX)
    return token_file.with_name(name if name.lower().endswith(KEPT_SUFFIXES) else f"{name}.wav")


def write_decoded_audio(target: Path, audio, spec) -> None:
    """audio [1, C, S] in the tokenizer's range -> a 16-bit file at spec.sample_rate (written atomically)."""
    from omnitok.data import write_audio

    low, high = spec.value_range
    write_audio(target, ((audio[0] - low) / (high - low) * 2 - 1).clamp(-1, 1), spec.sample_rate)
