"""Speech teachers from torchaudio: HuBERT and WavLM (the SpeechTokenizer / Mimi distillation targets).

``pretrained=True`` is the real path: ``torchaudio.pipelines.<BUNDLE>.get_model()`` downloads the weights once
(or reads torch hub's cache). ``pretrained=False`` builds the bundle's architecture with random weights
(``architecture`` may shrink it, e.g. two transformer layers for a CPU quickstart or a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from omnitok.errors import ConfigError, WeightsError
from omnitok.semantic.base import SemanticTeacher

SPEECH_BUNDLES = ("HUBERT_BASE", "HUBERT_LARGE", "WAVLM_BASE", "WAVLM_BASE_PLUS", "WAVLM_LARGE", "WAV2VEC2_BASE")


class SpeechTeacher(SemanticTeacher):
    """A frozen wav2vec2-family model; features are one transformer layer's output [B, dim, frames] (50 per s).

    Args:
        bundle: a ``torchaudio.pipelines`` bundle name (HUBERT_BASE, WAVLM_BASE, ...).
        pretrained: load the bundle's weights (the real path); False: random init of its architecture.
        layer: transformer layer whose output is the feature (1-based; None: the last). SpeechTokenizer distils
            HuBERT's average over layers; layer 9 of HuBERT base is the usual choice for phonetic content.
        sample_rate: rate of the audio this teacher receives; resampled to the bundle's rate (16 kHz) if different.
        architecture: random init only: overrides of the bundle's architecture parameters (e.g.
            ``{"encoder_num_layers": 2}``).
    """

    modality = "audio"

    def __init__(
        self,
        bundle: str = "HUBERT_BASE",
        pretrained: bool = True,
        layer: int | None = None,
        sample_rate: int = 16000,
        architecture: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        import torchaudio

        if bundle not in SPEECH_BUNDLES:
            raise ConfigError(f"unknown speech teacher bundle {bundle!r}; choose from {SPEECH_BUNDLES}")
        source = getattr(torchaudio.pipelines, bundle)
        if pretrained and architecture:
            raise ConfigError("architecture overrides apply to random-init teachers only (pretrained: false)")
        if pretrained:
            try:
                self.model = source.get_model()
            except Exception as err:  # network, missing cache: one clear failure
                raise WeightsError(
                    f"could not load the {bundle} weights ({err}); they download once with network access"
                ) from err
        else:
            params = {**source._params, **dict(architecture or {})}  # the bundle's own architecture description
            build = torchaudio.models.wavlm_model if "WAVLM" in bundle else torchaudio.models.wav2vec2_model
            try:
                self.model = build(**params)
            except TypeError as err:
                raise ConfigError(f"bad architecture overrides for {bundle}: {err}") from err
        num_layers = len(self.model.encoder.transformer.layers)
        if layer is not None and not 1 <= layer <= num_layers:
            raise ConfigError(f"layer must be in [1, {num_layers}] for this {bundle}, got {layer}")
        self.bundle, self.pretrained, self.layer = bundle, pretrained, layer or num_layers
        self.model_rate, self.sample_rate = int(source.sample_rate), int(sample_rate)
        self.dim = int(self.model.encoder.feature_projection.projection.out_features)
        self.freeze()

    def extract(self, x: Tensor) -> Tensor:
        """x [B, 1, S] in [-1, 1] at ``sample_rate`` -> features [B, dim, frames]."""
        if x.shape[1] != 1:
            raise ConfigError(f"SpeechTeacher takes mono audio [B, 1, S], got {x.shape[1]} channels")
        wave = x[:, 0].float()
        if self.sample_rate != self.model_rate:
            import torchaudio

            wave = torchaudio.functional.resample(wave, self.sample_rate, self.model_rate)
        with torch.autocast(wave.device.type, enabled=False):
            layers, _ = self.model.extract_features(wave, num_layers=self.layer)
        return layers[-1].transpose(1, 2)  # (B, dim, frames)
