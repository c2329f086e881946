"""The audio evaluation set: a folder of audio files (or generated speech), prepared by one pinned policy.

Policy: each file is decoded with :func:`omnitok.data.read_audio`, converted to the tokenizer's channels (mono is
the channel mean) and resampled to its sample rate (torchaudio's windowed sinc); the clip is the file's first
``seconds`` seconds, and a shorter file is padded with silence on the right to that length (its real length is
kept in ``lengths``). The recorded level is kept (no loudness normalization), so the numbers describe the files as
they are. The fingerprint hashes the policy and every used file's relative path and bytes.

``"generated"`` writes ``generated_clips`` speech clips (:func:`omnitok.data.generate_speech`: espeak-ng when
installed, harmonic chirps otherwise) into a temporary folder, deterministic by seed; the engine is part of the
policy and therefore of the fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from omnitok.errors import ConfigError, ShapeError
from omnitok.evaluation.sets import check_modality
from omnitok.protocol import TokenizerSpec

GENERATED = "generated"
AUDIO_POLICY = (
    "first {seconds:g} s of each file, {channels} channel(s) (mono = channel mean), resampled to {rate} Hz "
    "(torchaudio windowed sinc); shorter files padded with silence on the right; level kept as recorded"
)


@dataclasses.dataclass
class EvalAudio:
    """clips: float32 [N, C, S] in [-1, 1] at ``sample_rate``; lengths: samples of real audio per clip (the rest is
    padding); names: one per clip (path relative to the root); fingerprint: SHA-256."""

    clips: Tensor
    names: list[str]
    root: str
    sample_rate: int
    seconds: float
    fingerprint: str
    lengths: list[int]
    skipped: list[str] = dataclasses.field(default_factory=list)
    engine: str | None = None
    modality = "audio"
    unit = "clips"
    scale = (-1.0, 1.0)

    def __len__(self) -> int:
        return self.clips.shape[0]

    @property
    def channels(self) -> int:
        return self.clips.shape[1]

    @property
    def sample_shape(self) -> tuple[int]:
        return (self.clips.shape[-1],)

    def batch(self, start: int, stop: int) -> Tensor:
        return self.clips[start:stop].float()

    def select(self, indices: list[int]) -> Tensor:
        return self.clips[list(indices)].float()

    def stored(self, indices: list[int]) -> Tensor:
        return self.clips[list(indices)]

    def store(self, x: Tensor) -> Tensor:
        return x.float().clamp(-1.0, 1.0)

    def describe(self) -> str:
        source = f"generated speech ({self.engine})" if self.root == GENERATED else self.root
        return f"{len(self)} clips of {self.seconds:g} s from {source} at {self.sample_rate} Hz"

    def check(self, spec: TokenizerSpec, name: str) -> None:
        check_modality(spec, name, self)
        if spec.sample_rate != self.sample_rate:
            raise ConfigError(
                f"{name} works at {spec.sample_rate} Hz; this evaluation set was prepared at {self.sample_rate} Hz "
                "(compare tokenizers of one sample rate)"
            )
        if spec.channels != self.channels:
            raise ConfigError(f"{name} takes {spec.channels} channel(s); the evaluation clips have {self.channels}")
        try:
            spec.grid(self.sample_shape)
        except ShapeError as err:
            raise ShapeError(
                f"{name} cannot take clips of {self.sample_shape[0]} samples ({err}); choose --seconds so that its "
                f"hop ({spec.downsample[0]} samples) divides the length"
            ) from None

    def protocol_fields(self) -> dict:
        policy = AUDIO_POLICY.format(seconds=self.seconds, channels=self.channels, rate=self.sample_rate)
        if self.engine:
            policy += f"; generated speech engine: {self.engine}"
        details = {
            "sample_rate": self.sample_rate,
            "seconds": self.seconds,
            "channels": self.channels,
            "samples_per_clip": self.sample_shape[0],
        }
        return {"resolution": None, "policy": policy, "details": details}


def load_eval_audio(
    root: str | os.PathLike,
    sample_rate: int,
    channels: int = 1,
    seconds: float = 3.0,
    max_samples: int | None = None,
    seed: int = 0,
    skip_unreadable: bool = False,
    generated_clips: int = 16,
) -> EvalAudio:
    """Read the audio evaluation set from a folder (wav/flac/ogg/mp3, searched recursively) or ``"generated"``.

    Args:
        sample_rate, channels: the tokenizer's input format (the set is prepared for it).
        seconds: length of every clip (see the module docstring for trimming and padding).
        max_samples: use at most this many files, a subset drawn with ``seed``.
        seed: the subset, and the generated sentences/voices.
        skip_unreadable: leave out unreadable or empty files (listed in ``skipped``) instead of failing.
        generated_clips: how many clips ``"generated"`` makes (before ``max_samples``).

    Raises:
        DataError: missing or empty folder, or an unreadable file (unless ``skip_unreadable``).
    """
    from omnitok.data import list_audio_files
    from omnitok.evaluation.data import choose_subset

    if seconds <= 0:
        raise ConfigError(f"seconds must be positive, got {seconds}")
    if channels not in (1, 2):
        raise ConfigError(f"audio channels must be 1 or 2, got {channels}")
    if str(root) == GENERATED:
        from omnitok.data import generate_speech

        with tempfile.TemporaryDirectory(prefix="omnitok-eval-speech-") as folder:
            _, engine = generate_speech(folder, generated_clips, sample_rate, seed)
            files = choose_subset(list_audio_files(folder), max_samples, seed)
            data = _read(Path(folder), files, sample_rate, channels, seconds, skip_unreadable, engine)
        data.root = GENERATED
        return data
    root = Path(root)
    files = choose_subset(list_audio_files(root), max_samples, seed)
    return _read(root, files, sample_rate, channels, seconds, skip_unreadable, None)


def _read(
    root: Path, files: list[Path], rate: int, channels: int, seconds: float, skip: bool, engine: str | None
) -> EvalAudio:
    from omnitok.data import read_audio
    from omnitok.evaluation.data import read_files

    length = round(seconds * rate)
    policy = AUDIO_POLICY.format(seconds=seconds, channels=channels, rate=rate)
    digest = hashlib.sha256(f"{policy}\n{engine or ''}\n".encode())
    clips, names, skipped = read_files(
        root,
        files,
        digest,
        lambda path, _: read_audio(path, rate, channels, seconds=seconds)[:, :length],
        lambda x: x,
        "audio files",
        skip,
    )
    lengths = [x.shape[-1] for x in clips]
    clips = [torch.nn.functional.pad(x, (0, length - x.shape[-1])) for x in clips]
    return EvalAudio(torch.stack(clips), names, str(root), rate, seconds, digest.hexdigest(), lengths, skipped, engine)


def clips_from_tensors(
    clips: Tensor, sample_rate: int, names: list[str] | None = None, root: str = "tensors"
) -> EvalAudio:
    """An evaluation set from waveforms [N, C, S] in [-1, 1] already at ``sample_rate`` (fingerprint of the values)."""
    if clips.ndim != 3 or not clips.is_floating_point():
        raise ShapeError(f"clips must be float [N, C, S], got {tuple(clips.shape)} {clips.dtype}")
    names = names or [f"clip_{i:04d}" for i in range(clips.shape[0])]
    digest = hashlib.sha256(f"tensors at {sample_rate} Hz\n".encode())
    digest.update(clips.float().contiguous().numpy().tobytes())
    n = clips.shape[-1]
    return EvalAudio(clips.float(), names, root, sample_rate, n / sample_rate, digest.hexdigest(), [n] * len(names))
