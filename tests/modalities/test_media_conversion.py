"""``omnitok.preprocess`` / ``omnitok.postprocess``: user media in and out of tokenizers, per modality, checked
against conversions written out by hand with numpy and Pillow."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import write_png

import omnitok
from omnitok import TokenizerSpec
from omnitok.errors import ConfigError, DTypeError, NonFiniteError, ShapeError

IMAGE = TokenizerSpec(modality="image", discrete=True, codebook_sizes=(16,), latent_dim=4, downsample=(4, 4))
IMAGE_01 = TokenizerSpec(
    modality="image", discrete=True, codebook_sizes=(16,), latent_dim=4, downsample=(4, 4), value_range=(0, 1)
)
VIDEO = TokenizerSpec(modality="video", discrete=True, codebook_sizes=(16,), latent_dim=4, downsample=(1, 4, 4))
AUDIO = TokenizerSpec(
    modality="audio", discrete=True, codebook_sizes=(16,), latent_dim=4, downsample=(8,), channels=1, sample_rate=16_000
)


def _pixels(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _no_warnings(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


# -- images -----------------------------------------------------------------------------------------------------------
def test_every_image_kind_gives_the_pixels_mapped_to_the_range():
    a = _pixels(8, 12, 3)
    by_hand = torch.from_numpy(a.transpose(2, 0, 1).astype(np.float64) / 255 * 2 - 1).unsqueeze(0)  # [1, 3, 8, 12]
    kinds = [
        Image.fromarray(a),
        a,
        a[None],
        torch.from_numpy(a).permute(2, 0, 1),
        torch.from_numpy(a[None]).permute(0, 3, 1, 2),
    ]
    for media in kinds:
        x = _no_warnings(omnitok.preprocess, media, IMAGE)
        assert x.dtype == torch.float32 and x.shape == (1, 3, 8, 12)
        torch.testing.assert_close(x.double(), by_hand, atol=1e-6, rtol=0)
    x01 = omnitok.preprocess(a, IMAGE_01)
    torch.testing.assert_close(x01.double(), (by_hand + 1) / 2, atol=1e-6, rtol=0)
    batch = omnitok.preprocess([Image.fromarray(a), Image.fromarray(255 - a)], IMAGE)
    assert batch.shape == (2, 3, 8, 12) and torch.equal(batch[0], omnitok.preprocess(a, IMAGE)[0])
    grey = Image.fromarray(a[..., 0])  # converted to RGB by Pillow: three equal channels
    assert torch.equal(omnitok.preprocess(grey, IMAGE)[0, 1], omnitok.preprocess(grey, IMAGE)[0, 0])


def test_float_images_pass_through_and_warn_when_the_range_looks_wrong():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(_no_warnings(omnitok.preprocess, x, IMAGE), x)
    with pytest.warns(UserWarning, match=r"looks like \[0, 1\], but this tokenizer takes \[-1, 1\]"):
        omnitok.preprocess(torch.rand(3, 8, 8), IMAGE)
    with pytest.warns(UserWarning, match=r"looks like \[0, 255\] pixel values"):
        omnitok.preprocess(np.random.rand(8, 8, 3).astype(np.float32) * 255, IMAGE)
    with pytest.warns(UserWarning, match=r"reaches outside this tokenizer's range \[0, 1\]"):
        omnitok.preprocess(torch.rand(3, 8, 8) * 2 - 1, IMAGE_01)
    _no_warnings(omnitok.preprocess, torch.rand(3, 8, 8), IMAGE_01)  # [0, 1] is right for a [0, 1] tokenizer


def test_bad_images_are_named():
    with pytest.raises(ShapeError, match="4 channels"):
        omnitok.preprocess(_pixels(8, 8, 4), IMAGE)
    with pytest.raises(ShapeError, match=r"item 1 has shape \(3, 8, 12\)"):
        omnitok.preprocess([_pixels(8, 8, 3), _pixels(8, 12, 3)], IMAGE)
    with pytest.raises(ShapeError, match="multiple of 4"):
        omnitok.preprocess(_pixels(9, 8, 3), IMAGE)
    with pytest.raises(NonFiniteError):
        omnitok.preprocess(torch.full((3, 8, 8), float("nan")), IMAGE)
    with pytest.raises(DTypeError, match="int32"):
        omnitok.preprocess(np.zeros((8, 8, 3), dtype=np.int32), IMAGE)
    with pytest.raises(ConfigError, match="sample_rate applies"):
        omnitok.preprocess(_pixels(8, 8, 3), IMAGE, sample_rate=16_000)


def test_decoded_images_become_pixels_rounded_as_the_png_writer():
    decoded = torch.randn(2, 3, 8, 8) * 0.8  # some values past [-1, 1], as a decoder may give
    unit = np.clip((decoded.double().numpy() + 1) / 2, 0, 1)
    by_hand = np.floor(unit * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)  # round half up, [B, H, W, C]
    out = omnitok.postprocess(decoded, IMAGE)
    assert out.dtype == np.uint8 and out.shape == (2, 8, 8, 3) and np.array_equal(out, by_hand)
    images = omnitok.postprocess(decoded, IMAGE, to="pil")
    assert [im.size for im in images] == [(8, 8), (8, 8)] and np.array_equal(np.asarray(images[1]), by_hand[1])
    assert torch.equal(omnitok.postprocess(decoded, IMAGE, to="uint8"), torch.from_numpy(by_hand).permute(0, 3, 1, 2))
    floats = omnitok.postprocess(decoded, IMAGE, to="float")
    assert torch.equal(floats, decoded.clamp(-1, 1))
    assert torch.equal(omnitok.postprocess(decoded, IMAGE, to="float", clamp=False), decoded)
    a = _pixels(2, 8, 8, 3)
    assert np.array_equal(omnitok.postprocess(omnitok.preprocess(a, IMAGE), IMAGE), a)  # uint8 round trip
    with pytest.raises(ConfigError, match="clamp=False keeps raw values for to='float' only"):
        omnitok.postprocess(decoded, IMAGE, clamp=False)
    with pytest.raises(ConfigError, match="'pil'"):
        omnitok.postprocess(decoded, IMAGE, to="jpeg")


def test_prepared_images_encode_to_the_tokens_omnitok_encode_writes(tmp_path):
    from omnitok.cli.main import main
    from omnitok.config import instantiate
    from omnitok.tokens import load_tokens
    from tests.trainers.recipes import tiny_recipe

    torch.manual_seed(0)
    tokenizer = instantiate(tiny_recipe()["model"]["init_args"]["tokenizer"]).eval()
    folder = tokenizer.save_pretrained(tmp_path / "tok")
    a = _pixels(32, 32, 3)
    write_png(torch.from_numpy(a).permute(2, 0, 1).contiguous(), str(tmp_path / "a.png"))
    assert main(["encode", str(tmp_path / "a.png"), "--tokenizer", str(folder), "--out", str(tmp_path / "t")]) == 0
    written, _ = load_tokens(tmp_path / "t" / "a.png.safetensors")
    assert torch.equal(tokenizer.encode(omnitok.preprocess(Image.open(tmp_path / "a.png"), tokenizer)), written)
    pictures = omnitok.postprocess(tokenizer.decode(written), tokenizer, to="pil")
    assert pictures[0].size == (32, 32) and pictures[0].mode == "RGB"


# -- video ------------------------------------------------------------------------------------------------------------
def test_video_frames_in_and_out():
    clip = _pixels(3, 8, 12, 3)  # [T, H, W, C], as video readers give frames
    by_hand = torch.from_numpy(clip.transpose(3, 0, 1, 2).astype(np.float64) / 255 * 2 - 1)[None]
    for media in (clip, torch.from_numpy(clip), [clip, clip]):
        x = _no_warnings(omnitok.preprocess, media, VIDEO)
        assert x.shape[1:] == (3, 3, 8, 12)
        torch.testing.assert_close(x[:1].double(), by_hand, atol=1e-6, rtol=0)
    back = omnitok.postprocess(omnitok.preprocess(clip, VIDEO), VIDEO)
    assert back.dtype == np.uint8 and back.shape == (1, 3, 8, 12, 3) and np.array_equal(back[0], clip)
    decoded = torch.randn(1, 3, 2, 4, 4)
    by_hand_out = np.round(np.clip((decoded.double().numpy() + 1) / 2, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(omnitok.postprocess(decoded, VIDEO, to="uint8").numpy(), by_hand_out.transpose(0, 2, 3, 4, 1))
    with pytest.raises(ShapeError, match=r"\[T, H, W, C\]"):
        omnitok.preprocess(_pixels(3, 3, 8, 8), VIDEO)  # channels first: not frames as readers give them
    with pytest.warns(UserWarning, match=r"looks like \[0, 1\]"):
        omnitok.preprocess(torch.rand(3, 2, 8, 8), VIDEO)


# -- audio ------------------------------------------------------------------------------------------------------------
def test_waveforms_in_at_any_rate_and_channel_count():
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(1600) * 0.1).astype(np.float32)
    x = _no_warnings(omnitok.preprocess, wave, AUDIO, sample_rate=16_000)
    assert x.shape == (1, 1, 1600) and torch.equal(x[0, 0], torch.from_numpy(wave))
    stereo = np.stack([wave, -0.5 * wave])
    mixed = omnitok.preprocess(torch.from_numpy(stereo), AUDIO, sample_rate=16_000)
    torch.testing.assert_close(mixed[0, 0], torch.from_numpy(0.25 * wave))  # mono is the channel mean
    pcm = (wave * 32768).round().clip(-32768, 32767).astype(np.int16)
    torch.testing.assert_close(
        omnitok.preprocess(pcm, AUDIO, sample_rate=16_000)[0, 0], torch.from_numpy(wave), atol=2e-5, rtol=0
    )
    # a 440 Hz tone at 8 kHz, resampled, is the same tone sampled at 16 kHz (away from the edges)
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32) * 0.5
    up = omnitok.preprocess(tone, AUDIO, sample_rate=8000)[0, 0].numpy()
    expected = np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000) * 0.5
    assert up.shape == (16_000,) and np.abs(up[400:-400] - expected[400:-400]).max() < 5e-3


def test_bad_waveforms_are_named_and_loud_ones_warned():
    with pytest.raises(ConfigError, match=r"give the audio's sample_rate \(this tokenizer takes 16000 Hz"):
        omnitok.preprocess(np.zeros(800, np.float32), AUDIO)
    with pytest.raises(ShapeError, match=r"data\.T"):
        omnitok.preprocess(np.zeros((800, 2), np.float32), AUDIO, sample_rate=16_000)  # soundfile's [S, C]
    with pytest.warns(UserWarning, match=r"reaches outside this tokenizer's range \[-1, 1\]"):
        omnitok.preprocess(np.full(800, 300.0, np.float32), AUDIO, sample_rate=16_000)
    with pytest.raises(ConfigError, match="sample_rate must be a positive integer"):
        omnitok.preprocess(np.zeros(800, np.float32), AUDIO, sample_rate=0)


def test_decoded_audio_out_clamped_or_raw_and_resampled():
    decoded = torch.tensor([[[0.5, 1.5, -2.0, -0.25] * 200]])
    out = omnitok.postprocess(decoded, AUDIO)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert np.array_equal(out, np.clip(decoded.numpy(), -1, 1))
    assert torch.equal(omnitok.postprocess(decoded, AUDIO, to="float", clamp=False), decoded)
    assert omnitok.postprocess(decoded, AUDIO, sample_rate=8000).shape == (1, 1, 400)
    with pytest.raises(ConfigError, match="'numpy'"):
        omnitok.postprocess(decoded, AUDIO, to="pil")


def test_a_modality_without_conversions_takes_float_tensors(monkeypatch):
    from omnitok.modalities import Modality, register_modality
    from omnitok.modalities.registry import _REGISTRY

    class Strips(Modality):
        name, axes, letters = "strips", ("length",), ("L",)

    monkeypatch.setitem(_REGISTRY, "strips", register_modality(Strips()))
    spec = TokenizerSpec(
        modality="strips", discrete=True, codebook_sizes=(4,), latent_dim=2, downsample=(2,), channels=2
    )
    x = torch.rand(2, 6) * 2 - 1
    assert torch.equal(omnitok.preprocess(x, spec), x[None])
    assert torch.equal(omnitok.postprocess(x[None] * 3, spec), (x[None] * 3).clamp(-1, 1))  # "float" by default
    with pytest.raises(ConfigError, match="'float'"):
        omnitok.postprocess(x[None], spec, to="numpy")
