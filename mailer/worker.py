"""The outbox worker: claims due e-mails and callbacks, sends them, records what happened.

One asyncio loop per worker. Database work runs in one dedicated thread (peewee keeps a connection
per thread) in short transactions: a claim leases due rows to this worker, the sends happen outside
any transaction, and finished callback attempts are recorded in batches (one transaction for all
that finished meanwhile). Callbacks share one httpx client; sends to one destination
(scheme, host, port) are bounded by [callbacks] per_host_concurrency, all sends by max_in_flight.

The worker wakes as soon as this process commits a new outbox row (storage.outbox calls `wake`
after the commit) and otherwise polls at most every [worker] poll_interval (1 s), sooner when a
retry falls due. Every minute it also expires unanswered invitations, which queues their notices.

A worker that dies keeps its leases until they run out ([worker] lease_seconds, by default twice
the longest send); then another worker sends those rows again: delivery is at least once and the
receiver deduplicates by `webhook-id`. On SIGTERM / ctrl+c / `stop`, no new rows are claimed,
sends in flight finish (up to [worker] shutdown_grace) and are recorded, and every remaining lease
is released so another worker takes over at once.

Ways to run it: `crossclient worker [--once]` (headless), `start_in_thread(config)` inside the
backoffice or the API server, or `await Worker(config).run(stop_event)` in your own loop.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from mailer import callbacks as cb
from mailer import emails
from mailer.network import make_client
from mailer.settings import CallbackSettings, MailSettings, WorkerSettings, apply_address_policy
from storage import outbox
from storage.clock import now
from storage.config import Config
from storage.db import db
from storage.models import EmailOutbox

log = logging.getLogger("crossclient.worker")

# Callbacks held per send slot (running plus waiting for the slot); the lease covers the wait.
HOLD = 3

_running: set[Worker] = set()
_running_lock = threading.Lock()


def wake() -> None:
    """Tell every worker running in this process to look for due rows now (any thread)."""
    with _running_lock:
        workers = list(_running)
    for worker in workers:
        worker.poke()


@dataclass(frozen=True)
class WorkerEvent:
    """What the worker did with one row, for a UI to show (posted from the worker thread)."""

    kind: str  # "callback" or "email"
    id: int
    success: bool
    summary: str
    final: bool = False


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Delivers the outbox; `run` until a stop event, or `run_once` for what is due now."""

    def __init__(self, config: Config | None = None, *, owner: str | None = None,
                 on_event: Callable[[WorkerEvent], None] | None = None):
        config = config or Config()
        self.mail = MailSettings.from_config(config)
        self.callbacks = CallbackSettings.from_config(config)
        self.settings = WorkerSettings.from_config(config, self.callbacks)
        self.owner = owner or default_owner()
        self.on_event = on_event
        # One policy per process: the sends follow the save-time switch (set by the demo and tests
        # too), and a config that allows private addresses turns the switch on.
        self.callbacks.allow_private_addresses = apply_address_policy(config)
        self.delivered = 0  # attempts made (callbacks) and e-mails handled, for reports
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._hungry: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._http = None
        self._tasks: set[asyncio.Task] = set()
        self._queues: dict[str, deque[cb.Delivery]] = {}  # claimed, waiting for a slot of their host
        self._host_load: dict[str, int] = {}  # sends running per host
        self._load = 0  # sends running in all
        self._unrecorded: set[int] = set()  # callback ids claimed and not yet recorded
        self._results: list[outbox.AttemptOutcome] = []
        self._results_ready: asyncio.Event | None = None
        self._mail_busy: set[int] = set()
        self._recorder: asyncio.Task | None = None
        self._closing = False
        self._sends_over = False
        self._mail_check = True
        self._next_mail_check = 0.0
        self._last_expire = -math.inf

    # --- plumbing ---------------------------------------------------------------------------

    def poke(self) -> None:
        self._mail_check = True
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    async def _db(self, fn, *args, **kwargs):
        return await self._loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def _emit(self, event: WorkerEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("worker event listener failed")

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._hungry = asyncio.Event()
        self._results_ready = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crossclient-outbox-db")
        self._http = make_client(self.callbacks)
        self._recorder = asyncio.create_task(self._record_loop())
        with _running_lock:
            _running.add(self)
        outbox.add_listener(wake)
        log.info("worker %s started", self.owner)

    async def _finish(self) -> None:
        with _running_lock:
            _running.discard(self)
        self._closing = True  # no new sends from here on
        deadline = time.monotonic() + self.settings.shutdown_grace
        while self._tasks:
            done, pending = await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))
            if pending and time.monotonic() >= deadline:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending)
        # Every send has ended: let the recorder write what is left and end (cancelling it could
        # drop a queued database write).
        self._sends_over = True
        self._results_ready.set()
        if self._recorder is not None:
            await asyncio.gather(self._recorder, return_exceptions=True)
        self._queues.clear()
        try:
            released = await self._db(outbox.release_leases, self.owner)
            if released:
                log.info("worker %s released %d lease(s)", self.owner, released)
        except Exception:
            log.exception("releasing leases failed; they run out by themselves")
        await self._http.aclose()
        await self._db(self._close_db)
        self._executor.shutdown(wait=True)
        log.info("worker %s stopped", self.owner)

    @staticmethod
    def _close_db() -> None:
        if db.obj is not None and not db.obj.is_closed():
            db.obj.close()

    # --- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then finish what is in flight and release leases."""
        await self._start()
        try:
            while not stop.is_set():
                self._wake.clear()
                self._hungry.clear()
                try:
                    await self._housekeeping()
                    full = await self._dispatch()
                    pause = 0.0 if full else await self._pause()
                except Exception:
                    log.exception("worker %s: outbox unavailable, retrying", self.owner)
                    pause = self.settings.poll_interval
                if pause > 0:
                    await _first(stop.wait(), self._wake.wait(), self._hungry.wait(), timeout=pause)
        finally:
            await self._finish()

    async def run_once(self) -> int:
        """Deliver what is due now (including retries that fall due meanwhile); returns the count
        of callback attempts made and e-mails handled."""
        await self._start()
        before = self.delivered
        try:
            await self._housekeeping(force=True)
            while True:
                self._hungry.clear()
                full = await self._dispatch()
                if full:
                    continue
                if not self._unrecorded and not self._mail_busy:
                    if not await self._due_now():
                        break
                    continue
                await _first(self._hungry.wait(), timeout=self.settings.poll_interval)
        finally:
            await self._finish()
        return self.delivered - before

    async def _due_now(self) -> bool:
        due = await self._db(outbox.next_due_at)
        return due is not None and due <= now()

    async def _housekeeping(self, force: bool = False) -> None:
        if force or time.monotonic() - self._last_expire >= self.settings.expire_every:
            self._last_expire = time.monotonic()
            from storage.connections import expire_invitations

            expired = await self._db(expire_invitations)
            if expired:
                log.info("expired %d invitation(s)", expired)

    async def _pause(self) -> float:
        """How long to sleep: until the next row falls due, at most the poll interval. Rows that
        are due but wait for a free slot are picked up when a slot frees (`_hungry`)."""
        due = await self._db(outbox.next_due_at)
        pause = self.settings.poll_interval
        if due is not None:
            wait = (due - now()).total_seconds()
            if wait > 0:
                pause = min(pause, wait)
            elif not self._unrecorded:
                pause = 0.0  # fell due just after the claim looked
        return max(pause, 0.002)

    def _held(self, key: str) -> int:
        return self._host_load.get(key, 0) + len(self._queues.get(key, ()))

    async def _dispatch(self) -> bool:
        """Claim what fits and start sending it; True when a claim came back full (more may be due).

        Up to HOLD times the send slots are held (running plus waiting), so that one claim feeds
        many sends and a slot that frees starts the next callback without a database round trip;
        the lease covers the wait, which is at most HOLD - 1 sends long.
        """
        full = False
        per_host = self.callbacks.per_host_concurrency
        limit = HOLD * self.callbacks.max_in_flight - len(self._unrecorded)
        if limit > 0:
            held = {key: self._held(key) for key in set(self._host_load) | set(self._queues)}

            def accept(connection) -> bool:
                key = cb.host_key(connection.callback_url)
                if held.get(key, 0) >= HOLD * per_host:
                    return False
                held[key] = held.get(key, 0) + 1
                return True

            claimed = await self._db(outbox.claim_callbacks, self.owner, limit, self.settings.lease_seconds,
                                     accept=accept, exclude=set(self._unrecorded))
            for item in claimed:
                delivery = cb.Delivery.of(item.callback, item.connection, item.trigger)
                self._unrecorded.add(delivery.callback_id)
                self._queues.setdefault(delivery.host_key, deque()).append(delivery)
            self._pump()
            full = len(claimed) >= limit
        free_mail = self.mail.concurrency - len(self._mail_busy)
        # E-mails are few: look for them when woken or polling, not after every callback.
        if free_mail > 0 and (self._mail_check or time.monotonic() >= self._next_mail_check):
            self._mail_check = False
            self._next_mail_check = time.monotonic() + self.settings.poll_interval
            rows = await self._db(outbox.claim_emails, self.owner, free_mail, self.settings.lease_seconds,
                                  exclude=set(self._mail_busy))
            for email in rows:
                self._mail_busy.add(email.id)
                self._start_task(self._send_email(email))
            full = full or len(rows) >= free_mail
        return full

    def _pump(self) -> None:
        """Start waiting callbacks while their host and the worker have free slots."""
        if self._closing:
            return
        per_host, most = self.callbacks.per_host_concurrency, self.callbacks.max_in_flight
        for key in list(self._queues):
            queue = self._queues[key]
            while queue and self._load < most and self._host_load.get(key, 0) < per_host:
                delivery = queue.popleft()
                self._host_load[key] = self._host_load.get(key, 0) + 1
                self._load += 1
                self._start_task(self._send_callback(delivery))
            if not queue:
                del self._queues[key]

    def _start_task(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("send task failed", exc_info=task.exception())

    # --- callbacks --------------------------------------------------------------------------

    async def _send_callback(self, delivery: cb.Delivery) -> None:
        key = delivery.host_key
        try:
            outcome = await cb.send(self._http, delivery, self.callbacks)
        finally:
            self._load -= 1
            self._host_load[key] -= 1
            if not self._host_load[key]:
                del self._host_load[key]
        if not outcome.success:
            log.info("callback %s try failed: %s", delivery.webhook_id, cb.describe(outcome))
        self._results.append(outcome)
        self._results_ready.set()
        self._pump()
        if key not in self._queues:
            self._hungry.set()  # this host could take more

    async def _record_loop(self) -> None:
        failures = 0
        while True:
            await self._results_ready.wait()
            if not self._closing and len(self._results) < self.settings.batch_size:
                # Gather what finishes meanwhile: one transaction (one fsync) for many attempts.
                await asyncio.sleep(self.settings.record_every)
            self._results_ready.clear()
            try:
                await self._flush()
                failures = 0
            except Exception:
                failures += 1
                if self._sends_over and failures >= 3:
                    log.exception("recording the last attempts failed; their leases run out and they "
                                  "are sent again")
                    return
                log.exception("recording callback attempts failed; retrying")
                await asyncio.sleep(self.settings.poll_interval)
                self._results_ready.set()
            if self._sends_over and not self._results:
                return

    async def _flush(self) -> None:
        """Record the attempts finished so far, one transaction per batch (later ones wait for the
        next flush, so that batches stay large while sends go on)."""
        pending = len(self._results)
        while pending > 0 and self._results:
            batch = self._results[: min(pending, self.settings.batch_size)]
            del self._results[: len(batch)]
            pending -= len(batch)
            try:
                attempts = await self._db(outbox.record_outcomes, self.owner, batch,
                                          schedule=self.callbacks.retry_schedule, jitter=self.callbacks.jitter,
                                          warn_after=self.callbacks.warn_after_failures)
            except Exception:
                self._results[:0] = batch
                raise
            for outcome in batch:
                self._unrecorded.discard(outcome.callback_id)
            self.delivered += len(batch)
            if self.on_event is not None:
                for attempt in attempts:
                    self._emit(WorkerEvent("callback", attempt.callback_id, attempt.success,
                                           f"try {attempt.try_number} "
                                           + ("delivered" if attempt.success else
                                              f"failed: {attempt.error_message or attempt.error_kind}"),
                                           attempt.final_try))
            if not all(outcome.success for outcome in batch) or not self._queues:
                self._hungry.set()  # a retry may be due at once, or there is room for more

    # --- e-mails ----------------------------------------------------------------------------

    async def _send_email(self, email: EmailOutbox) -> None:
        try:
            try:
                where = await asyncio.to_thread(emails.deliver, email, self.mail)
            except emails.PermanentFailure as exc:
                row = await self._db(outbox.record_email_failure, email.id, self.owner, str(exc),
                                     schedule=self.mail.retry_schedule, permanent=True)
                log.warning("e-mail #%s (%s) failed for good: %s", email.id, email.kind, exc)
                self._emit(WorkerEvent("email", email.id, False, str(exc), True))
            except Exception as exc:
                error = emails.describe_error(exc)
                row = await self._db(outbox.record_email_failure, email.id, self.owner, error,
                                     schedule=self.mail.retry_schedule)
                final = row is not None and row.status == "FAILED"
                log.warning("e-mail #%s (%s) to %s failed%s: %s", email.id, email.kind, email.to_address,
                            " for good" if final else ", will retry", error)
                self._emit(WorkerEvent("email", email.id, False, error, final))
            else:
                await self._db(outbox.record_email_sent, email.id, self.owner)
                log.info("e-mail #%s (%s) to %s sent via %s", email.id, email.kind, email.to_address, where)
                self._emit(WorkerEvent("email", email.id, True, f"{email.kind} to {email.to_address} sent"))
            self.delivered += 1
        finally:
            self._mail_busy.discard(email.id)
            self._mail_check = True
            self._hungry.set()


async def _first(*aws, timeout: float) -> None:
    """Wait until the first of `aws` completes or `timeout` passes; cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- running it -----------------------------------------------------------------------------

class WorkerHandle:
    """A worker running in a background thread with its own event loop (for the backoffice)."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="crossclient-worker", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self.worker.run(self._stop)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported through .error; the app keeps running
            self.error = exc
            log.exception("worker thread ended with an error")
        finally:
            self._ready.set()

    def start(self) -> WorkerHandle:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float | None = 30) -> bool:
        """Stop gracefully: in-flight sends finish, leases are released. True when it ended."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def start_in_thread(config: Config | None = None, *, owner: str | None = None,
                    on_event: Callable[[WorkerEvent], None] | None = None) -> WorkerHandle:
    """Run a worker in a daemon thread on the database this process has open; `handle.stop()`
    ends it gracefully. `on_event` is called from the worker's thread after each recorded send."""
    return WorkerHandle(Worker(config, owner=owner, on_event=on_event)).start()


def run_worker(args) -> int:
    """`crossclient worker [--once]`: deliver headless until SIGTERM / ctrl+c (or once)."""
    import signal

    from storage.config import load_config
    from storage.db import close_database, open_database

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(getattr(args, "config", None))
    open_database(getattr(args, "db", None))
    worker = Worker(config)
    try:
        if getattr(args, "once", False):
            count = asyncio.run(worker.run_once())
            print(f"worker {worker.owner}: {count} delivery attempt(s) made")
            return 0

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await worker.run(stop)

        asyncio.run(main())
        return 0
    finally:
        close_database()
