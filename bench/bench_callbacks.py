"""Benchmark: how fast the outbox worker delivers callbacks, next to raw httpx against the same receiver.

    python bench/bench_callbacks.py [--n 2000] [--concurrency 16] [--rounds 3] [--latency-samples 50] [--db URL]

A local uvicorn receiver runs in its own process and answers 204. In one run the script measures
1. the raw rate: httpx POSTs (a default AsyncClient) of the very request the worker sends, body
   and headers, signed once, with `--concurrency` requests in flight;
2. the worker's rate: N callbacks queued, `Worker.run_once()` drains them (claim, sign, send,
   record every attempt in the callback log) with per-host concurrency `--concurrency`;
   1 and 2 are taken in turns `--rounds` times and their medians compared; 1 is also run over
   the worker's own client (`make_client`, which saves httpcore a system call per idle
   connection per request), to show what claiming, signing and logging cost on their own;
3. queue-to-receive latency when idle: a worker runs in a thread, callbacks are queued one at a
   time and the receiver notes when each arrives.
It prints deliveries per second, the raw rate, their ratio (target >= 80 %) and the latency p50
(target < 100 ms).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- the receiver (runs in a child process) ----------------------------------------------------

def serve(port: int) -> None:
    import uvicorn

    arrivals: dict[str, float] = {}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if not message.get("more_body"):
                break
        if scope["path"] == "/stats":
            body = json.dumps(arrivals).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        if scope["path"] == "/reset":
            arrivals.clear()
        for key, value in scope["headers"]:
            if key == b"webhook-id":
                arrivals[value.decode()] = time.time()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def start_receiver() -> tuple[subprocess.Popen, int]:
    import httpx

    from tests.mailer_servers import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=ROOT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/reset", timeout=1)
            return proc, port
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("receiver did not start")


# --- the measurements --------------------------------------------------------------------------

async def raw_rate(url: str, body: str, n: int, concurrency: int, headers: dict[str, str],
                   settings=None) -> float:
    """httpx POSTs of the same request the worker sends (body and headers, signed once), with
    `concurrency` in flight over a default AsyncClient, or over the worker's own client
    (`mailer.network.make_client(settings)`) when `settings` are given."""
    import httpx

    from mailer.network import make_client

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    client = (make_client(settings) if settings is not None else
              httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=concurrency)))
    async with client:
        async def one_lane():
            while not queue.empty():
                i = queue.get_nowait()
                response = await client.post(url, content=body, headers={**headers, "webhook-id": f"raw_{i}"})
                assert response.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(one_lane() for _ in range(concurrency)))
        return n / (time.perf_counter() - started)


def setup_world(url: str):
    from storage.audit import Actor
    from storage.connections import accept_invitation, create_connection
    from storage.tenancy import create_client, create_contract_company

    ops = Actor.operator("bench")
    north = create_contract_company("North Media", cross_client_module=True, actor=ops)
    south = create_contract_company("South Press", cross_client_module=True, actor=ops)
    source = create_client(north, "BENCHSOURCE000000001", "Bench Source", "source@bench.example", actor=ops)
    target = create_client(south, "BENCHTARGET000000001", "Bench Target", "target@bench.example", actor=ops)
    connection = create_connection(source, target.company_id, callback_url=url, actor=ops)
    return accept_invitation(connection.id, target, actor=ops)


def entity(n: int) -> dict:
    """About the size of a real CROSS_CLIENT_ORDER entity."""
    return {"voucherCode": f"ABCD-EFGH-JKMN-{n:04d}"[-19:], "orderId": str(100000 + n),
            "orderDate": "2026-11-29T10:00:00Z", "sourceCompanyId": "BENCHSOURCE000000001",
            "targetCompanyId": "BENCHTARGET000000001",
            "customer": {"customerId": str(200000 + n), "email": f"buyer{n}@example.org", "firstName": "Berta",
                         "lastName": f"Buyer{n}", "language": "de"},
            "offer": {"offerId": "O_00000002", "title": "Nordpost Digital for partners"},
            "leadingOffer": {"offerId": "O_00000005", "title": "Suedblick Online Basic"}}


def queue_many(connection, n: int, offset: int = 0) -> None:
    from storage.db import db
    from storage.outbox import queue_callback

    with db.atomic():
        for i in range(n):
            queue_callback(connection, "CROSS_CLIENT_ORDER", "CREATION", str(offset + i), entity(offset + i))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=2000, help="callbacks to deliver (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3,
                        help="raw and worker runs, taken in turns (default 3); medians are compared")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp directory)")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0

    import httpx

    from mailer.worker import Worker, start_in_thread
    from storage.config import Config
    from storage.db import close_database, open_database
    from storage.models import Callback

    tmp = Path(tempfile.mkdtemp(prefix="crossclient-bench-"))
    os.environ["CROSSCLIENT_DATA_DIR"] = str(tmp)
    receiver, port = start_receiver()
    try:
        url = f"http://127.0.0.1:{port}/callbacks"
        open_database(args.db or str(tmp / "bench.sqlite3"))
        config = Config(data={
            "mail": {"outbox_dir": str(tmp / "outbox")},
            "callbacks": {"allow_private_addresses": True, "per_host_concurrency": args.concurrency,
                          "max_in_flight": max(64, args.concurrency)},
        })
        from mailer.settings import apply_address_policy

        apply_address_policy(config)
        connection = setup_world(url)
        sample_body = json.dumps({"entityType": "CROSS_CLIENT_ORDER", "callbackType": "CREATION",
                                  "entityId": "1", "entity": entity(1)}, separators=(",", ":"))

        from mailer.callbacks import Delivery, request_headers
        from mailer.settings import CallbackSettings

        # The very request the worker sends: body, signatures, User-Agent (signed once, here).
        headers = {**request_headers(Delivery(callback_id=0, webhook_id="msg_raw", body=sample_body, url=url,
                                              secret=connection.signing_secret), int(time.time())),
                   "User-Agent": CallbackSettings.from_config(config).user_agent}

        settings = CallbackSettings.from_config(config)
        settings.allow_private_addresses = True
        raws, ours, workers, made = [], [], [], 0
        for round_ in range(args.rounds):  # in turns, so that a busy moment of the machine hits all
            raws.append(asyncio.run(raw_rate(url, sample_body, args.n, args.concurrency, headers)))
            ours.append(asyncio.run(raw_rate(url, sample_body, args.n, args.concurrency, headers, settings)))
            queue_many(connection, args.n, offset=round_ * args.n)
            started = time.perf_counter()
            made += asyncio.run(Worker(config).run_once())
            workers.append(args.n / (time.perf_counter() - started))
        delivered = Callback.select().where(Callback.status == "DELIVERED").count()
        from storage.models import CallbackAttempt

        failures = [f"{a.error_kind}: {a.error_message}" for a in
                    CallbackAttempt.select().where(CallbackAttempt.success == False)]  # noqa: E712
        # run_once counts e-mails too: setting up the connection queued its invitation notices.
        callback_attempts = CallbackAttempt.select().count()
        emails_sent = made - callback_attempts
        raw, raw_ours, worker_rate = statistics.median(raws), statistics.median(ours), statistics.median(workers)

        # Idle latency: one callback at a time, a worker waiting in a thread.
        httpx.post(f"http://127.0.0.1:{port}/reset", timeout=5)
        handle = start_in_thread(config)
        queued_at: dict[str, float] = {}
        from storage.db import db
        from storage.outbox import queue_callback

        time.sleep(0.3)
        for i in range(args.latency_samples):
            with db.atomic():
                cb = queue_callback(connection, "CROSS_CLIENT_ORDER", "CREATION", str(900000 + i), entity(i))
                webhook_id = cb.webhook_id
            queued_at[webhook_id] = time.time()  # the commit has just happened
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            arrivals = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
            if all(w in arrivals for w in queued_at):
                break
            time.sleep(0.1)
        handle.stop()
        latencies = sorted((arrivals[w] - t) * 1000 for w, t in queued_at.items() if w in arrivals)
        close_database()
    finally:
        receiver.terminate()
        receiver.wait(10)

    print(f"callbacks:            {args.n} queued per round x {args.rounds}, {delivered} delivered, "
          f"{callback_attempts} attempts made (concurrency {args.concurrency}); {emails_sent} setup e-mail(s) sent")
    for failure in failures[:5]:
        print(f"  failed attempt (retried later by the schedule): {failure}")
    rounds = ", ".join(f"{r:.0f} / {o:.0f} / {w:.0f}" for r, o, w in zip(raws, ours, workers, strict=True))
    print(f"rounds (raw httpx / raw over the worker's client / worker, per s): {rounds}")
    print(f"raw httpx POST rate:  {raw:8.0f} /s  (median; default AsyncClient, the same request signed once)")
    print(f"worker delivery rate: {worker_rate:8.0f} /s  (median; claim, sign, send, log every attempt)")
    print(f"ratio worker / raw:   {worker_rate / raw:8.0%}  (target >= 80%)")
    print(f"the same POSTs over the worker's own httpx client: {raw_ours:.0f} /s; worker / that: "
          f"{worker_rate / raw_ours:.0%} (what claiming, signing and logging cost)")
    if latencies:
        p50 = statistics.median(latencies)
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        print(f"idle queue-to-receive latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms "
              f"over {len(latencies)} callbacks (target p50 < 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
