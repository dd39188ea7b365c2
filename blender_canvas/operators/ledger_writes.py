"""Ledger writes the drain hands off the main thread, in the order it made them.

A landed take becomes its node's choice in the ledger (``Ledger.choose``): a durable commit, and a wait for the
ledger's lock while workers commit theirs, milliseconds the UI would freeze for. The drain queues it here instead; one
writer thread per project applies the writes in order. Anything on the main thread that must see them (the user's
pick, a tray sync, an operator, closing the session) calls :meth:`ChoiceWriter.flush` first, so no later write
overtakes one queued before it. The writer touches only the ledger, never bpy.

Queueing costs the drain no wait: ``SimpleQueue.put`` never blocks, and the thread is started when the writer is
made (by the bridge when a session opens, not inside a drain call: starting a thread waits for it to run).
"""

from __future__ import annotations

import queue
import threading

from ..engine.ledger import Ledger

_STOP = None


class ChoiceWriter:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._done = threading.Condition()
        self._queued = 0  # written by the main thread only
        self._written = 0  # under _done
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="canvas-choices")
        self._thread.start()

    def choose(self, node_id: str, take_id: str) -> None:
        """Queue the write; it runs after every write queued before it."""
        self._queued += 1
        self._queue.put((node_id, take_id))

    @property
    def pending(self) -> bool:
        return self._written < self._queued

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._ledger.choose(*item)
            except Exception as error:  # kept for the next flush, which says it on the main thread
                self._error = self._error or error
            with self._done:
                self._written += 1
                self._done.notify_all()

    def flush(self) -> None:
        """Wait for every queued write; raises the first error one of them met (the ledger refused it)."""
        target = self._queued
        with self._done:
            self._done.wait_for(lambda: self._written >= target or not self._thread.is_alive())
        error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Write what is queued, then stop the thread (before the ledger closes)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
