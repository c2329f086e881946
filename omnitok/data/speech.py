"""Generated speech for tests and the audio quickstart: espeak-ng sentences, or harmonic chirps without it.

Nothing is downloaded or committed: :func:`generate_speech` writes the clips at run time into a folder. espeak-ng
(Debian package ``espeak-ng``) speaks random sentences with varied voices, pitch and speed; where it is absent,
:func:`harmonic_chirp` makes speech-like stand-ins (a gliding fundamental with harmonics under moving formant
peaks, syllable-rate envelope), so everything still runs, on easier material.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from omnitok.errors import DataError

WORDS = ["the", "a", "one", "two", "three", "red", "green", "blue", "small", "large", "quick", "slow", "river", "mountain", "window", "paper", "garden", "music", "table", "light", "morning", "evening", "yellow", "seven", "bright", "dark", "open", "close", "listen", "speak", "write", "number", "simple", "signal", "sound", "voice", "water", "stone", "cloud", "summer", "winter", "market", "station", "letter", "picture", "silver", "golden", "happy", "quiet", "strong"]
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-us+f3", "en-us+m3", "en-gb+f2", "en-us+m7", "en-gb+f4")


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is on PATH."""
    return shutil.which("espeak-ng") is not None


def random_sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def harmonic_chirp(seconds: float, sample_rate: int, seed: int) -> Tensor:
    """A speech-like stand-in [1, S] in [-1, 1]: 8 harmonics of a gliding f0 (90-260 Hz), shaped by two moving
    formant peaks, gated by a 3-6 Hz syllable envelope."""
    generator = torch.Generator().manual_seed(seed)
    rand = lambda low, high: low + (high - low) * float(torch.rand((), generator=generator))
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    f0 = rand(90, 180) * (1 + rand(0.1, 0.4) * torch.sin(2 * math.pi * rand(0.3, 1.5) * t + rand(0, 6)))
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    formants = [rand(400, 900) * (1 + 0.3 * torch.sin(2 * math.pi * rand(1, 4) * t)), rand(1100, 2400) + 0 * t]
    wave = torch.zeros_like(t)
    for k in range(1, 9):
        freq = k * f0
        gain = sum(torch.exp(-(((freq - f) / 250) ** 2)) for f in formants) + 0.05
        wave += gain * torch.sin(k * phase) / k
    envelope = torch.sin(math.pi * rand(3, 6) * t).abs() ** 0.5
    wave = wave * envelope
    return (0.5 * wave / wave.abs().max().clamp_min(1e-9)).float().unsqueeze(0)


def generate_speech(
    folder: str | os.PathLike,
    count: int,
    sample_rate: int = 16_000,
    seed: int = 0,
    words: tuple[int, int] = (4, 9),
    engine: str = "auto",
) -> tuple[list[Path], str]:
    """Write ``count`` mono clips ``speech_XXXX.wav`` at ``sample_rate`` into ``folder`` (existing ones are kept).

    Args:
        engine: "espeak" (error without espeak-ng), "chirp" (harmonic stand-ins) or "auto" (espeak when installed).

    Returns:
        (paths, engine used).
    """
    from omnitok.data.audio import read_audio, write_audio

    if engine == "auto":
        engine = "espeak" if espeak_available() else "chirp"
    if engine == "espeak" and not espeak_available():
        raise DataError("espeak-ng is not installed (Debian: apt-get install -y espeak-ng); use engine='chirp'")
    if engine not in ("espeak", "chirp"):
        raise DataError(f"engine must be 'auto', 'espeak' or 'chirp', got {engine!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        path = folder / f"speech_{i:04d}.wav"
        sentence = random_sentence(rng, rng.randint(*words))
        voice, speed, pitch = rng.choice(VOICES), rng.randint(130, 190), rng.randint(25, 75)
        if not path.exists():
            if engine == "espeak":
                with tempfile.TemporaryDirectory() as tmp:
                    raw = Path(tmp) / "raw.wav"
                    command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), sentence]
                    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
                    if result.returncode != 0 or not raw.exists():
                        raise DataError(f"espeak-ng failed: {result.stderr.strip()}")
                    write_audio(path, read_audio(raw, sample_rate, 1), sample_rate)
            else:
                seconds = 0.35 * len(sentence.split()) * 160 / speed
                write_audio(path, harmonic_chirp(seconds, sample_rate, seed * 100_003 + i), sample_rate)
        paths.append(path)
    return paths, engine
