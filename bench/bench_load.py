"""Load benchmark of the running app's REST API: concurrent shoppers, cross-session leaks, /healthz while
maximum-length messages are processed, and server memory per session. It prints numbers; it asserts nothing.

    python bench/bench_load.py --start                       # start the app itself (template replies), run, stop it
    python bench/bench_load.py --start --data-dir /tmp/shop --shoppers 20 --json
    python bench/bench_load.py --url http://127.0.0.1:7860 --pid 12345   # a running app; --pid enables the RSS parts
    python bench/bench_load.py --url http://127.0.0.1:7861 --url http://127.0.0.1:7862   # replicas (README "Deployment")

With several --url the requests rotate over the replicas one by one, as a load balancer without sticky sessions
would send them: every turn of a conversation lands on a different replica than the one before, so each turn also
checks that the shared session store carried the conversation over (the leak check below counts a lost constraint).

--start runs `python app.py --port <free> --data-dir DIR --llm-backend template` (DIR: the repo's `data`, so a
built demo shop is reused; the first start builds it, minutes) and waits for /healthz. Phases: (1) --shoppers
concurrent shoppers, --turns each, through POST /api/v1/chat: "<product noun> under $B", "cheaper", "not <a brand
it was shown>". (2) with a PID: server RSS before/after --sessions new sessions of one search (MB per 1,000), and
over one session of --long-turns turns (is per-session memory bounded?). (3) /healthz polled every 50 ms while 4
concurrent requests carry messages of the maximum accepted length (ChatRequest.message maxLength in /openapi.json,
else --max-chars) built to stress regexes; last, so a server it stalls spoils nothing else. Every request has a
timeout: errors (status >= 400 or transport) are counted with samples, never raised.

Leak check (check_turn): shopper i's budget B_i is an integer no other shopper uses (derived from a real
product's price, then bumped until unique), and "cheaper" only ever lowers the max to a cents value
(cheapest shown - $0.01, or 80% of B_i when nothing was shown). So a dollar amount in shopper i's `constraints`
text that is another shopper's B_j (and not one of i's own amounts) can only come from j's session. Likewise a
"not <brand>" naming a brand other than the one i excluded itself (none before its 3rd turn). Finally any
product priced above B_i while `no_match` is false (the reply does not call it an alternative), or of i's own
excluded brand, means i's constraints were not applied: counted as a leak too. Must be 0.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOLLARS = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
NOT_BRAND = re.compile(r"\bnot ([^,]+)")
DEADLINE = [math.inf]  # monotonic time after which the current phase sends nothing more (a hung server)


def pct(values: list[float]) -> dict:
    """Nearest-rank p50/p95 and max, in ms, of durations in seconds."""
    s = sorted(values)
    at = lambda q: round(s[max(0, math.ceil(q * len(s)) - 1)] * 1000, 1) if s else None  # noqa: E731
    return {"n": len(s), "p50": at(0.5), "p95": at(0.95), "max": at(1.0)}


def fmt(p: dict) -> str:
    return f"p50 {p['p50']:.0f} / p95 {p['p95']:.0f} / max {p['max']:.0f} ms (n={p['n']})" if p["n"] else "no samples"


def proc_field(path: str, key: str) -> str:
    """The value of "key: value" in a /proc file; "?" when absent."""
    try:
        return next((ln.split(":", 1)[1].strip() for ln in open(path) if ln.startswith(key)), "?")
    except OSError:
        return "?"


def machine() -> str:
    mem = proc_field("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem) / 2**20:.1f} GiB RAM" if mem.isdigit() else "? RAM"
    return f"{len(os.sched_getaffinity(0))} cores ({proc_field('/proc/cpuinfo', 'model name')}), {ram}"


def rss_mb(pid: int) -> float | None:
    """The process's resident memory (psutil, else /proc/PID/status); None when it is gone."""
    try:
        import psutil
        return psutil.Process(pid).memory_info().rss / 2**20
    except ImportError:
        kb = proc_field(f"/proc/{pid}/status", "VmRSS").split()[0]  # "123456 kB"
        return int(kb) / 1024 if kb.isdigit() else None
    except Exception:  # noqa: BLE001 - the process is gone: no number, not a crash
        return None


