"""Data readers and built-in data: image files and folders, a no-download dataset;
audio files and folders (:mod:`omnitok.data.audio`) and generated speech (:mod:`omnitok.data.speech`); video
files (:mod:`omnitok.data.video`) and generated clips (:mod:`omnitok.data.video_synthetic`).

Every dataset yields *samples* ``{"image": float [3, S, S] in [-1, 1], "path": str}``; an unreadable file gives
``{"image": None, "path": str, "error": str}`` instead, and :func:`collate_images` drops and reports those.
"""

from omnitok.data.audio import (
    AUDIO_EXTENSIONS,
    AudioFolderDataset,
    collate_audio,
    list_audio_files,
    normalize_loudness,
    read_audio,
    write_audio,
)
from omnitok.data.builtin import TEST_PHOTOS, TRAIN_PHOTOS, BuiltinImages, render_scene, scene_seed
from omnitok.data.images import (
    IMAGE_EXTENSIONS,
    ImageFolderDataset,
    collate_images,
    decode_image_bytes,
    list_image_files,
    read_image,
    resize_and_crop,
    split_files,
)
from omnitok.data.labelled import LabelledImages, labelled_folder, labelled_scenes
from omnitok.data.speech import generate_speech, harmonic_chirp
from omnitok.data.video import (
    VIDEO_EXTENSIONS,
    VideoFolderDataset,
    VideoInfo,
    clip_indices,
    collate_videos,
    list_video_files,
    read_video,
    resize_and_crop_video,
    video_info,
    write_video,
)
from omnitok.data.video_synthetic import (
    MovingShapes,
    moving_shapes_clip,
    render_test_source,
    write_moving_shapes,
    write_test_sources,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "TEST_PHOTOS",
    "TRAIN_PHOTOS",
    "VIDEO_EXTENSIONS",
    "AudioFolderDataset",
    "BuiltinImages",
    "ImageFolderDataset",
    "LabelledImages",
    "MovingShapes",
    "VideoFolderDataset",
    "VideoInfo",
    "clip_indices",
    "collate_audio",
    "collate_images",
    "collate_videos",
    "decode_image_bytes",
    "generate_speech",
    "harmonic_chirp",
    "labelled_folder",
    "labelled_scenes",
    "list_audio_files",
    "list_image_files",
    "list_video_files",
    "moving_shapes_clip",
    "normalize_loudness",
    "read_audio",
    "read_image",
    "read_video",
    "render_scene",
    "render_test_source",
    "resize_and_crop",
    "resize_and_crop_video",
    "scene_seed",
    "split_files",
    "video_info",
    "write_audio",
    "write_moving_shapes",
    "write_test_sources",
    "write_video",
]
