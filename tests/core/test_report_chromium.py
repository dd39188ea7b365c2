"""The bake-off report in a real browser: headless Chromium, driven over the DevTools protocol, renders report.html
to a screenshot, parses one contact sheet per take, logs no console message (the page has no script, so any message
is an error or a blocked load) and sends no request. Requests are attributed to the page by the DevTools protocol
(the page target's own Network events), not counted at the network edge: Chromium's own background calls (the
component updater, sign-in, time) belong to the browser, not the page, and no launch flag silences all of them. A
proxy on 127.0.0.1 still answers everything with 502 so nothing leaves the machine either way. The page shown has
every block: departures at the top, a warning about scores on an old axis, the entrant summary and the per-take table.

Skipped when Chromium is missing, unless BLENDER_CANVAS_REQUIRE_CHROMIUM=1 (then missing Chromium fails the test).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from blender_canvas.engine.report import bakeoff_report, write_report
from blender_canvas.providers.catalog import Catalog
from tests.core.test_report import Elements, paid_project, with_node

WINDOW = (1400, 4200)  # tall enough to reach the first takes below the summary tables
TIMEOUT_S = 60
# Launch flags that keep Chromium's own background traffic down; the test no longer depends on them being complete.
QUIET = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
         "--disable-default-apps", "--no-default-browser-check", "--no-pings", "--disable-domain-reliability",
         "--disable-client-side-phishing-detection", "--safebrowsing-disable-auto-update",
         "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,"
         "AutofillServerCommunication,OptimizationGuideModelDownloading,CertificateTransparencyComponentUpdater"]
# Schemes a page can load without the network; anything else it asks for is a request out of the page.
LOCAL_SCHEMES = ("data:", "about:", "blob:")


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium is not installed (Debian package `chromium`)"
    if os.environ.get("BLENDER_CANVAS_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{message}, and BLENDER_CANVAS_REQUIRE_CHROMIUM=1 requires it")
    pytest.skip(f"{message}; set BLENDER_CANVAS_REQUIRE_CHROMIUM=1 to fail instead of skipping")


class BlackholeProxy:
    """An HTTP proxy on 127.0.0.1 that answers 502 to everything, so no request of the browser leaves the machine."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


def _high_fd(fd: int) -> int:
    """The same pipe end on a descriptor above 10, so putting the child's ends on 3 and 4 cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


@dataclass
class DevTools:
    """Chromium's DevTools protocol over --remote-debugging-pipe: JSON messages ending in NUL, commands on the
    child's fd 3, replies and events on its fd 4. Events are kept in arrival order for the test to read."""

    process: subprocess.Popen[bytes]
    commands: int
    replies: int
    deadline: float
    events: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 0
    _inbox: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self.replies, 1 << 16)
            if not chunk:
                self._inbox.put(None)
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._inbox.put(json.loads(message))

    def _next(self) -> dict[str, Any]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"Chromium did not finish within {TIMEOUT_S} s")
        try:
            message = self._inbox.get(timeout=remaining)
        except queue.Empty:
            pytest.fail(f"Chromium did not finish within {TIMEOUT_S} s")
        if message is None:
            pytest.fail(f"Chromium closed the DevTools pipe (exit {self.process.poll()})")
        return message

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"DevTools {method} failed: {reply['error']}"
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> None:
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            self.events.append(self._next())


def launch(binary: str, work: Path, proxy: BlackholeProxy) -> DevTools:
    to_child, from_us = (_high_fd(fd) for fd in os.pipe())
    to_us, from_child = (_high_fd(fd) for fd in os.pipe())

    def wire_pipe() -> None:  # in the child, before exec: its fds 3 and 4 are the DevTools pipe
        os.dup2(to_child, 3)
        os.dup2(from_child, 4)

    command = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={work / 'profile'}",
               "--remote-debugging-pipe", f"--proxy-server=http://127.0.0.1:{proxy.port}",
               "--proxy-bypass-list=<-loopback>", *QUIET, "--hide-scrollbars", "about:blank"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work,
                               start_new_session=True, pass_fds=(3, 4), preexec_fn=wire_pipe)
    os.close(to_child)
    os.close(from_child)
    tools = DevTools(process, commands=from_us, replies=to_us, deadline=time.monotonic() + TIMEOUT_S)
    tools.start()
    return tools


@dataclass
class Rendered:
    screenshot: Path
    dom: str
    console: list[str]
    page_requests: list[str]


@pytest.fixture
def chromium() -> str:
    """Checked before any project is built, so a missing browser skips at once."""
    return chromium_binary()


def _console_lines(events: list[dict[str, Any]], session: str) -> list[str]:
    """What the page's console shows: console calls, uncaught exceptions and the browser's log entries for it."""
    lines = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            lines.append(f"console.{params.get('type')}: {text}")
        elif event.get("method") == "Runtime.exceptionThrown":
            lines.append(f"exception: {params.get('exceptionDetails', {}).get('text', '')}")
        elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") != "verbose":
            entry = params["entry"]
            lines.append(f"{entry.get('source')} {entry.get('level')}: {entry.get('text')} {entry.get('url', '')}")
    return lines


