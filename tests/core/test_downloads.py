"""Downloads near the wire: the sha256 taken while streaming is the file's, and a cut connection leaves nothing.

Speed lives in ``benchmarks/download.py``; these tests check what the fast path must still get right.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from blender_canvas.engine.session import Session
from blender_canvas.providers import downloads, http
from blender_canvas.providers.backend import BackendError, ErrorKind
from tests.core.conftest import Sleeps
from tests.core.test_engine_fal import KEYS, fan_out_canvas, run
from tests.fakes.base import FakeHandler
from tests.fakes.fal_server import FakeFal

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def body(size: int, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    return MP4_HEAD + rng.randbytes(size - len(MP4_HEAD))


def pieces(data: bytes, seed: int = 5) -> Iterator[bytes]:
    """The body in uneven pieces, as a socket hands them out (some larger than a write group, some tiny)."""
    rng = random.Random(seed)
    at = 0
    while at < len(data):
        step = rng.choice((1, 7, 4096, 65536, 300_000, 1_500_000))
        yield data[at: at + step]
        at += step


def client_for(data: bytes, *, encoding: str | None = None) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        payload = gzip.compress(data) if encoding == "gzip" else data
        headers = {"content-length": str(len(payload)), "content-type": "video/mp4"}
        if encoding:
            headers["content-encoding"] = encoding
        return httpx.Response(200, headers=headers, content=pieces(payload))

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("size", [len(MP4_HEAD) + 1, (1 << 20) - 1, 5 * (1 << 20) + 12345])
def test_the_streamed_hash_is_the_sha256_of_the_file(tmp_path: Path, size: int) -> None:
    data = body(size)
    dest = tmp_path / "take.mp4"
    with client_for(data) as client:
        downloads.download(client, "https://cdn.test/take.mp4", dest, media="video", max_bytes=1 << 30)
    assert dest.read_bytes() == data
    assert downloads.streamed_sha256(dest) == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert downloads.streamed_sha256(dest) is None  # handed out once
    assert [p.name for p in tmp_path.iterdir()] == ["take.mp4"]


def test_a_content_encoded_body_is_stored_and_hashed_decoded(tmp_path: Path) -> None:
    data = body(3 * (1 << 20))
    dest = tmp_path / "take.mp4"
    with client_for(data, encoding="gzip") as client:
        downloads.download(client, "https://cdn.test/take.mp4", dest, media="video", max_bytes=1 << 30)
    assert dest.read_bytes() == data
    assert downloads.streamed_sha256(dest) == hashlib.sha256(data).hexdigest()


def test_a_file_changed_after_its_download_is_not_vouched_for(tmp_path: Path) -> None:
    dest = tmp_path / "take.mp4"
    with client_for(body(4096)) as client:
        downloads.download(client, "https://cdn.test/take.mp4", dest, media="video", max_bytes=1 << 30)
    dest.write_bytes(body(4097, seed=9))
    os.utime(dest, ns=(1, 1))
    assert downloads.streamed_sha256(dest) is None


def test_the_size_cap_holds_while_streaming_without_a_content_length(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=pieces(body(3 * (1 << 20))))  # chunked: no length to check up front

    dest = tmp_path / "take.mp4"
    with httpx.Client(transport=httpx.MockTransport(handler)) as client, pytest.raises(BackendError) as err:
        downloads.download(client, "https://cdn.test/take.mp4", dest, media="video", max_bytes=2 * (1 << 20))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "limit" in err.value.message
    assert list(tmp_path.iterdir()) == []
    assert downloads.streamed_sha256(dest) is None


def test_a_cut_on_every_attempt_leaves_no_partial_take(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      sleeps: Sleeps) -> None:
    monkeypatch.setattr(http, "DEFAULT_POLICY", http.RetryPolicy(sleep=sleeps))
    with FakeFal(latency_s=0.05) as fal:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fal.base_url)
        fal.fail_next("cut", times=http.MAX_SENDS_PER_REQUEST)
        session = Session(tmp_path / "p", keys=KEYS)
        events = run(session, fan_out_canvas(tmp_path, takes=1), tmp_path, selection=["kling"])
        assert len(fal.requests_to("cdn")) == http.MAX_SENDS_PER_REQUEST  # the download's whole budget was spent
        assert session.ledger.takes() == []
        [job] = session.ledger.jobs()
        assert job.state == "failed" and "network" in (job.error_message or "")
        assert [e.kind for e in events if e.kind in ("failed", "landed")] == ["failed"]
        left = [p.name for p in (session.project_dir / "takes").rglob("*") if p.is_file()]
        assert left == [], left  # no .part, no half file under the take's name
        session.close()


class _Cdn(FakeHandler):
    """A CDN on a real socket: the body in uneven writes, or cut after ``cut_at`` bytes on the first ``cuts``."""

    data = b""
    cut_at: int | None = None
    cuts = 0
    gets = 0

    def do_GET(self) -> None:
        type(self).gets += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        limit = self.cut_at if self.cut_at is not None and type(self).gets <= self.cuts else len(self.data)
        for piece in pieces(self.data[:limit], seed=type(self).gets):
            self.wfile.write(piece)
        if limit < len(self.data):
            self._drop()


@pytest.fixture
def cdn() -> Iterator[tuple[type[_Cdn], str]]:
    handler = type("Cdn", (_Cdn,), {"data": body(6 * (1 << 20) + 777), "gets": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/take.mp4"
    server.shutdown()
    server.server_close()


def test_big_reads_off_a_real_connection_hash_what_was_written(tmp_path: Path, cdn: tuple[type[_Cdn], str]) -> None:
    handler, url = cdn
    dest = tmp_path / "take.mp4"
    with httpx.Client() as client:
        downloads.download(client, url, dest, media="video", max_bytes=1 << 30)
        downloads.download(client, url, tmp_path / "again.mp4", media="video", max_bytes=1 << 30)  # a fresh socket
    assert dest.read_bytes() == handler.data == (tmp_path / "again.mp4").read_bytes()
    assert downloads.streamed_sha256(dest) == hashlib.sha256(handler.data).hexdigest()
    assert handler.gets == 2


@pytest.mark.parametrize("cuts", [1, http.MAX_SENDS_PER_REQUEST])
def test_a_cut_mid_body_on_a_real_connection(tmp_path: Path, cdn: tuple[type[_Cdn], str], sleeps: Sleeps,
                                             cuts: int) -> None:
    handler, url = cdn
    handler.cut_at, handler.cuts = 3 * (1 << 20) + 5, cuts
    dest = tmp_path / "take.mp4"
    policy = http.RetryPolicy(sleep=sleeps)
    with httpx.Client() as client:
        if cuts < http.MAX_SENDS_PER_REQUEST:
            downloads.download(client, url, dest, media="video", max_bytes=1 << 30, policy=policy)
            assert dest.read_bytes() == handler.data
            assert downloads.streamed_sha256(dest) == hashlib.sha256(handler.data).hexdigest()
        else:
            with pytest.raises(BackendError) as err:
                downloads.download(client, url, dest, media="video", max_bytes=1 << 30, policy=policy)
            assert err.value.kind == ErrorKind.NETWORK
            assert not dest.exists() and downloads.streamed_sha256(dest) is None
    assert handler.gets == cuts + (1 if cuts < http.MAX_SENDS_PER_REQUEST else 0)
    assert [p.name for p in tmp_path.iterdir()] == (["take.mp4"] if dest.exists() else [])  # never a .part
