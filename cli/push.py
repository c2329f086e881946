"""``omnitok push``: upload a tokenizer folder to the Hugging Face Hub with a generated model card."""

from __future__ import annotations

import argparse


def add_push_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "push",
        help="upload a tokenizer folder to the Hugging Face Hub with a generated model card",
        description="Upload a folder save_pretrained wrote (config.json, model.safetensors) to the Hugging Face "
        "Hub with a model card (README.md): architecture, spec, latent normalization, and, when the folder sits in "
        "a training run, its recipe, held-out figures and evaluation report, which are uploaded too. Authenticates "
        "as huggingface_hub does (HF_TOKEN or `huggingface-cli login`).",
    )
    parser.add_argument("tokenizer", metavar="TOKENIZER_FOLDER", help="a folder save_pretrained wrote")
    parser.add_argument("repo_id", metavar="REPO_ID", help="the Hub repository, owner/name (created if absent)")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.set_defaults(run=run_push)


def run_push(args: argparse.Namespace) -> int:
    from omnitok.publish import push_to_hub

    url = push_to_hub(args.tokenizer, args.repo_id, private=args.private)
    print(f"pushed {args.tokenizer} to {args.repo_id}: {url}")
    return 0
