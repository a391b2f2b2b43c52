"""Start N app replicas sharing a throwaway Redis, PostgreSQL and `chroma run` (the servers the tests start, from
tests/servers.py), then run bench/bench_load.py against them, requests rotating over the replicas; stop everything.

    python bench/run_replicas.py --replicas 2 --data-dir /tmp/replicas -- --shoppers 50 --turns 3
    python bench/run_replicas.py --replicas 1 --data-dir /tmp/replicas -- --shoppers 50 --turns 3

The servers are new on every run, so the first replica always builds the demo shop into them (minutes); the others
start once it answers, reading the same data directory (README, "Deployment"). Everything after `--` goes to
bench_load.py.
"""
from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import app_server, chroma_server, fresh_database, postgres_server, redis_server  # noqa: E402


def main() -> None:
    argv = sys.argv[1:]
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--data-dir", default="/tmp/shop-replicas")
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    with redis_server() as redis_url, postgres_server() as (pg, _), chroma_server(Path(tempfile.mkdtemp())) as chroma_url, \
            contextlib.ExitStack() as apps:
        common = ["--llm-backend", "template", "--state-url", redis_url, "--db-url", fresh_database(pg, "shop"),
                  "--chroma-url", chroma_url]
        t0 = time.time()
        urls = [apps.enter_context(app_server(data / "app", common, data / "replica-0.log", timeout=1200))[0]]
        print(f"replica 0 (builds the shop) answered after {time.time() - t0:.0f} s", file=sys.stderr)
        for n in range(1, args.replicas):
            t0 = time.time()
            urls.append(apps.enter_context(app_server(data / "app", common, data / f"replica-{n}.log"))[0])
            print(f"replica {n} answered after {time.time() - t0:.0f} s", file=sys.stderr)
        bench = [sys.executable, str(ROOT / "bench" / "bench_load.py"), *[a for u in urls for a in ("--url", u)], *rest]
        subprocess.run(bench, check=False)


if __name__ == "__main__":
    main()
