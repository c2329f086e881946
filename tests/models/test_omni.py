"""OmniTokenizer: one codebook for image, video and audio; a Tokenizer per modality; YAML; save/load as one folder."""

from __future__ import annotations

import pytest
import torch
import yaml

from omnitok.config import instantiate, to_config
from omnitok.errors import ConfigError, IndexRangeError
from omnitok.models import OmniBranch, OmniTokenizer, OmniView
from omnitok.nn import ConvDecoder2d, ConvEncoder2d, GridTransformer
from omnitok.protocol import Tokenizer
from omnitok.quantizers import FiniteScalarQuantizer, IdentityQuantizer, VectorQuantizer
from omnitok.resolve import load_tokenizer
from tests.models.omni_models import CONV, DIM, inputs, tiny_branches, tiny_omni


@pytest.fixture(scope="module")
def omni() -> OmniTokenizer:
    return tiny_omni()


def test_one_codebook_table_serves_every_modality(omni):
    """Image, video and audio indices address rows of the same table: the quantized latents each forward returns are
    exactly those rows (read straight from the one codebook parameter), and the model holds one table only."""
    table = omni.quantizer.codebook.detach()  # (K, D): learned VQ without projections, so codes are its rows
    assert [k for k in omni.state_dict() if k.endswith("codebook")] == ["quantizer.codebook"]
    assert omni.image.quantizer is omni.audio.quantizer is omni.video.quantizer is omni.quantizer
    used = {}
    for modality, x in inputs().items():
        out = omni(x, modality=modality)
        ids = out.quantizer.indices
        assert ids.dtype == torch.int64 and 0 <= int(ids.min()) and int(ids.max()) < 32
        assert torch.equal(out.quantizer.quantized.movedim(1, -1), table[ids])  # [B, *grid, D] rows of the table
        used[modality] = set(ids.reshape(-1).tolist())
    assert all(used.values())
    # one id space: any modality's ids decode through any other modality's decoder
    image_ids = omni.image.encode(inputs()["image"])  # [2, 4, 4]
    as_audio = omni.audio.decode(image_ids.reshape(2, 16))
    assert as_audio.shape == (2, 1, 16 * 8)


def test_views_are_tokenizers_with_their_own_specs(omni):
    assert not isinstance(omni, Tokenizer)  # several modalities: no single spec
    assert omni.modalities == ("image", "video", "audio") and set(omni.views) == set(omni.modalities)
    specs = {m: omni.view(m).spec for m in omni.modalities}
    assert all(isinstance(omni.view(m), Tokenizer) for m in omni.modalities)
    assert {s.codebook_sizes for s in specs.values()} == {(32,)} and {s.latent_dim for s in specs.values()} == {DIM}
    assert [specs[m].modality for m in omni.modalities] == ["image", "video", "audio"]
    assert specs["image"].downsample == (4, 4) and specs["image"].grid((16, 16)) == (4, 4)
    assert specs["video"].causal_time and specs["video"].fps == 8.0 and specs["video"].grid((5, 16, 16)) == (3, 8, 8)
    audio = specs["audio"]
    assert (audio.channels, audio.sample_rate, audio.token_rate, audio.downsample) == (1, 16_000, 2000.0, (8,))
    assert audio.grid((61,)) == (8,)  # pads up to the hop


@pytest.mark.parametrize("modality", ["image", "video", "audio"])
def test_round_trip_per_modality(omni, modality):
    """Contract 1 through each view: in eval, quantized is exactly decode(indices); decode(encode(x)) is the
    forward reconstruction; shapes follow the view's spec."""
    view, x = omni.view(modality), inputs()[modality]
    tokens = view.encode(x)
    assert tuple(tokens.shape) == (x.shape[0], *view.spec.token_shape(x.shape[2:]))
    out = view(x)
    assert torch.equal(out.quantizer.indices, tokens)
    assert torch.equal(omni.quantizer.decode(tokens), out.quantizer.quantized)
    decoded = view.decode(tokens)
    assert decoded.shape == x.shape and torch.equal(decoded, out.reconstruction)
    assert torch.equal(omni.encode(x, modality), tokens) and torch.equal(omni.decode(tokens, modality), decoded)
    with pytest.raises(IndexRangeError):
        view.decode(torch.full_like(tokens, 32))


