"""What the evaluation runner needs from an evaluation set, whatever the modality.

A modality's definition builds its set (``Modality.eval_set``); three ship:
:class:`~omnitok.evaluation.data.EvalImages` (uint8 [N, 3, R, R]),
:class:`~omnitok.evaluation.audio_data.EvalAudio` (float32 [N, C, S] at one sample rate) and
:class:`~omnitok.evaluation.video_data.EvalVideos` (uint8 [N, 3, T, R, R]). The runner maps the set's media from
its *conventional scale* (what the metrics take: [0, 1] for pictures, [-1, 1] for waveforms) to each tokenizer's
own value range and back, and keeps shown reconstructions in the set's stored form (``store``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from omnitok.errors import ConfigError
from omnitok.protocol import Modality, TokenizerSpec
from omnitok.utils import to_uint8  # noqa: F401 (part of this module's API)


@runtime_checkable
class EvalSet(Protocol):
    """An evaluation set of one modality, prepared by one pinned policy and fingerprinted."""

    modality: Modality
    names: list[str]
    root: str
    fingerprint: str
    skipped: list[str]

    @property
    def unit(self) -> str:
        """What a sample is called in the report ("images", "clips")."""
        ...

    @property
    def scale(self) -> tuple[float, float]:
        """The conventional range of ``batch``'s values, the one the metrics take."""
        ...

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's axes without batch and channels, as ``spec.grid`` takes them."""
        ...

    def __len__(self) -> int: ...

    def batch(self, start: int, stop: int) -> Tensor:
        """Samples start..stop as float32 [B, C, *sample_shape] on the conventional scale."""
        ...

    def select(self, indices: list[int]) -> Tensor:
        """The samples at ``indices``, as ``batch`` gives them."""
        ...

    def stored(self, indices: list[int]) -> Tensor:
        """The samples at ``indices`` in stored form (what the report draws and plays)."""
        ...

    def store(self, x: Tensor) -> Tensor:
        """Media on the conventional scale [B, C, ...] -> stored form (uint8 pictures, float32 audio)."""
        ...

    def describe(self) -> str: ...

    def check(self, spec: TokenizerSpec, name: str) -> None:
        """Raise ConfigError/ShapeError unless a tokenizer of ``spec`` can take these samples as they are."""
        ...

    def protocol_fields(self) -> dict[str, Any]:
        """The set's part of the protocol: ``resolution`` (or None), ``policy`` (how files became samples) and
        ``details`` (modality-specific: sample rate, seconds, frames, fps, ...)."""
        ...


def check_modality(spec: TokenizerSpec, name: str, data: EvalSet) -> None:
    """ConfigError unless the tokenizer works on the set's modality."""
    if spec.modality != data.modality:
        from omnitok.modalities import get_modality

        holds = get_modality(data.modality).contents
        raise ConfigError(f"{name} is a {spec.modality} tokenizer; this evaluation set holds {holds}")
