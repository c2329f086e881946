"""The Tokenizer protocol: specs, grids, checks, and a user's own tokenizer that subclasses nothing."""

import pytest
import torch
import torch.nn.functional as F

from omnitok import (
    DTypeError,
    IndexRangeError,
    NonFiniteError,
    ShapeError,
    Tokenizer,
    TokenizerSpec,
    check_media,
    load_tokens,
    reconstruct,
    save_tokens,
)


class BlockMeanTokenizer:
    """A user's tokenizer: 4x4 block means of grey levels, quantized to 16 bins. No omnitok base class."""

    spec = TokenizerSpec(modality="image", discrete=True, codebook_sizes=(16,), latent_dim=1, downsample=(4, 4), channels=1, value_range=(0.0, 1.0))

    def encode(self, x):
        return (F.avg_pool2d(x, 4)[:, 0] * 15).round().long()

    def decode(self, tokens):
        return F.interpolate(tokens[:, None].float() / 15, scale_factor=4, mode="nearest")


def test_a_plain_class_satisfies_the_protocol_and_works_with_the_helpers(tmp_path):
    tok = BlockMeanTokenizer()
    assert isinstance(tok, Tokenizer)
    x = torch.rand(2, 1, 16, 12)
    out = reconstruct(tok, x)
    assert out.shape == x.shape
    torch.testing.assert_close(F.avg_pool2d(out, 4), (F.avg_pool2d(x, 4) * 15).round() / 15)
    path = save_tokens(tmp_path / "t.safetensors", tok.encode(x), tok.spec)
    tokens, spec = load_tokens(path)
    assert spec == tok.spec and torch.equal(tokens, tok.encode(x))
    assert tokens.shape[1:] == spec.token_shape((16, 12)) == (4, 3)


def test_objects_missing_a_method_are_not_tokenizers():
    class NoDecode:
        spec = BlockMeanTokenizer.spec

        def encode(self, x):
            return x

    assert not isinstance(NoDecode(), Tokenizer)


def test_grids():
    image = TokenizerSpec(modality="image", discrete=True, codebook_sizes=(16384,), latent_dim=8, downsample=(16, 16))
    assert image.grid((256, 384)) == (16, 24)
    with pytest.raises(ShapeError, match="multiple of 16"):
        image.grid((250, 256))
    video = TokenizerSpec(modality="video", discrete=False, latent_dim=16, downsample=(4, 8, 8), causal_time=True)
    assert video.grid((17, 256, 256)) == (5, 32, 32)
    assert video.grid((1, 64, 64)) == (1, 8, 8)  # an image is a one-frame video
    assert video.token_shape((17, 64, 64)) == (16, 5, 8, 8)
    audio = TokenizerSpec(
        modality="audio", discrete=True, codebook_sizes=(1024,) * 8, codebook_kind="residual",
        latent_dim=128, downsample=(320,), channels=1, sample_rate=24000, pad_to_multiple=True,
    )
    assert audio.grid((24000,)) == (75,) and audio.grid((24001,)) == (76,)
    assert audio.token_shape((24000,)) == (75, 8)


def test_spec_json_round_trip_and_validation():
    spec = TokenizerSpec(modality="audio", discrete=True, codebook_sizes=(1024, 1024), codebook_kind="residual", downsample=(320,), channels=1, sample_rate=24000)
    assert TokenizerSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="downsample"):
        TokenizerSpec(modality="video", discrete=False, downsample=(8, 8))
    with pytest.raises(ValueError, match="codebook_sizes"):
        TokenizerSpec(modality="image", discrete=True, downsample=(8, 8))


def test_media_checks_name_the_problem():
    spec = BlockMeanTokenizer.spec
    with pytest.raises(ShapeError, match=r"\[B, C, H, W\]"):
        check_media(torch.rand(1, 16, 16), spec)
    with pytest.raises(ShapeError, match="1 channels"):
        check_media(torch.rand(1, 3, 16, 16), spec)
    with pytest.raises(DTypeError, match="floating"):
        check_media(torch.zeros(1, 1, 16, 16, dtype=torch.uint8), spec)
    bad = torch.rand(1, 1, 16, 16)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        check_media(bad, spec)


def test_token_checks_name_the_problem(tmp_path):
    spec = BlockMeanTokenizer.spec
    with pytest.raises(IndexRangeError, match="16"):
        save_tokens(tmp_path / "t.safetensors", torch.full((1, 2, 2), 16), spec)
    assert not (tmp_path / "t.safetensors").exists()
    with pytest.raises(ShapeError):
        save_tokens(tmp_path / "t.safetensors", torch.zeros(1, 2, 2, 2, dtype=torch.long), spec)
    with pytest.raises(DTypeError):
        save_tokens(tmp_path / "t.safetensors", torch.zeros(1, 2, 2), spec)


def test_the_older_frame_rate_reads_as_fps_or_token_rate():
    """Specs written before the split kept both meanings in ``frame_rate``: input fps (video), token rate (audio)."""
    video = TokenizerSpec.from_dict({"modality": "video", "discrete": False, "downsample": [4, 8, 8], "frame_rate": 8})
    audio = TokenizerSpec.from_dict(
        {"modality": "audio", "discrete": False, "downsample": [320], "sample_rate": 16000, "frame_rate": 50.0}
    )
    assert (video.fps, video.token_rate) == (8, None) and (audio.fps, audio.token_rate) == (None, 50.0)
    assert "frame_rate" not in video.to_dict() and video.to_dict()["fps"] == 8
    from omnitok.errors import ConfigError

    with pytest.raises(ConfigError, match="fps"):
        TokenizerSpec.from_dict({"modality": "video", "discrete": False, "downsample": [4, 8, 8], "frame_rate": -1})
