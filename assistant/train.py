"""Training command line. `predictor` fine-tunes the purchase predictor (MiniLM cross-encoder), fits the fast feature
model and tunes the hybrid's blend weights; everything is saved in one folder the shop loads. `dialogue` fits the
dialogue-act head (assistant/dialogue/train_acts.py) that the package ships.

    python -m assistant.train predictor --data ../shared/data/amazon-scientific --epochs 1 --max-train-pairs 16000 \\
        --out runs/predictor-Scientific
    python -m assistant.train predictor --data data --kind features       # the shop's own data dir: seconds
    python -m assistant.train predictor --data ../shared/data/amazon-scientific --kind sequence --seed 0   # ~5 min
    accelerate launch -m assistant.train predictor --data ../shared/data/amazon-scientific --batch-size 64   # GPUs
    python -m assistant.train dialogue --data ../shared/data --out assistant/dialogue/acts_head.npz

Exit code 2 with a one-line message when the data folder is missing or unusable.
"""
from __future__ import annotations

import argparse
import os
import sys

from assistant.dialogue.train_acts import ActDataError, train_acts
from assistant.recsys.data import DatasetError
from assistant.recsys.train import PredictorTrainConfig, run_predictor
from assistant.recsys.train_sequence import SequenceTrainConfig, run_sequence_predictor


def add_predictor_parser(subparsers: argparse._SubParsersAction) -> None:
    d = PredictorTrainConfig(data="")
    p = subparsers.add_parser("predictor", help="fine-tune the purchase predictor and fit the fast feature model")
    p.add_argument("--data", default="data", help="a RecBole folder or a shop's data dir (default: data)")
    p.add_argument("--out", default=None, help="output dir (default: <data>/models/predictor or runs/predictor-<name>)")
    p.add_argument("--kind", choices=["features", "cross-encoder", "both", "sequence"], default=d.kind,
                   help="sequence: the next-item transformer + re-ranker (assistant/recsys/train_sequence.py)")
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--max-train-pairs", type=int, default=d.max_train_pairs)
    p.add_argument("--max-val-pairs", type=int, default=d.max_val_pairs)
    p.add_argument("--negatives", type=int, default=d.negatives, help="hard negatives per positive (from the top 50)")
    p.add_argument("--random-negatives", type=int, default=d.random_negatives)
    p.add_argument("--eval-users", type=int, default=d.eval_users, help="validation rows for NDCG@10 (half tune alpha)")
    p.add_argument("--evals-per-run", type=int, default=d.evals_per_run, help="eval+checkpoint points for early stopping")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--max-length", type=int, default=d.max_length)
    p.add_argument("--base-model", default=None)
    p.add_argument("--cache", default=None, help="item-embedding cache dir for a RecBole folder")
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(func=run_predictor_cli)


def run_predictor_cli(args: argparse.Namespace) -> int:
    if args.kind == "sequence":
        return _run_sequence_cli(args)
    cfg = PredictorTrainConfig(data=args.data, out=args.out, kind=args.kind, epochs=args.epochs,
                               max_train_pairs=args.max_train_pairs, max_val_pairs=args.max_val_pairs,
                               negatives=args.negatives, random_negatives=args.random_negatives,
                               eval_users=args.eval_users, evals_per_run=args.evals_per_run,
                               batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
                               base_model=args.base_model, cache_dir=args.cache, seed=args.seed)
    return _train(run_predictor, cfg)


def _run_sequence_cli(args: argparse.Namespace) -> int:
    return _train(run_sequence_predictor, SequenceTrainConfig(data=args.data, out=args.out, cache_dir=args.cache,
                                                              seed=args.seed))


def _train(run, cfg) -> int:
    """One training run for the command line: progress on stdout, a data problem as one line and exit code 2."""
    try:
        run(cfg, log=lambda s: print(s, flush=True))
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def add_dialogue_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("dialogue", help="fit the dialogue-act head on Bitext, CLINC, ESCI and our own utterances")
    p.add_argument("--data", default="../shared/data", help="the shared data folder (default: ../shared/data)")
    p.add_argument("--out", default="assistant/dialogue/acts_head.npz", help="the head file to write")
    p.add_argument("--holdout", action="store_true", help="leave the held-out parts out (what the evaluation measures)")
    p.add_argument("--cache", default=None, help="embedding cache dir (default ~/.cache/shop-assistant/dialogue-acts)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_dialogue_cli)


def run_dialogue_cli(args: argparse.Namespace) -> int:
    try:
        result = train_acts(args.data, args.out, seed=args.seed, holdout=args.holdout, cache_dir=args.cache,
                            log=lambda s: print(s, flush=True))
    except ActDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{result['bytes']} bytes; rows per act {result['per_act']}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the base model ships inside a package: never reach for a hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="python -m assistant.train", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_predictor_parser(sub)
    add_dialogue_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
