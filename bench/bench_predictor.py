"""Purchase predictor benchmark: latency of re-ranking the hybrid's top 50 for one shopper (fast feature model,
sequence predictor and MiniLM cross-encoder) and cross-encoder fine-tuning throughput in pairs/s. Prints numbers;
measures, never assumes.

    python bench/bench_predictor.py                                        # Scientific data, random-init cross-encoder
    python bench/bench_predictor.py --model-dir runs/predictor-Scientific  # trained checkpoints (same architecture)
    python bench/bench_predictor.py --device cuda --train-steps 200 --batch-size 64
    python bench/bench_predictor.py --model-dir runs/seqpred-s0 --only sequence --shoppers 200

Random-init and trained weights cost the same: only the architecture, max_length and text lengths matter.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def percentiles(times_s: list[float]) -> str:
    ms = np.array(times_s) * 1000
    return f"p50 {np.percentile(ms, 50):.1f} ms  p95 {np.percentile(ms, 95):.1f} ms  (n={len(ms)})"


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "amazon-scientific"))
    ap.add_argument("--model-dir", default=None, help="dir with features/ and/or cross_encoder/ from assistant.train")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--shoppers", type=int, default=30, help="timed re-rankings (one shopper each)")
    ap.add_argument("--train-steps", type=int, default=12, help="timed fine-tuning steps (after 2 warm-up steps)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["all", "features", "sequence", "cross-encoder"], default="all")
    args = ap.parse_args()

    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from assistant.recsys.build import build_recommender
    from assistant.recsys.data import item_vectors, load_dataset, sample_rows
    from assistant.recsys.predictor import (
        CrossEncoderPredictor,
        FeaturePredictor,
        context_text,
        rerank_candidates,
        rerank_top,
    )
    from assistant.recsys.train import candidate_groups
    from catalog.embed import resolve_model_path

    torch.manual_seed(args.seed)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, max_length {args.max_length}")
    data, meta = load_dataset(args.data)
    rec = build_recommender(data.interactions("train"), item_vectors(data), meta, data.item_ids)
    rows = [r for r in sample_rows(data.valid, args.shoppers + 500, args.seed) if r.history]
    bench_rows, fit_rows = rows[:args.shoppers], rows[args.shoppers:]
    hist = lambda r: r.typed_history()  # noqa: E731

    benched = []
    if args.only in ("all", "sequence"):
        benched.append(("sequence", *_sequence_predictor(args, data, meta, rec, fit_rows)))
    feat_dir = os.path.join(args.model_dir or "", "features")
    if args.only not in ("all", "features"):
        fp, how = None, ""
    elif args.model_dir and os.path.isdir(feat_dir):
        fp, how = FeaturePredictor.load(feat_dir, rec, meta), f"trained ({feat_dir})"
    else:
        groups = candidate_groups(rec, [(r.typed_history(), r.target) for r in fit_rows], 50, data.padding, progress=False)
        fp, how = FeaturePredictor(rec, meta).fit(*zip(*[(g[0], g[1], g[2]) for g in groups])), f"fit on {len(groups)} valid rows"
    if fp is not None:
        benched.append(("feature model", fp, how))
    ce_dir = os.path.join(args.model_dir or "", "cross_encoder")
    if args.only not in ("all", "cross-encoder"):
        ce, ce_how = None, ""
    elif args.model_dir and os.path.isdir(ce_dir):
        ce = CrossEncoderPredictor.load(ce_dir, data.item_text, meta.titles, args.device)
        ce_how = f"trained ({ce_dir})"
    else:
        base = resolve_model_path()
        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(base, num_labels=2))
        ce = CrossEncoderPredictor(model, AutoTokenizer.from_pretrained(base), data.item_text, meta.titles,
                                   args.max_length, batch_size=64, device=args.device)
        ce_how = "random-init MiniLM-L6 architecture"
    if ce is not None:
        ce.max_length = args.max_length
        benched.append(("cross-encoder", ce, ce_how))

    print(f"{data.name}: {data.n_items} items; latency of re-ranking the top 50 for one shopper")
    for name, predictor, detail in benched:
        predictor.score(hist(bench_rows[0]), np.arange(50))  # warm-up: lazy init, first-call allocations
        score_t, total_t = [], []
        for r in bench_rows:
            t0 = time.perf_counter()
            scores = rec.score_all(hist(r))
            top = rerank_candidates(scores, hist(r), predictor, 50)  # + the sequence predictor's own additions
            t1 = time.perf_counter()
            pred = predictor.score(hist(r), top)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            rerank_top(scores, hist(r), predictor, 50, 0.5, predictor_scores=pred)
            t3 = time.perf_counter()
            score_t.append(t2 - t1)
            total_t.append((t1 - t0) + (t3 - t1))
        print(f"  {name:<14} [{detail}] predictor.score({len(top)}): {percentiles(score_t)}")
        print(f"  {'':<14} hybrid scoring + re-rank end to end: {percentiles(total_t)}")

    if ce is None:
        return 0
    # Fine-tuning throughput: forward + backward + AdamW step on real (context, candidate) pairs, dynamic padding.
    model = ce.model.float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-5)
    rng = np.random.default_rng(args.seed)
    n = (args.train_steps + 2) * args.batch_size
    src = [rows[i % len(rows)] for i in range(n)]
    ctx = [context_text(meta.titles, r.history) for r in src]
    cand = [data.item_text[int(c)] for c in rng.integers(data.n_items, size=n)]
    labels = torch.as_tensor(rng.integers(2, size=n))
    lengths, times = [], []
    for step in range(args.train_steps + 2):
        s = slice(step * args.batch_size, (step + 1) * args.batch_size)
        enc = ce.tokenizer(ctx[s], cand[s], truncation=True, max_length=args.max_length, padding=True, return_tensors="pt")
        enc = {k: v.to(args.device) for k, v in enc.items()}
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device.startswith("cuda")):
            loss = model(**enc, labels=labels[s].to(args.device)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - t0)
            lengths.append(enc["input_ids"].shape[1])
    total = sum(times)
    print(f"fine-tuning throughput: {args.train_steps * args.batch_size / total:.1f} pairs/s "
          f"({args.train_steps} steps x batch {args.batch_size}, mean padded length {np.mean(lengths):.0f} tokens, "
          f"{total / args.train_steps * 1000:.0f} ms/step)")
    return 0


def _sequence_predictor(args, data, meta, rec, fit_rows):
    """The trained sequence predictor from --model-dir, else the same architecture with random transformer weights
    and a re-ranker fit on a few hundred validation rows (what is timed is the same work)."""
    from assistant.recsys.data import item_vectors
    from assistant.recsys.seq_predictor import SEQUENCE_DIR, SequencePredictor
    from assistant.recsys.train import candidate_groups
    from assistant.recsys.transformer import TransformerSeqModel

    seq_dir = os.path.join(args.model_dir or "", SEQUENCE_DIR)
    if args.model_dir and os.path.isdir(seq_dir):
        return SequencePredictor.load(seq_dir, rec, meta), f"trained ({seq_dir})"
    sp = SequencePredictor(TransformerSeqModel(item_text_embeddings=item_vectors(data)), rec, meta)
    groups = candidate_groups(rec, [(r.typed_history(), r.target) for r in fit_rows], 50, data.padding, progress=False)
    groups = [g for g in groups if g[2].any()]
    sp.fit_features(np.vstack([sp.features(g[0], g[1]) for g in groups]), np.concatenate([g[2] for g in groups]))
    return sp, f"random-init transformer, re-ranker fit on {len(groups)} valid rows"


if __name__ == "__main__":
    sys.exit(main())
