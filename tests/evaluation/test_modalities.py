"""Evaluation of audio and video tokenizers: data preparation, metrics on the conventional scale checked against
written-out formulas, the bitrate ladder, per-frame curves, and clear errors for mismatched data."""

import math

import numpy as np
import pytest
import soundfile
import torch

from omnitok import ConfigError, DataError, ShapeError
from omnitok.data import harmonic_chirp
from omnitok.evaluation import (
    NamedTokenizer,
    clips_from_tensors,
    evaluate,
    load_eval_audio,
    load_eval_images,
    load_eval_videos,
    videos_from_tensors,
)
from omnitok.metrics.audio import SISDR, MelDistance, STFTDistance
from tests.evaluation.toy_tokenizers import AudioLike, CausalFramePooling, FramePSNR, PoolingQuantizer, ResidualRounding


def _si_sdr(s, s_hat):
    """SI-SDR in dB, written out with numpy (zero-mean, optimal scaling of the reference)."""
    s, s_hat = s - s.mean(), s_hat - s_hat.mean()
    target = (s_hat @ s) / (s @ s) * s
    return 10 * math.log10((target @ target) / ((s_hat - target) @ (s_hat - target)))


@pytest.fixture(scope="module")
def speech():
    clips = torch.cat([harmonic_chirp(0.25, 8000, seed=s) for s in range(5)]).unsqueeze(1)  # (5, 1, 2000)
    return clips_from_tensors(clips, 8000)


def test_audio_metrics_see_the_waveforms_and_the_ladder_is_monotone(speech):
    tokenizer = ResidualRounding(num_levels=3, size=16, hop=4)
    run = evaluate(
        [NamedTokenizer("rvq", tokenizer)],
        speech,
        metrics=[SISDR(), MelDistance(), STFTDistance()],
        show=2,
        worst_k=2,
        ladder_samples=None,
    )
    result = run.results[0]
    recon = tokenizer.decode(tokenizer.encode(speech.clips)).clamp(-1, 1)
    want = [_si_sdr(o[0].double().numpy(), r[0].double().numpy()) for o, r in zip(speech.clips, recon)]
    np.testing.assert_allclose(result.per_sample["si_sdr"], want, rtol=1e-5)
    assert result.tokens["kbps"] == pytest.approx(3 * 4 * 8000 / 4 / 1000)  # 3 levels x log2(16) bits x 2000 frames/s
    ladder = result.ladder
    assert [r["levels"] for r in ladder] == [1, 2, 3]
    assert [r["kbps"] for r in ladder] == pytest.approx([8.0, 16.0, 24.0])
    assert ladder[0]["si_sdr"] < ladder[1]["si_sdr"] < ladder[2]["si_sdr"]  # each level refines the last
    assert ladder[0]["mel_distance"] > ladder[2]["mel_distance"]
    assert ladder[0]["baseline_si_sdr"] <= ladder[2]["baseline_si_sdr"]  # the baseline gets more bandwidth too
    assert ladder[-1]["si_sdr"] == pytest.approx(result.summary["si_sdr"], rel=1e-4)  # all levels = the main pass
    assert result.shown.shape == (2, 1, 2000) and result.shown.dtype == torch.float32
    assert run.protocol.modality == "audio" and run.protocol.details["sample_rate"] == 8000
    assert run.protocol.resolution is None


def test_audio_folder_is_resampled_trimmed_padded_and_fingerprinted(tmp_path):
    (tmp_path / "sub").mkdir()
    soundfile.write(str(tmp_path / "long.wav"), harmonic_chirp(0.6, 16000, seed=1)[0].numpy(), 16000)
    stereo = np.stack([harmonic_chirp(0.2, 8000, seed=2)[0].numpy()] * 2, 1)
    soundfile.write(str(tmp_path / "sub" / "short.flac"), stereo, 8000)
    data = load_eval_audio(tmp_path, sample_rate=8000, channels=1, seconds=0.5)
    assert data.names == ["long.wav", "sub/short.flac"] and data.clips.shape == (2, 1, 4000)
    assert data.lengths == [4000, 1600]
    assert data.clips[1, :, 1600:].abs().max() == 0  # padded with silence
    reference = torch.from_numpy(stereo.T.copy()).mean(0)
    assert torch.allclose(data.clips[1, 0, :1600], reference, atol=1e-4)
    first = data.fingerprint
    assert load_eval_audio(tmp_path, 8000, 1, 0.5).fingerprint == first
    assert load_eval_audio(tmp_path, 8000, 1, 0.25).fingerprint != first  # the policy is part of it
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + b"\0" * 20)
    with pytest.raises(DataError, match="broken.wav"):
        load_eval_audio(tmp_path, 8000, 1, 0.5)
    assert load_eval_audio(tmp_path, 8000, 1, 0.5, skip_unreadable=True).names == ["long.wav", "sub/short.flac"]


