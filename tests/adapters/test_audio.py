"""transformers DAC / EnCodec / Mimi adapters: agreement with the models' own encode/decode after the layout
conversion written out, the spec and token grid against the configs' strides by hand, leading-subset decoding,
save_pretrained -> load_adapter round trips, and clear errors."""

import json

import pytest
import torch

pytest.importorskip("transformers")

import omnitok
from omnitok import IndexRangeError, ShapeError
from omnitok.adapters import DacAdapter, EncodecAdapter, MimiAdapter, load_adapter, wrap
from omnitok.errors import ConfigError

# Tiny random-init codecs. Each encoder's strides multiply to its hop length (samples per token):
# DAC: downsampling_ratios [2, 4] -> hop 8 (all even: decode gives frames * 8 samples)
DAC = {
    "encoder_hidden_size": 4, "downsampling_ratios": [2, 4], "decoder_hidden_size": 16, "n_codebooks": 3,
    "codebook_size": 16, "codebook_dim": 4, "sampling_rate": 16000,
}
# EnCodec: upsampling_ratios [4, 2] -> hop 8 at 8 kHz = 1000 frames/s; log2(16) = 4 bits a level -> 4 kbps a level,
# so 4 / 8 / 12 kbps -> 1 / 2 / 3 levels. Stereo.
ENCODEC = {
    "target_bandwidths": [4.0, 8.0, 12.0], "sampling_rate": 8000, "audio_channels": 2, "hidden_size": 8,
    "num_filters": 4, "upsampling_ratios": [4, 2], "num_lstm_layers": 1, "codebook_size": 16,
}
# Mimi: SEANet ratios [4, 2] -> 8 samples (1000 Hz at 8 kHz), then frame_rate 500 -> latent_stride 1000 / 500 = 2:
# hop 8 * 2 = 16. 1 semantic + 3 acoustic levels.
MIMI = {
    "sampling_rate": 8000, "audio_channels": 1, "hidden_size": 16, "num_filters": 4, "upsampling_ratios": [4, 2],
    "codebook_size": 16, "codebook_dim": 8, "num_quantizers": 4, "num_semantic_quantizers": 1,
    "vector_quantization_hidden_dimension": 8, "upsample_groups": 16, "num_hidden_layers": 1,
    "intermediate_size": 32, "num_attention_heads": 2, "num_key_value_heads": 2, "sliding_window": 16,
    "max_position_embeddings": 64, "frame_rate": 500.0,
}
ADAPTER = {"dac": DacAdapter, "encodec": EncodecAdapter, "mimi": MimiAdapter}
HOP = {"dac": 2 * 4, "encodec": 4 * 2, "mimi": 4 * 2 * 2}
CHANNELS = {"dac": 1, "encodec": 2, "mimi": 1}
LEVELS = {"dac": 3, "encodec": 3, "mimi": 4}


def build(name):
    import transformers

    torch.manual_seed(0)
    config_class, model_class, arch = {
        "dac": (transformers.DacConfig, transformers.DacModel, DAC),
        "encodec": (transformers.EncodecConfig, transformers.EncodecModel, ENCODEC),
        "mimi": (transformers.MimiConfig, transformers.MimiModel, MIMI),
    }[name]
    model = model_class(config_class(**arch)).eval()
    if name != "dac":  # EnCodec and Mimi start with all-zero codebooks (k-means fills them in training)
        _fit_codebooks(name, model)
    return model


@torch.no_grad()
def _fit_codebooks(name, model):
    """Codes drawn around the quantizer input's per-channel mean and spread, so random audio uses many of them."""
    generator = torch.Generator().manual_seed(3)
    x = waves(4, CHANNELS[name], HOP[name] * 16, seed=7)
    if name == "encodec":
        groups = [(model.encoder(x), model.quantizer.layers)]
    else:
        latents = model.encoder(x).latents
        groups = [(rvq.input_proj(latents), rvq.layers) for rvq in (
            model.quantizer.semantic_residual_vector_quantizer, model.quantizer.acoustic_residual_vector_quantizer)]
    for latents, layers in groups:
        flat = latents.transpose(0, 1).flatten(1)  # (D, N)
        for layer in layers:
            codes = flat.mean(1) + flat.std(1) * torch.randn(16, flat.shape[0], generator=generator)
            if name == "encodec":
                layer.codebook.embed.copy_(codes)
            else:  # Mimi keeps code sums and usage counts and caches their ratio
                layer.codebook.embed_sum.copy_(codes)
                layer.codebook.cluster_usage.fill_(1.0)
                layer.codebook._embed = None


