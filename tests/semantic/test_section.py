"""The semantic report section and the labelled data behind its probe."""

import torch
from torch import nn

from omnitok.data.labelled import SCENE_CLASSES, labelled_folder, labelled_scenes, render_labelled_scene
from omnitok.evaluation import NamedTokenizer
from omnitok.evaluation.semantic import semantic_section
from omnitok.models import Autoencoder, DecoupledTokenizer, SemanticAutoencoder, TeacherTokenizer
from omnitok.nn import ConvDecoder2d, ConvEncoder2d
from omnitok.quantizers import VectorQuantizer
from omnitok.semantic import SceneTeacher

CONV = {
    "base_channels": 8,
    "channel_multipliers": [1, 2, 2],
    "num_res_blocks": 1,
    "mid_attention": False,
    "norm_groups": 4,
}


def test_labelled_scenes_are_deterministic_and_labels_name_the_colour():
    a, label = render_labelled_scene(123, 32)
    b, _ = render_labelled_scene(123, 32)
    assert torch.equal(a, b) and a.dtype == torch.uint8 and a.shape == (3, 32, 32)
    data = labelled_scenes(90, 32)
    assert len(SCENE_CLASSES) == 9 and set(data.labels.tolist()) == set(range(9))
    # the most saturated pixels belong to the shape: their dominant channel is the labelled colour
    for image, label in zip(data.images.float(), data.labels):
        saturation = image.max(0).values - image.min(0).values
        top = saturation.flatten().topk(20).indices
        assert image.flatten(1)[:, top].mean(1).argmax() == label % 3
    assert not torch.equal(labelled_scenes(4, 32, "test").images, data.images[:4])


def test_labelled_folder_reads_the_imagenet_layout(tmp_path):
    from torchvision.io import write_png

    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(3):
            write_png(torch.randint(0, 255, (3, 40, 48), dtype=torch.uint8), str(tmp_path / name / f"{i}.png"))
    data = labelled_folder(tmp_path, 32)
    assert data.classes == ("cat", "dog") and data.images.shape == (6, 3, 32, 32)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_section_rows_per_tokenizer_and_per_decoupled_part():
    torch.manual_seed(0)
    teacher = SceneTeacher(channels=16)
    hybrid = SemanticAutoencoder(
        ConvEncoder2d(out_channels=8, **CONV), VectorQuantizer(8, 32), ConvDecoder2d(in_channels=8, **CONV),
        nn.Conv2d(8, 16, 1), "image",
    ).eval()  # fmt: skip
    plain = Autoencoder(
        ConvEncoder2d(out_channels=8, **CONV), VectorQuantizer(8, 32), ConvDecoder2d(in_channels=8, **CONV), "image"
    ).eval()
    pair = DecoupledTokenizer(TeacherTokenizer(teacher, [4, 4]), plain).eval()
    section = semantic_section(
        [NamedTokenizer("hybrid", hybrid), NamedTokenizer("pair", pair)],
        None,
        teacher=teacher,
        max_images=32,
        probe_scenes=(180, 90),
    )
    assert section.title == "Semantic features"
    names = [row[0] for row in section.rows]
    assert names == ["hybrid", "pair/understanding", "pair/generation"]
    hybrid_row, understanding_row, generation_row = section.rows
    assert hybrid_row[1] is not None and generation_row[1] is None  # only a semantic head has a head cosine
    assert understanding_row[2] > 0.999  # the teacher's own features read out the teacher exactly
    assert all(0 <= row[3] <= 1 for row in section.rows)
    assert 1 / 9 <= section.rows[0][4] < 0.25  # majority share of 90 test scenes of 9 classes
    results = section.data["results"]
    assert set(results) == set(names)


def test_section_says_unavailable_when_teacher_weights_are_missing(tmp_path):
    section = semantic_section([], None, teacher=str(tmp_path / "missing.safetensors"))
    assert not section.rows and "unavailable (weights not found)" in section.notes[0]