def test_training_forward_reaches_every_part():
    omni = tiny_omni(("image", "audio"), bottleneck=True).train()
    x = inputs()
    loss = sum(
        (out.reconstruction - x[m]).square().mean() + out.quantizer.loss
        for m in ("image", "audio")
        for out in [omni(x[m], modality=m)]
    )
    loss.backward()
    for name in ("branches.image.encoder", "branches.audio.decoder", "bottleneck", "quantizer"):
        grads = [p.grad for p in omni.get_submodule(name).parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name


def test_a_batch_of_several_modalities_is_one_call_of_the_model_and_of_the_quantizer():
    """``omni(batches)`` (what OmniTrainer trains on) goes through the module's call, where FSDP gathers the weights
    outside the encoder and decoder blocks, and quantizes every modality's tokens in one quantizer call."""
    omni = tiny_omni(("image", "audio"), bottleneck=True).train()
    x = {m: v for m, v in inputs().items() if m != "video"}
    calls: dict[str, int] = {"omni": 0, "quantizer": 0}
    omni.register_forward_pre_hook(lambda *_: calls.__setitem__("omni", calls["omni"] + 1))
    omni.quantizer.register_forward_pre_hook(lambda *_: calls.__setitem__("quantizer", calls["quantizer"] + 1))
    joint = omni(x)
    assert calls == {"omni": 1, "quantizer": 1}
    assert list(joint.outputs) == ["image", "audio"] and joint.tokens == {"image": 2 * 4 * 4, "audio": 2 * 8}
    assert joint.quantizer.indices.shape == (1, 2 * 4 * 4 + 2 * 8)
    for m, out in joint.outputs.items():
        grid = omni.specs[m].grid(x[m].shape[2:])
        assert out.reconstruction.shape == x[m].shape and out.quantizer.indices.shape == (2, *grid)
    with pytest.raises(ConfigError, match="name the modality"):
        omni(x["image"])
    with pytest.raises(ConfigError, match="takes modality -> media"):
        omni(x, modality="image")
    with pytest.raises(ConfigError, match="no 'video' branch"):
        omni({"video": inputs()["video"]})


def test_bottleneck_starts_as_the_identity_and_is_shared():
    plain, shared = tiny_omni(("image", "audio")), tiny_omni(("image", "audio"), bottleneck=True)
    assert isinstance(shared.bottleneck, GridTransformer)
    for m, x in inputs().items():
        if m != "video":
            assert torch.allclose(shared.latents(x, m), plain.latents(x, m), atol=1e-6)
    with torch.no_grad():
        for p in shared.bottleneck.parameters():
            p.add_(0.05 * torch.randn_like(p))
    moved = shared.latents(inputs()["audio"], "audio")
    assert not torch.allclose(moved, plain.latents(inputs()["audio"], "audio"), atol=1e-3)
    with pytest.raises(AttributeError):  # streaming would bypass the bottleneck: the view hides the bare encoder
        shared.audio.encoder  # noqa: B018
    with pytest.raises(ConfigError, match="bottleneck works on 8 channels"):
        OmniTokenizer(VectorQuantizer(DIM, 32), tiny_branches(("image",)), bottleneck=GridTransformer(8, heads=2))


def test_construction_errors():
    image = tiny_branches(("image",))
    with pytest.raises(ConfigError, match="continuous"):
        OmniTokenizer(IdentityQuantizer(DIM), image)
    with pytest.raises(ConfigError, match="at least one branch"):
        OmniTokenizer(VectorQuantizer(DIM, 32), {})
    with pytest.raises(ConfigError, match="out_channels to 8"):
        OmniTokenizer(VectorQuantizer(8, 32), image)
    with pytest.raises(ConfigError, match="OmniBranch"):
        OmniTokenizer(VectorQuantizer(DIM, 32), {"image": ConvEncoder2d(out_channels=DIM, **CONV)})
    with pytest.raises(ConfigError, match="cannot name a branch"):
        OmniTokenizer(VectorQuantizer(DIM, 32), {"encode": image["image"]})
    with pytest.raises(ConfigError, match="no 'audio' branch; it holds image"):
        OmniTokenizer(VectorQuantizer(DIM, 32), image).view("audio")
    flat = OmniBranch(ConvEncoder2d(out_channels=DIM, **CONV), ConvDecoder2d(in_channels=DIM, **CONV), downsample=[4])
    with pytest.raises(ConfigError, match="the 'image' branch: image needs 2 downsample factors"):
        OmniTokenizer(VectorQuantizer(DIM, 32), {"image": flat})
    # FSQ is allowed (the library does not decide what to compare) and shares its implicit grid
    fsq = OmniTokenizer(FiniteScalarQuantizer(DIM, [5, 5, 5, 5]), tiny_branches(("image",)))
    assert fsq.image.spec.codebook_sizes == (625,)


OMNI_YAML = """
class_path: omnitok.models.OmniTokenizer
init_args:
  quantizer: {class_path: omnitok.quantizers.VectorQuantizer, init_args: {dim: 4, codebook_size: 32, update: learned}}
  bottleneck: {class_path: omnitok.nn.GridTransformer, init_args: {dim: 4, heads: 2}}
  branches:
    image:
      class_path: omnitok.models.OmniBranch
      init_args:
        encoder:
          class_path: omnitok.nn.ConvEncoder2d
          init_args: {out_channels: 4, base_channels: 8, channel_multipliers: [1, 2, 2], num_res_blocks: 1,
                      mid_attention: false, norm_groups: 4}
        decoder:
          class_path: omnitok.nn.ConvDecoder2d
          init_args: {in_channels: 4, base_channels: 8, channel_multipliers: [1, 2, 2], num_res_blocks: 1,
                      mid_attention: false, norm_groups: 4}
    audio:
      class_path: omnitok.models.OmniBranch
      init_args:
        encoder: {class_path: omnitok.nn.SEANetEncoder, init_args: {in_channels: 1, out_channels: 4, base_channels: 4,
                  strides: [2, 4], dilations: [1, 3], causal: true}}
        decoder: {class_path: omnitok.nn.SEANetDecoder, init_args: {in_channels: 4, out_channels: 1, base_channels: 4,
                  strides: [4, 2], dilations: [1, 3], causal: true}}
        channels: 1
        sample_rate: 16000
        token_rate: 2000.0
        pad_to_multiple: true
"""


def test_builds_from_yaml_and_writes_the_same_config_back():
    config = yaml.safe_load(OMNI_YAML)
    omni = instantiate(config)
    assert isinstance(omni, OmniTokenizer) and isinstance(omni.bottleneck, GridTransformer)
    assert omni.modalities == ("image", "audio") and omni.audio.spec.sample_rate == 16_000
    again = instantiate(to_config(omni))
    assert to_config(again) == to_config(omni)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in omni.state_dict().items()}
    config["init_args"]["branches"]["audio"]["init_args"]["sample_rat"] = 16000
    with pytest.raises(ConfigError, match="sample_rat"):
        instantiate(config)


