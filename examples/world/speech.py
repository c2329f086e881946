"""The world's captions spoken: espeak-ng speech for every scene, and a judge that hears which caption was said.

Each scene's caption is spoken by espeak-ng in one *voice variant* (voice, speed, pitch) chosen by the scene's seed.
Training scenes use :data:`TRAIN_VARIANTS`; held-out ("val" / "test") scenes use :data:`HELDOUT_VARIANTS`, speeds and
pitches training never hears, so the speech -> caption direction is measured on new renderings of the words, as the
image direction is on new renderings of the scenes. Every utterance is cut or zero-padded to ``seconds`` (2.56 s by
default: 32 token frames of a 12.5 Hz codec), 16 kHz mono in [-1, 1].

The 48 captions x the variants are synthesised once per :class:`SpeechBank` (about 60 ms each) and kept in memory
and, given a file, in a safetensors cache.

:class:`SpeechJudge` reads the caption's attributes (shape, colour, cell) from a log-mel spectrogram; it is trained
on true speech of the training variants only and scored on held-out variants, and later reads the speech the unified
model generates (never the model's own understanding pass).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from examples.world.scenes import ATTRIBUTES, NUM_CLASSES, Split, World
from omnitok.data.images import mix_seed
from omnitok.errors import ConfigError, DataError, ShapeError

SAMPLE_RATE = 16_000


@dataclasses.dataclass(frozen=True)
class Voice:
    """An espeak-ng rendering: voice name, words per minute, pitch (0-99)."""

    name: str
    speed: int
    pitch: int


TRAIN_VARIANTS: tuple[Voice, ...] = tuple(
    Voice(n, s, p) for n, s, p in itertools.product(("en-us", "en-gb", "en-gb-x-rp"), (165, 190), (40, 60))
)
HELDOUT_VARIANTS: tuple[Voice, ...] = tuple(
    Voice(n, s, p) for n, s, p in itertools.product(("en-us", "en-gb", "en-gb-x-rp"), (178,), (30, 50, 70))
)


def variants(split: Split) -> tuple[Voice, ...]:
    return TRAIN_VARIANTS if split == "train" else HELDOUT_VARIANTS


def speak(text: str, voice: Voice, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """``text`` spoken by espeak-ng in ``voice``: float [1, S] in [-1, 1] at ``sample_rate``.

    Raises:
        DataError: espeak-ng is not installed or fails.
    """
    from omnitok.data.audio import read_audio
    from omnitok.data.speech import espeak_available

    if not espeak_available():
        raise DataError("spoken captions need espeak-ng (Debian: apt-get install -y espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        command = ["espeak-ng", "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch), "-w", str(raw), text]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0 or not raw.exists():
            raise DataError(f"espeak-ng failed on {text!r} ({voice}): {result.stderr.strip()}")
        return read_audio(raw, sample_rate, 1)


class SpeechBank:
    """Fixed-length utterances of (caption, voice), synthesised once: float [1, round(seconds * rate)].

    Args:
        seconds: every utterance is cut or zero-padded to this length.
        cache: a safetensors file the bank reads on creation (when it exists) and :meth:`save` writes.
    """

    def __init__(self, seconds: float = 2.56, sample_rate: int = SAMPLE_RATE, cache: str | os.PathLike | None = None):
        if seconds <= 0:
            raise ConfigError(f"seconds must be > 0, got {seconds}")
        self.samples, self.sample_rate = round(seconds * sample_rate), sample_rate
        self.cache = Path(cache) if cache is not None else None
        self._waves: dict[str, Tensor] = {}
        if self.cache is not None and self.cache.is_file():
            from safetensors.torch import load_file

            self._waves = dict(load_file(str(self.cache)))

    @staticmethod
    def _key(text: str, voice: Voice) -> str:
        return f"{voice.name}|{voice.speed}|{voice.pitch}|{text}"

    def __call__(self, text: str, voice: Voice) -> Tensor:
        key = self._key(text, voice)
        if key not in self._waves:
            wave = speak(text, voice, self.sample_rate)[:, : self.samples]
            self._waves[key] = F.pad(wave, (0, self.samples - wave.shape[-1])).contiguous()
        return self._waves[key]

    def save(self) -> None:
        """Write the utterances made so far to ``cache`` (atomically)."""
        from safetensors.torch import save_file

        from omnitok.utils import atomic_path

        if self.cache is None:
            raise ConfigError("this SpeechBank has no cache file")
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.cache) as tmp:
            save_file(self._waves, str(tmp))


class WorldSpeech(Dataset):
    """The spoken captions of ``count`` scenes of one split (the scenes :class:`~examples.world.scenes.WorldScenes`
    renders): item i -> ``{"audio": float [1, S], "caption": str, "labels": LongTensor [3], "voice": Voice}``.

    Attributes:
        waves: float [N, 1, S]; labels: LongTensor [N, 3]; captions: list[str]; voices: list[Voice].
    """

    def __init__(self, world: World, split: Split, count: int, bank: SpeechBank) -> None:
        if count < 0:
            raise ConfigError(f"count must be >= 0, got {count}")
        scenes = [world.scene(split, i) for i in range(count)]
        pool = variants(split)
        self.captions = [s.caption for s in scenes]
        self.voices = [pool[mix_seed("world-voice", s.seed) % len(pool)] for s in scenes]
        self.labels = torch.stack([s.labels() for s in scenes]) if count else torch.zeros(0, 3, dtype=torch.long)
        self.waves = (
            torch.stack([bank(c, v) for c, v in zip(self.captions, self.voices)])
            if count
            else torch.zeros(0, 1, bank.samples)
        )
        self.split, self.sample_rate = split, bank.sample_rate

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> dict:
        return {
            "audio": self.waves[index],
            "caption": self.captions[index],
            "labels": self.labels[index],
            "voice": self.voices[index],
        }


def write_speech_files(speech: WorldSpeech, folder: Path) -> Path:
    """Each utterance as ``NNNNNN.wav`` (16-bit PCM) with its caption in ``NNNNNN.txt``; returns ``folder``."""
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    for index, (wave, caption) in enumerate(zip(speech.waves, speech.captions)):
        soundfile.write(str(folder / f"{index:06d}.wav"), wave[0].numpy(), speech.sample_rate, subtype="PCM_16")
        (folder / f"{index:06d}.txt").write_text(caption + "\n", encoding="utf-8")
    return folder


class SpeechJudge(nn.Module):
    """Log-mel CNN: waveform [B, 1, S] in [-1, 1] at 16 kHz -> logits per attribute (shape, colour, cell).

    A 40-band log-mel spectrogram (32 ms windows, 16 ms hop), three stride-2 3x3 convolutions, then attention
    pooling over time (the words may sit anywhere in the utterance) and one linear head per attribute.
    """

    def __init__(self, width: int = 32, sample_rate: int = SAMPLE_RATE) -> None:
        super().__init__()
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate, n_fft=512, hop_length=256, n_mels=40, f_min=50.0, f_max=sample_rate / 2
        )
        layers: list[nn.Module] = []
        channels = 1
        for i in range(3):
            layers += [nn.Conv2d(channels, width * 2**i, 3, stride=2, padding=1)]
            layers += [nn.GroupNorm(8, width * 2**i), nn.GELU()]
            channels = width * 2**i
        self.features = nn.Sequential(*layers)
        hidden = channels * 5  # channels x the 5 mel rows left after three stride-2 steps
        self.attend = nn.Linear(hidden, 1)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in NUM_CLASSES.items()})

    def forward(self, audio: Tensor) -> dict[str, Tensor]:
        if audio.ndim != 3 or audio.shape[1] != 1:
            raise ShapeError(f"the speech judge reads waveforms [B, 1, S], got {tuple(audio.shape)}")
        spectrum = (self.mel(audio.float()) + 1e-5).log()  # [B, 1, 40, frames]
        spectrum = (spectrum - spectrum.mean(dim=(2, 3), keepdim=True)) / 4.0
        hidden = self.features(spectrum)  # [B, 4w, 5, frames / 8]
        hidden = hidden.flatten(1, 2).transpose(1, 2)  # [B, T', 20w]
        weights = self.attend(hidden).softmax(dim=1)  # [B, T', 1]
        pooled = (weights * hidden).sum(dim=1)
        return {name: head(pooled) for name, head in self.heads.items()}

    @torch.no_grad()
    def read(self, audio: Tensor, batch_size: int = 128) -> Tensor:
        """Predicted class per attribute: LongTensor [B, 3] in :data:`ATTRIBUTES` order."""
        was_training = self.training
        self.eval()
        out = []
        for start in range(0, audio.shape[0], batch_size):
            logits = self(audio[start : start + batch_size])
            out.append(torch.stack([logits[a].argmax(-1) for a in ATTRIBUTES], dim=-1))
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, 3, dtype=torch.long)


@dataclasses.dataclass
class SpeechJudgeResult:
    judge: SpeechJudge
    heldout_accuracy: dict[str, float]  # per attribute and "exact", on held-out voice variants
    train_utterances: int
    heldout_utterances: int
    steps: int
    seconds: float


def train_speech_judge(
    world: World,
    bank: SpeechBank,
    train_utterances: int = 1024,
    heldout_utterances: int = 256,
    steps: int = 300,
    batch_size: int = 32,
    width: int = 32,
    learning_rate: float = 2e-3,
    noise: float = 0.01,
    seed: int = 0,
) -> SpeechJudgeResult:
    """Train a :class:`SpeechJudge` on true speech of training scenes (with white noise up to ``noise`` RMS and a
    random shift, so decoded speech does not throw it) and score it on held-out ("val") scenes spoken in held-out voice variants."""
    from examples.world.judge import attribute_accuracy

    start = time.perf_counter()
    train = WorldSpeech(world, "train", train_utterances, bank)
    heldout = WorldSpeech(world, "val", heldout_utterances, bank)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    judge = SpeechJudge(width, bank.sample_rate)
    optimizer = torch.optim.AdamW(judge.parameters(), lr=learning_rate, weight_decay=1e-4)
    for step in range(steps):
        index = torch.randint(0, len(train), (batch_size,), generator=generator)
        audio = train.waves[index]
        shift = int(torch.randint(-1600, 1601, (), generator=generator))  # +-0.1 s
        level = noise * torch.rand(audio.shape[0], 1, 1, generator=generator)  # from clean to ``noise`` per clip
        audio = torch.roll(audio, shift, dims=-1) + level * torch.randn(audio.shape, generator=generator)
        logits = judge(audio)
        loss = sum(F.cross_entropy(logits[a], train.labels[index, i]) for i, a in enumerate(ATTRIBUTES))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    accuracy = attribute_accuracy(judge.read(heldout.waves), heldout.labels)
    return SpeechJudgeResult(judge.eval(), accuracy, len(train), len(heldout), steps, time.perf_counter() - start)