def waves(*shape, seed=1):
    """Random waveforms in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=generator) * 2 - 1


@pytest.fixture(scope="module")
def models():
    return {name: build(name) for name in ADAPTER}


def _own_codes(name, model, x, levels):
    """The model's own codes in its own layout, reduced to [B, Q, frames]."""
    if name == "dac":
        return model.encode(x, n_quantizers=levels).audio_codes
    if name == "encodec":
        bandwidth = ENCODEC["target_bandwidths"][levels - 1]
        codes = model.encode(x, bandwidth=bandwidth).audio_codes  # (chunks, B, Q, frames)
        assert codes.shape[0] == 1  # unchunked config: one chunk
        return codes[0]
    return model.encode(x, num_quantizers=levels).audio_codes


def _own_decode(name, model, codes):
    """The model's own decode of [B, q, frames] codes, as [B, C, S']."""
    if name == "dac":
        return model.decode(audio_codes=codes).audio_values.unsqueeze(1)  # DAC squeezes the mono channel
    if name == "encodec":
        return model.decode(codes.unsqueeze(0), [None]).audio_values
    return model.decode(codes).audio_values


@pytest.mark.parametrize("name", list(ADAPTER))
def test_spec_from_config_by_hand(models, name):
    adapter = ADAPTER[name](models[name])
    spec = adapter.spec
    assert isinstance(adapter, omnitok.Tokenizer)
    assert spec.modality == "audio" and spec.discrete and spec.codebook_kind == "residual"
    assert spec.codebook_sizes == (16,) * LEVELS[name] and spec.num_levels == LEVELS[name]
    assert spec.downsample == (HOP[name],) and spec.channels == CHANNELS[name]
    assert spec.value_range == (-1.0, 1.0)
    rate = {"dac": 16000, "encodec": 8000, "mimi": 8000}[name]
    assert spec.sample_rate == rate and spec.token_rate == rate / HOP[name]
    assert spec.latent_dim == {"dac": 4, "encodec": 8, "mimi": 8}[name]  # codebook_dim (EnCodec: = hidden_size)
    assert spec.grid((HOP[name] * 5,)) == (5,)
    assert spec.token_shape((HOP[name] * 5,)) == (5, LEVELS[name])
    if name == "dac":  # the model floors other lengths silently: the spec refuses them
        assert not spec.pad_to_multiple
        with pytest.raises(ShapeError, match="multiple of 8"):
            spec.grid((8 * 5 + 1,))
    else:  # causal convs pad up to whole frames
        assert spec.pad_to_multiple and spec.grid((HOP[name] * 5 + 1,)) == (6,)


@pytest.mark.parametrize("name", list(ADAPTER))
@pytest.mark.parametrize("extra", [0, 3], ids=["whole-frames", "padded"])
def test_matches_the_models_own_encode_and_decode(models, name, extra):
    model, adapter = models[name], ADAPTER[name](models[name])
    length = HOP[name] * 6 + extra
    if name == "dac" and extra:  # DAC's unpadded convs floor the length and drop the last samples: refused
        x = waves(2, 1, length)
        with torch.no_grad():
            assert _own_codes(name, model, x, LEVELS[name]).shape[-1] == length // HOP[name]
        with pytest.raises(ShapeError, match="multiple of 8"):
            adapter.encode(x)
        return
    frames = 6 + (extra > 0)  # ceil(length / hop), by hand
    x = waves(2, CHANNELS[name], length)
    tokens = adapter.encode(x)
    assert tokens.dtype == torch.int64 and tokens.shape == (2, frames, LEVELS[name])
    assert tokens.unique().numel() > 4
    with torch.no_grad():
        own = _own_codes(name, model, x, LEVELS[name])  # (B, Q, frames)
        assert own.shape == (2, LEVELS[name], frames)
        for b in range(2):  # the layout conversion written out: ours[b, t, q] == theirs[b, q, t]
            for t in range(frames):
                for q in range(LEVELS[name]):
                    assert tokens[b, t, q] == own[b, q, t]
        decoded = adapter.decode(tokens)
        assert torch.equal(decoded, _own_decode(name, model, own))
    # S' = frames * hop: equal to S for whole frames, S rounded up to whole frames otherwise
    assert decoded.shape == (2, CHANNELS[name], frames * HOP[name]) and decoded.dtype == torch.float32


