"""The captioned world: grammar, captions, determinism, splits, unseen combinations, rendering and chance."""

import numpy as np
import pytest
import torch

from examples.world.scenes import (
    CELLS,
    COLOURS,
    SHAPES,
    Scene,
    World,
    WorldScenes,
    all_combinations,
    chance_levels,
    parse_caption,
)
from omnitok.errors import ConfigError, DataError


def test_caption_reads_back_and_grammar_counts():
    scene = Scene("triangle", "yellow", "bottom right", seed=5)
    assert scene.caption == "a yellow triangle at the bottom right"
    back = parse_caption(scene.caption)
    assert back is not None and back.combination == scene.combination
    assert parse_caption("a yellow triangle at the bottom") is None  # truncated
    assert parse_caption("a purple circle at the top left") is None  # outside the grammar
    assert len(all_combinations()) == 3 * 4 * 4 == len(set(all_combinations()))
    assert scene.labels().tolist() == [SHAPES.index("triangle"), list(COLOURS).index("yellow"), 3]


def test_chance_levels_by_hand():
    chance = chance_levels()
    assert chance["exact"] == pytest.approx(1 / 48)
    assert (chance["shape"], chance["colour"], chance["cell"]) == pytest.approx((1 / 3, 1 / 4, 1 / 4))
    assert chance["mean_attribute"] == pytest.approx((1 / 3 + 1 / 4 + 1 / 4) / 3)


def test_scenes_are_deterministic_and_splits_disjoint():
    a, b = World(32, seed=3), World(32, seed=3)
    for i in (0, 7):
        assert a.scene("train", i) == b.scene("train", i)
        assert torch.equal(a.render(a.scene("train", i)), b.render(b.scene("train", i)))
    seeds = {split: {a.scene_seed(split, i) for i in range(200)} for split in ("train", "val", "test")}
    assert not seeds["train"] & seeds["val"] and not seeds["train"] & seeds["test"] and not seeds["val"] & seeds["test"]
    assert a.scene_seed("train", 0) != World(32, seed=4).scene_seed("train", 0)
    images = WorldScenes(a, "test", 64).images
    assert len({tuple(img.flatten().tolist()) for img in images}) == 64  # nuisance variation: every render differs


def test_attributes_cover_the_grammar_roughly_uniformly():
    scenes = WorldScenes(World(32), "train", 960).scenes
    for values, attr in ((SHAPES, "shape"), (tuple(COLOURS), "colour"), (CELLS, "cell")):
        counts = np.array([sum(getattr(s, attr) == v for s in scenes) for v in values])
        expected = len(scenes) / len(values)
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected)), (attr, counts)


def test_unseen_combinations_never_reach_training():
    world = World(32, unseen_combinations=6, seed=1)
    assert len(world.unseen) == 6
    assert len({(s, c) for s, c, _ in world.unseen}) == 6  # one per shape-colour pair
    train = [world.scene("train", i) for i in range(2000)]
    assert not any(world.is_unseen(s) for s in train)
    test = [world.scene("test", i) for i in range(2000)]
    assert any(world.is_unseen(s) for s in test)
    assert not World(32).unseen


@pytest.mark.parametrize("index", range(12))
def test_rendering_puts_the_colour_in_the_captioned_cell(index):
    world = World(32)
    scene = world.scene("val", index)
    image = world.render(scene).float() / 255  # (3, 32, 32)
    assert image.shape == (3, 32, 32)
    cell = CELLS.index(scene.cell)
    top, left = (0 if cell < 2 else 16), (0 if cell % 2 == 0 else 16)
    inside = image[:, top : top + 16, left : left + 16]
    opposite = image[:, 16 - top : 32 - top, 16 - left : 32 - left]  # the diagonally opposite cell: background only
    grey = opposite.flatten(1)
    assert torch.allclose(grey, grey[:, :1].expand_as(grey), atol=1 / 255)  # flat
    assert (grey[0, 0] - grey[1, 0]).abs() < 1e-6 and (grey[1, 0] - grey[2, 0]).abs() < 1e-6  # and grey
    colour = torch.tensor(COLOURS[scene.colour])
    distance = (inside - colour[:, None, None]).abs().amax(0)  # (16, 16)
    assert int((distance < 0.06).sum()) >= 40  # a solid patch of the captioned colour (jitter is +-0.04)


def test_shapes_differ_in_fill_ratio():
    """Circle, square and triangle of one radius cover different areas: pi r^2, (1.7 r)^2 and 1.72 r^2."""
    world = World(64)
    areas = {}
    for shape in SHAPES:
        image = world.render(Scene(shape, "blue", "top left", seed=11)).float() / 255
        areas[shape] = float(((image[2] - image[0]) > 0.3).float().sum())
    assert areas["triangle"] < areas["circle"] < areas["square"] * 1.2
    assert len({round(a / 20) for a in areas.values()}) == 3


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ConfigError, match="at least 16"):
        World(8)
    with pytest.raises(ConfigError, match="unseen_combinations"):
        World(32, unseen_combinations=13)
    with pytest.raises(ConfigError, match="split"):
        World().scene("dev", 0)
    with pytest.raises(DataError, match="colour"):
        Scene("circle", "purple", "top left")


def test_spoken_caption():
    from examples.world.scenes import spoken_caption
    from omnitok.data.speech import espeak_available

    if not espeak_available():
        with pytest.raises(DataError, match="espeak-ng"):
            spoken_caption(Scene("circle", "red", "top left"))
        return
    audio = spoken_caption(Scene("circle", "red", "top left"), sample_rate=16_000)
    assert audio.ndim == 2 and audio.shape[0] == 1
    assert 0.8 * 16_000 < audio.shape[1] < 6 * 16_000  # seven words at 160 words per minute: about 2.6 s
    assert float(audio.abs().max()) > 0.05
