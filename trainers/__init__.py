"""Training systems (installed as ``omnitok.trainers``): the generic tokenizer LightningModule, training-only
losses, DataModules, callbacks and the run driver behind ``omnitok train``.

Imports lightning, so ``import omnitok`` never imports this package.
"""

from omnitok.trainers.adversarial import AdversarialLoss, PatchDiscriminator
from omnitok.trainers.audio_data import AudioDataModule
from omnitok.trainers.audio_discriminators import (
    CombinedDiscriminator,
    FeatureMatchingGANLoss,
    MultiPeriodDiscriminator,
    MultiScaleSTFTDiscriminator,
)
from omnitok.trainers.audio_losses import MultiResolutionSTFTLoss, MultiScaleMelLoss, SISDRLoss
from omnitok.trainers.data import ImageDataModule
from omnitok.trainers.ema import WeightEma
from omnitok.trainers.export import export_checkpoint, tokenizer_from_checkpoint
from omnitok.trainers.losses import PerceptualLoss, ReconstructionLoss
from omnitok.trainers.omni_data import OmniDataModule
from omnitok.trainers.omni_system import OmniTrainer
from omnitok.trainers.run import RunSettings, train
from omnitok.trainers.semantic_losses import SemanticDistillationLoss
from omnitok.trainers.system import TokenizerTrainer
from omnitok.trainers.video_data import VideoDataModule
from omnitok.trainers.video_discriminators import PatchDiscriminator3d

__all__ = [
    "AdversarialLoss",
    "AudioDataModule",
    "CombinedDiscriminator",
    "FeatureMatchingGANLoss",
    "ImageDataModule",
    "MultiPeriodDiscriminator",
    "MultiResolutionSTFTLoss",
    "MultiScaleMelLoss",
    "MultiScaleSTFTDiscriminator",
    "OmniDataModule",
    "OmniTrainer",
    "PatchDiscriminator",
    "PatchDiscriminator3d",
    "PerceptualLoss",
    "ReconstructionLoss",
    "RunSettings",
    "SISDRLoss",
    "SemanticDistillationLoss",
    "TokenizerTrainer",
    "VideoDataModule",
    "WeightEma",
    "export_checkpoint",
    "tokenizer_from_checkpoint",
    "train",
]