def test_dac_with_an_odd_stride_decodes_a_little_short():
    import transformers

    torch.manual_seed(0)
    config = transformers.DacConfig(**{**DAC, "downsampling_ratios": [2, 5]})  # hop 10; decoder strides 5, 2
    adapter = DacAdapter(transformers.DacModel(config).eval())
    assert adapter.spec.downsample == (10,) and adapter.spec.grid((60,)) == (6,)
    decoded = adapter.decode(adapter.encode(waves(1, 1, 60)))
    # ConvTranspose1d(kernel 2s, stride s, padding ceil(s / 2)): L -> (L - 1) s - 2 ceil(s / 2) + 2s, = L s - 1 for
    # s = 5 and L s for s = 2: 6 frames -> 6 * 5 - 1 = 29 -> 29 * 2 = 58 samples, two short of 60
    assert decoded.shape == (1, 1, (6 * 5 - 1) * 2) == (1, 1, 58)


def test_encodec_codes_are_a_written_out_residual_nearest_code(models):
    model = models["encodec"]
    x = waves(2, 2, 40)
    tokens = EncodecAdapter(model).encode(x)
    with torch.no_grad():
        residual = model.encoder(x).transpose(1, 2)  # (B, frames, D)
        for q, layer in enumerate(model.quantizer.layers[: LEVELS["encodec"]]):
            codebook = layer.codebook.embed  # (K, D)
            nearest = ((residual.unsqueeze(2) - codebook) ** 2).sum(-1).argmin(-1)  # (B, frames)
            assert torch.equal(tokens[..., q], nearest)
            residual = residual - codebook[nearest]


@pytest.mark.parametrize("name", list(ADAPTER))
def test_leading_levels_decode_and_fewer_levels_encode_to_the_prefix(models, name):
    model, full = models[name], ADAPTER[name](models[name])
    x = waves(1, CHANNELS[name], HOP[name] * 4)
    tokens = full.encode(x)
    for q in range(1, LEVELS[name]):
        kwargs = {"bandwidth": ENCODEC["target_bandwidths"][q - 1]} if name == "encodec" else {"num_quantizers": q}
        fewer = ADAPTER[name](model, **kwargs)
        assert fewer.spec.codebook_sizes == (16,) * q
        assert torch.equal(fewer.encode(x), tokens[..., :q])  # residual: fewer levels are the leading ones
        decoded = full.decode(tokens[..., :q])  # a leading subset decodes through the full adapter
        with torch.no_grad():
            assert torch.equal(decoded, _own_decode(name, model, tokens[..., :q].transpose(1, 2)))
        assert decoded.shape == (1, CHANNELS[name], HOP[name] * 4)
        assert not torch.equal(decoded, full.decode(tokens))


def test_encodec_defaults_to_its_highest_bandwidth(models):
    model = models["encodec"]
    assert EncodecAdapter(model).bandwidth == 12.0
    # floor(bandwidth * 1000 / (log2(16) bits * 1000 frames/s)) levels, by hand
    for bandwidth, levels in [(4.0, 1), (8.0, 2), (12.0, 3)]:
        assert EncodecAdapter(model, bandwidth=bandwidth).spec.num_levels == levels
    with pytest.raises(ConfigError, match="target_bandwidths"):
        EncodecAdapter(model, bandwidth=6.0)


