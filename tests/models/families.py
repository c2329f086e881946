"""One tiny random-init image tokenizer per family, for checks that must cover them all (VQ, FSQ, LFQ, residual VQ,
KL), built from the quickstart recipes shrunk by ``tests.trainers.recipes.TINY``."""

from __future__ import annotations

import torch
from torch import nn

from omnitok.config import instantiate
from tests.trainers.recipes import tiny_recipe


def tiny_image_tokenizers() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    built = {
        name: instantiate(tiny_recipe(f"quickstart_{name}")["model"]["init_args"]["tokenizer"])
        for name in ("vq", "fsq", "lfq", "kl")
    }
    residual = tiny_recipe("quickstart_vq")["model"]["init_args"]["tokenizer"]
    residual["init_args"]["quantizer"] = {
        "class_path": "omnitok.quantizers.ResidualQuantizer",
        "init_args": {
            "levels": {"class_path": "omnitok.quantizers.VectorQuantizer", "init_args": {"dim": 32, "codebook_size": 256}},
            "num_levels": 4,
        },
    }
    built["rvq"] = instantiate(residual)
    return {name: model.eval() for name, model in built.items()}


FAMILIES = (
    "image/vq", "image/fsq", "image/lfq", "image/kl", "image/rvq", "image/grouped", "hybrid/distilled_vq",
    "hybrid/dual_codebook", "hybrid/decoupled", "hybrid/speech_first_level", "video/fsq", "video/vq", "video/kl",
    "audio/rvq", "audio/residual_fsq", "audio/continuous_lstm",
)


def every_family() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """One tiny random-init tokenizer per family we ship, with an input batch: image VQ/FSQ/LFQ/residual/grouped/KL,
    hybrid (distilled VQ, dual codebook, decoupled pair, speech first-level RVQ), video (causal FSQ, VQ, KL) and
    audio (SEANet RVQ, residual FSQ, continuous, with an LSTM). Eval mode, float32."""
    from omnitok.models import Autoencoder, DecoupledTokenizer, ParallelEncoder, SemanticAutoencoder, TeacherTokenizer
    from omnitok.nn import CausalVideoDecoder, CausalVideoEncoder, ConvDecoder2d, ConvEncoder2d
    from omnitok.quantizers import (
        DualCodebookQuantizer,
        FiniteScalarQuantizer,
        GaussianQuantizer,
        GroupedQuantizer,
        IdentityQuantizer,
        ResidualQuantizer,
        VectorQuantizer,
    )
    from omnitok.semantic import SceneTeacher
    from tests.nn.audio_models import tiny_codec

    torch.manual_seed(0)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    audio = torch.rand(2, 1, 512) * 1.6 - 0.8
    conv = {"base_channels": 8, "channel_multipliers": [1, 2, 2], "num_res_blocks": 1, "mid_attention": False,
            "norm_groups": 4}  # fmt: skip
    vid = {"base_channels": 8, "channel_multipliers": [1, 2], "num_res_blocks": 1, "temporal_downsample": 2,
           "norm_groups": 4}  # fmt: skip

    def image_model(quantizer, cls=Autoencoder, **kwargs):
        width = quantizer.input_dim
        decoder_width = kwargs.get("pixel_channels") or quantizer.dim
        return cls(ConvEncoder2d(out_channels=width, **conv), quantizer=quantizer,
                   decoder=ConvDecoder2d(in_channels=decoder_width, **conv), modality="image", **kwargs)  # fmt: skip

    def video_model(quantizer):
        return Autoencoder(CausalVideoEncoder(out_channels=quantizer.input_dim, **vid), quantizer,
                           CausalVideoDecoder(in_channels=quantizer.dim, **vid), modality="video", causal_time=True,
                           fps=8.0)  # fmt: skip

    families: dict[str, tuple[nn.Module, torch.Tensor]] = {
        f"image/{name}": (model, image) for name, model in tiny_image_tokenizers().items()
    }
    families["image/grouped"] = (image_model(GroupedQuantizer(VectorQuantizer(8, 64), num_groups=4)), image)
    families["hybrid/distilled_vq"] = (
        image_model(VectorQuantizer(8, 64), SemanticAutoencoder, semantic_head=nn.Conv2d(8, 16, 1)), image
    )
    dual = DualCodebookQuantizer(pixel_dim=4, semantic_dim=4, codebook_size=64)
    families["hybrid/dual_codebook"] = (
        SemanticAutoencoder(
            ParallelEncoder([ConvEncoder2d(out_channels=4, **conv), ConvEncoder2d(out_channels=4, **conv)]), dual,
            ConvDecoder2d(in_channels=4, **conv), nn.Conv2d(4, 16, 1), "image", pixel_channels=4,
        ), image,
    )  # fmt: skip
    families["hybrid/decoupled"] = (
        DecoupledTokenizer(
            TeacherTokenizer(SceneTeacher(channels=16), downsample=[4, 4]), image_model(VectorQuantizer(8, 64))
        ), image,
    )  # fmt: skip
    speech = tiny_codec(ResidualQuantizer(VectorQuantizer(8, 32), num_levels=3))
    families["hybrid/speech_first_level"] = (
        SemanticAutoencoder(speech.encoder, speech.quantizer, speech.decoder, nn.Conv1d(8, 16, 1), "audio",
                            semantic_source="first_level", channels=1, sample_rate=16_000,
                            pad_to_multiple=True),
        audio,
    )  # fmt: skip
    families["video/fsq"] = (video_model(FiniteScalarQuantizer(4, [5, 5, 5, 5])), video)
    families["video/vq"] = (video_model(VectorQuantizer(4, 64)), video)
    families["video/kl"] = (video_model(GaussianQuantizer(4)), video)
    families["audio/rvq"] = (tiny_codec(ResidualQuantizer(VectorQuantizer(8, 32), num_levels=4)), audio)
    families["audio/residual_fsq"] = (
        tiny_codec(ResidualQuantizer(FiniteScalarQuantizer(8, [5, 5, 5]), num_levels=3, level_scales=[1, 0.2, 0.04])),
        audio,
    )
    families["audio/continuous_lstm"] = (tiny_codec(IdentityQuantizer(8), lstm_layers=1), audio)
    return {name: (model.eval(), x) for name, (model, x) in families.items()}
