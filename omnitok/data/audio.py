"""Audio files and folders: reading (soundfile), resampling (torchaudio), channel handling, random segments,
loudness normalization, and failure samples for unreadable or silent files.

A sample is ``{"audio": float [C, S] in [-1, 1], "path": str}``; a file that cannot be used gives
``{"audio": None, "path": str, "error": str}`` and :func:`collate_audio` drops and reports it. Waveforms are
channels-first; ``C`` is 1 (mono) or 2 (stereo).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from omnitok.data.files import list_files
from omnitok.data.images import mix_seed
from omnitok.errors import DataError, ShapeError
from omnitok.extras import extra_hint
from omnitok.limits import DECODED_VALUES

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def list_audio_files(root: str | os.PathLike) -> list[Path]:
    """Audio files (wav/flac/ogg/mp3, any case) under ``root``, recursively, sorted (the rules of
    :func:`omnitok.data.files.list_files`); DataError when there are none or a folder cannot be listed."""
    return list_files(root, AUDIO_EXTENSIONS, "audio")


@extra_hint("reading audio")
def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """(frames, sample rate, channels) of an audio file without decoding it; DataError if unreadable."""
    import soundfile

    if not Path(path).is_file():
        raise DataError(f"{path}: no such audio file")
    try:
        info = soundfile.info(str(path))
    except Exception as err:  # noqa: BLE001 - soundfile raises LibsndfileError / RuntimeError / TypeError
        raise DataError(f"{path}: unreadable audio ({_libsndfile_reason(err)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise DataError(f"{path}: empty audio file")
    return int(info.frames), int(info.samplerate), int(info.channels)


def _libsndfile_reason(err: Exception) -> str:
    """libsndfile's message for a file it cannot open, without its misleading guesses: for a regular file that is
    not audio it says 'File does not exist or is not a regular file (possibly a pipe?)'."""
    reason = getattr(err, "error_string", None) or str(err)
    if "does not exist" in reason or not reason.strip():
        return "not a recognised audio format"
    return reason.strip().splitlines()[0]


def convert_channels(x: Tensor, channels: int) -> Tensor:
    """[C_in, S] -> [channels, S]: mono is the channel mean; stereo from mono duplicates it, from more channels
    keeps the first two."""
    if channels not in (1, 2):
        raise ShapeError(f"audio channels must be 1 or 2, got {channels}")
    if x.shape[0] == channels:
        return x
    if channels == 1:
        return x.mean(0, keepdim=True)
    return x.expand(2, -1).clone() if x.shape[0] == 1 else x[:2]


def resample(x: Tensor, source_rate: int, target_rate: int) -> Tensor:
    """[C, S] from ``source_rate`` to ``target_rate`` Hz (torchaudio's windowed-sinc resampler)."""
    if source_rate == target_rate:
        return x
    import torchaudio

    return torchaudio.functional.resample(x, source_rate, target_rate)


@extra_hint("reading audio")
def read_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    channels: int | None = None,
    start: float = 0.0,
    seconds: float | None = None,
) -> Tensor:
    """Decode (part of) an audio file into float32 [C, S] in [-1, 1].

    Args:
        path: wav, flac, ogg or mp3 (through soundfile).
        sample_rate: resample to this rate (None: keep the file's).
        channels: 1 or 2 (None: keep the file's).
        start, seconds: read only this span (in seconds of the file), so long files cost only what is read.

    Raises:
        DataError: unreadable, truncated or empty file, or a span outside it.
    """
    import soundfile

    frames, rate, file_channels = audio_info(path)
    first = round(start * rate)
    last = frames if seconds is None else min(frames, first + math.ceil(seconds * rate))
    if not 0 <= first < frames:
        raise DataError(f"{path}: start {start}s is outside the file ({frames / rate:.2f}s)")
    problem = DECODED_VALUES.exceeded((last - first) * file_channels, f"{path} ({(last - first) / rate:.0f} s)")
    if problem:
        raise DataError(f"{problem}; encode long files with --chunk-seconds, which streams them")
    try:
        data, rate = soundfile.read(str(path), start=first, stop=last, dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001 - libsndfile's errors have no common base class
        raise DataError(f"{path}: unreadable audio ({err})") from None
    if data.shape[0] == 0:
        raise DataError(f"{path}: no samples could be decoded (truncated file?)")
    x = torch.from_numpy(data.T.copy())  # (C, S)
    if not torch.isfinite(x).all():
        raise DataError(f"{path}: audio holds NaN or Inf")
    if channels is not None:
        x = convert_channels(x, channels)
    if sample_rate is not None:
        x = resample(x, rate, sample_rate)
    return x


def resample_stream(blocks: Iterable[Tensor], source_rate: int, target_rate: int) -> Iterator[Tensor]:
    """:func:`resample` of a signal given as consecutive blocks [C, s_i], block by block: concatenated, the output
    equals ``resample(whole, source_rate, target_rate)`` (up to float rounding), and memory is bounded by a block
    plus the filter's reach instead of the whole signal.

    torchaudio's resampler (rates reduced by their gcd to ``orig -> new``) is a polyphase filter: output frame g
    (``new`` samples) is a dot product over input samples ``[g*orig - width, g*orig + orig + width)``, zeros outside
    the signal, with ``width = ceil(6 * orig / (0.99 * min(orig, new)))`` (its default lowpass width and rolloff).
    Each call resamples a buffer that starts on a frame boundary with at least ``width`` samples of left context,
    keeps the frames whose whole window it holds, and carries the rest; the last call adds the zero padding of the
    end as the whole-signal call does.
    """
    if source_rate == target_rate:
        yield from blocks
        return
    gcd = math.gcd(int(source_rate), int(target_rate))
    orig, new = source_rate // gcd, target_rate // gcd
    width = math.ceil(6 * orig / (0.99 * min(orig, new)))
    context = math.ceil(width / orig) * orig  # left context: whole frames covering the filter's reach
    buffer: Tensor | None = None
    start = 0  # input index of buffer[..., 0], always a multiple of orig
    done = 0  # output frames emitted so far
    total = 0  # input samples seen
    for block in blocks:
        total += block.shape[-1]
        buffer = block if buffer is None else torch.cat([buffer, block], dim=-1)
        ready = (start + buffer.shape[-1] - width) // orig  # frames whose whole window the buffer holds
        if ready <= done:
            continue
        out = resample(buffer, source_rate, target_rate)  # frame f of `out` is input frame start / orig + f
        first = start // orig
        yield out[..., (done - first) * new : (ready - first) * new]
        done = ready
        keep = max(0, done * orig - context)
        buffer, start = buffer[..., keep - start :], keep
    if buffer is None:
        return
    length = math.ceil(new * total / orig)  # the whole-signal output length
    out = resample(buffer, source_rate, target_rate)
    first = start // orig
    yield out[..., (done - first) * new : (done - first) * new + length - done * new]


def stream_audio(
    path: str | os.PathLike, block_samples: int, channels: int | None = None, sample_rate: int | None = None
) -> Iterator[Tensor]:
    """Consecutive blocks [C, n_i] of a file, decoded one at a time: memory is bounded by the block, whatever the
    file's length. At the file's own rate each block has ``block_samples`` samples (the last fewer); with
    ``sample_rate`` set the blocks are resampled as they come (:func:`resample_stream`), and together they equal
    ``read_audio(path, sample_rate, channels)``.

    Raises:
        DataError: unreadable file, or NaN/Inf in a block.
    """
    _, rate, _ = audio_info(path)
    if block_samples < 1:
        raise DataError(f"block_samples must be >= 1, got {block_samples}")
    blocks = _file_blocks(path, block_samples, channels)
    yield from blocks if sample_rate is None else resample_stream(blocks, rate, sample_rate)


def _file_blocks(path: str | os.PathLike, block_samples: int, channels: int | None) -> Iterator[Tensor]:
    import soundfile

    try:
        for block in soundfile.blocks(str(path), blocksize=block_samples, dtype="float32", always_2d=True):
            x = torch.from_numpy(block.T.copy())
            if not torch.isfinite(x).all():
                raise DataError(f"{path}: audio holds NaN or Inf")
            yield x if channels is None else convert_channels(x, channels)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - libsndfile errors on a truncated file surface mid-stream
        raise DataError(f"{path}: unreadable audio ({err})") from None


@extra_hint("writing audio")
def write_audio(path: str | os.PathLike, x: Tensor, sample_rate: int) -> None:
    """Write [C, S] in [-1, 1] (clipped) as a 16-bit file whose format follows the suffix (wav, flac, ogg),
    atomically."""
    import soundfile

    from omnitok.utils import atomic_path

    if x.ndim != 2:
        raise ShapeError(f"write_audio takes [C, S], got {tuple(x.shape)}")
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    formats = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
    if kind not in formats:
        raise DataError(f"{path}: write .wav, .flac or .ogg")
    subtype = "VORBIS" if kind == "ogg" else "PCM_16"
    data = x.detach().float().clamp(-1, 1).T.cpu().numpy()
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), data, sample_rate, format=formats[kind], subtype=subtype)


