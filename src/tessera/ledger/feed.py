"""The ledger's event feed: every committed batch, in journal order, once it is durable.

Rules and scores subscribe here instead of polling. ``Ledger._commit`` publishes each
batch under its apply lock (so the queue is in journal order) and a single feed thread
waits for the batch to be fsynced, then hands it to every subscriber as whole arrays:
the records exactly as journaled and the engine's status per record. Nothing per event.

A subscriber that raises does not stop the ledger or the other subscribers; its error
is counted and kept (``Feed.errors``, ``Feed.last_error``) for the operator to see.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

QUEUE_BATCHES_MAX = 1024  # then publish waits: memory stays bounded and nothing is dropped


@dataclass(frozen=True, slots=True)
class CommittedBatch:
    """One durable journal entry: what was asked (``records``) and what happened (``statuses``)."""

    seq: int  # journal sequence number
    kind: int  # EntryKind: accounts, transfers or orders
    timestamp: int  # ns of the first record; record i has timestamp + i
    records: npt.NDArray[np.void]
    statuses: npt.NDArray[np.uint32]  # 0 where the record was applied, else the refusal code


Subscriber = Callable[[CommittedBatch], None]
_STOP = object()


class Subscription:
    """A handle to stop receiving batches; ``missed`` names journal entries it can never get."""

    def __init__(self, feed: Feed, subscriber: Subscriber) -> None:
        self._feed = feed
        self.subscriber = subscriber
        self.missed: list[tuple[int, int]] = []  # (first, last) seqs it asked for that are no longer kept

    def close(self) -> None:
        """Stop delivery to this subscriber (batches already handed over are not recalled)."""
        self._feed.unsubscribe(self)


class Feed:
    """Fan-out of durable batches to subscribers on one thread, in journal order."""

    def __init__(self, wait_durable: Callable[[int], None]) -> None:
        self._wait_durable = wait_durable
        self._subscriptions: tuple[Subscription, ...] = ()
        self._queue: queue.Queue[tuple[CommittedBatch, Subscription | None] | object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self.delivered = 0
        self.errors = 0
        self.last_error: BaseException | None = None

    @property
    def active(self) -> bool:
        """Whether anyone listens; the ledger skips publishing (and its copy) when nobody does."""
        return bool(self._subscriptions)

    @property
    def queued_behind(self) -> int:
        """Called by a subscriber: how many batches wait behind the one it is handling."""
        return max(0, self._pending - 1)

    def subscribe(self, subscriber: Subscriber, catch_up: Sequence[CommittedBatch] = ()) -> Subscription:
        """Receive ``catch_up`` (older batches, for this subscriber only), then every batch published from now on."""
        if not callable(subscriber):
            raise TypeError("subscriber must be callable with one CommittedBatch")
        subscription = Subscription(self, subscriber)
        for batch in catch_up:
            self._put((batch, subscription))
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-feed", daemon=True)
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    def publish(self, batch: CommittedBatch) -> None:
        """Queue a batch for delivery once durable (called in journal order).

        Waits while the queue is full, except on the feed thread itself: a subscriber that
        writes to the ledger (a freeze) must not wait for its own thread.
        """
        with self._idle:
            if threading.current_thread() is not self._thread:
                self._idle.wait_for(lambda: self._pending < QUEUE_BATCHES_MAX)
            self._pending += 1
        self._queue.put((batch, None))

    def _put(self, item: tuple[CommittedBatch, Subscription | None]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(item)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every published batch has been delivered; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Deliver what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, tuple)
            batch, only = item
            try:
                self._wait_durable(batch.seq)
            except Exception as error:  # the journal failed: this batch never became durable
                self._record_error(error)
            else:
                for subscription in (only,) if only is not None else self._subscriptions:
                    self._call(subscription, batch)
                self.delivered += 1
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _call(self, subscription: Subscription, batch: CommittedBatch) -> None:
        try:
            subscription.subscriber(batch)
        except Exception as error:  # one broken subscriber must not stop the ledger or the others
            self._record_error(error)

    def _record_error(self, error: BaseException) -> None:
        self.errors += 1
        self.last_error = error
        print(f"tessera ledger feed: {type(error).__name__}: {error}", file=sys.stderr)
