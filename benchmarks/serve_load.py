"""Load on ``patrolmarl serve``: 2,000 POST /advise of one snapshot from a concurrent client.

Starts ``patrolmarl serve --policy models/gaoxin --port 0`` in a subprocess, warms
it up, then sends the requests from ``--clients`` threads, each on its own
keep-alive connection, and prints the throughput and the latency percentiles
(each request timed from send to the last byte of the answer). Target: p99 under
50 ms on the 2-core machine. The load average is printed beside the figures,
so that a measurement on a loaded machine is recognisable.

    python benchmarks/serve_load.py [--requests 2000] [--clients 4] [--policy models/gaoxin]
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0
WARM_UP = 50


def start_server(policy: Path) -> tuple[subprocess.Popen, str, int]:
    """A ``patrolmarl serve`` subprocess on a free port, and its host and port."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "patrolmarl.cli", "serve", "--policy", str(policy)]
    process = subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, text=True, env=env
    )
    line = process.stdout.readline()
    if "http://" not in line:
        process.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    host, port = line.rsplit("http://", 1)[1].strip().rsplit(":", 1)
    return process, host, int(port)


def client(host: str, port: int, body: bytes, count: int, latencies: list[float]) -> None:
    """Send ``count`` requests on one connection, appending each one's seconds."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    try:
        for _ in range(count):
            start = time.perf_counter()
            conn.request("POST", "/advise", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 200:
                raise RuntimeError(f"status {response.status}")
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--policy", type=Path, default=REPO / "models" / "gaoxin")
    parser.add_argument("--snapshot", type=Path, default=REPO / "schemas" / "snapshot.example.json")
    args = parser.parse_args()
    body = args.snapshot.read_bytes()
    process, host, port = start_server(args.policy)
    try:
        client(host, port, body, WARM_UP, [])
        per_client = [args.requests // args.clients] * args.clients
        per_client[0] += args.requests - sum(per_client)
        latencies: list[list[float]] = [[] for _ in per_client]
        threads = [
            threading.Thread(target=client, args=(host, port, body, n, out))
            for n, out in zip(per_client, latencies, strict=True)
        ]
        load_before = os.getloadavg()
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    ms = 1000.0 * np.concatenate([np.asarray(x) for x in latencies])
    if ms.size != args.requests:
        raise SystemExit(f"only {ms.size} of {args.requests} requests were answered")
    p50, p99 = np.percentile(ms, [50, 99])
    print(
        f"{args.requests} requests from {args.clients} clients in {seconds:.2f} s: "
        f"{args.requests / seconds:.0f} requests/s"
    )
    print(
        f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms.max():.1f} ms "
        f"(target p99 < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'})"
    )
    print(
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
        f"({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
