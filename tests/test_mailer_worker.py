"""The outbox worker: leases, crash recovery, several processes, graceful stop, waking on commit."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mailer.worker import start_in_thread
from storage import clock
from storage.clock import now
from storage.config import Config
from storage.db import db
from storage.models import Callback, CallbackAttempt, EmailOutbox
from storage.outbox import add_listener, claim_callbacks, queue_callback, queue_email, remove_listener
from tests.mailer_servers import Receiver, wait_for
from tests.world import shop

ROOT = Path(__file__).resolve().parent.parent


def queue(connection, count: int) -> list[str]:
    with db.atomic():
        return [queue_callback(connection, "CROSS_CLIENT_ORDER", "CREATION", str(5000 + n), {"n": n}).webhook_id
                for n in range(count)]


def write_config(tmp_path, **worker) -> Path:
    lines = ["[mail]", f'outbox_dir = "{tmp_path / "outbox"}"',
             "[callbacks]", "allow_private_addresses = true", 'retry_schedule = ["0s", "100ms", "100ms"]',
             "per_host_concurrency = 4",
             "[worker]", "poll_interval = 0.1"] + [f"{k} = {v}" for k, v in worker.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def spawn(db_path, config_path, *extra) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), CROSSCLIENT_DATA_DIR=str(Path(config_path).parent))
    return subprocess.Popen([sys.executable, "-m", "tui.cli", "worker", "--db", str(db_path),
                             "--config", str(config_path), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def delivered() -> int:
    return Callback.select().where(Callback.status == "DELIVERED").count()


def test_listener_is_called_after_commit_only(sqlite_db):
    calls = []

    def listener():
        calls.append(db.in_transaction())

    add_listener(listener)
    try:
        with pytest.raises(RuntimeError):
            with db.atomic():
                queue_email("invitation", "a@example.org", {})
                raise RuntimeError("rolled back")
        assert calls == []
        with db.atomic():
            queue_email("invitation", "a@example.org", {})
            assert calls == []  # not before the commit
        assert calls == [False]
    finally:
        remove_listener(listener)


def test_claims_do_not_overlap_and_an_expired_lease_is_claimed_again(any_db):
    s = shop(url="http://127.0.0.1:9/cb")
    queue(s.connection, 5)
    first = claim_callbacks("worker-a", 3, 60)
    second = claim_callbacks("worker-b", 10, 60)
    assert len(first) == 3 and len(second) == 2
    assert not {c.callback.id for c in first} & {c.callback.id for c in second}
    assert claim_callbacks("worker-c", 10, 60) == []
    # worker-a dies; once its lease has run out, its callbacks are due again.
    clock.fix(now() + dt.timedelta(seconds=61))
    try:
        again = claim_callbacks("worker-c", 10, 60)
    finally:
        clock.fix(None)
    assert len(again) == 5  # b's leases ran out too
    assert {c.callback.lease_owner for c in again} == {"worker-c"}


def test_a_full_destination_does_not_hide_the_others_due_callbacks(any_db):
    """Hundreds of callbacks due for one receiver (down, or slow) ahead of one for another: a claim
    that may take only a few of the first (its sends per host are full) still finds the other."""
    from tests.world import connect

    s = shop(url="http://127.0.0.1:9/cb")
    other = connect(s.world.sibling, s.world.target, url="http://127.0.0.2:9/cb")
    queue(s.connection, 300)
    with db.atomic():
        late = queue_callback(other, "CROSS_CLIENT_ORDER", "CREATION", "9999", {"n": 9999})
    taken: Counter = Counter()

    def accept(connection) -> bool:  # three sends at a time for the busy receiver
        if connection.id == s.connection.id and taken[connection.id] >= 3:
            return False
        taken[connection.id] += 1
        return True

    claimed = claim_callbacks("worker-a", 10, 60, accept=accept)
    assert Counter(c.connection.id for c in claimed) == {s.connection.id: 3, other.id: 1}
    assert late.id in {c.callback.id for c in claimed}
    # What was passed over stays due, for the next claim.
    assert Callback.select().where(Callback.status == "PENDING").count() == 297


def test_worker_in_thread_wakes_on_commit_and_stops_gracefully(sqlite_db, tmp_path):
    with Receiver() as receiver:
        s = shop(url=receiver.url("/slow?ms=300"))
        cfg = Config(data={"mail": {"outbox_dir": str(tmp_path / "outbox")},
                           "callbacks": {"allow_private_addresses": True}})
        handle = start_in_thread(cfg)
        try:
            queue(s.connection, 3)
            wait_for(lambda: receiver.app.count() == 3)
        finally:
            assert handle.stop(timeout=20)
        # The sends in flight when stop was asked for finished and were recorded.
        assert CallbackAttempt.select().count() == 3
        assert delivered() == 3
        assert Callback.select().where(Callback.lease_owner.is_null(False)).count() == 0
        assert EmailOutbox.select().where(EmailOutbox.status != "SENT").count() == 0


def test_sigterm_finishes_in_flight_sends_and_releases_leases(sqlite_db, tmp_path):
    with Receiver() as receiver:
        s = shop(url=receiver.url("/slow?ms=400"))
        queue(s.connection, 20)
        worker = spawn(sqlite_db, write_config(tmp_path))
        wait_for(lambda: receiver.app.count() >= 2, timeout=30)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
        assert worker.returncode == 0, err
        received = receiver.app.count()
    # Every request the receiver got was recorded; nothing stays leased to the stopped worker.
    assert CallbackAttempt.select().count() == received
    assert Callback.select().where(Callback.status == "SENDING").count() == 0
    assert Callback.select().where(Callback.lease_owner.is_null(False)).count() == 0
    assert delivered() == received < 20
    assert "released" in err or delivered() + Callback.select().where(Callback.status == "PENDING").count() == 20


def test_worker_killed_mid_batch_loses_nothing(sqlite_db, tmp_path):
    with Receiver() as receiver:
        s = shop(url=receiver.url("/slow?ms=100"))
        ids = queue(s.connection, 40)
        config_path = write_config(tmp_path, lease_seconds=1)
        first = spawn(sqlite_db, config_path)
        wait_for(lambda: receiver.app.count() >= 6, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        assert first.returncode == -signal.SIGKILL
        assert delivered() < 40  # it really died mid-batch
        second = spawn(sqlite_db, config_path)
        try:
            wait_for(lambda: delivered() == 40, timeout=60, interval=0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            out, err = second.communicate(timeout=30)
        assert second.returncode == 0, err
        seen = Counter(r.headers["webhook-id"] for r in receiver.app.snapshot())
    assert set(seen) == set(ids)  # every callback arrived at least once
    assert Callback.select().where(Callback.status != "DELIVERED").count() == 0


def test_two_worker_processes_send_each_attempt_once(any_db, tmp_path):
    """SQLite serialises claims with IMMEDIATE transactions, PostgreSQL with FOR UPDATE SKIP LOCKED."""
    with Receiver() as receiver:
        s = shop(url=receiver.url("/slow?ms=20"))
        ids = queue(s.connection, 60)
        config_path = write_config(tmp_path)
        workers = [spawn(any_db, config_path), spawn(any_db, config_path)]
        try:
            wait_for(lambda: delivered() == 60, timeout=60, interval=0.1)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            results = [w.communicate(timeout=30) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], results
        seen = Counter(r.headers["webhook-id"] for r in receiver.app.snapshot())
    assert seen == Counter({webhook_id: 1 for webhook_id in ids})
    assert CallbackAttempt.select().count() == 60


def test_worker_once_delivers_what_is_due_and_exits(sqlite_db, tmp_path):
    with Receiver() as receiver:
        s = shop(url=receiver.url("/ok"))
        queue(s.connection, 3)
        worker = spawn(sqlite_db, write_config(tmp_path), "--once")
        out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "5 delivery attempt(s) made" in out  # 3 callbacks, the invitation and its answer
    assert delivered() == 3 and receiver.app.count() == 3
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_mailer_imports_no_textual():
    code = "import sys, mailer.worker, mailer.callbacks, mailer.emails; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_claim_without_update_returning_reads_the_leased_rows_back(sqlite_db, monkeypatch):
    """SQLite before 3.35 has no UPDATE ... RETURNING; the claim then reads its rows back."""
    import storage.outbox as outbox
    from storage.models import Callback
    from tests.world import shop

    s = shop()
    from storage.orders import place_order
    from tests.world import OPS, customer

    place_order(s.target, s.basket.id, customer(s.world.south).customer_number, actor=OPS)
    monkeypatch.setattr(outbox, "_returning", lambda: False)
    outbox._claim_sqls.clear()
    try:
        claimed = outbox.claim_callbacks("w1", 10, 30)
    finally:
        outbox._claim_sqls.clear()
    assert [c.callback.id for c in claimed] == [c.id for c in Callback.select()]
    assert all(c.callback.status == "SENDING" and c.callback.lease_owner == "w1" for c in claimed)
    assert all(c.status == "SENDING" and c.lease_owner == "w1" for c in Callback.select())
