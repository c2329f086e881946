"""Audio files <-> token files, for ``omnitok encode`` / ``omnitok decode`` (through the audio modality).

Encoding reads each file (wav/flac/ogg/mp3), resamples it to the tokenizer's rate and converts its channels. With
``--chunk-seconds`` a causal tokenizer encodes long files that many seconds at a time, with the same tokens: a file
already at the tokenizer's rate is streamed off the disk block by block (memory bounded by the block); one that
needs resampling is read and resampled whole first, then encoded in chunks.
Decoding writes 16-bit audio at the tokenizer's rate, atomically: a.wav.safetensors -> a.wav, a.flac -> a.flac,
a.mp3 / a.ogg -> a.mp3.wav / a.ogg.wav. The token grid covers whole frames (the last one padded); each token file
records the input's length at the tokenizer's rate (``media["samples"]``, see :mod:`omnitok.tokens`), and decoding
trims to it, so a decoded file has the original number of samples. Token files without that record (written
before it existed) decode to whole frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnitok.errors import ConfigError

TOKEN_SUFFIX = ".safetensors"
KEPT_SUFFIXES = (".wav", ".flac")


def check_chunking(tokenizer, options: dict[str, Any]) -> None:
    """``--chunk-seconds`` needs a causal omnitok tokenizer (chunked tokens would differ otherwise)."""
    from omnitok.nn.streaming import is_causal

    encoder = getattr(tokenizer, "encoder", None)
    if options.get("chunk_seconds") and (encoder is None or not is_causal(encoder)):
        raise ConfigError(
            "--chunk-seconds needs a causal omnitok audio tokenizer (chunked tokens would differ otherwise)"
        )


def encode_audio_file(path: Path, tokenizer, options: dict[str, Any], device) -> tuple[Any, dict]:
    """Encode the audio file at ``path`` (``chunk_seconds`` from ``options``): (tokens [1, ...], media record: the
    input's length at the tokenizer's rate, the source's rate and channels). A chunked file at the tokenizer's rate
    streams off the disk block by block (``encode_chunked``'s chunks, so the same tokens in bounded memory)."""
    import torch

    from omnitok.data.audio import audio_info, stream_audio
    from omnitok.models import encode_stream

    spec = tokenizer.spec
    seconds = options.get("chunk_seconds")
    chunk = int(seconds * spec.sample_rate) if seconds else None
    _, rate, source_channels = audio_info(path)
    if not (chunk and rate == spec.sample_rate):
        x, media = read_audio_input(path, spec)
        return encode_audio_input(x, tokenizer, options, device), media
    lengths: list[int] = []
    blocks = _counted(stream_audio(path, chunk, spec.channels), lengths, device)
    tokens = torch.cat(list(encode_stream(tokenizer, blocks)), dim=1 if spec.discrete else 2)
    return tokens, {"samples": int(sum(lengths)), "source_sample_rate": rate, "source_channels": source_channels}


def read_audio_input(path: Path, spec) -> tuple[Any, dict]:
    """The whole file at ``path`` at the spec's rate and channels, [C, S], and its media record: the input's length
    at the tokenizer's rate, the source's rate and channels."""
    from omnitok.data import read_audio
    from omnitok.data.audio import audio_info

    _, rate, source_channels = audio_info(path)
    x = read_audio(path, spec.sample_rate, spec.channels)
    return x, {"samples": int(x.shape[-1]), "source_sample_rate": rate, "source_channels": source_channels}


def encode_audio_input(x, tokenizer, options: dict[str, Any], device):
    """Tokens [1, ...] of one waveform [C, S] (``chunk_seconds`` at a time where ``options`` ask)."""
    from omnitok.models import encode_chunked

    seconds = options.get("chunk_seconds")
    chunk = int(seconds * tokenizer.spec.sample_rate) if seconds else None
    x = x.unsqueeze(0).to(device)
    return encode_chunked(tokenizer, x, chunk) if chunk and x.shape[-1] > chunk else tokenizer.encode(x)


def _counted(blocks, lengths: list[int], device):
    """Yield each block [C, n] as a batch [1, C, n] on ``device``, appending n to ``lengths``."""
    for block in blocks:
        lengths.append(block.shape[-1])
        yield block.unsqueeze(0).to(device)


def audio_name(token_file: Path) -> Path:
    """a.wav.safetensors -> a.wav, a.flac.safetensors -> a.flac, a.mp3.safetensors -> a.mp3.wav."""
    name = token_file.name.removesuffix(TOKEN_SUFFIX)
    return token_file.with_name(name if name.lower().endswith(KEPT_SUFFIXES) else f"{name}.wav")


def trim_to_input(audio, media: dict | None):
    """Decoded audio [..., S'] cut to the encoded input's length ``media["samples"]`` (the token grid covers whole
    frames); unchanged when the token file records no length.

    Raises:
        ShapeError: the decoded audio is shorter than the recorded input (the tokens do not belong to it).
    """
    from omnitok.errors import ShapeError

    samples = (media or {}).get("samples")
    if samples is None:
        return audio
    if not isinstance(samples, int) or samples < 1:
        raise ShapeError(f"token file records an invalid input length {samples!r}")
    if audio.shape[-1] < samples:
        raise ShapeError(f"decoded {audio.shape[-1]} samples, fewer than the {samples} the token file records")
    return audio[..., :samples]


def write_decoded_audio(target: Path, audio, spec, media: dict | None = None) -> None:
    """audio [1, C, S] in the tokenizer's range -> a 16-bit file at spec.sample_rate (written atomically), trimmed
    to the encoded input's length when ``media`` (the token file's record) has it."""
    from omnitok.data import write_audio

    low, high = spec.value_range
    audio = trim_to_input(audio, media)
    write_audio(target, ((audio[0] - low) / (high - low) * 2 - 1).clamp(-1, 1), spec.sample_rate)
