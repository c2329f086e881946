"""Tiny random-init diffusers/transformers tokenizers, built offline in milliseconds.

The architecture numbers here are the ones the tests derive each spec's downsampling from by hand.
transformers' VQGANs hard-code GroupNorm(32 groups), so their channels start at 32.
"""

import torch

# diffusers: three levels (block_out_channels of length 3) -> two stride-2 steps -> f = 2 ** (3 - 1) = 4
DIFFUSERS_ARCH = {
    "block_out_channels": (8, 16, 16),
    "down_block_types": ("DownEncoderBlock2D",) * 3,
    "up_block_types": ("UpDecoderBlock2D",) * 3,
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "sample_size": 16,
}
# diffusers Cosmos: patch 2, then one down block (of the four; the last two never downsample) halving time and
# space -> t = s = 2 * 2 = 4; attention at resolution 16 // 2 // 2 = 4, i.e. in the second block
COSMOS_ARCH = {
    "latent_channels": 4,
    "encoder_block_out_channels": (8, 8, 16, 16),
    "decode_block_out_channels": (8, 8, 16, 16),
    "attention_resolutions": (4,),
    "resolution": 16,
    "num_layers": 1,
    "patch_size": 2,
    "spatial_compression_ratio": 4,
    "temporal_compression_ratio": 4,
    "latents_mean": None,
    "latents_std": None,
}
# transformers: channel_multiplier of length 2 -> one stride-2 step -> f = 2 ** (2 - 1) = 2
CHAMELEON = {
    "embed_dim": 4,
    "num_embeddings": 16,
    "latent_channels": 4,
    "resolution": 16,
    "base_channels": 32,
    "channel_multiplier": [1, 1],
    "num_res_blocks": 1,
    "attn_resolutions": [8],
}
EMU3 = {
    "codebook_size": 16,
    "embed_dim": 4,
    "latent_channels": 4,
    "temporal_downsample_factor": 2,
    "base_channels": 32,
    "channel_multiplier": [1, 1],
    "num_res_blocks": 1,
    "attn_resolutions": [1],
    "hidden_size": 32,
    "num_attention_heads": 1,
}
JANUS = {
    "embed_dim": 4,
    "num_embeddings": 16,
    "latent_channels": 4,
    "base_channels": 32,
    "channel_multiplier": [1, 1],
    "num_res_blocks": 1,
    "num_patches": 8,
    "projection_dim": 16,
    "image_token_embed_dim": 16,
}
TEXT = {
    "vocab_size": 64,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def build_vqmodel(**overrides):
    from diffusers import VQModel

    torch.manual_seed(0)
    model = VQModel(**{**DIFFUSERS_ARCH, "latent_channels": 3, "num_vq_embeddings": 16, "vq_embed_dim": 5, **overrides})
    model.eval()
    with torch.no_grad():
        _fit_codebook(model.quantize.embedding.weight, model.encode(images(4, 3, 16, 16, seed=7)).latents)
    return model


def build_autoencoder_kl(**overrides):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    arch = {**DIFFUSERS_ARCH, "latent_channels": 4, "scaling_factor": 0.3611, "shift_factor": 0.1159, **overrides}
    return AutoencoderKL(**arch).eval()


def build_cosmos(**overrides):
    from diffusers import AutoencoderKLCosmos

    torch.manual_seed(0)
    return AutoencoderKLCosmos(**{**COSMOS_ARCH, **overrides}).eval()


def build_vq(name):
    """The VQ model alone: "chameleon", "emu3" or "janus"."""
    import transformers

    torch.manual_seed(0)
    config_class, model_class, arch = {
        "chameleon": (transformers.ChameleonVQVAEConfig, transformers.ChameleonVQVAE, CHAMELEON),
        "emu3": (transformers.Emu3VQVAEConfig, transformers.Emu3VQVAE, EMU3),
        "janus": (transformers.JanusVQVAEConfig, transformers.JanusVQVAE, JANUS),
    }[name]
    model = model_class(config_class(**arch)).eval()
    _fit_codebook_vq(model, name)
    return model


def build_full(name):
    """The whole (tiny) multimodal model holding the VQ as ``model.vqmodel``, as the hub checkpoints ship."""
    import transformers

    torch.manual_seed(0)
    if name == "chameleon":
        config = transformers.ChameleonConfig(vq_config=CHAMELEON, vocabulary_map={"<image>": 3}, **TEXT)
        model = transformers.ChameleonForConditionalGeneration(config)
    elif name == "emu3":
        config = transformers.Emu3Config(vq_config=EMU3, text_config=TEXT, vocabulary_map={"<image>": 3})
        model = transformers.Emu3ForConditionalGeneration(config)
    else:
        vision = {
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "image_size": 32,
            "patch_size": 16,
            "projection_dim": 16,
        }
        config = transformers.JanusConfig(
            vq_config=JANUS, text_config=dict(model_type="llama", **TEXT), vision_config=vision
        )
        model = transformers.JanusForConditionalGeneration(config)
    model.eval()
    _fit_codebook_vq(model.model.vqmodel, name)
    return model


def images(*shape, seed=1):
    """Random images in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=generator) * 2 - 1


@torch.no_grad()
def _fit_codebook_vq(model, name):
    x = images(4, 3, 16, 16, seed=7)
    if name == "emu3":  # the model's image path: repeat the frame, encode, quant_conv over (B, C, T, h, w)
        frames = x.unsqueeze(1).repeat(1, model.config.temporal_downsample_factor, 1, 1, 1)
        latents = model.quant_conv(model.encoder(frames).permute(0, 2, 1, 3, 4))[:, :, 0]
    else:
        latents = model.quant_conv(model.encoder(x))
    _fit_codebook(model.quantize.embedding.weight, latents)


def _fit_codebook(codebook, latents):
    """Codes drawn around the latents' per-channel mean and spread, so random images use many of them."""
    generator = torch.Generator().manual_seed(3)
    flat = latents.transpose(0, 1).flatten(1)  # (D, N)
    codes = flat.mean(1) + flat.std(1) * torch.randn(codebook.shape, generator=generator)
    codebook.copy_(codes)
