"""Hybrid tokenizers: the shared-index dual codebook (codebook contract + one id decodes to both branches), the
semantic head's gradients, the first-RVQ-level source, and the decoupled pair of protocol tokenizers."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from omnitok.config import instantiate, to_config
from omnitok.errors import ConfigError
from omnitok.models import Autoencoder, DecoupledTokenizer, ParallelEncoder, SemanticAutoencoder, TeacherTokenizer
from omnitok.nn import ConvDecoder2d, ConvEncoder2d
from omnitok.protocol import Tokenizer
from omnitok.quantizers import DualCodebookQuantizer, ResidualQuantizer, VectorQuantizer
from omnitok.semantic import SceneTeacher
from omnitok.trainers.semantic_losses import SemanticDistillationLoss

CONV = {
    "base_channels": 8,
    "channel_multipliers": [1, 2, 2],
    "num_res_blocks": 1,
    "mid_attention": False,
    "norm_groups": 4,
}


def dual(**kwargs) -> DualCodebookQuantizer:
    return DualCodebookQuantizer(**{"pixel_dim": 3, "semantic_dim": 5, "codebook_size": 16, **kwargs})


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_dual_codebook_joint_choice_matches_a_written_out_formula(metric):
    torch.manual_seed(0)
    q = dual(metric=metric, semantic_weight=2.0).eval()
    z = torch.randn(2, 8, 4, 5)
    flat = z.movedim(1, -1).reshape(-1, 8)
    p, s = flat[:, :3], flat[:, 3:]
    cp, cs = q.codebook[:, :3], q.codebook[:, 3:]
    if metric == "cosine":
        p, s = F.normalize(p, dim=1), F.normalize(s, dim=1)
    distance = torch.cdist(p, cp).square() + 2.0 * torch.cdist(s, cs).square()  # d_pixel + w * d_semantic
    expected = distance.argmin(1).reshape(2, 4, 5)
    assert torch.equal(q.encode(z), expected)


def test_dual_codebook_keeps_the_codebook_contract():
    q = dual(kmeans_init=True, dead_code_threshold=0.5)
    z = torch.randn(2, 8, 4, 5, requires_grad=True)
    out = q(z)  # training step: k-means init, EMA update
    assert out.quantized.shape == z.shape and out.indices.shape == (2, 4, 5) and out.indices.dtype == torch.long
    (out.quantized.square().sum() + out.loss).backward()
    assert z.grad.abs().sum() > 0
    q.eval()
    z = torch.randn(2, 8, 3, 3)
    out = q(z)
    assert torch.equal(q.decode(q.encode(z)), out.quantized)
    assert torch.equal(q.encode(z), out.indices)
    assert q.codebook_sizes == (16,) and q.dim == 8 and q.discrete
    rebuilt = instantiate(to_config(q))
    assert isinstance(rebuilt, DualCodebookQuantizer) and rebuilt.semantic_dim == 5


def test_one_id_decodes_to_both_branches():
    q = dual().eval()
    ids = torch.tensor([[3, 7], [7, 0]])
    pixel, semantic = q.decode_branches(ids)
    assert pixel.shape == (2, 3, 2) and semantic.shape == (2, 5, 2)
    torch.testing.assert_close(pixel[0, :, 1], q.codebook[7, :3])
    torch.testing.assert_close(semantic[1, :, 0], q.codebook[7, 3:])  # same id, same pair, anywhere


def _dual_tokenizer(teacher_dim: int = 6) -> SemanticAutoencoder:
    encoder = ParallelEncoder([ConvEncoder2d(out_channels=4, **CONV), ConvEncoder2d(out_channels=4, **CONV)])
    return SemanticAutoencoder(
        encoder, dual(pixel_dim=4, semantic_dim=4, codebook_size=32), ConvDecoder2d(in_channels=4, **CONV),
        nn.Conv2d(4, teacher_dim, 1), "image", pixel_channels=4,
    )  # fmt: skip


def test_dual_tokenizer_routes_halves_and_decodes_both():
    model = _dual_tokenizer().eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    tokens = model.encode(x)
    assert tokens.shape == (2, 4, 4)
    pixel, semantic = model.quantizer.decode_branches(tokens)
    torch.testing.assert_close(model.decode(tokens), model.decoder(pixel))
    torch.testing.assert_close(model.decode_semantic(tokens), model.semantic_head(semantic))
    out = model(x)
    torch.testing.assert_close(out.semantic, model.decode_semantic(tokens))
    with pytest.raises(ConfigError):  # the decoder must take the pixel half only
        SemanticAutoencoder(
            model.encoder,
            model.quantizer,
            ConvDecoder2d(in_channels=8, **CONV),
            nn.Conv2d(4, 6, 1),
            "image",
            pixel_channels=4,
        )


def test_distillation_gradient_reaches_encoder_and_head_but_not_teacher_or_decoder():
    torch.manual_seed(0)
    teacher = SceneTeacher(channels=16)
    model = SemanticAutoencoder(
        ConvEncoder2d(out_channels=8, **CONV), VectorQuantizer(8, 32), ConvDecoder2d(in_channels=8, **CONV),
        nn.Conv2d(8, 16, 1), "image",
    )  # fmt: skip
    term = SemanticDistillationLoss(teacher, kind="cosine+l2")
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = model(x)
    loss = term(out.reconstruction, x, out)
    loss.backward()
    assert model.semantic_head.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters() if p.ndim > 1)
    assert all(p.grad is None for p in model.decoder.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    # the figure by hand: 1 - cosine per token + MSE to the layer-normed teacher features at the 4 x 4 grid
    wanted = F.adaptive_avg_pool2d(teacher.network.features(x), (4, 4))
    cos = (1 - F.cosine_similarity(out.semantic, wanted, dim=1)).mean()
    normed = (wanted - wanted.mean(1, keepdim=True)) / (wanted.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt()
    torch.testing.assert_close(loss, cos + F.mse_loss(out.semantic, normed), rtol=1e-4, atol=1e-5)


def test_first_level_source_uses_rvq1_codes_with_gradient_to_the_encoder():
    rvq = ResidualQuantizer(VectorQuantizer(8, 16), num_levels=3)
    model = SemanticAutoencoder(
        ConvEncoder2d(out_channels=8, **CONV), rvq, ConvDecoder2d(in_channels=8, **CONV), nn.Conv2d(8, 5, 1), "image",
        semantic_source="first_level",
    )  # fmt: skip
    model.eval()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    out = model(x)
    first = rvq.decode(out.quantizer.indices[..., :1])
    torch.testing.assert_close(out.semantic, model.semantic_head(first))
    torch.testing.assert_close(model.decode_semantic(model.encode(x)), out.semantic)
    model.train()
    out = model(x)
    out.semantic.sum().backward()
    assert model.encoder.conv_out.weight.grad.abs().sum() > 0 if hasattr(model.encoder, "conv_out") else True
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    with pytest.raises(ConfigError):
        SemanticAutoencoder(
            ConvEncoder2d(out_channels=8, **CONV), VectorQuantizer(8, 16), ConvDecoder2d(in_channels=8, **CONV),
            nn.Conv2d(8, 5, 1), "image", semantic_source="first_level",
        )  # fmt: skip


def test_decoupled_tokenizer_holds_two_protocol_tokenizers(tmp_path):
    import omnitok

    understanding = TeacherTokenizer(SceneTeacher(channels=16), downsample=[4, 4])
    generation = Autoencoder(
        ConvEncoder2d(out_channels=8, **CONV), VectorQuantizer(8, 32), ConvDecoder2d(in_channels=8, **CONV), "image"
    )
    pair = DecoupledTokenizer(understanding, generation).eval()
    assert isinstance(pair.understanding, Tokenizer) and isinstance(pair.generation, Tokenizer)
    assert not pair.understanding.spec.discrete and pair.generation.spec.discrete
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    features = pair.understanding.encode(x)
    assert features.shape == (2, 16, 8, 8) and pair.understanding.spec.grid((32, 32)) == (8, 8)
    torch.testing.assert_close(features, understanding.teacher.network.features(x))
    tokens = pair.generation.encode(x)
    assert tokens.shape == (2, 8, 8) and pair.generation.decode(tokens).shape == x.shape
    with pytest.raises(ConfigError):
        pair.understanding.decode(features)  # no pixel decoder: says so
    out = pair(x)
    torch.testing.assert_close(out.semantic, features)
    pair.save_pretrained(tmp_path / "pair")
    loaded = omnitok.load_tokenizer(tmp_path / "pair")
    assert torch.equal(loaded.generation.encode(x), tokens)
    with pytest.raises(ConfigError):
        DecoupledTokenizer(generation, understanding)
