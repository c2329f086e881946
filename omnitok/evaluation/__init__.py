"""Evaluate tokenizers on a dataset of images, audio or video under a pinned protocol (what ``omnitok eval`` runs).

Example::

    from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
    from omnitok.report import write_report

    data = load_eval_images("photos/", resolution=256)          # or load_eval_audio / load_eval_videos
    run = evaluate([NamedTokenizer("mine", tokenizer)], data)
    write_report(run, "report/")
"""

from omnitok.evaluation.audio_data import EvalAudio, clips_from_tensors, load_eval_audio
from omnitok.evaluation.baselines import BaselineResult, evaluate_baselines
from omnitok.evaluation.data import BUILTIN, EvalImages, load_eval_images
from omnitok.evaluation.evaluate import EvalRun, NamedTokenizer, evaluate
from omnitok.evaluation.protocol import EvalProtocol
from omnitok.evaluation.runner import MetricInfo, TokenizerResult, evaluate_tokenizer
from omnitok.evaluation.sets import EvalSet
from omnitok.evaluation.video_data import EvalVideos, load_eval_videos, videos_from_tensors

__all__ = [
    "BUILTIN",
    "BaselineResult",
    "EvalAudio",
    "EvalImages",
    "EvalProtocol",
    "EvalRun",
    "EvalSet",
    "EvalVideos",
    "MetricInfo",
    "NamedTokenizer",
    "TokenizerResult",
    "clips_from_tensors",
    "evaluate",
    "evaluate_baselines",
    "evaluate_tokenizer",
    "load_eval_audio",
    "load_eval_images",
    "load_eval_videos",
    "videos_from_tensors",
]