def rms_db(x: Tensor) -> float:
    """Root-mean-square level of a waveform in dB relative to full scale (-inf dB for digital silence)."""
    rms = float(x.float().pow(2).mean().sqrt())
    return -math.inf if rms == 0 else 20 * math.log10(rms)


def normalize_loudness(x: Tensor, target_db: float = -20.0, peak: float = 0.99) -> Tensor:
    """Scale x so its RMS level is ``target_db`` dBFS, then down (never up) so that |x| <= ``peak``.

    RMS level is a simple loudness proxy (no K-weighting or gating as in EBU R128)."""
    level = rms_db(x)
    if level == -math.inf:
        return x
    x = x * 10 ** ((target_db - level) / 20)
    top = float(x.abs().max())
    return x * (peak / top) if top > peak else x


def collate_audio(samples: list[dict]) -> dict:
    """Batch samples, dropping failed ones: ``{"audio": [B, C, S], "path": [...], "skipped": ["path: error"]}``.
    When every sample failed ``audio`` is ``torch.empty(0, 1, 0)``."""
    good = [s for s in samples if s.get("audio") is not None]
    skipped = [f"{s['path']}: {s.get('error', 'unknown error')}" for s in samples if s.get("audio") is None]
    if not good:
        return {"audio": torch.empty(0, 1, 0), "path": [], "skipped": skipped}
    shapes = {tuple(s["audio"].shape) for s in good}
    if len(shapes) > 1:
        raise ShapeError(f"cannot batch audio of different shapes {sorted(shapes)} (first: {good[0]['path']})")
    return {"audio": torch.stack([s["audio"] for s in good]), "path": [s["path"] for s in good], "skipped": skipped}


