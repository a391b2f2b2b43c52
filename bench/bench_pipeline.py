"""Latency of one chat turn through the whole pipeline on CPU: how long until the products are ready, and until
the first reply token, over a demo shop of 10,000 products served exactly as the app serves it (assistant.serving.shop:
hybrid retrieval, hybrid recommender, fast purchase predictor, policies).

    python bench/bench_pipeline.py                           # 10,000 products; template replies + local SmolLM2
    python bench/bench_pipeline.py --products 10000 --llm-turns 0 --cache /tmp/bench-shop

The first run builds the shop into --cache (embedding 10k products takes a few minutes on 2 cores); later runs
reuse it. Turns come from scripted multi-turn sessions (search, refine, exclude a brand, refer to a shown item,
ask about, compare, add to cart, small talk, out of scope, after-sales questions), half of them by a signed-in
demo user (personalised path). Prints p50/p95/max in ms: products ready counts the turns that show products.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

SCRIPTS = [
    ["waterproof hiking jacket under $100", "cheaper?", "not Trailhaven", "the second one in blue"],
    ["wireless headphones", "with noise cancelling", "under $150", "what is your return policy?"],
    ["non-stick frying pan", "between 20 and 40 dollars", "more like the first one", "how long is shipping?"],
    ["running shoes size 42", "in black", "rated 4 stars or more", "the cheapest one"],
    ["a gift for a 10 year old", "lego", "around $50", "something else"],
    # Every dialogue act: typos, a reference, a comparison, a cart action, small talk, a service question.
    ["birthday gift for my dad, loves coffee, ~$50", "he already has a coffee maker", "tell me more about the second one",
     "add it to my cart"],
    ["chep runing shoos for wemen size 8 undr 60 dolars", "compare the first two", "which one is lighter?", "thanks!"],
    ["my headphones stopped charging after 3 months, what can I do?", "other brands in blue", "weather tomorrow?",
     "how long until I get my refund?"],
]


def percentiles(values: list[float]) -> str:
    ms = np.asarray(values) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f}  p95 {np.percentile(ms, 95):7.1f}  max {ms.max():7.1f}  (n={len(ms)})"


def time_turns(shop, sessions: int, prefix: str, max_turns: int | None = None) -> tuple[list[float], list[float], list[float]]:
    """(products ready, first token, whole turn) seconds for every turn of `sessions` scripted sessions."""
    users = shop.demo_users(sessions)
    ready, first, whole = [], [], []
    turns = 0
    for n in range(sessions):
        user = users[n % len(users)] if n % 2 and users else None
        for message in SCRIPTS[n % len(SCRIPTS)]:
            if max_turns is not None and turns >= max_turns:
                return ready, first, whole
            t0 = time.perf_counter()
            got_first = False
            for event in shop.assistant.respond(f"{prefix}-{n}", message, user):
                if event.type == "products":
                    ready.append(time.perf_counter() - t0)
                elif event.type in ("token", "replace") and not got_first:
                    first.append(time.perf_counter() - t0)
                    got_first = True
            whole.append(time.perf_counter() - t0)
            turns += 1
    return ready, first, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=60, help="scripted sessions timed with template replies")
    parser.add_argument("--llm-turns", type=int, default=12, help="turns timed with the local LLM (0 skips it)")
    parser.add_argument("--llm-model", default=None, help="HF id or path (default: the packaged SmolLM2-135M GGUF)")
    parser.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "shop-assistant", "bench-shop"))
    args = parser.parse_args()

    import torch

    from assistant.recsys.train import ensure_fast_predictor
    from assistant.reply.backends import LocalLMBackend
    from assistant.reply.template import TemplateBackend
    from assistant.serving.shop import load_shop
    from catalog.build import build_demo_catalog
    from catalog.config import CatalogConfig
    from catalog.index import ProductIndex

    config = CatalogConfig(data_dir=os.path.join(args.cache, str(args.products)), chroma_url=None)
    index = ProductIndex(config)
    if index.count() != args.products:
        t0 = time.perf_counter()
        build_demo_catalog(config, n_products=args.products, progress=True, index=index)
        print(f"built the {args.products:,}-product shop in {time.perf_counter() - t0:.0f}s")
    t0 = time.perf_counter()
    shop = load_shop(config, backend=TemplateBackend(), build_demo=False, index=index, log=lambda s: None,
                     prepare=ensure_fast_predictor)  # as the app: the fast predictor trained on first start
    print(f"loaded: {shop.index.count():,} products, {shop.events.count():,} events, predictor: "
          f"{shop.predictor_description} ({time.perf_counter() - t0:.1f}s); torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs")

    time_turns(shop, 5, "warm")  # first calls load the encoder, build the keyword index, warm caches
    ready, first, whole = time_turns(shop, args.sessions, "template")
    print(f"products ready        {percentiles(ready)}")
    print(f"first token, template {percentiles(first)}")
    print(f"whole turn, template  {percentiles(whole)}")

    if args.llm_turns:
        t0 = time.perf_counter()
        shop.assistant.backend = LocalLMBackend(args.llm_model)
        print(f"local LLM {shop.assistant.backend.model_name} loaded in {time.perf_counter() - t0:.1f}s "
              f"on {shop.assistant.backend.device}")
        time_turns(shop, 1, "llm-warm", max_turns=1)
        ready, first, whole = time_turns(shop, args.sessions, "llm", max_turns=args.llm_turns)
        print(f"products ready (LLM)  {percentiles(ready)}")
        print(f"first token, LLM      {percentiles(first)}")
        print(f"whole turn, LLM       {percentiles(whole)}")


if __name__ == "__main__":
    main()
