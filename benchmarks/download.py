"""Streaming a big take: ``downloads.download`` (httpx, hashed while streaming, fsync, atomic rename) beside a plain
urllib copy of the same loopback stream with the same fsync (no hash at all), runs interleaved A B B A.

Prints the throughput ratio (median of the pairs; target >= 0.8x) and the peak memory growth of one download
(target <= 32 MB for a 1 GB file). The server is a separate process on 127.0.0.1 sending from memory, so both
clients read the same bytes at the same speed.

    python benchmarks/download.py [--mb 1024] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import shutil
import socket
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path)
import httpx

from blender_canvas.providers import downloads

HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # sniffs as an MP4
BLOCK = 4 << 20


def serve(sock: socket.socket, size: int) -> None:
    block = bytearray(BLOCK)
    block[: len(HEAD)] = HEAD
    rest = bytearray(os.urandom(BLOCK))
    while True:
        conn, _ = sock.accept()
        with conn, conn.makefile("rb") as request:
            while request.readline() not in (b"\r\n", b""):
                pass
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % size)
            left, first = size, True
            while left:
                chunk = memoryview(block if first else rest)[: min(left, BLOCK)]
                conn.sendall(chunk)
                left -= len(chunk)
                first = False


def plain_copy(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url) as response, dest.open("wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())


def ours(client: httpx.Client, url: str, dest: Path, size: int) -> str:
    downloads.download(client, url, dest, media="video", max_bytes=size + 1)
    digest = downloads.streamed_sha256(dest)
    assert digest is not None
    return digest


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the take in MiB (the issue's 1 GB by default)")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs (ratio = median of the pairs)")
    args = parser.parse_args()
    size = args.mb << 20
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = multiprocessing.Process(target=serve, args=(sock, size), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/take.mp4"
    ratios: list[float] = []
    ours_s: list[float] = []
    plain_s: list[float] = []
    growth_mb = float("nan")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as scratch, httpx.Client() as client:
        folder = Path(scratch)
        for run in range(args.runs):
            before = rss_kb("VmRSS")
            peak_known = reset_peak()
            pair: dict[str, float] = {}
            for which in (("ours", "plain") if run % 2 == 0 else ("plain", "ours")):  # A B, then B A: no order bias
                dest = folder / f"{which}.mp4"
                started = time.perf_counter()
                if which == "ours":
                    digest = ours(client, url, dest, size)
                    pair[which] = time.perf_counter() - started
                    if run == 0:
                        if peak_known:
                            growth_mb = (rss_kb("VmHWM") - before) / 1024
                        with dest.open("rb") as check:
                            assert digest == hashlib.file_digest(check, "sha256").hexdigest(), "the hash is wrong"
                else:
                    plain_copy(url, dest)
                    pair[which] = time.perf_counter() - started
                dest.unlink()
            ours_s.append(pair["ours"])
            plain_s.append(pair["plain"])
            ratios.append(pair["plain"] / pair["ours"])  # throughput ratio: ours / plain
    server.kill()
    mb = size / 1e6
    print(f"take size                      {args.mb} MiB, {args.runs} interleaved pairs")
    print(f"plain urllib copy + fsync      {mb / statistics.median(plain_s):7.0f} MB/s (median)")
    print(f"downloads.download (+ sha256)  {mb / statistics.median(ours_s):7.0f} MB/s (median)")
    print(f"throughput ratio to the plain copy  {statistics.median(ratios):.2f}x  (pairs: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})  (target >= 0.8x)")
    scaled = growth_mb * (1024 / args.mb) if args.mb < 1024 else growth_mb
    print(f"peak memory growth of one download  {growth_mb:.1f} MB  ({scaled:.1f} MB scaled to 1 GiB if smaller)"
          f"  (target <= 32 MB for 1 GB)")


if __name__ == "__main__":
    main()