class AudioFolderDataset(Dataset):
    """Map-style dataset: item i is a segment of ``files[i]`` at ``sample_rate`` with ``channels`` channels.

    The segment's offset is drawn from ``(seed, epoch, i)`` alone (so resumed runs see the same segments); only the
    segment is decoded. Files shorter than a segment are zero-padded on the right. A segment quieter than
    ``silence_db`` is redrawn up to ``attempts`` times; a file that stays silent (or cannot be read) becomes a
    failure sample, which training skips and counts.

    Args:
        files: audio paths.
        sample_rate: rate of the returned waveforms (files are resampled).
        channels: 1 (mono, channel mean) or 2 (stereo).
        segment_seconds: length of each sample; None returns whole files (batch size 1 or equal lengths only).
        random_segment: random offsets (training) or the start of the file (validation).
        normalize_db: RMS level in dBFS each segment is normalized to, or None to keep the recorded level.
        silence_db: segments below this RMS level count as silent.
        seed: segment offsets.
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        sample_rate: int,
        channels: int = 1,
        segment_seconds: float | None = 1.0,
        random_segment: bool = True,
        normalize_db: float | None = -20.0,
        silence_db: float = -60.0,
        seed: int = 0,
        attempts: int = 5,
    ):
        if channels not in (1, 2):
            raise ShapeError(f"audio channels must be 1 or 2, got {channels}")
        self.files = [str(f) for f in files]
        self.sample_rate, self.channels, self.segment_seconds = sample_rate, channels, segment_seconds
        self.random_segment, self.normalize_db, self.silence_db = random_segment, normalize_db, silence_db
        self.seed, self.attempts, self.epoch = seed, attempts, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    @property
    def segment_samples(self) -> int | None:
        return None if self.segment_seconds is None else round(self.segment_seconds * self.sample_rate)

    def __getitem__(self, index: int) -> dict:
        return self.sample(self.files[index], torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index)))

    def sample(self, path: str | os.PathLike, generator: torch.Generator) -> dict:
        """The segment sample of the file ``path`` under this dataset's settings, its offsets drawn from
        ``generator``; a failure sample if the file cannot be used."""
        path = str(path)
        try:
            return {"audio": self._load(path, generator), "path": path}
        except DataError as err:
            return {"audio": None, "path": path, "error": str(err).removeprefix(f"{path}: ")}

    def _load(self, path: str, generator: torch.Generator) -> Tensor:
        frames, rate, _ = audio_info(path)
        duration = frames / rate
        for _ in range(self.attempts if self.random_segment else 1):
            start = 0.0
            if self.segment_seconds is not None and self.random_segment and duration > self.segment_seconds:
                start = float(torch.rand((), generator=generator)) * (duration - self.segment_seconds)
            x = read_audio(path, self.sample_rate, self.channels, start=start, seconds=self.segment_seconds)
            if rms_db(x) >= self.silence_db:
                break
        else:  # every drawn segment was silent
            raise DataError(f"{path}: silent (RMS below {self.silence_db} dBFS)")
        if self.segment_samples is not None:
            x = torch.nn.functional.pad(x, (0, max(0, self.segment_samples - x.shape[-1])))[:, : self.segment_samples]
        if self.normalize_db is not None:
            x = normalize_loudness(x, self.normalize_db)
        return x.float()