def test_saves_and_loads_as_one_folder(omni, tmp_path):
    folder = omni.save_pretrained(tmp_path / "omni")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    back = load_tokenizer(folder)
    assert isinstance(back, OmniTokenizer) and back.modalities == omni.modalities
    assert back.state_dict().keys() == omni.state_dict().keys()
    assert all(torch.equal(back.state_dict()[k], v) for k, v in omni.state_dict().items())
    for modality, x in inputs().items():
        view = load_tokenizer(folder, modality=modality)
        assert isinstance(view, OmniView) and view.spec == omni.view(modality).spec
        assert torch.equal(view.encode(x), omni.view(modality).encode(x))
        assert view.weights_sha256 == back.weights_sha256 and len(view.weights_sha256) == 64
    with pytest.raises(ConfigError, match="has no 'speech' modality; it holds image, video, audio"):
        load_tokenizer(folder, modality="speech")
    image_only = OmniTokenizer(VectorQuantizer(DIM, 32), tiny_branches(("image",)))
    single = image_only.image  # a single-modality tokenizer: modality= only checks it
    assert load_tokenizer(single_folder := image_only.save_pretrained(tmp_path / "one"), modality="image").spec == (
        single.spec
    )
    from omnitok.models import Autoencoder

    plain = Autoencoder(ConvEncoder2d(out_channels=DIM, **CONV), VectorQuantizer(DIM, 32),
                        ConvDecoder2d(in_channels=DIM, **CONV), modality="image")  # fmt: skip
    plain_folder = plain.save_pretrained(tmp_path / "plain")
    assert load_tokenizer(plain_folder, modality="image").spec == plain.spec
    with pytest.raises(ConfigError, match="tokenizes image, not audio"):
        load_tokenizer(plain_folder, modality="audio")
    assert single_folder.is_dir()


