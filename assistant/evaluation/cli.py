"""Offline evaluation command line: one subcommand per task.

    python -m assistant.evaluate recommend --data ../shared/data/amazon-scientific [--json]
    python -m assistant.evaluate retrieval --data ../shared/data/esci-shopping-queries
    python -m assistant.evaluate chat [--data ../shared/data/amazon-scientific]
    python -m assistant.evaluate dialogue --data ../shared/data
    python -m assistant.evaluate policies --data ../shared/data
    python -m assistant.evaluate replay --data ../shared/data [--backend local|template]
"""
from __future__ import annotations

import argparse
import os
import sys

from assistant.evaluation.chat import add_chat_parser
from assistant.evaluation.dialogue import add_dialogue_parser
from assistant.evaluation.policies import add_policies_parser
from assistant.evaluation.recommend import add_recommend_parser
from assistant.evaluation.replay import add_replay_parser
from assistant.evaluation.retrieval import add_retrieval_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant.evaluate", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in (add_recommend_parser, add_retrieval_parser, add_chat_parser, add_dialogue_parser, add_policies_parser,
                add_replay_parser):
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the encoder ships inside a package: never reach for a hub
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
