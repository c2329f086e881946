"""Audio reading (wav/flac/ogg/mp3), resampling, channels, segments, loudness, failures, generated speech."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from omnitok import DataError
from omnitok.data import (
    AudioFolderDataset,
    collate_audio,
    generate_speech,
    harmonic_chirp,
    list_audio_files,
    normalize_loudness,
    read_audio,
    write_audio,
)
from omnitok.data.audio import resample_stream, rms_db, stream_audio
from omnitok.data.speech import espeak_available


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.mark.parametrize("suffix, tolerance", [(".wav", 1e-4), (".flac", 1e-4), (".ogg", 0.05), (".mp3", 0.05)])
def test_formats_read_back(tmp_path, suffix, tolerance):
    wave = sine(440, 0.5, 16_000)
    path = tmp_path / f"a{suffix}"
    soundfile.write(str(path), wave, 16_000)
    x = read_audio(path)
    assert x.dtype == torch.float32 and x.shape[0] == 1
    n = min(x.shape[-1], len(wave))
    if suffix in (".wav", ".flac"):
        assert x.shape[-1] == len(wave) and torch.allclose(x[0], torch.from_numpy(wave), atol=tolerance)
    else:  # lossy codecs: same level, close length
        assert (
            abs(x.shape[-1] - len(wave)) < 0.1 * len(wave)
            and abs(rms_db(x[:, :n]) - rms_db(torch.from_numpy(wave))) < 1.0
        )


def test_resampling_keeps_the_tone(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), sine(440, 1.0, 22_050), 22_050)
    x = read_audio(path, sample_rate=16_000)
    assert x.shape == (1, 16_000)
    expected = torch.from_numpy(sine(440, 1.0, 16_000))
    assert torch.allclose(x[0, 100:-100], expected[100:-100], atol=5e-3)  # a sine resampled is the same sine


def test_channels_and_spans(tmp_path):
    left, right = sine(300, 1.0, 8000), sine(500, 1.0, 8000, 0.25)
    path = tmp_path / "stereo.flac"
    soundfile.write(str(path), np.stack([left, right], 1), 8000)
    stereo = read_audio(path)
    assert stereo.shape == (2, 8000)
    mono = read_audio(path, channels=1)
    assert torch.allclose(mono[0], (stereo[0] + stereo[1]) / 2)
    mono_path = tmp_path / "mono.wav"
    soundfile.write(str(mono_path), left, 8000)
    duplicated = read_audio(mono_path, channels=2)
    assert duplicated.shape == (2, 8000) and torch.equal(duplicated[0], duplicated[1])
    span = read_audio(path, start=0.25, seconds=0.5)
    assert span.shape == (2, 4000) and torch.allclose(span, stereo[:, 2000:6000])
    with pytest.raises(DataError, match="outside"):
        read_audio(path, start=3.0)


def test_loudness_normalization():
    x = torch.from_numpy(sine(200, 0.5, 8000, 0.01)).unsqueeze(0)
    y = normalize_loudness(x, -20.0)
    assert rms_db(y) == pytest.approx(-20.0, abs=1e-3)
    loud = normalize_loudness(torch.tensor([[0.0, 0.0, 0.0, 1.0]]), -3.0)  # the peak limit wins
    assert float(loud.abs().max()) == pytest.approx(0.99)
    assert torch.equal(normalize_loudness(torch.zeros(1, 10)), torch.zeros(1, 10))


def test_dataset_segments_failures_and_collate(tmp_path):
    soundfile.write(str(tmp_path / "long.wav"), sine(220, 3.0, 16_000), 16_000)
    soundfile.write(str(tmp_path / "short.wav"), sine(330, 0.2, 16_000), 16_000)
    soundfile.write(str(tmp_path / "silent.wav"), np.zeros(16_000, np.float32), 16_000)
    (tmp_path / "corrupt.flac").write_bytes(b"fLaC" + b"\x00" * 100)
    files = list_audio_files(tmp_path)
    assert [f.name for f in files] == ["corrupt.flac", "long.wav", "short.wav", "silent.wav"]
    data = AudioFolderDataset(files, sample_rate=8000, segment_seconds=0.5, seed=1)
    samples = [data[i] for i in range(len(files))]
    assert samples[0]["audio"] is None and "unreadable" in samples[0]["error"]
    assert samples[3]["audio"] is None and "silent" in samples[3]["error"]
    assert samples[1]["audio"].shape == (1, 4000) and samples[2]["audio"].shape == (1, 4000)  # short: zero-padded
    assert rms_db(samples[1]["audio"]) == pytest.approx(-20.0, abs=0.01)
    assert torch.equal(data[1]["audio"], samples[1]["audio"])  # offsets depend on (seed, epoch, index) only
    data.set_epoch(1)
    assert not torch.equal(data[1]["audio"], samples[1]["audio"])
    batch = collate_audio(samples)
    assert batch["audio"].shape == (2, 1, 4000) and len(batch["skipped"]) == 2
    assert collate_audio(samples[:1])["audio"].shape[0] == 0
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        list_audio_files(tmp_path / "nothing")


def test_write_audio_is_readable_and_clipped(tmp_path):
    x = torch.tensor([[0.0, 0.5, -2.0, 2.0]]).repeat(2, 100)
    write_audio(tmp_path / "out.wav", x, 8000)
    back = read_audio(tmp_path / "out.wav")
    assert back.shape == x.shape and float(back.abs().max()) <= 1.0
    with pytest.raises(DataError, match="wav"):
        write_audio(tmp_path / "out.aiff", x, 8000)


def test_harmonic_chirp_is_speech_like():
    x = harmonic_chirp(1.0, 16_000, seed=3)
    assert x.shape == (1, 16_000) and float(x.abs().max()) <= 0.5 + 1e-6
    spectrum = torch.fft.rfft(x[0]).abs()
    freqs = torch.fft.rfftfreq(16_000, 1 / 16_000)
    assert spectrum[freqs < 3000].sum() > 0.95 * spectrum.sum()  # energy where speech has it
    assert torch.equal(harmonic_chirp(1.0, 16_000, seed=3), x)


@pytest.mark.parametrize("engine", ["espeak", "chirp"])
def test_generated_speech(tmp_path, engine):
    if engine == "espeak" and not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng); the chirp fallback is tested")
    paths, used = generate_speech(tmp_path, 3, sample_rate=16_000, seed=0, engine=engine)
    assert used == engine and len(paths) == 3
    for path in paths:
        x = read_audio(path)
        assert soundfile.info(str(path)).samplerate == 16_000 and x.shape[-1] > 8000 and rms_db(x) > -40
    again, _ = generate_speech(tmp_path / "again", 1, sample_rate=16_000, seed=0, engine=engine)
    assert torch.equal(read_audio(again[0]), read_audio(paths[0]))  # the same seed gives the same clips


@pytest.mark.parametrize("source, target", [(44_100, 16_000), (16_000, 24_000), (48_000, 16_000), (22_050, 16_000)])
def test_block_wise_resampling_equals_whole_signal_resampling(source, target):
    import torchaudio

    torch.manual_seed(0)
    x = torch.randn(2, 3 * source // 10 + 17)  # 0.3 s and a ragged end
    whole = torchaudio.functional.resample(x, source, target)  # the reference: one call over the whole signal
    n = x.shape[-1]
    for sizes in ([n], [1, 7, 0, 500, 3000, n - 3508], [997] * (n // 997) + [n % 997]):
        parts = x.split(sizes, dim=-1)
        streamed = torch.cat(list(resample_stream(iter(parts), source, target)), dim=-1)
        assert streamed.shape == whole.shape, sizes
        assert torch.allclose(streamed, whole, atol=1e-5), sizes


def test_block_wise_resampling_holds_only_a_block_and_the_filter_reach():
    consumed = []

    def blocks():
        for i in range(100):  # 10 s at 44.1 kHz in 0.1 s blocks
            consumed.append(i)
            yield torch.randn(1, 4410)

    stream = resample_stream(blocks(), 44_100, 16_000)
    first = next(stream)
    assert len(consumed) == 1 and 1400 <= first.shape[-1] <= 1600  # out after one block: 0.1 s less the reach
    total = first.shape[-1] + sum(part.shape[-1] for part in stream)
    assert total == 160_000 and len(consumed) == 100


def test_stream_audio_resamples_long_files_block_by_block(tmp_path):
    path = tmp_path / "long.flac"
    soundfile.write(str(path), np.stack([sine(300, 2.0, 44_100), sine(500, 2.0, 44_100, 0.3)], 1), 44_100)
    whole = read_audio(path, 16_000, 1)
    blocks = list(stream_audio(path, 8192, channels=1, sample_rate=16_000))
    assert len(blocks) >= 10 and max(b.shape[-1] for b in blocks) < 8192
    assert torch.allclose(torch.cat(blocks, -1), whole, atol=1e-5)
    same_rate = torch.cat(list(stream_audio(path, 8192, channels=2)), -1)
    assert torch.equal(same_rate, read_audio(path, channels=2))
    with pytest.raises(DataError, match="block_samples"):
        next(stream_audio(path, 0))
