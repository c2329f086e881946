"""Teacher features reach the token grid: shapes by hand, pooling and interpolation against written-out formulas."""

import pytest
import torch
import torch.nn.functional as F

from omnitok.errors import ShapeError
from omnitok.semantic import align_to_grid, fold_frames, unfold_frames


def test_pooling_to_a_coarser_grid_is_the_block_mean():
    features = torch.randn(2, 5, 8, 12)
    out = align_to_grid(features, (4, 3))
    expected = features.reshape(2, 5, 4, 2, 3, 4).mean((3, 5))  # blocks of 2 x 4 teacher cells per token
    assert out.shape == (2, 5, 4, 3)
    torch.testing.assert_close(out, expected)


def test_finer_target_is_interpolated_and_same_grid_is_untouched():
    features = torch.randn(1, 3, 2, 2)
    out = align_to_grid(features, (4, 4))
    assert out.shape == (1, 3, 4, 4)
    torch.testing.assert_close(out, F.interpolate(features, size=(4, 4), mode="bilinear", align_corners=False))
    assert align_to_grid(features, (2, 2)) is features


def test_mixed_axes_and_audio_frames():
    features = torch.randn(1, 4, 3, 16)
    assert align_to_grid(features, (6, 4)).shape == (1, 4, 6, 4)  # up along one axis, down along the other
    frames = torch.arange(10.0).view(1, 1, 10)
    torch.testing.assert_close(align_to_grid(frames, (5,)), torch.tensor([[[0.5, 2.5, 4.5, 6.5, 8.5]]]))


def test_video_features_per_frame_then_3d_grid():
    video = torch.randn(2, 3, 5, 8, 8)
    frames = fold_frames(video)
    assert frames.shape == (10, 3, 8, 8)
    torch.testing.assert_close(frames[3], video[0, :, 3])
    back = unfold_frames(frames, 2)
    torch.testing.assert_close(back, video)
    assert align_to_grid(torch.randn(2, 6, 5, 4, 4), (3, 2, 2)).shape == (2, 6, 3, 2, 2)


def test_bad_shapes_raise():
    with pytest.raises(ShapeError):
        align_to_grid(torch.randn(2, 3, 4, 4), (2,))
    with pytest.raises(ShapeError):
        align_to_grid(torch.randn(2, 3), (2,))
