"""diffusers VQModel / AutoencoderKL / AutoencoderKLCosmos adapters: agreement with diffusers' own methods and with written-out formulas,
the spec against the config by hand, value-range conversion and input checks."""

import pytest
import torch

pytest.importorskip("diffusers")

import omnitok
from omnitok import DTypeError, IndexRangeError, NonFiniteError, ShapeError
from omnitok.adapters import AutoencoderKLAdapter, AutoencoderKLCosmosAdapter, VQModelAdapter
from omnitok.errors import ConfigError
from tests.adapters.tiny import build_autoencoder_kl, build_cosmos, build_vqmodel, images


@pytest.fixture(scope="module")
def vq():
    return build_vqmodel()


@pytest.fixture(scope="module")
def kl():
    return build_autoencoder_kl()


def test_vqmodel_spec_from_config_by_hand(vq):
    adapter = VQModelAdapter(vq)
    spec = adapter.spec
    assert isinstance(adapter, omnitok.Tokenizer)
    # block_out_channels (8, 16, 16): 3 levels, a stride-2 step between each -> f = 2 * 2 = 4
    assert spec.downsample == (4, 4)
    assert spec.grid((16, 24)) == (16 // 4, 24 // 4) == (4, 6)
    assert spec.discrete and spec.codebook_sizes == (16,) and spec.latent_dim == 5  # vq_embed_dim
    assert spec.channels == 3 and spec.value_range == (-1.0, 1.0) and spec.modality == "image"
    x = images(2, 3, 16, 24)
    assert adapter.encode(x).shape == (2, 4, 6)
    assert vq.encode(x).latents.shape[2:] == (4, 6)  # the model agrees with the arithmetic


def test_vqmodel_matches_diffusers_and_nearest_code(vq):
    adapter = VQModelAdapter(vq)
    x = images(2, 3, 16, 24)
    indices = adapter.encode(x)
    assert indices.dtype == torch.int64 and indices.shape == (2, 4, 6)
    with torch.no_grad():
        latents = vq.encode(x).latents  # (2, 5, 4, 6)
        _, _, (_, _, theirs) = vq.quantize(latents)
        assert torch.equal(indices.flatten(), theirs)
        # written out: nearest codebook row in l2 for every latent vector
        flat = latents.permute(0, 2, 3, 1).reshape(-1, 5)
        nearest = torch.cdist(flat, vq.quantize.embedding.weight).argmin(dim=1)
        assert torch.equal(indices.flatten(), nearest)
        assert indices.unique().numel() > 4
        # decode == diffusers' decode of the latents and its forward, which quantize to the same codes (up to the
        # rounding of their straight-through z + (z_q - z))
        decoded = adapter.decode(indices)
        torch.testing.assert_close(decoded, vq.decode(latents).sample, rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(decoded, vq(x).sample, rtol=1e-4, atol=2e-5)
        # ... and == post_quant_conv + decoder on the codebook rows, written out
        codes = vq.quantize.embedding.weight[indices].permute(0, 3, 1, 2).contiguous()  # (2, 5, 4, 6)
        assert torch.equal(decoded, vq.decoder(vq.post_quant_conv(codes)))
    assert decoded.shape == x.shape and decoded.dtype == torch.float32


def test_vqmodel_lookup_from_codebook_config():
    model = build_vqmodel(lookup_from_codebook=True)
    adapter, reference = VQModelAdapter(model), VQModelAdapter(build_vqmodel())
    x = images(1, 3, 8, 8)
    tokens = adapter.encode(x)
    assert torch.equal(tokens, reference.encode(x))
    assert torch.equal(adapter.decode(tokens), reference.decode(tokens))


def test_autoencoder_kl_spec_from_config_by_hand(kl):
    adapter = AutoencoderKLAdapter(kl)
    spec = adapter.spec
    assert isinstance(adapter, omnitok.Tokenizer)
    assert spec.downsample == (4, 4) and spec.grid((16, 24)) == (4, 6)  # as for the VQModel: 2 ** (3 - 1)
    assert not spec.discrete and spec.codebook_sizes == () and spec.latent_dim == 4
    assert spec.latent_scale == pytest.approx(0.3611) and spec.latent_shift == pytest.approx(0.1159)
    assert spec.token_shape((16, 24)) == (4, 4, 6)
    plain = AutoencoderKLAdapter(build_autoencoder_kl(scaling_factor=0.18215, shift_factor=None))
    assert plain.spec.latent_scale == pytest.approx(0.18215) and plain.spec.latent_shift == 0.0


def test_autoencoder_kl_matches_diffusers_and_posterior_mode(kl):
    adapter = AutoencoderKLAdapter(kl)
    x = images(2, 3, 16, 24)
    latents = adapter.encode(x)
    with torch.no_grad():
        assert torch.equal(latents, kl.encode(x).latent_dist.mode())
        # written out: the mode of the diagonal Gaussian is its mean, the first half of quant_conv's channels
        moments = kl.quant_conv(kl.encoder(x))  # (2, 8, 4, 6): mean, log-variance
        assert torch.equal(latents, moments[:, :4])
        assert torch.equal(adapter.decode(latents), kl.decode(latents).sample)
        assert torch.equal(adapter.decode(latents), kl.decoder(kl.post_quant_conv(latents)))
    assert latents.shape == (2, 4, 4, 6)
    reconstruction = omnitok.reconstruct(adapter, x)
    assert reconstruction.shape == x.shape


@pytest.mark.parametrize("builder", [build_vqmodel, build_autoencoder_kl])
def test_value_range_conversion(builder):
    model = builder()
    native = _adapter(model)
    unit = type(native)(model, value_range=(0, 1))
    assert unit.spec.value_range == (0.0, 1.0) and native.spec.value_range == (-1.0, 1.0)
    x01 = (images(2, 3, 8, 8) + 1) / 2
    tokens = unit.encode(x01)
    torch.testing.assert_close(tokens, native.encode(x01 * 2 - 1), rtol=0, atol=1e-6)
    # decode maps the model's [-1, 1] output y back to (y + 1) / 2
    torch.testing.assert_close(unit.decode(tokens), (native.decode(tokens) + 1) / 2, rtol=1e-6, atol=1e-6)
    with pytest.raises(ConfigError, match="value_range"):
        type(native)(model, value_range=(1, 0))


def _adapter(model):
    return VQModelAdapter(model) if type(model).__name__ == "VQModel" else AutoencoderKLAdapter(model)


def test_bad_input_is_a_clear_error(vq, kl):
    adapter = VQModelAdapter(vq)
    with pytest.raises(ShapeError, match="3 channels"):
        adapter.encode(images(1, 1, 16, 16))
    with pytest.raises(ShapeError, match="multiple of 4"):
        adapter.encode(images(1, 3, 16, 18))
    with pytest.raises(ShapeError, match=r"\[B, C, H, W\]"):
        adapter.encode(images(3, 16, 16))
    with pytest.raises(DTypeError, match="floating point"):
        adapter.encode(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(NonFiniteError):
        adapter.encode(torch.full((1, 3, 16, 16), float("nan")))
    with pytest.raises(IndexRangeError, match="16"):
        adapter.decode(torch.full((1, 4, 4), 16))
    with pytest.raises(IndexRangeError):
        adapter.decode(torch.full((1, 4, 4), -1))
    with pytest.raises(DTypeError, match="integer"):
        adapter.decode(torch.zeros(1, 4, 4))
    with pytest.raises(ShapeError, match="latents"):
        AutoencoderKLAdapter(kl).decode(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ConfigError, match="diffusers.VQModel"):
        VQModelAdapter(kl)
    with pytest.raises(ConfigError, match="decodes 1"):
        VQModelAdapter(build_vqmodel(out_channels=1))


def test_dtype_and_device_follow_the_model():
    adapter = AutoencoderKLAdapter(build_autoencoder_kl()).to(torch.float64)
    assert adapter.dtype == torch.float64 and adapter.device.type == "cpu"
    x = images(1, 3, 8, 8)
    latents = adapter.encode(x)  # float32 in, float64 model, float32 out
    assert latents.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(latents.double(), adapter.model.encode(x.double()).latent_dist.mode())
    assert adapter.decode(latents).dtype == torch.float32


# ---------------------------------------------------------------- AutoencoderKLCosmos (continuous causal video)


@pytest.fixture(scope="module")
def cosmos():
    return build_cosmos()


@pytest.mark.parametrize(
    ("overrides", "factors", "grid"),
    [
        # patch 2 x one down block halving time and space: t = s = 4; 9 frames -> 1 + 8 / 4 = 3 latent frames
        ({}, (4, 4, 4), (3, 16 // 4, 24 // 4)),
        # spatial ratio 8: log2(8) - log2(2) = 2 spatial layers but only blocks 0 and 1 can downsample; time: 1 layer
        ({"spatial_compression_ratio": 8}, (4, 8, 8), (3, 16 // 8, 24 // 8)),
        # temporal ratio 2: 1 - 1 = 0 temporal layers, the patching alone halves time: 9 frames -> 1 + 8 / 2 = 5
        ({"temporal_compression_ratio": 2}, (2, 4, 4), (5, 4, 6)),
    ],
)
def test_cosmos_spec_from_config_by_hand(overrides, factors, grid):
    model = build_cosmos(**overrides)
    adapter = AutoencoderKLCosmosAdapter(model)
    spec = adapter.spec
    assert isinstance(adapter, omnitok.Tokenizer)
    assert spec.modality == "video" and not spec.discrete and spec.causal_time
    assert spec.downsample == factors and spec.grid((9, 16, 24)) == grid
    assert spec.latent_dim == 4 and spec.channels == 3 and spec.value_range == (-1.0, 1.0)
    assert spec.latent_scale == 1.0 and spec.latent_shift == 0.0  # Cosmos' scaling_factor default
    x = images(1, 3, 9, 16, 24)
    latents = adapter.encode(x)
    assert latents.shape == (1, 4, *grid) == (1, *spec.token_shape((9, 16, 24)))
    with torch.no_grad():  # the model itself agrees with the arithmetic
        assert model.encode(x).latent_dist.mode().shape == latents.shape
    assert adapter.decode(latents).shape == x.shape


def test_cosmos_matches_diffusers_channels_first(cosmos):
    adapter = AutoencoderKLCosmosAdapter(cosmos)
    x = images(2, 3, 9, 16, 24)  # [B, C, T, H, W]: the model's own layout, nothing transposed
    latents = adapter.encode(x)
    with torch.no_grad():
        assert torch.equal(latents, cosmos.encode(x).latent_dist.mode())
        assert torch.equal(latents, cosmos.quant_conv(cosmos.encoder(x)))  # written out: identity posterior
        decoded = adapter.decode(latents)
        assert torch.equal(decoded, cosmos.decode(latents).sample)
        assert torch.equal(decoded, cosmos.decoder(cosmos.post_quant_conv(latents)))
        torch.testing.assert_close(decoded, cosmos(x).sample, rtol=0, atol=0)
    assert latents.shape == (2, 4, 3, 4, 6) and decoded.shape == x.shape and decoded.dtype == torch.float32
    assert omnitok.reconstruct(adapter, x).shape == x.shape


def test_cosmos_is_causal_and_takes_single_frames(cosmos):
    adapter = AutoencoderKLCosmosAdapter(cosmos)
    x = images(1, 3, 9, 16, 24)
    whole = adapter.encode(x)
    # the first 1 + 4k frames give the first 1 + k latent frames of the whole clip: later frames change nothing
    torch.testing.assert_close(adapter.encode(x[:, :, :5]), whole[:, :, :2], rtol=1e-5, atol=1e-5)
    image = adapter.encode(x[:, :, :1])  # an image is a 1-frame clip
    assert image.shape == (1, 4, 1, 4, 6)
    torch.testing.assert_close(image, whole[:, :, :1], rtol=1e-5, atol=1e-5)
    assert adapter.decode(image).shape == (1, 3, 1, 16, 24)


def test_cosmos_refuses_bad_clips_and_mismatched_models(cosmos):
    adapter = AutoencoderKLCosmosAdapter(cosmos)
    with pytest.raises(ShapeError, match="1 \\+ a multiple of 4"):
        adapter.encode(images(1, 3, 8, 16, 24))
    with pytest.raises(ShapeError, match="multiple of 4"):
        adapter.encode(images(1, 3, 9, 16, 18))
    with pytest.raises(ShapeError, match=r"\[B, C, T, H, W\]"):
        adapter.encode(images(1, 3, 16, 24))
    with pytest.raises(ShapeError, match="latents"):
        adapter.decode(torch.zeros(1, 3, 2, 4, 4))
    with pytest.raises(ConfigError, match="diffusers.AutoencoderKLCosmos"):
        AutoencoderKLCosmosAdapter(build_autoencoder_kl())
    # three blocks: the encoder halves once (t = s = 4), diffusers' decoder never upsamples (2, 2)
    short = {"encoder_block_out_channels": (8, 16, 16), "decode_block_out_channels": (8, 16, 16)}
    with pytest.raises(ConfigError, match=r"\(4, 4\) but decodes with \(2, 2\)"):
        AutoencoderKLCosmosAdapter(build_cosmos(**short))


def test_cosmos_value_range_and_loading(cosmos, tmp_path):
    from omnitok.adapters import load_adapter, wrap

    native, unit = AutoencoderKLCosmosAdapter(cosmos), AutoencoderKLCosmosAdapter(cosmos, value_range=(0, 1))
    x01 = (images(1, 3, 5, 8, 8) + 1) / 2
    latents = unit.encode(x01)
    torch.testing.assert_close(latents, native.encode(x01 * 2 - 1), rtol=0, atol=1e-6)
    torch.testing.assert_close(unit.decode(latents), (native.decode(latents) + 1) / 2, rtol=1e-6, atol=1e-6)
    cosmos.save_pretrained(tmp_path / "vae")  # as a Cosmos pipeline folder keeps it
    loaded = load_adapter(f"diffusers:{tmp_path}")
    assert isinstance(loaded, AutoencoderKLCosmosAdapter) and loaded.spec == native.spec
    assert torch.equal(loaded.encode(x01 * 2 - 1), native.encode(x01 * 2 - 1))
    assert isinstance(wrap(cosmos), AutoencoderKLCosmosAdapter)
