"""Benchmark: voucher redemptions and customer look-ups per second through `crossclient serve`.

Runs the real server as a subprocess (uvicorn, one process, SQLite file in a temporary directory,
the outbox worker included as `serve` runs it) on a free loopback port with the rate limit and the
access log off, and drives it from this process with `--concurrency` keep-alive connections.

    python bench/bench_api.py [--redemptions 300] [--lookups 2000] [--concurrency 8]

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio streams rather than httpx:
on a 2-core machine httpx spends about as much CPU per request as the server does, so it would
measure the client. Each figure comes with its latency (median, 99th percentile) and the server's
CPU time per request (Linux, from /proc), which says whether the server is CPU-bound or waiting.
The purchases that made the vouchers queue callbacks; the bench marks them delivered so the
worker has nothing to send while the API is measured. Every loop is bounded; traffic goes to
127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = "/api/v3.0"


def prepare(db_path: Path, redemptions: int, customers: int) -> dict:
    """A source and a target with `redemptions` open vouchers and `customers` source customers."""
    from storage import connections
    from storage.customers import create_customer
    from storage.db import close_database, open_database
    from storage.models import Callback, Voucher
    from storage.orders import place_order
    from storage.tokens import create_token
    from tests import world

    open_database(str(db_path))
    connections.ALLOW_PRIVATE_CALLBACK_URLS = True  # the world's callback URL is on 127.0.0.1
    shop = world.shop()
    w = shop.world
    buyer = world.customer(w.south, 1)
    for _ in range(redemptions):
        place_order(w.target, shop.basket.id, buyer.customer_number)
    # Bench setup, not a domain operation: the worker in `serve` must not send these meanwhile.
    Callback.update(status="DELIVERED", next_attempt_at=None).execute()
    people = [create_customer(w.north, email=f"reader{i}@bench.example", first_name="Bench", last_name=f"R{i}")
              for i in range(customers)]
    data = {
        "codes": [v.code for v in Voucher.select().order_by(Voucher.id)],
        "customers": [(p.customer_number, p.email) for p in people],
        "token": create_token(w.source, "bench")[1],
    }
    close_database()
    return data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (uvicorn's do)."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"X-plenigo-token: {self.token}\r\nAccept: application/json\r\n")
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        status_line = await self.reader.readline()
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and "close" in value.lower():
                close = True
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def server_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def run_batch(port: int, token: str, requests: list, concurrency: int, pid: int) -> dict:
    queue = list(reversed(requests))
    statuses: list[int] = []
    latencies: list[float] = []

    async def worker():
        conn = Connection(port, token)
        try:
            while queue:
                method, path, body = queue.pop()
                t = time.perf_counter()
                statuses.append(await conn.request(method, path, body))
                latencies.append(time.perf_counter() - t)
        finally:
            await conn.close()

    cpu = server_cpu(pid)
    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    seconds = time.perf_counter() - started
    cpu_used = None if cpu is None else server_cpu(pid) - cpu
    latencies.sort()
    return {"seconds": seconds, "statuses": statuses, "ok": statuses.count(200),
            "p50": statistics.median(latencies) * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "cpu_ms": None if cpu_used is None else cpu_used / len(requests) * 1000}


def report(what: str, result: dict, total: int, note: str) -> None:
    ok, seconds = result["ok"], result["seconds"]
    cpu = f"; server CPU {result['cpu_ms']:.1f} ms/request" if result["cpu_ms"] is not None else ""
    print(f"{what}: {ok}/{total} succeeded in {seconds:.2f} s = {ok / seconds:.0f} per second "
          f"({note}; latency median {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms{cpu})")
    others = sorted({s for s in result["statuses"] if s != 200})
    if others:
        print(f"  other statuses: {others}")


async def drive(port: int, pid: int, data: dict, lookups: int, concurrency: int) -> None:
    token, people = data["token"], data["customers"]
    warm = [("GET", f"{BASE}/customers/{people[i % len(people)][0]}", None) for i in range(4 * concurrency)]
    await run_batch(port, token, warm, concurrency, pid)  # worker threads and their connections
    redeem = [("POST", f"{BASE}/subscriptions/useCrossClientVoucher",
               {"customerId": people[i % len(people)][0], "voucherCode": code})
              for i, code in enumerate(data["codes"])]
    result = await run_batch(port, token, redeem, concurrency, pid)
    report("redemptions", result, len(redeem), f"concurrency {concurrency}")
    look = []
    for i in range(lookups):
        number, email = people[i % len(people)]
        if i % 2:
            look.append(("GET", f"{BASE}/customers?{urlencode({'email': email})}", None))
        else:
            look.append(("GET", f"{BASE}/customers/{number}", None))
    result = await run_batch(port, token, look, concurrency, pid)
    report("customer look-ups", result, len(look), f"half by id, half by e-mail; concurrency {concurrency}")


def wait_until_serving(port: int, server: subprocess.Popen, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redemptions", type=int, default=300)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        tmp = Path(tmp)
        db_path = tmp / "bench.sqlite3"
        started = time.perf_counter()
        data = prepare(db_path, args.redemptions, args.customers)
        print(f"prepared {len(data['codes'])} vouchers and {len(data['customers'])} customers "
              f"in {time.perf_counter() - started:.1f} s")
        config = tmp / "config.toml"
        config.write_text("[api]\nrate_limit_per_second = 0\naccess_log = false\n")
        port = free_port()
        env = {**os.environ, "CROSSCLIENT_DATA_DIR": str(tmp / "data"), "PYTHONPATH": str(ROOT)}
        log_path = tmp / "server.log"
        with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would stall the server
            server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--db", str(db_path),
                                       "--config", str(config), "--port", str(port)],
                                      env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_until_serving(port, server):
                print(log_path.read_text()[-4000:], file=sys.stderr)
                return 1
            asyncio.run(drive(port, server.pid, data, args.lookups, args.concurrency))
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