def test_precision_keeps_the_shared_codebook_float32():
    omni = tiny_omni(("image", "audio"))
    view = omni.audio.to(torch.bfloat16)  # casting a view casts the whole omni model
    assert omni.quantizer.codebook.dtype == torch.float32
    assert omni.branches["image"].encoder.conv_in.weight.dtype == torch.bfloat16
    assert view.dtype == torch.bfloat16 == omni.dtype
    tokens = view.encode(inputs()["audio"])
    assert view.decode(tokens).dtype == torch.bfloat16


def test_bf16_codes_image_and_audio_with_the_float32_codebook():
    """Cast to bf16 (``load_tokenizer(dtype="bf16")``) and under bf16 autocast (Lightning's ``bf16-mixed``), as for an
    Autoencoder (tests/models/test_precision.py, whose bounds apply): the networks run in bf16, the shared quantizer
    keeps its float32 state bit for bit, and the tokens are the float32 code search's on the bf16 latents."""
    import copy

    from tests.models.test_precision import BOUNDS

    lowest, _, decode_bound = BOUNDS[torch.bfloat16]
    full = tiny_omni(("image", "audio"))
    half = copy.deepcopy(full).to(torch.bfloat16)
    kept = half.quantizer.state_dict()
    assert all(torch.equal(v, kept[k]) and kept[k].dtype == v.dtype for k, v in full.quantizer.state_dict().items())
    for modality in ("image", "audio"):
        x = inputs()[modality]
        tokens, wanted = half.view(modality).encode(x), full.view(modality).encode(x)
        latents = half.latents(x.to(torch.bfloat16), modality)
        assert latents.dtype == torch.bfloat16 and torch.equal(tokens, full.quantizer.encode(latents.float()))
        assert (tokens == wanted).float().mean() >= lowest
        decoded, expected = half.view(modality).decode(wanted), full.view(modality).decode(wanted)
        assert decoded.dtype == torch.bfloat16 and decoded.shape == x.shape
        assert (decoded.float() - expected).norm() / expected.norm() <= decode_bound
        with torch.autocast("cpu", dtype=torch.bfloat16):  # float32 weights, bf16 compute
            out, latents = full(x, modality=modality), full.latents(x, modality)
        assert out.reconstruction.dtype == latents.dtype == torch.bfloat16
        assert out.quantizer.quantized.dtype == torch.float32
        assert torch.equal(out.quantizer.indices, full.quantizer.encode(latents.float()))


def test_a_residual_codebook_is_shared_level_by_level():
    from omnitok.quantizers import ResidualQuantizer
    from omnitok.unified import ByteTextVocabulary, MediaSpan, SharedVocabulary

    torch.manual_seed(0)
    rvq = ResidualQuantizer(VectorQuantizer(DIM, 16, update="learned"), num_levels=2)
    omni = OmniTokenizer(rvq, tiny_branches(("image", "audio"))).eval()
    assert sorted(k for k in omni.state_dict() if k.endswith("codebook")) == [
        "quantizer.levels.0.codebook",
        "quantizer.levels.1.codebook",
    ]
    x = inputs()
    image, audio = omni.image.encode(x["image"]), omni.audio.encode(x["audio"])
    assert image.shape == (2, 4, 4, 2) and audio.shape == (2, 8, 2)
    assert torch.equal(omni.audio(x["audio"]).quantizer.quantized, rvq.decode(audio))
    vocab = SharedVocabulary(ByteTextVocabulary(), omni.views)
    assert [vocab.range_of("audio", q) for q in (0, 1)] == [vocab.range_of("image", q) for q in (0, 1)]
    (span,) = vocab.unpack(vocab.pack([MediaSpan("audio", audio[:1])], bos=False, eos=False).ids)
    assert torch.equal(span.tokens, audio[:1])
