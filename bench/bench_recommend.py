"""Latency of HybridRecommender.recommend(k=10) for single users over a synthetic 100,000-item catalog.

    python bench/bench_recommend.py                      # 100k items, 20k users, 300k events, 300 timed users
    python bench/bench_recommend.py --items 20000 --events 100000 --timed 500

Random L2-normalised 384-d item embeddings stand in for text embeddings; events follow a Zipf-like popularity skew
and short "sessions" of related items so that item-CF and transitions have real neighbours. Prints fit time, memory
and p50/p95/p99 latency (ms) after warm-up.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assistant.recsys.predictor import rank_for_user  # noqa: E402
from assistant.recsys.recommend import EVENT_WEIGHTS, HybridRecommender, RecommenderConfig  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def synthetic_events(n_items: int, n_users: int, n_events: int, rng: np.random.Generator) -> list[tuple[str, int, str, float]]:
    # Zipf-like popularity for where a session starts; the next items stay near it so co-occurrence has structure.
    ranks = np.arange(1, n_items + 1, dtype=np.float64)
    p = 1.0 / ranks**0.9
    p /= p.sum()
    perm = rng.permutation(n_items)
    types = list(EVENT_WEIGHTS)
    type_p = np.array([0.55, 0.25, 0.12, 0.08])  # view, click, add_to_cart, purchase
    events = []
    users = rng.integers(0, n_users, size=n_events // 5 + 1)
    for u in users:
        start = perm[rng.choice(n_items, p=p)]
        ts = float(rng.integers(0, 10_000_000))
        for j in range(5):
            item = int((start + rng.integers(0, 50) * (j > 0)) % n_items)
            events.append((f"u{u}", item, types[rng.choice(4, p=type_p)], ts + j * 60.0))
            if len(events) >= n_events:
                return events
    return events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--timed", type=int, default=300, help="users timed after warm-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads for scoring; a web server answers many users at once, one thread each")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    rng = np.random.default_rng(args.seed)

    t = time.perf_counter()
    emb = rng.standard_normal((args.items, args.dim), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    events = synthetic_events(args.items, args.users, args.events, rng)
    print(f"data: {args.items} items x {args.dim}d, {len(events)} events, {args.users} users "
          f"({time.perf_counter() - t:.1f}s to generate)")

    rss_before = rss_mb()
    t = time.perf_counter()
    rec = HybridRecommender(RecommenderConfig()).fit(events, emb)
    fit_s = time.perf_counter() - t
    print(f"fit: {fit_s:.1f}s, peak RSS {rss_mb():.0f} MB (before fit {rss_before:.0f} MB), "
          f"item-CF nnz {rec.knn.nnz}, transition nnz {rec.transition.nnz}")

    users = [u for u, h in rec.user_histories.items() if h]
    picked = [users[i] for i in rng.choice(len(users), size=min(len(users), args.timed + 20), replace=False)]
    for u in picked[:20]:  # warm-up: first calls touch cold memory pages
        rank_for_user(rec, rec.history_of(u), k=10)
    lat = []
    hist_len = []
    for u in picked[20:]:
        t = time.perf_counter()
        idx, _ = rank_for_user(rec, rec.history_of(u), k=10)
        lat.append((time.perf_counter() - t) * 1000.0)
        hist_len.append(len(rec.user_histories[u]))
        assert len(idx) == 10
    lat = np.array(lat)
    t = time.perf_counter()
    rec.add_event(picked[20], int(rng.integers(args.items)), "purchase")
    rank_for_user(rec, rec.history_of(picked[20]), k=10)
    live_ms = (time.perf_counter() - t) * 1000.0
    cold = []
    for _ in range(50):
        t = time.perf_counter()
        rec.recommend([], k=10)
        cold.append((time.perf_counter() - t) * 1000.0)
    print(f"recommend(k=10), {len(lat)} users (history length mean {np.mean(hist_len):.1f}, max {max(hist_len)}): "
          f"p50 {np.percentile(lat, 50):.2f} ms, p95 {np.percentile(lat, 95):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms, "
          f"max {lat.max():.2f} ms")
    print(f"add_event + rank_for_user: {live_ms:.2f} ms; cold start (empty history) p95 {np.percentile(cold, 95):.2f} ms")
    print(f"peak RSS {rss_mb():.0f} MB; BLAS threads {args.threads}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (timings on a shared machine are upper bounds)")


if __name__ == "__main__":
    main()