class RoundRobin:
    """httpx.Client-like: each request goes to the next replica's client."""

    def __init__(self, clients: list[httpx.Client]):
        self.clients, self._n, self._lock = clients, 0, threading.Lock()

    def _next(self) -> httpx.Client:
        with self._lock:
            self._n += 1
            return self.clients[self._n % len(self.clients)]

    def post(self, *args, **kwargs) -> httpx.Response:
        return self._next().post(*args, **kwargs)

    def get(self, *args, **kwargs) -> httpx.Response:
        return self._next().get(*args, **kwargs)


def post_chat(client: httpx.Client, errors: list[str], session: str, message: str, timeout: float) -> tuple[float, dict | None]:
    """(seconds or None when skipped, JSON body or None); failures are appended to errors (thread-safe)."""
    if time.monotonic() > DEADLINE[0]:
        errors.append(f"skipped {message[:40]!r}: the phase ran past --phase-timeout")
        return None, None
    t0, body = time.perf_counter(), None
    try:
        r = client.post("/api/v1/chat", json={"session_id": session, "message": message}, timeout=timeout)
        if r.status_code >= 400:
            errors.append(f"{r.status_code} for {message[:40]!r}: {r.text[:200]}")
        else:
            body = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        errors.append(f"{type(exc).__name__} for {message[:40]!r}: {str(exc)[:200]}")
    return time.perf_counter() - t0, body


def check_turn(me: dict, resp: dict, others_budgets: set[int], others_brands: set[str]) -> list[str]:
    """Leaks in one response to shopper `me` ({"budget": B, "own_amounts": {...}, "excluded": brand or None}),
    given the other shoppers' budgets and excluded brands. See the module docstring."""
    leaks, text = [], resp.get("constraints") or ""
    for raw in DOLLARS.findall(text):
        amount = float(raw.replace(",", ""))
        if amount == int(amount) and int(amount) in others_budgets and amount not in me["own_amounts"]:
            leaks.append(f"constraints {text!r} carry another shopper's budget ${int(amount)}")
    for name in (m.strip() for m in NOT_BRAND.findall(text)):
        if name != me["excluded"] and name in others_brands:
            leaks.append(f"constraints {text!r} exclude another shopper's brand {name}")
    for p in [] if resp.get("no_match") else resp.get("products") or []:
        if p.get("price") is not None and p["price"] > me["budget"] + 0.005:
            leaks.append(f"{p.get('id')} at ${p['price']} is over own budget ${me['budget']}, no_match false")
        if me["excluded"] and p.get("brand") == me["excluded"]:
            leaks.append(f"{p.get('id')} is of the excluded brand {me['excluded']}, no_match false")
    return leaks


def make_shoppers(n: int, catalog: list[dict]) -> list[dict]:
    """n shoppers spread over the product nouns seen, each with a unique integer budget above a real price."""
    by_noun: dict[str, dict] = {}
    for p in catalog:  # "Northpeak Cirrus 570 II Padded Daypack, Durable ..." -> "padded daypack"
        words = [w for w in p["title"].split(",")[0].lower().split() if w.isalpha()]
        if p.get("price") and len(words) >= 2:
            by_noun.setdefault(" ".join(words[-2:]), p)
    picks, used, shoppers = list(by_noun.items()) or [("hiking jacket", {"price": 80.0})], set(), []
    for i in range(n):
        noun, p = picks[i % len(picks)]
        budget = int(p["price"] * 1.4) + 1 + i % 7
        while budget in used:
            budget += 1
        used.add(budget)
        shoppers.append({"i": i, "noun": noun, "budget": budget, "own_amounts": {float(budget)}, "excluded": None})
    return shoppers


