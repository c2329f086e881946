"""Data readers and built-in data: image files and folders, WebDataset-style tar shards, a no-download dataset;
audio files and folders (:mod:`omnitok.data.audio`) and generated speech (:mod:`omnitok.data.speech`).

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
from omnitok.data.shards import ImageShardDataset, expand_shards, write_image_shards
from omnitok.data.speech import generate_speech, harmonic_chirp

__all__ = [
    "AUDIO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "TEST_PHOTOS",
    "TRAIN_PHOTOS",
    "AudioFolderDataset",
    "BuiltinImages",
    "ImageFolderDataset",
    "ImageShardDataset",
    "collate_audio",
    "collate_images",
    "decode_image_bytes",
    "expand_shards",
    "generate_speech",
    "harmonic_chirp",
    "list_audio_files",
    "list_image_files",
    "normalize_loudness",
    "read_audio",
    "read_image",
    "render_scene",
    "resize_and_crop",
    "scene_seed",
    "split_files",
    "write_audio",
    "write_image_shards",
]
