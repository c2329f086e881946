"""Vision teachers from timm: SigLIP / SigLIP 2, DINOv2, CLIP and EVA-CLIP ViTs (patch-token feature maps).

``pretrained=True`` is the real path: timm downloads the weights from the Hugging Face hub (or reads its cache)
the first time. ``pretrained=False`` builds the same network with random weights (tests, or a shape dry-run).
Inputs arrive in the tokenizer's range [-1, 1]; the teacher resizes them to its own resolution and applies the
normalization the pretrained weights expect (``pretrained_cfg`` mean / std: 0.5 for SigLIP, ImageNet statistics
for DINOv2, the OpenAI CLIP statistics for CLIP / EVA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from omnitok.errors import ConfigError, WeightsError
from omnitok.semantic.base import SemanticTeacher

VISION_TEACHERS: dict[str, str] = {
    "siglip": "vit_so400m_patch14_siglip_384.webli",
    "siglip2": "vit_base_patch16_siglip_224.v2_webli",
    "dinov2": "vit_base_patch14_dinov2.lvd142m",
    "clip": "vit_base_patch16_clip_224.openai",
    "eva_clip": "eva02_base_patch16_clip_224.merged2b",
}
"""Short names for the usual towers (any timm ViT name works too)."""


class VisionTeacher(SemanticTeacher):
    """A frozen timm ViT; features are its final patch tokens as a map [B, dim, h, w] (prefix tokens dropped).

    Args:
        model_name: a timm model name (with an optional ``.tag``), or a key of :data:`VISION_TEACHERS`.
        pretrained: load the pretrained weights (the real path); False: random init.
        image_size: run the ViT at this resolution instead of its default (position embeddings resampled by timm).
    """

    modality = "image"

    def __init__(self, model_name: str = "siglip2", pretrained: bool = True, image_size: int | None = None):
        super().__init__()
        import timm

        name = VISION_TEACHERS.get(model_name, model_name)
        kwargs = {"img_size": image_size} if image_size else {}
        try:
            self.model = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
        except RuntimeError as err:
            if "Unknown model" in str(err):
                raise ConfigError(f"timm has no model {name!r} (known short names: {sorted(VISION_TEACHERS)})") from err
            raise WeightsError(
                f"could not load the weights of {name!r} ({err}); they download once with network access"
            ) from err
        except OSError as err:
            raise WeightsError(
                f"could not load the weights of {name!r} ({err}); they download once with network access"
            ) from err
        if not hasattr(self.model, "patch_embed"):
            raise ConfigError(f"{name!r} is not a ViT with patch tokens (no patch_embed); pick a ViT teacher")
        self.model_name, self.pretrained = name, pretrained
        cfg = self.model.pretrained_cfg
        self.image_size = tuple(self.model.patch_embed.img_size)
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.5, 0.5, 0.5))).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.5, 0.5, 0.5))).view(1, 3, 1, 1), persistent=False)
        self.dim = int(self.model.num_features)
        self.freeze()

    @property
    def grid(self) -> tuple[int, int]:
        """The teacher's own patch grid (h, w)."""
        return tuple(self.model.patch_embed.grid_size)

    def extract(self, x: Tensor) -> Tensor:
        """x [B, 3, H, W] in [-1, 1] -> patch features [B, dim, h, w]."""
        x = (x.float() + 1) / 2
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bicubic", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        tokens = self.model.forward_features(x)  # (B, prefix + h*w, dim)
        tokens = tokens[:, getattr(self.model, "num_prefix_tokens", 0) :]
        h, w = self.grid
        return tokens.transpose(1, 2).reshape(x.shape[0], self.dim, h, w)