def _page_requests(events: list[dict[str, Any]], session: str, page: Path) -> list[str]:
    """Every URL the page itself asked for, other than the page and what needs no network (data:, about:)."""
    urls = []
    for event in events:
        if event.get("sessionId") == session and event.get("method") == "Network.requestWillBeSent":
            url = str(event["params"]["request"]["url"])
            if url != page.as_uri() and not url.startswith(LOCAL_SCHEMES):
                urls.append(url)
    return urls


def render(binary: str, page: Path, work: Path) -> Rendered:
    """Chromium loads the page once in a fresh tab, takes a screenshot and the parsed DOM; killed after 60 s."""
    proxy = BlackholeProxy()
    tools = launch(binary, work, proxy)
    try:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            tools.call(f"{domain}.enable", session)
        tools.call("Emulation.setDeviceMetricsOverride", session, width=WINDOW[0], height=WINDOW[1],
                   deviceScaleFactor=1, mobile=False)
        tools.call("Page.navigate", session, url=page.as_uri())
        tools.wait_for("Page.loadEventFired", session)
        picture = tools.call("Page.captureScreenshot", session, format="png")["data"]
        dom = tools.call("Runtime.evaluate", session, expression="document.documentElement.outerHTML",
                         returnByValue=True)["result"]["value"]
        tools.call("Browser.close")
        tools.process.wait(timeout=10)
    finally:
        if tools.process.poll() is None:
            os.killpg(tools.process.pid, signal.SIGKILL)
            tools.process.wait()
        os.close(tools.commands)
        os.close(tools.replies)
        proxy.close()
    screenshot = work / "screenshot.png"
    screenshot.write_bytes(base64.b64decode(picture))
    return Rendered(screenshot, dom, _console_lines(tools.events, session), _page_requests(tools.events, session, page))


@pytest.fixture
def report_page(tmp_path: Path, catalog: Catalog) -> Iterator[tuple[Path, list[str]]]:
    project, session = paid_project(tmp_path / "project", catalog, moderate=frozenset({("kling-3-3.0", 1)}))
    try:
        takes = project.takes()
        for index, take in enumerate(takes):
            scores = {axis: (index + a) % 5 + 1 for a, axis in enumerate(project.axes)}
            project.ledger.set_verdict(take.take_id, scores, note=f"Sample note for take {index + 1}.", sample=True)
        project.ledger.pin("node", takes[0].node_id, takes[0].take_id)
        project.ledger.set_verdict(takes[1].take_id, {project.axes[0]: 3, "hands": 4}, sample=True)  # an old axis
        changed = with_node(project.canvas, "shot", action="sets the cup down")  # the takes used the earlier action
        files = write_report(bakeoff_report(changed, catalog, project.ledger, project.base_dir), tmp_path / "report")
        yield files.html, [t.take_id for t in takes]
    finally:
        session.close()


def test_the_report_renders_in_headless_chromium_without_errors_or_requests(
        chromium: str, report_page: tuple[Path, list[str]], tmp_path: Path) -> None:
    page, take_ids = report_page
    rendered = render(chromium, page, tmp_path)
    assert rendered.console == [], "Chromium logged console messages:\n" + "\n".join(rendered.console)
    assert rendered.page_requests == [], f"the page made network requests: {rendered.page_requests}"
    with Image.open(rendered.screenshot) as shot:
        assert shot.format == "PNG" and shot.size == WINDOW
        grey = np.asarray(shot.convert("L"), dtype=np.float32)
    assert grey.std() > 20, "the screenshot is (nearly) blank"
    assert (grey < 40).mean() > 0.01, "no dark contact-sheet strip is visible"
    assert grey[:600].std() > 10, "the header area is blank"
    dom = Elements(rendered.dom)
    figures = dom.select("figure", cls="contact-sheet")
    assert sorted(f["data-take"] for f in figures) == sorted(take_ids)
    assert len(dom.select("div", cls="sample-banner")) == 1
    assert dom.select(attr="data-total-usd") and dom.select(attr="data-entrants-usd")
    assert len(dom.select("div", cls="orphan-banner")) == 1
    assert {li["data-kind"] for li in dom.select("li", attr="data-kind")} >= {"prompt", "takes"}
    assert len(dom.select("td", cls="rank")) == 3 and len(dom.select("td", cls="overall")) == 3
    assert all(i["src"].startswith("data:image/") for i in dom.select("img"))


def test_the_browser_check_catches_a_page_that_calls_out_or_logs(chromium: str, tmp_path: Path) -> None:
    """The checks above are not vacuous: a page with a script error and an external picture trips both."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><p>bad</p><img src="http://example.test/x.png">'
                    "<script>console.error('boom')</script></body></html>", encoding="utf-8")
    rendered = render(chromium, page, tmp_path)
    assert any("boom" in line for line in rendered.console)
    assert any("example.test" in line for line in rendered.page_requests)
