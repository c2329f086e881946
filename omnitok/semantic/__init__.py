"""Frozen semantic teachers (timm vision towers, torchaudio speech models, the quickstart scene classifier) and
the alignment of their features with a tokenizer's token grid. timm / torchaudio load inside the constructors."""

from omnitok.semantic.align import align_to_grid, fold_frames, unfold_frames
from omnitok.semantic.base import SemanticTeacher
from omnitok.semantic.scene import SceneClassifier, SceneTeacher, save_scene_teacher, train_scene_classifier
from omnitok.semantic.speech import SPEECH_BUNDLES, SpeechTeacher
from omnitok.semantic.vision import VISION_TEACHERS, VisionTeacher

__all__ = [
    "SPEECH_BUNDLES",
    "VISION_TEACHERS",
    "SceneClassifier",
    "SceneTeacher",
    "SemanticTeacher",
    "SpeechTeacher",
    "VisionTeacher",
    "align_to_grid",
    "fold_frames",
    "save_scene_teacher",
    "train_scene_classifier",
    "unfold_frames",
]
