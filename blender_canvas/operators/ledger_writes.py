"""Ledger writes the drain hands off the main thread, in the order it made them.

A landed take becomes its node's choice in the ledger (``Ledger.choose``): a durable commit, and a wait for the
ledger's lock while workers commit theirs, milliseconds the UI would freeze for. The drain queues it here instead; one
writer thread per project applies the writes in order. Anything on the main thread that must see them (the user's
pick, a tray sync, closing the session) calls :meth:`ChoiceWriter.flush` first, so no later write overtakes one
queued before it. The writer touches only the ledger, never bpy.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ..engine.ledger import Ledger


class ChoiceWriter:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._executor: ThreadPoolExecutor | None = None
        self._last: Future[None] | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def choose(self, node_id: str, take_id: str) -> None:
        """Queue the write; it runs after every write queued before it."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvas-choices")
            self._last = self._executor.submit(self._write, node_id, take_id)

    def _write(self, node_id: str, take_id: str) -> None:
        try:
            self._ledger.choose(node_id, take_id)
        except Exception as error:  # kept for the next flush, which says it on the main thread
            with self._lock:
                self._error = self._error or error

    @property
    def pending(self) -> bool:
        last = self._last
        return last is not None and not last.done()

    def flush(self) -> None:
        """Wait for every queued write; raises the first error one of them met (the ledger refused it)."""
        with self._lock:
            last = self._last
        if last is not None:
            last.result()  # one worker: the last write done means every earlier one is done
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Write what is queued, then stop the thread (before the ledger closes)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
