"""What every fake vendor server shares: HTTP servers on ports of 127.0.0.1 run on threads while the fake is entered,
a quiet request handler with ``reply`` and ``cut``, the recorded requests and the queue of injected faults."""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def retry_after_headers(seconds: float | None, date_in: float | None = None) -> dict[str, str]:
    """A ``Retry-After`` header in seconds, else as an HTTP-date ``date_in`` seconds ahead, else none."""
    if seconds is not None:
        return {"Retry-After": f"{seconds:g}"}
    if date_in is not None:
        return {"Retry-After": email.utils.formatdate(time.time() + date_in, usegmt=True)}
    return {}


class FakeHTTPServer(ThreadingHTTPServer):
    """One port of a fake: ``fake`` answers the requests its handler reads; ``role`` says which port it is."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: Any, role: str, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.fake = fake
        self.role = role

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the FQDN of the host, a DNS round trip a test does not need
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class FakeHandler(BaseHTTPRequestHandler):
    """A quiet HTTP/1.1 handler with the replies the fakes send."""

    protocol_version = "HTTP/1.1"
    timeout = 5
    # TCP_NODELAY, as production servers set it: ``reply`` writes the headers and the body in two sends, and with
    # Nagle on, the body waited for the client's delayed ACK of the headers (~40 ms per request on a kept-alive
    # connection), a cost no vendor has that made every poll and result request look slow
    disable_nagle_algorithm = True
    server: FakeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def reply(self, status: int, payload: Any = None, *, headers: dict[str, str] | None = None,
              raw: bytes | None = None, content_type: str = "application/json") -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def cut(self, data: bytes, content_type: str) -> None:
        """Headers promising the whole body, half of it, then the connection closes."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self._drop()

    def _drop(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class FakeServer:
    """Lifecycle, request log and fault queue of a fake; a context manager.

    One server per name in ``roles``, each answered by ``handler``; ``base_url`` is the first. Faults queued in
    ``_faults`` carry a ``stage``; :meth:`_take_fault` pops the first for a stage.
    """

    roles: tuple[str, ...] = ("api",)
    handler: type[BaseHTTPRequestHandler]  # each fake names its own: it reads the request and calls the fake

    def __init__(self) -> None:
        self._requests: list[Any] = []
        self._faults: list[Any] = []
        self._lock = threading.RLock()
        self._servers: list[FakeHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle --
    def start(self) -> Self:
        self._servers = [FakeHTTPServer(self, role, self.handler) for role in self.roles]
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _url(self, index: int) -> str:
        assert self._servers, "start the fake first"
        return f"http://127.0.0.1:{self._servers[index].server_address[1]}"

    @property
    def base_url(self) -> str:
        return self._url(0)

    # -- inspection --
    @property
    def requests(self) -> list[Any]:
        with self._lock:
            return list(self._requests)

    # -- internals --
    def _record(self, record: Any) -> None:
        with self._lock:
            self._requests.append(record)

    def _take_fault(self, stage: str) -> Any:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.stage == stage:
                    return self._faults.pop(i)
        return None


class ApiAndCdnFake(FakeServer):
    """A fake with its API (``base_url``) and a delivery host (``cdn_url``) on two ports."""

    roles = ("api", "cdn")

    @property
    def cdn_url(self) -> str:
        return self._url(1)

    def requests_to(self, server: str, method: str | None = None, path_end: str | None = None) -> list[Any]:
        return [r for r in self.requests if r.server == server and (method is None or r.method == method)
                and (path_end is None or r.path.endswith(path_end))]