@pytest.mark.parametrize("name", list(ADAPTER))
def test_save_pretrained_load_adapter_round_trip(tmp_path, models, name):
    model = models[name]
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == name
    loaded = load_adapter(f"transformers:{tmp_path}")
    assert type(loaded) is ADAPTER[name] and loaded.spec == ADAPTER[name](model).spec
    for (key, theirs), ours in zip(model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(theirs, ours), key
    x = waves(2, CHANNELS[name], HOP[name] * 3)
    tokens = loaded.encode(x)
    assert torch.equal(tokens, ADAPTER[name](model).encode(x))
    assert torch.equal(loaded.decode(tokens), ADAPTER[name](model).decode(tokens))
    # adapter arguments pass through load_adapter
    fewer = {"bandwidth": 4.0} if name == "encodec" else {"num_quantizers": 1}
    assert load_adapter(f"transformers:{tmp_path}", **fewer).spec.num_levels == 1


def test_wrap_picks_the_audio_adapters(models):
    for name, adapter_class in ADAPTER.items():
        assert type(wrap(models[name])) is adapter_class
    assert wrap(models["encodec"], bandwidth=8.0).spec.num_levels == 2


def test_another_codecs_checkpoint_and_unknown_model_types(tmp_path, models):
    models["encodec"].save_pretrained(tmp_path / "encodec")
    with pytest.raises(ConfigError, match="model_type 'encodec'"):
        DacAdapter.from_pretrained(tmp_path / "encodec")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(ConfigError, match="no omnitok adapter for transformers model_type 'wav2vec2'.*mimi"):
        load_adapter(f"transformers:{tmp_path / 'other'}")


@pytest.mark.parametrize("name", list(ADAPTER))
def test_clear_errors(models, name):
    adapter = ADAPTER[name](models[name])
    hop, channels = HOP[name], CHANNELS[name]
    with pytest.raises(ShapeError, match=f"expected {channels} channels"):
        adapter.encode(waves(1, 3 - channels, hop * 2))
    with pytest.raises(ShapeError, match=r"\[B, C, S\]"):
        adapter.encode(waves(channels, hop * 2))
    tokens = adapter.encode(waves(1, channels, hop * 2))
    with pytest.raises(IndexRangeError, match="outside the codebook"):
        adapter.decode(tokens.clone().fill_(16))
    with pytest.raises(IndexRangeError):
        adapter.decode(tokens.clone().fill_(-1))
    with pytest.raises(ShapeError, match="levels"):
        adapter.decode(torch.cat([tokens, tokens[..., :1]], dim=-1))  # more levels than the model has
    with pytest.raises(ShapeError):
        adapter.decode(tokens[..., 0])  # [B, frames] without the level axis
    with pytest.raises(ConfigError, match="expected a transformers"):
        ADAPTER[name](torch.nn.Linear(2, 2))


def test_bad_level_counts_and_unsupported_encodec_configs(models):
    with pytest.raises(ConfigError, match=r"num_quantizers must be an int in \[1, 3\]"):
        DacAdapter(models["dac"], num_quantizers=4)
    with pytest.raises(ConfigError, match="num_quantizers"):
        MimiAdapter(models["mimi"], num_quantizers=0)
    import transformers

    chunked = transformers.EncodecModel(transformers.EncodecConfig(**ENCODEC, chunk_length_s=0.01, overlap=0.01))
    with pytest.raises(ConfigError, match="chunk_length_s"):
        EncodecAdapter(chunked)


@pytest.mark.parametrize("name", list(ADAPTER))
def test_protocol_helpers_take_the_audio_specs(tmp_path, models, name):
    adapter = ADAPTER[name](models[name])
    length = HOP[name] * 3 + (0 if name == "dac" else 1)
    x = waves(1, CHANNELS[name], length)
    # no trimming: decode returns whole frames, ceil(S / hop) * hop samples
    assert omnitok.reconstruct(adapter, x).shape == (1, CHANNELS[name], HOP[name] * (3 if name == "dac" else 4))
    tokens = adapter.encode(x)
    omnitok.save_tokens(tmp_path / "tokens.safetensors", tokens, adapter.spec)
    loaded, spec = omnitok.load_tokens(tmp_path / "tokens.safetensors")
    assert torch.equal(loaded, tokens) and spec == adapter.spec
