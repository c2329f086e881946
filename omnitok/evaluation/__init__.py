"""Evaluate tokenizers on a dataset under a pinned protocol (what ``omnitok eval`` runs).

Example::

    from omnitok.evaluation import NamedTokenizer, evaluate, load_eval_images
    from omnitok.report import write_report

    data = load_eval_images("photos/", resolution=256)
    run = evaluate([NamedTokenizer("mine", tokenizer)], data)
    write_report(run, "report/")
"""

from omnitok.evaluation.data import BUILTIN, EvalImages, load_eval_images
from omnitok.evaluation.evaluate import EvalRun, NamedTokenizer, evaluate
from omnitok.evaluation.protocol import EvalProtocol
from omnitok.evaluation.runner import MetricInfo, TokenizerResult, evaluate_tokenizer

__all__ = [
    "BUILTIN",
    "EvalImages",
    "EvalProtocol",
    "EvalRun",
    "MetricInfo",
    "NamedTokenizer",
    "TokenizerResult",
    "evaluate",
    "evaluate_tokenizer",
    "load_eval_images",
]
