"""The world's task sequences: draws follow the task weights and the caption dropout."""

import pytest
import torch

from examples.world.data import EncodedScenes, world_sequences
from examples.world.scenes import World, WorldScenes
from omnitok.errors import ConfigError
from omnitok.protocol import TokenizerSpec
from omnitok.unified import ByteTextVocabulary, SharedVocabulary

SPEC = TokenizerSpec("image", True, codebook_sizes=(16,), latent_dim=4, downsample=(4, 4))


def _world_module(caption_dropout=0.25, **kwargs):
    vocab = SharedVocabulary(ByteTextVocabulary(), {"image": SPEC})
    scenes = WorldScenes(World(32), "train", 16)
    tokens = torch.randint(0, 16, (16, 2, 2), generator=torch.Generator().manual_seed(1))
    return vocab, world_sequences(
        EncodedScenes(scenes, tokens), vocab, caption_dropout=caption_dropout, batch_size=8, **kwargs
    )


def test_task_draws_follow_the_weights_and_the_caption_dropout():
    vocab, module = _world_module(caption_dropout=0.25, task_weights={"generation": 3.0, "understanding": 1.0})
    begin, end = vocab.begin_id("image"), vocab.end_id("image")
    kinds = {"generation": 0, "dropped": 0, "understanding": 0}
    for key in range(600):
        ids = module.dataset[(key % 16, key)].ids.tolist()
        assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
        if ids[1] == begin and ids[-2] == end:
            kinds["dropped"] += 1  # bos <boi> ... <eoi> eos: generation with an empty prompt
        elif ids[-2] == end:
            kinds["generation"] += 1
        else:
            kinds["understanding"] += 1
            assert ids[1] == begin and vocab.text.decode(ids[ids.index(end) + 1 : -1]).startswith("a ")
    assert kinds["understanding"] / 600 == pytest.approx(0.25, abs=0.06)  # 3.4 standard deviations
    assert kinds["dropped"] / (kinds["dropped"] + kinds["generation"]) == pytest.approx(
        0.25, abs=0.07
    )  # ~3.5 standard deviations


def test_bad_task_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown task"):
        _world_module(task_weights={"captioning": 1.0})
    with pytest.raises(ConfigError, match="caption_dropout"):
        _world_module(caption_dropout=1.0)