def run_shopper(client: httpx.Client, args: argparse.Namespace, errors: list[str], me: dict, shoppers: list[dict],
                session: str, latencies: list[list[float]], leaks: list[str]) -> None:
    shown: list[dict] = []
    for turn in range(args.turns):
        message = f"{me['noun']} under ${me['budget']}" if turn == 0 else "show me more"
        if turn == 1:
            prices = [p["price"] for p in shown if p.get("price") is not None]
            me["own_amounts"].add(round(min(min(prices) - 0.01, me["budget"]) if prices else me["budget"] * 0.8, 2))
            message = "cheaper"
        elif turn == 2 and (brands := [p["brand"] for p in shown if p.get("brand")]):
            me["excluded"] = brands[0]
            message = f"not {brands[0]}"
        dt, resp = post_chat(client, errors, session, message, args.timeout)
        if dt is not None:
            latencies[turn].append(dt)
        if resp is not None:
            shown, session = resp.get("products") or shown, resp.get("session_id") or session  # a server's id wins
            others = [s for s in shoppers if s is not me]
            found = check_turn(me, resp, {s["budget"] for s in others}, {s["excluded"] for s in others} - {None})
            leaks += [f"shopper {me['i']} turn {turn + 1} ({message!r}): {x}" for x in found]


def phase_shoppers(client: httpx.Client, args: argparse.Namespace, errors: list[str]) -> dict:
    try:
        catalog = client.get("/api/v1/recommend", params={"k": 50}, timeout=args.timeout).json()["products"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        errors.append(f"catalog sample (GET /api/v1/recommend) failed: {exc!r}")
        catalog = []
    shoppers, tag = make_shoppers(args.shoppers, catalog), f"bench{int(time.time())}"
    latencies: list[list[float]] = [[] for _ in range(args.turns)]
    leaks: list[str] = []
    post_chat(client, [], f"{tag}-warmup", f"{shoppers[0]['noun']} under $1000", args.timeout)  # not counted
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.shoppers) as pool:
        for f in [pool.submit(run_shopper, client, args, errors, s, shoppers, f"{tag}-{s['i']}", latencies, leaks)
                  for s in shoppers]:
            f.result()
    return {"wall_s": round(time.perf_counter() - t0, 1), "turns": [pct(t) for t in latencies],
            "all": pct([x for t in latencies for x in t]), "leaks": len(leaks), "leak_samples": leaks[:5],
            "search": f"{shoppers[0]['noun']} under ${shoppers[0]['budget']}"}


def phase_memory(client: httpx.Client, args: argparse.Namespace, pid: int, errors: list[str], search: str) -> dict:
    """RSS before/after --sessions new sessions of one search each, then over one session of --long-turns turns."""
    tag, before, failed_before = f"mem{int(time.time())}", rss_mb(pid), len(errors)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: post_chat(client, errors, f"{tag}-{k}", search, args.timeout), range(args.sessions)))
    after = rss_mb(pid)
    script = [search, "cheaper", "in blue", "show me more", "rated 4 stars or more", "hiking boots under $120",
              "not Stridewell", "what is your return policy?"]
    times = [post_chat(client, errors, f"{tag}-long", script[k % len(script)], args.timeout)[0]
             for k in range(args.long_turns)]
    times = [t for t in times if t is not None]
    end = rss_mb(pid)
    per_k = None if before is None or after is None else round((after - before) / max(args.sessions, 1) * 1000, 1)
    return {"rss_start_mb": before and round(before, 1), "mb_per_1000_sessions": per_k, "sessions": args.sessions,
            "long_turns": args.long_turns, "long_rss_delta_mb": None if end is None or after is None else round(end - after, 1),
            "long_first10": pct(times[:10]), "long_last10": pct(times[-10:]), "failed": len(errors) - failed_before}


def adversarial(n: int) -> list[str]:
    """n-char messages on which an e-mail pattern with an unbounded run before "@" rescans the rest of the
    message from every start (quadratic), plus a long digits-and-spaces run for the phone pattern."""
    return [m[:n] for m in ("a.a.a.a.a.a-" * n, "a" * (n - 1) + "@", "a@" + "a." * n, "1234567890 " * n)]


