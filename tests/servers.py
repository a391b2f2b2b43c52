"""Real servers for the scale-out tests, started from their Debian packages (.ci/run installs them): redis-server,
PostgreSQL (initdb + pg_ctl, as the `postgres` user when the tests run as root: PostgreSQL refuses root) and
`chroma run`. Each context manager skips the test with the reason when its server cannot start.

    with redis_server() as url, postgres_server() as pg_url, chroma_server(tmp) as chroma_url: ...
    with app_server(data_dir, ["--llm-backend", "template"], log) as (base_url, process): ...
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    pytest.skip(f"server on port {port} did not start: " + log.read_text(errors="replace")[-1500:])


@contextlib.contextmanager
def _listening(cmd: list[str], port: int, log: Path, env: dict | None = None) -> Iterator[None]:
    """A server process that listens on `port` on 127.0.0.1, stopped at the end of the block."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_port(port, proc, log)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="redis-"))
    port = free_port()
    try:
        with _listening([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", str(tmp)], port, tmp / "redis.log"):
            yield f"redis://127.0.0.1:{port}/0"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, Path]]:
    """(URL of database "postgres" as superuser "shop", the cluster's data directory)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL not installed (apt-get install postgresql)")
    as_user: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="pg-"))
    if os.geteuid() == 0:  # PostgreSQL will not run as root
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a `postgres` user to start PostgreSQL as")
        shutil.chown(tmp, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = tmp / "data", free_port()
    log = tmp / "pg.log"
    init = subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "shop", "--no-sync"],
                          capture_output=True, text=True)
    if init.returncode:
        pytest.skip(f"initdb failed: {init.stderr[-1000:]}")
    start = subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                           capture_output=True, text=True)
    if start.returncode:
        pytest.skip(f"PostgreSQL did not start: {start.stderr[-500:]} {log.read_text(errors='replace')[-1000:]}")
    try:
        yield f"postgresql://shop@127.0.0.1:{port}/postgres", data
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database on the server; returns its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def chroma_server(tmp: Path) -> Iterator[str]:
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    with _listening([chroma, "run", "--path", str(tmp / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
                    port, tmp / "chroma.log", env={**os.environ, "ANONYMIZED_TELEMETRY": "False"}):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def app_server(data_dir: Path, args: list[str], log: Path, timeout: float = 600) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python app.py --port <free> --data-dir DATA_DIR ARGS` in a process of its own, once /healthz answers:
    (base URL, the process, so a test may kill it). Fails the test with the log's end when it does not start."""
    import httpx

    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--data-dir", str(data_dir), *args],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("app did not start: " + log.read_text(errors="replace")[-3000:])
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
