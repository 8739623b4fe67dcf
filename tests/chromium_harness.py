"""Headless Chromium driven over the DevTools protocol on a pipe (no extra dependency).

``--remote-debugging-pipe`` makes Chromium read NUL-terminated JSON commands on fd 3 and
write replies and events on fd 4. :func:`render` opens a page, waits for its load event,
reads every image's ``naturalWidth`` and collects console errors, uncaught exceptions,
failed loads and every request that is not the page itself or a ``data:`` URI. With
``probes`` (CSS selectors) it also returns, per matching element, its box on the page,
whether it is rendered (not ``display: none`` or ``visibility: hidden``, not inside a
closed ``<details>``, a non-empty box), and a full-page screenshot (PNG bytes) so that a
test can check the pixels inside each box.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

IMAGES_JS = ("JSON.stringify(Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
             "naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})))")


def find_chromium() -> str | None:
    env = os.environ.get("NEUROPHANTOM_CHROMIUM")
    if env:
        return env
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    def __init__(self, exe: str, profile: str):
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def wire():  # child side: commands on fd 3, replies on fd 4 (moved up first: they may be 3 or 4)
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--no-first-run", "--no-default-browser-check", "--mute-audio",
                f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=wire, close_fds=False)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._next(timeout)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._next(timeout)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                return
            self.events.append(self._next(1.0))

    def _next(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5.0)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


PROBE_JS = """(sel => JSON.stringify(Array.from(document.querySelectorAll(sel)).map(e => {
  const r = e.getBoundingClientRect(), st = getComputedStyle(e);
  let closed = false;
  for (let p = e.parentElement; p; p = p.parentElement) {
    if (p.tagName === 'DETAILS' && !p.open && e.closest('summary') === null) { closed = true; break; }
  }
  return {tag: e.tagName, x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
          visible: !closed && st.display !== 'none' && st.visibility !== 'hidden' && r.width > 0 && r.height > 0,
          text: (e.innerText || e.alt || '').slice(0, 200)};
})))"""


def render(exe: str, page: Path, probes: tuple[str, ...] = (), width: int = 1280) -> dict:
    """Load ``page`` in headless Chromium; return its images and every problem seen (and,
    with ``probes``, the boxes of the matching elements and a full-page screenshot)."""
    url = page.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="np-chromium-") as profile:
        cdp = _Pipe(exe, profile)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                cdp.send(f"{domain}.enable", session=sid)
            cdp.send("Page.navigate", {"url": url}, session=sid)
            cdp.wait_event("Page.loadEventFired")
            cdp.drain(0.3)  # late console messages
            res = cdp.send("Runtime.evaluate", {"expression": IMAGES_JS, "returnByValue": True}, session=sid)
            images = json.loads(res["result"]["value"])
            boxes, shot = {}, None
            if probes:
                metrics = cdp.send("Page.getLayoutMetrics", session=sid)
                size = metrics.get("cssContentSize") or metrics["contentSize"]
                height = int(min(size["height"], 30000))
                cdp.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                                 "mobile": False}, session=sid)
                for sel in probes:
                    res = cdp.send("Runtime.evaluate", {"expression": f"{PROBE_JS}({json.dumps(sel)})", "returnByValue": True},
                                   session=sid)
                    boxes[sel] = json.loads(res["result"]["value"])
                import base64

                shot = base64.b64decode(cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                                 session=sid, timeout=60.0)["data"])
        finally:
            cdp.close()
    errors, requests = [], []
    for e in cdp.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(f"console.{p['type']}: {p.get('args')}")
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(f"log: {p['entry'].get('text')}")
        elif m == "Network.loadingFailed":
            errors.append(f"load failed: {p.get('errorText')} {p.get('blockedReason') or ''}".strip())
        elif m == "Network.requestWillBeSent":
            requests.append(p["request"]["url"])
    foreign = [u for u in requests if u != url and not u.startswith("data:")]
    return {"images": images, "errors": errors, "foreign_requests": foreign, "boxes": boxes, "screenshot": shot}


@pytest.fixture(scope="session")
def render_page():
    """``render_page(path) -> {"images", "errors", "foreign_requests"}`` in headless Chromium."""
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed and could not be installed here (.ci/run installs Debian's "
                    "'chromium' with apt-get; set NEUROPHANTOM_CHROMIUM to use another build)")
    return lambda page, probes=(): render(exe, page, tuple(probes))
