"""Benchmark: voucher redemptions and customer look-ups per second through `crossclient serve`.

Runs the real server as a subprocess (uvicorn, one process, SQLite file in a temporary directory)
on a free loopback port with the rate limit off, and drives it with httpx from this process.

    python bench/bench_api.py [--redemptions 300] [--lookups 1000] [--concurrency 8]

Prints one line per figure. Every loop is bounded; traffic goes to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(db_path: Path, redemptions: int, customers: int) -> dict:
    """A source and a target with `redemptions` open vouchers and `customers` source customers."""
    from storage.customers import create_customer
    from storage.db import close_database, open_database
    from storage.models import Voucher
    from storage.orders import place_order
    from storage.tokens import create_token
    from tests import world

    open_database(str(db_path))
    shop = world.shop()
    w = shop.world
    buyer = world.customer(w.south, 1)
    for _ in range(redemptions):
        place_order(w.target, shop.basket.id, buyer.customer_number)
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


async def run_batch(client: httpx.AsyncClient, requests, concurrency: int) -> tuple[float, list[int]]:
    queue = list(requests)
    statuses: list[int] = []

    async def worker():
        while queue:
            method, url, kwargs = queue.pop()
            response = await client.request(method, url, **kwargs)
            statuses.append(response.status_code)

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - started, statuses


async def drive(base: str, data: dict, lookups: int, concurrency: int) -> None:
    headers = {"X-plenigo-token": data["token"]}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
        people = data["customers"]
        redeem = [("POST", "/subscriptions/useCrossClientVoucher",
                   {"json": {"customerId": people[i % len(people)][0], "voucherCode": code}})
                  for i, code in enumerate(data["codes"])]
        seconds, statuses = await run_batch(client, redeem, concurrency)
        ok = statuses.count(200)
        print(f"redemptions: {ok}/{len(redeem)} succeeded in {seconds:.2f} s = {ok / seconds:.0f} per second "
              f"(concurrency {concurrency})")
        look = []
        for i in range(lookups):
            number, email = people[i % len(people)]
            if i % 2:
                look.append(("GET", "/customers", {"params": {"email": email}}))
            else:
                look.append(("GET", f"/customers/{number}", {}))
        seconds, statuses = await run_batch(client, look, concurrency)
        ok = statuses.count(200)
        print(f"customer look-ups: {ok}/{len(look)} succeeded in {seconds:.2f} s = {ok / seconds:.0f} per second "
              f"(half by id, half by e-mail; concurrency {concurrency})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redemptions", type=int, default=300)
    parser.add_argument("--lookups", type=int, default=1000)
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
        server = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--db", str(db_path),
                                   "--config", str(config), "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}/api/v3.0"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        print(server.stderr.read(), file=sys.stderr)
                        return 1
                    time.sleep(0.05)
            asyncio.run(drive(base, data, args.lookups, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
