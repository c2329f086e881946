"""``AudioDataModule``: an audio folder, or speech generated at run time, behind one Lightning DataModule.

Batches are ``{"audio": [B, C, S] in [-1, 1], "path": [...], "skipped": [...]}`` (set the trainer's
``media_key: audio``). Training segments come from the same endless, step-indexed sampler as images, so resumed
runs see exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from omnitok.config import Configurable
from omnitok.errors import ConfigError, DataError
from omnitok.trainers.data import EpochIndexed, PackedStream, is_packed, make_loader, step_indexed_sampler

GENERATED = "generated"


class AudioDataModule(pl.LightningDataModule, Configurable):
    """Audio for tokenizer training.

    Args:
        root: a folder searched recursively for wav/flac/ogg/mp3, or ``"generated"``: ``generated_clips`` speech
            clips made at run time (espeak-ng when installed, else harmonic chirps; see ``omnitok.data.speech``)
            in ``generated_folder``; or packed shards (``omnitok data pack``; their folder or ``s3://`` / ``gs://``
            URL), streamed with litdata (:mod:`omnitok.trainers.streaming`; no held-out split: give ``val_root``).
        sample_rate: rate of the training waveforms (files are resampled).
        channels: 1 (mono) or 2 (stereo).
        segment_seconds: length of each training segment (random offsets).
        batch_size: per device.
        num_workers: DataLoader worker processes.
        val_fraction: share of files held out (a stable split by path hash); validation uses each held-out file's
            first ``val_segment_seconds``.
        val_root: a separate validation folder or packed shards (then ``val_fraction`` is unused).
        max_val_samples: cap on validation clips per round.
        normalize_db: RMS level (dBFS) segments are normalized to, or None.
        seed: data order, segment offsets, generated clips.
        generated_clips, generated_engine, generated_folder: the generated-speech set ("auto" | "espeak" | "chirp";
            the folder defaults to a per-settings cache folder in the system's temp dir).
        heldout_clips: generated speech only: clips of other sentences, voices and speeds (seed + 1,000,000, in
            ``<folder>-heldout``) that the held-out report scores before and after training. A folder's held-out
            set is its validation split.
    """

    def __init__(
        self,
        root: str = GENERATED,
        sample_rate: int = 16_000,
        channels: int = 1,
        segment_seconds: float = 1.0,
        batch_size: int = 16,
        num_workers: int = 2,
        val_fraction: float = 0.1,
        val_root: str | None = None,
        val_segment_seconds: float = 2.0,
        max_val_samples: int = 32,
        normalize_db: float | None = -20.0,
        seed: int = 0,
        generated_clips: int = 200,
        generated_engine: Literal["auto", "espeak", "chirp"] = "auto",
        generated_folder: str | None = None,
        heldout_clips: int = 16,
    ):
        super().__init__()
        if channels not in (1, 2):
            raise ConfigError(f"channels must be 1 or 2, got {channels}")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if segment_seconds <= 0:
            raise ConfigError(f"segment_seconds must be positive, got {segment_seconds}")
        self.root, self.sample_rate, self.channels, self.segment_seconds = str(root), sample_rate, channels, segment_seconds
        self.batch_size, self.num_workers, self.val_fraction, self.val_root = batch_size, num_workers, val_fraction, val_root
        self.val_segment_seconds, self.max_val_samples = val_segment_seconds, max_val_samples
        self.normalize_db, self.seed = normalize_db, seed
        self.generated_clips, self.generated_engine, self.generated_folder = generated_clips, generated_engine, generated_folder
        self.heldout_clips = heldout_clips
        self.engine: str | None = None
        self.train_data: Any = None
        self.val_data: Any = None
        self.test_data: Any = None  # held-out clips: generated with other sentences, or the validation files
        self.stream = PackedStream()

    def files(self) -> list[Path]:
        """The audio files behind ``root`` (generating the speech set first when ``root`` is "generated")."""
        from omnitok import data

        if self.root != GENERATED:
            return data.list_audio_files(self.root)
        paths, self.engine = data.generate_speech(
            self._folder(), self.generated_clips, self.sample_rate, self.seed, engine=self.generated_engine
        )
        return paths

    def _folder(self) -> Path:
        if self.root != GENERATED:
            return Path(self.root)
        return Path(self.generated_folder) if self.generated_folder else self._cache_folder()

    def _cache_folder(self) -> Path:
        from omnitok.data.speech import espeak_available

        engine = self.generated_engine if self.generated_engine != "auto" else ("espeak" if espeak_available() else "chirp")
        key = hashlib.sha256(f"{engine}-{self.sample_rate}-{self.seed}".encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"omnitok-speech-{key}"

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is not None:
            return
        from omnitok import data

        if is_packed(self.root) or is_packed(self.val_root):
            self._setup_packed()
            return
        files = self.files()
        if self.val_root:
            train, val = files, data.list_audio_files(self.val_root)
        else:
            train, val = data.split_files(files, self.val_fraction, self.seed, root=self._folder())
        if not train:
            raise DataError(f"{self.root}: every file fell into the validation split; lower val_fraction")
        common = {"sample_rate": self.sample_rate, "channels": self.channels, "normalize_db": self.normalize_db}
        self.train_data = data.AudioFolderDataset(train, segment_seconds=self.segment_seconds, seed=self.seed, **common)
        if val:
            self.val_data = self._fixed_segments(val[: self.max_val_samples], common)
        heldout = self._heldout_files() if self.root == GENERATED else val
        if heldout:
            self.test_data = self._fixed_segments(heldout, common)

    def _setup_packed(self) -> None:
        """Packed shards as training and/or validation data (the other one may be a folder)."""
        from omnitok import data
        from omnitok.trainers.streaming import FileBytes, PackedFiles

        common = {"sample_rate": self.sample_rate, "channels": self.channels, "normalize_db": self.normalize_db}
        segments = data.AudioFolderDataset([], segment_seconds=self.segment_seconds, seed=self.seed, **common)
        if is_packed(self.root):
            self.train_data = FileBytes(segments, self.seed)  # the loader streams; this decodes
        else:
            self.train_data = data.AudioFolderDataset(
                self.files(), segment_seconds=self.segment_seconds, seed=self.seed, **common
            )
        if is_packed(self.val_root):
            decode = FileBytes(self._fixed_segments([], common), self.seed)
            self.val_data = self.test_data = PackedFiles(str(self.val_root), decode, limit=self.max_val_samples)
        elif self.val_root:
            files = data.list_audio_files(self.val_root)[: self.max_val_samples]
            self.val_data = self.test_data = self._fixed_segments(files, common)

    def _fixed_segments(self, files: list[Path], common: dict[str, Any]) -> Any:
        """Each file's first ``val_segment_seconds`` (validation and the held-out report)."""
        from omnitok import data

        return data.AudioFolderDataset(files, segment_seconds=self.val_segment_seconds, random_segment=False, **common)

    def _heldout_files(self) -> list[Path]:
        """Generated held-out speech: its own seed (other sentences, voices, speeds) and folder, same engine."""
        from omnitok import data

        if self.heldout_clips < 1:
            return []
        folder = self._folder().with_name(self._folder().name + "-heldout")
        engine = self.engine or self.generated_engine
        paths, _ = data.generate_speech(folder, self.heldout_clips, self.sample_rate, self.seed + 1_000_000, engine=engine)
        return paths

    def _loader(self, dataset: Any, **kwargs: Any) -> DataLoader:
        from omnitok.data import collate_audio

        return make_loader(dataset, self.batch_size, self.num_workers, collate_audio, **kwargs)

    def train_dataloader(self) -> DataLoader:
        if is_packed(self.root):
            from omnitok.data import collate_audio

            return self.stream.train_loader(self, self.root, self.train_data, collate_audio)
        return self._loader(EpochIndexed(self.train_data), sampler=step_indexed_sampler(self, len(self.train_data)))

    def state_dict(self) -> dict[str, Any]:
        """The packed-shards loader's position (saved in checkpoints); empty otherwise (the position is the step)."""
        return self.stream.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.stream.load_state_dict(state_dict)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_data is None else self._loader(self.val_data)

    def test_dataloader(self) -> DataLoader | list:
        """Held-out clips, each from its start (generated: other sentences; a folder: the validation files)."""
        return [] if self.test_data is None else self._loader(self.test_data)

    def describe(self) -> str:
        if self.root == GENERATED:
            return f"{self.generated_clips} generated speech clips ({self.engine or self.generated_engine})"
        if is_packed(self.root):
            return f"packed audio {self.root}"
        return f"audio folder {self.root}"