def test_mismatched_audio_gives_clear_errors(speech):
    with pytest.raises(ConfigError, match="works at 16000 Hz; this evaluation set was prepared at 8000 Hz"):
        evaluate([NamedTokenizer("speech", AudioLike())], speech, metrics=[SISDR()])
    with pytest.raises(ConfigError, match="image tokenizer; this evaluation set holds audio clips"):
        evaluate([NamedTokenizer("pool", PoolingQuantizer())], speech, metrics=[SISDR()])
    images = load_eval_images("builtin", resolution=32, max_samples=2)
    with pytest.raises(ConfigError, match="audio tokenizer; this evaluation set holds images"):
        evaluate([NamedTokenizer("rvq", ResidualRounding())], images, metrics=[SISDR()])
    stereo = clips_from_tensors(torch.zeros(2, 2, 800), 8000)
    with pytest.raises(ConfigError, match="takes 1 channel"):
        evaluate([NamedTokenizer("rvq", ResidualRounding())], stereo, metrics=[SISDR()])
    odd = clips_from_tensors(torch.zeros(2, 1, 801), 8000)
    with pytest.raises(ShapeError, match="clips of 801 samples"):
        evaluate([NamedTokenizer("rvq", ResidualRounding())], odd, metrics=[SISDR()])


@pytest.fixture(scope="module")
def moving():
    return load_eval_videos("generated", frames=5, resolution=16, generated_clips=4, seed=0)


def test_per_frame_curves_and_the_causal_first_frame(moving):
    run = evaluate([NamedTokenizer("causal", CausalFramePooling())], moving, metrics=[FramePSNR()], show=2, worst_k=1)
    result = run.results[0]
    x = moving.clips.double().numpy() / 255.0
    recon = (
        CausalFramePooling()
        .decode(CausalFramePooling().encode(torch.from_numpy(x).float()))
        .clamp(0, 1)
        .double()
        .numpy()
    )
    want = [[10 * math.log10(1 / ((o[:, t] - r[:, t]) ** 2).mean()) for t in range(5)] for o, r in zip(x, recon)]
    np.testing.assert_allclose(result.curves["psnr"], np.mean(want, 0), rtol=1e-4)
    np.testing.assert_allclose(result.per_sample["psnr"], np.mean(want, 1), rtol=1e-4)
    assert result.curves["psnr"][0] > max(result.curves["psnr"][1:])  # frame 0 is coded alone
    assert result.shown.shape == (2, 3, 5, 16, 16) and result.shown.dtype == torch.uint8
    assert result.tokens["latent_floats_per_pixel"] == pytest.approx(3 * 3 * 4 * 4 / (5 * 16 * 16))
    assert run.protocol.details == {"frames": 5, "fps": 8.0, "stride": 1}


def test_video_folder_and_errors(tmp_path):
    from omnitok.data import write_moving_shapes

    write_moving_shapes(tmp_path / "clips", 2, frames=4, size=24, fps=6.0)
    data = load_eval_videos(tmp_path / "clips", frames=5, resolution=16)  # 4-frame videos repeat their last frame
    assert data.clips.shape == (2, 3, 5, 16, 16) and data.fps == pytest.approx(6.0)
    assert torch.equal(data.clips[:, :, 4], data.clips[:, :, 3])
    again = load_eval_videos(tmp_path / "clips", frames=5, resolution=16)
    assert again.fingerprint == data.fingerprint and torch.equal(again.clips, data.clips)
    with pytest.raises(ShapeError, match="needs 1 \\+ a multiple of 2 frames"):
        evaluate(
            [NamedTokenizer("causal", CausalFramePooling())],
            videos_from_tensors(data.clips[:, :, :4]),
            metrics=[FramePSNR()],
        )
    with pytest.raises(ConfigError, match="video tokenizer; this evaluation set holds images"):
        evaluate(
            [NamedTokenizer("causal", CausalFramePooling())], load_eval_images("builtin", 32, 2), metrics=[FramePSNR()]
        )
    (tmp_path / "clips" / "broken.mp4").write_bytes(b"\0\0\0\x18ftypmp42 truncated")
    with pytest.raises(DataError, match="broken.mp4"):
        load_eval_videos(tmp_path / "clips", frames=5, resolution=16)