def message_limit(client: httpx.Client, args: argparse.Namespace) -> tuple[int, str]:
    """(longest accepted message, from where): /openapi.json's maxLength, else --max-chars; a 422 to one plain
    message of that length that names a smaller limit ("at most N", "limit is N") wins."""
    try:
        props = client.get("/openapi.json", timeout=args.timeout).json()["components"]["schemas"]["ChatRequest"]["properties"]
        limit, source = int(props["message"]["maxLength"]), "openapi"
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        limit, source = args.max_chars, "--max-chars"
    try:
        r = client.post("/api/v1/chat", json={"session_id": "limit-probe", "message": ("socks " * limit)[:limit]},
                        timeout=args.timeout)
        said = re.search(r"(?:at most|limit is) ([\d,]+)", r.text) if r.status_code == 422 else None
        if said and 0 < int(said[1].replace(",", "")) < limit:
            return int(said[1].replace(",", "")), "422 detail"
    except httpx.HTTPError:
        pass
    return limit, source


def phase_healthz(client: httpx.Client, args: argparse.Namespace) -> dict:
    limit, source = message_limit(client, args)
    done, polls, poll_errors, results = threading.Event(), [], [], []

    def poll(count: int = 0) -> None:  # count > 0: that many polls; else until `done`
        while not done.is_set() and (count <= 0 or len(polls) < count):
            t0 = time.perf_counter()
            try:
                if (r := client.get("/healthz", timeout=args.timeout)).status_code >= 400:
                    poll_errors.append(str(r.status_code))
            except httpx.HTTPError as exc:
                poll_errors.append(type(exc).__name__)
            polls.append(time.perf_counter() - t0)
            time.sleep(max(0.0, 0.05 - (time.perf_counter() - t0)))

    def big(msg: str) -> None:
        t0 = time.perf_counter()
        try:
            r = client.post("/api/v1/chat", json={"session_id": f"maxlen-{time.time()}", "message": msg}, timeout=args.timeout)
            status = str(r.status_code) + (f" {r.text[:80]}" if r.status_code >= 400 else "")
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        results.append({"message": repr(msg[:12]) + "...", "status": status, "s": round(time.perf_counter() - t0, 2)})

    poll(20)  # idle baseline
    (idle, polls[:]), (idle_errors, poll_errors[:]) = (polls[:], []), (len(poll_errors), [])
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.2)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(big, adversarial(limit)))
    done.set()
    poller.join(args.timeout + 5)
    return {"max_chars": limit, "max_chars_from": source, "idle": pct(idle), "idle_errors": idle_errors,
            "under_load": pct(polls), "poll_errors": len(poll_errors), "requests": results}


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str, str]:
    """`python app.py` on a free port with the template backend; returns once /healthz answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.NamedTemporaryFile("w", prefix="bench_load_server_", suffix=".log", delete=False)
    data_dir = os.path.abspath(args.data_dir) if args.data_dir else os.path.join(ROOT, "data")
    cmd = [sys.executable, "app.py", "--port", str(port), "--data-dir", data_dir, "--llm-backend", "template"]
    print(f"starting: {' '.join(cmd)} (log: {log.name})", file=sys.stderr)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + args.start_timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return proc, url, log.name
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop_server(proc)
    sys.exit(f"the app did not answer /healthz (exit code {proc.returncode}); see {log.name}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def example(samples: list[str]) -> str:
    return f", e.g. {samples[0]}" if samples else ""


def table(r: dict) -> list[tuple[str, str]]:
    rows = [("machine", r["machine"]), ("replicas (requests rotate over them)", str(r.get("replicas", 1)))]
    if s := r.get("shoppers"):
        rows.append((f"chat, {r['args']['shoppers']} concurrent shoppers x {r['args']['turns']} turns",
                     f"{fmt(s['all'])}; {s['all']['n'] / max(s['wall_s'], 0.1):.1f} turns/s"))
        rows += [(f"chat turn {k + 1}", fmt(t)) for k, t in enumerate(s["turns"])]
        rows.append(("cross-session leaks (must be 0)", f"{s['leaks']}" + example(s["leak_samples"])))
    rows.append(("chat errors (status >= 400 or transport)", f"{r['errors']}" + example(r["error_samples"])))
    if m := r.get("memory"):
        rows.append(("server RSS per 1,000 new sessions", f"{m['mb_per_1000_sessions']} MB ({m['sessions']} sessions "
                     f"of 1 search, from {m['rss_start_mb']} MB" + (f"; {m['failed']} requests failed)" if m["failed"] else ")")))
        rows.append((f"server RSS growth, 1 session x {m['long_turns']} turns", f"{m['long_rss_delta_mb']} MB; turn "
                     f"p50 first 10 {m['long_first10']['p50']} ms, last 10 {m['long_last10']['p50']} ms"))
    if h := r.get("healthz"):
        rows.append(("/healthz idle", fmt(h["idle"]) + (f", {h['idle_errors']} failed" if h["idle_errors"] else "")))
        rows.append((f"/healthz during 4 x {h['max_chars']:,}-char messages (target p95 < 200 ms)",
                     fmt(h["under_load"]) + (f", {h['poll_errors']} failed" if h["poll_errors"] else "")))
        rows.append(("those 4 requests", "; ".join(f"{q['message']} {q['status']} in {q['s']} s" for q in h["requests"])))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--url", action="append", help="the app's base URL (default http://127.0.0.1:7860); repeat it for "
                   "replicas: requests rotate over them")
    p.add_argument("--start", action="store_true", help="start the app (template backend) on a free port, then stop it")
    p.add_argument("--data-dir", help="--start: the app's data directory (default: the repo's data/)")
    p.add_argument("--start-timeout", type=float, default=900, help="--start: seconds to wait for /healthz")
    p.add_argument("--pid", type=int, help="the server's process id, for the RSS measurements")
    p.add_argument("--shoppers", type=int, default=50, help="concurrent simulated shoppers")
    p.add_argument("--turns", type=int, default=3, help="turns per shopper (search, cheaper, not <brand>, more...)")
    p.add_argument("--sessions", type=int, default=1000, help="new one-search sessions for RSS per session")
    p.add_argument("--long-turns", type=int, default=150, help="turns of the one long session")
    p.add_argument("--max-chars", type=int, default=20000, help="message length when /openapi.json does not say")
    p.add_argument("--timeout", type=float, default=120, help="seconds per request")
    p.add_argument("--phase-timeout", type=float, default=900, help="seconds per phase; later chat requests are "
                   "skipped (counted as errors), so a hung server cannot hang the benchmark")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    proc, urls, pid = None, [u.rstrip("/") for u in args.url or ["http://127.0.0.1:7860"]], args.pid
    result: dict = {"machine": machine(), "args": vars(args), "replicas": len(urls)}
    if args.start:
        proc, url, result["server_log"] = start_server(args)
        urls, pid = [url], proc.pid
    result["url"], errors = urls, []
    try:
        # Idle pooled connections are dropped before uvicorn's 5 s keep-alive closes them: reusing one the server
        # is closing would show up as a spurious transport error.
        limits = httpx.Limits(max_connections=args.shoppers + 16, keepalive_expiry=2.0)
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(httpx.Client(base_url=u, limits=limits)) for u in urls]
            client = clients[0] if len(clients) == 1 else RoundRobin(clients)
            print("phase 1: concurrent shoppers", file=sys.stderr)
            DEADLINE[0] = time.monotonic() + args.phase_timeout
            result["shoppers"] = phase_shoppers(client, args, errors)
            if pid:
                print("phase 2: memory per session", file=sys.stderr)
                DEADLINE[0] = time.monotonic() + args.phase_timeout
                result["memory"] = phase_memory(client, args, pid, errors, result["shoppers"]["search"])
            print("phase 3: /healthz during maximum-length messages", file=sys.stderr)
            result["healthz"] = phase_healthz(client, args)
    finally:
        result["errors"], result["error_samples"] = len(errors), errors[:5]
        if proc is not None:
            stop_server(proc)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("\n| metric | value |\n|---|---|")
    for name, value in table(result):
        print(f"| {name} | {value.replace('|', '/')} |")


if __name__ == "__main__":
    main()
