"""transformers Chameleon / Emu3 (image and video mode) / Janus VQ adapters: agreement with the models' own encode/decode and with
written-out nearest-code formulas, the spec against the config by hand, value ranges and input checks."""

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("transformers")

import omnitok
from omnitok import IndexRangeError, ShapeError
from omnitok.adapters import (
    ChameleonVQVAEAdapter,
    DecoderUnavailableError,
    Emu3VQVAEAdapter,
    JanusVQVAEAdapter,
)
from omnitok.errors import ConfigError
from tests.adapters.tiny import EMU3, JANUS, build_full, build_vq, images

ADAPTER = {"chameleon": ChameleonVQVAEAdapter, "emu3": Emu3VQVAEAdapter, "janus": JanusVQVAEAdapter}


@pytest.fixture(scope="module")
def vqs():
    return {name: build_vq(name) for name in ADAPTER}


def _nearest(latents, codebook):
    """Written-out nearest code in l2: latents [B, D, h, w], codebook [K, D] -> [B, h, w]."""
    flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
    return torch.cdist(flat, codebook).argmin(dim=1).reshape(latents.shape[0], *latents.shape[2:])


@pytest.mark.parametrize("name", list(ADAPTER))
def test_spec_from_config_by_hand(vqs, name):
    adapter = ADAPTER[name](vqs[name])
    spec = adapter.spec
    assert isinstance(adapter, omnitok.Tokenizer)
    # channel_multiplier [1, 1]: two levels, one stride-2 step -> f = 2 ** (2 - 1) = 2
    assert spec.downsample == (2, 2)
    assert spec.grid((16, 24)) == (16 // 2, 24 // 2) == (8, 12)
    assert spec.discrete and spec.codebook_sizes == (16,) and spec.latent_dim == 4  # num_embeddings / embed_dim
    assert spec.channels == 3 and spec.value_range == (-1.0, 1.0) and spec.modality == "image"
    assert adapter.encode(images(2, 3, 16, 24)).shape == (2, 8, 12)


def test_chameleon_matches_transformers_and_nearest_code(vqs):
    model = vqs["chameleon"]
    adapter = ChameleonVQVAEAdapter(model)
    x = images(2, 3, 16, 24)
    indices = adapter.encode(x)
    with torch.no_grad():
        out = model.encode(x)
        assert torch.equal(indices.flatten(), out.image_tokens)
        assert torch.equal(indices, _nearest(model.quant_conv(model.encoder(x)), model.quantize.embedding.weight))
    assert indices.dtype == torch.int64 and indices.unique().numel() > 4
    assert not adapter.can_decode
    with pytest.raises(DecoderUnavailableError, match="decoder=") as info:
        adapter.decode(indices)
    assert isinstance(info.value, NotImplementedError) and isinstance(info.value, omnitok.OmnitokError)


def test_chameleon_with_a_decoder(vqs):
    model = vqs["chameleon"]
    torch.manual_seed(0)
    decoder = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(4, 3, 3, padding=1))
    adapter = ChameleonVQVAEAdapter(model, decoder=decoder)
    assert adapter.can_decode
    x = images(2, 3, 16, 24)
    indices = adapter.encode(x)
    decoded = adapter.decode(indices)
    with torch.no_grad():
        codes = model.quantize.embedding.weight[indices].permute(0, 3, 1, 2).contiguous()  # (2, 4, 8, 12)
        assert torch.equal(decoded, decoder(model.post_quant_conv(codes)))
        # the quantized latents of the model's own encode are those code vectors
        torch.testing.assert_close(codes, model.encode(x).quantized_last_hidden_state, rtol=1e-5, atol=1e-6)
    assert decoded.shape == x.shape


