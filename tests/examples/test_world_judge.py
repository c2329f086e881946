"""The world's judge: its accuracy arithmetic by hand, and that it learns to read true scenes well above chance."""

import pytest
import torch

from examples.world.judge import WorldJudge, attribute_accuracy, train_judge
from examples.world.scenes import World, WorldScenes, chance_levels
from omnitok.errors import ShapeError


def test_attribute_accuracy_by_hand():
    target = torch.tensor([[0, 1, 2], [2, 3, 0], [1, 0, 3], [0, 0, 0]])
    predicted = torch.tensor([[0, 1, 2], [2, 0, 0], [0, 0, 1], [0, 0, 0]])
    accuracy = attribute_accuracy(predicted, target)
    assert accuracy["shape"] == pytest.approx(3 / 4)
    assert accuracy["colour"] == pytest.approx(3 / 4)
    assert accuracy["cell"] == pytest.approx(3 / 4)
    assert accuracy["mean_attribute"] == pytest.approx(9 / 12)
    assert accuracy["exact"] == pytest.approx(2 / 4)
    with pytest.raises(ShapeError):
        attribute_accuracy(predicted[:, :2], target[:, :2])


def test_judge_checks_its_input():
    judge = WorldJudge(16, width=8)
    with pytest.raises(ShapeError, match="16, 16"):
        judge(torch.zeros(1, 3, 32, 32))
    assert judge.read(torch.zeros(5, 3, 16, 16)).shape == (5, 3)


def test_judge_reads_held_out_true_scenes_far_above_chance():
    world = World(16)
    result = train_judge(world, train_scenes=2048, heldout_scenes=256, steps=250, batch_size=64, width=16, seed=0)
    chance = chance_levels()
    assert result.heldout_accuracy["colour"] >= 0.95
    assert result.heldout_accuracy["cell"] >= 0.95
    assert result.heldout_accuracy["shape"] >= 0.9 >= 2.5 * chance["shape"]  # 2.7x chance or more
    # independent check on scenes the judge never saw ("test" split), through read()
    scenes = WorldScenes(world, "test", 128)
    predicted = result.judge.read(scenes.images.float() / 127.5 - 1)
    assert attribute_accuracy(predicted, scenes.labels)["mean_attribute"] >= 0.9
    # and the same seed trains the same judge
    again = train_judge(world, train_scenes=1024, heldout_scenes=256, steps=5, batch_size=64, width=16, seed=0)
    first = train_judge(world, train_scenes=1024, heldout_scenes=256, steps=5, batch_size=64, width=16, seed=0)
    for a, b in zip(again.judge.parameters(), first.judge.parameters()):
        assert torch.equal(a, b)
