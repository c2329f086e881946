"""Teachers (random init; real weights load through the same constructors with pretrained=True): layouts,
normalization, freezing, video per frame, and the scene classifier's training and saving."""

import pytest
import torch

from omnitok.errors import ConfigError, ShapeError, WeightsError
from omnitok.semantic import SceneTeacher, SpeechTeacher, VisionTeacher, save_scene_teacher

TINY_SPEECH = {
    "extractor_conv_layer_config": [
        [16, 10, 5],
        [16, 3, 2],
        [16, 3, 2],
        [16, 3, 2],
        [16, 3, 2],
        [16, 2, 2],
        [16, 2, 2],
    ],
    "encoder_embed_dim": 32,
    "encoder_num_heads": 2,
    "encoder_ff_interm_features": 64,
    "encoder_num_layers": 2,
    "encoder_pos_conv_kernel": 8,
    "encoder_pos_conv_groups": 4,
}


def test_vision_teacher_patch_grid_matches_timm_tokens():
    teacher = VisionTeacher("vit_tiny_patch16_224", pretrained=False, image_size=32)
    assert teacher.dim == 192 and teacher.grid == (2, 2)
    assert not any(p.requires_grad for p in teacher.parameters())
    x = torch.rand(2, 3, 48, 48) * 2 - 1  # resized to 32 inside
    features = teacher(x)
    assert features.shape == (2, 192, 2, 2)
    # the same numbers by hand: [-1, 1] -> [0, 1] -> resize -> (x - 0.5) / 0.5, patch tokens after the class token
    y = torch.nn.functional.interpolate((x + 1) / 2, size=(32, 32), mode="bicubic", antialias=True)
    tokens = teacher.model.forward_features((y - 0.5) / 0.5)[:, 1:]
    torch.testing.assert_close(features, tokens.transpose(1, 2).reshape(2, 192, 2, 2))
    teacher.train()
    assert not teacher.training  # frozen: stays in eval


def test_vision_teacher_video_is_per_frame_and_at_grid():
    teacher = VisionTeacher("vit_tiny_patch16_224", pretrained=False, image_size=32)
    video = torch.rand(1, 3, 3, 32, 32) * 2 - 1
    features = teacher(video)
    assert features.shape == (1, 192, 3, 2, 2)
    torch.testing.assert_close(features[:, :, 1], teacher(video[:, :, 1]))
    assert teacher.at_grid(video, (2, 4, 4)).shape == (1, 192, 2, 4, 4)
    with pytest.raises(ShapeError):
        teacher(torch.randn(3, 32, 32))


def test_unknown_vision_teacher_is_a_config_error():
    with pytest.raises(ConfigError):
        VisionTeacher("no_such_vit_xyz", pretrained=False)


def test_speech_teacher_frames_and_layer():
    teacher = SpeechTeacher("HUBERT_BASE", pretrained=False, layer=1, architecture=TINY_SPEECH)
    assert teacher.dim == 32
    audio = torch.rand(2, 1, 16000) * 0.2 - 0.1
    features = teacher(audio)
    assert features.shape == (2, 32, 49)  # 16000 samples: (16000 - 400) // 320 + 1 frames
    layers, _ = teacher.model.extract_features(audio[:, 0], num_layers=1)
    torch.testing.assert_close(features, layers[-1].transpose(1, 2))
    assert teacher.at_grid(audio, (50,)).shape == (2, 32, 50)
    resampled = SpeechTeacher("WAVLM_BASE", pretrained=False, sample_rate=24000, architecture=TINY_SPEECH)
    assert resampled(torch.zeros(1, 1, 24000)).shape[-1] == 49


def test_speech_teacher_rejects_bad_settings():
    with pytest.raises(ConfigError):
        SpeechTeacher("NOT_A_BUNDLE", pretrained=False)
    with pytest.raises(ConfigError):
        SpeechTeacher("HUBERT_BASE", pretrained=True, architecture=TINY_SPEECH)
    with pytest.raises(ConfigError):
        SpeechTeacher("HUBERT_BASE", pretrained=False, layer=5, architecture=TINY_SPEECH)


def test_scene_teacher_trains_saves_and_loads(tmp_path, monkeypatch):
    from omnitok.semantic import scene

    path = tmp_path / "teacher.safetensors"
    accuracy = save_scene_teacher(path, channels=16, steps=40, pool=512, test_scenes=256)
    assert path.is_file() and (tmp_path / "teacher.safetensors.json").is_file()
    assert accuracy > 2 / 9  # 40 steps already beat chance (1/9) clearly
    teacher = SceneTeacher(weights=str(path), channels=16)
    assert teacher.accuracy == pytest.approx(accuracy)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert teacher(x).shape == (2, 16, 8, 8)
    reference = scene.SceneClassifier(16)
    from safetensors.torch import load_file

    reference.load_state_dict(load_file(path))
    torch.testing.assert_close(teacher.classify(x), reference(x))
    with pytest.raises(WeightsError):
        SceneTeacher(weights=str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsError):
        SceneTeacher(weights=str(path), channels=32)  # wrong width for the file