def test_emu3_matches_transformers(vqs):
    model = vqs["emu3"]
    adapter = Emu3VQVAEAdapter(model)
    x = images(2, 3, 16, 24)
    indices = adapter.encode(x)
    with torch.no_grad():
        out = model.encode(x, image_sizes=torch.tensor([[16, 24], [16, 24]]))
        assert torch.equal(indices, torch.stack(out.image_tokens))
        # written out: the image repeated temporal_downsample_factor times, encoded, quant_conv, nearest code
        frames = x.unsqueeze(1).repeat(1, EMU3["temporal_downsample_factor"], 1, 1, 1)  # (B, T, C, H, W)
        latents = model.quant_conv(model.encoder(frames).permute(0, 2, 1, 3, 4))  # (B, D, 1, h, w)
        assert latents.shape[2] == 1
        assert torch.equal(indices, _nearest(latents[:, :, 0], model.quantize.embedding.weight))
        decoded = adapter.decode(indices)
        assert torch.equal(decoded, model.decode(indices))
    assert indices.unique().numel() > 4 and decoded.shape == x.shape
    assert omnitok.reconstruct(adapter, x).shape == x.shape


def test_emu3_video_spec_by_hand(vqs):
    adapter = Emu3VQVAEAdapter(vqs["emu3"], mode="video")
    spec = adapter.spec
    assert isinstance(adapter, omnitok.Tokenizer)
    # temporal_downsample_factor 2 (one strided temporal conv), channel_multiplier [1, 1] -> f = 2
    assert spec.modality == "video" and spec.downsample == (2, 2, 2) and not spec.causal_time
    assert spec.grid((4, 16, 24)) == (4 // 2, 16 // 2, 24 // 2) == (2, 8, 12)
    assert spec.discrete and spec.codebook_sizes == (16,) and spec.latent_dim == 4 and spec.channels == 3
    assert Emu3VQVAEAdapter(vqs["emu3"]).spec.modality == "image"  # image mode stays the default


def test_emu3_video_matches_transformers(vqs):
    model = vqs["emu3"]
    adapter = Emu3VQVAEAdapter(model, mode="video")
    x = images(2, 3, 4, 16, 24)  # [B, C, T, H, W]
    indices = adapter.encode(x)
    assert indices.shape == (2, 2, 8, 12) and indices.dtype == torch.int64
    frames = x.transpose(1, 2)  # the model's layout [B, T, C, H, W]
    with torch.no_grad():
        out = model.encode(frames, image_sizes=torch.tensor([[10**6, 10**6]] * 2))  # sizes that crop nothing
        assert torch.equal(indices, torch.stack(out.image_tokens))
        # written out: encoder over the frames, quant_conv over (B, D, T', h, w), nearest code per position
        latents = model.quant_conv(model.encoder(frames).permute(0, 2, 1, 3, 4))  # (2, 4, 2, 8, 12)
        for step in range(2):
            assert torch.equal(indices[:, step], _nearest(latents[:, :, step], model.quantize.embedding.weight))
        decoded = adapter.decode(indices)
        assert torch.equal(decoded, model.decode(indices).transpose(1, 2))
    assert indices.unique().numel() > 4
    assert decoded.shape == x.shape and decoded.dtype == torch.float32
    assert omnitok.reconstruct(adapter, x).shape == x.shape


def test_emu3_video_refuses_what_the_model_cannot_code(vqs):
    adapter = Emu3VQVAEAdapter(vqs["emu3"], mode="video")
    with pytest.raises(ShapeError, match="multiple of 2"):
        adapter.encode(images(1, 3, 1, 16, 16))  # no causal first frame: a single frame is image mode's job
    with pytest.raises(ShapeError, match="multiple of 2"):
        adapter.encode(images(1, 3, 5, 16, 16))  # the strided temporal conv would drop the fifth frame
    with pytest.raises(ShapeError, match=r"\[B, C, T, H, W\]"):
        adapter.encode(images(1, 3, 16, 16))
    with pytest.raises(ShapeError):
        adapter.decode(torch.zeros(1, 8, 8, dtype=torch.long))
    with pytest.raises(ConfigError, match="'image' or 'video'"):
        Emu3VQVAEAdapter(vqs["emu3"], mode="audio")


def test_emu3_video_mode_loads_by_ref(vqs, tmp_path):
    from omnitok.adapters import load_adapter

    vqs["emu3"].save_pretrained(tmp_path)
    loaded = load_adapter(f"transformers:{tmp_path}", mode="video")
    assert isinstance(loaded, Emu3VQVAEAdapter) and loaded.spec.modality == "video"
    x = images(1, 3, 2, 16, 16)
    assert torch.equal(loaded.encode(x), Emu3VQVAEAdapter(vqs["emu3"], mode="video").encode(x))


def test_janus_matches_transformers_on_its_native_grid(vqs):
    model = vqs["janus"]
    adapter = JanusVQVAEAdapter(model)
    side = JANUS["num_patches"] * 2  # num_patches 8 tokens a side, f = 2 -> 16 x 16 images
    x = images(2, 3, side, side)
    indices = adapter.encode(x)
    with torch.no_grad():
        assert torch.equal(indices.flatten(), model.encode(x).image_tokens)
        assert torch.equal(indices, _nearest(model.quant_conv(model.encoder(x)), model.quantize.embedding.weight))
        decoded = adapter.decode(indices)
        assert torch.equal(decoded, model.decode(indices.flatten(1)))
        torch.testing.assert_close(decoded, model(x).decoded_pixel_values, rtol=0, atol=0)
    assert indices.unique().numel() > 4


def test_janus_decodes_other_grids_as_its_decode_does(vqs):
    model = vqs["janus"]
    adapter = JanusVQVAEAdapter(model)
    indices = adapter.encode(images(1, 3, 16, 24))  # 8 x 12 tokens: model.decode takes 8 x 8 only
    with pytest.raises(ValueError):
        model.decode(indices.flatten(1))
    decoded = adapter.decode(indices)
    with torch.no_grad():
        codes = F.normalize(model.quantize.embedding.weight[indices], dim=-1).permute(0, 3, 1, 2).contiguous()
        assert torch.equal(decoded, model.decoder(model.post_quant_conv(codes)))
    assert decoded.shape == (1, 3, 16, 24)


def test_janus_l2_normalized_lookup_follows_the_original(vqs):
    model = vqs["janus"]
    adapter = JanusVQVAEAdapter(model, l2_normalized_lookup=True)
    x = images(2, 3, 16, 24)
    indices = adapter.encode(x)
    with torch.no_grad():
        latents = F.normalize(model.quant_conv(model.encoder(x)), dim=1)
        expected = _nearest(latents, F.normalize(model.quantize.embedding.weight, dim=-1))
    assert torch.equal(indices, expected)
    # with codes of unequal norms the two searches differ (the tiny codebook is not normalised)
    assert not torch.equal(indices, JanusVQVAEAdapter(model).encode(x))


@pytest.mark.parametrize("name", list(ADAPTER))
def test_full_models_give_their_vq(name):
    full = build_full(name)
    adapter = ADAPTER[name](full)
    assert adapter.model is full.model.vqmodel
    with pytest.raises(ConfigError, match="vqmodel"):
        ADAPTER[name](torch.nn.Linear(2, 2))


def test_value_range_conversion(vqs):
    model = vqs["janus"]
    native, unit = JanusVQVAEAdapter(model), JanusVQVAEAdapter(model, value_range=(0, 255))
    x = (images(2, 3, 16, 16) + 1) * 127.5  # 0..255 pixels
    tokens = unit.encode(x)
    assert torch.equal(tokens, native.encode(x / 127.5 - 1))
    torch.testing.assert_close(unit.decode(tokens), (native.decode(tokens) + 1) * 127.5, rtol=1e-6, atol=1e-4)


def test_bad_input_is_a_clear_error(vqs):
    for name, cls in ADAPTER.items():
        adapter = cls(vqs[name])
        with pytest.raises(ShapeError, match="3 channels"):
            adapter.encode(images(1, 4, 16, 16))
        with pytest.raises(ShapeError, match="multiple of 2"):
            adapter.encode(images(1, 3, 16, 17))
        with pytest.raises(IndexRangeError):
            adapter.decode(torch.full((1, 8, 8), 16))
        with pytest.raises(ShapeError):
            adapter.decode(torch.zeros(1, 64, dtype=torch.long))
