"""A headless Chromium driven over the DevTools protocol on a pipe: open a page, run JavaScript, click, collect
console errors, exceptions and network requests, take screenshots. No Python dependency beyond the standard library.

Why not Selenium or Playwright: Selenium 4.5x pulls trio 0.35, whose `hypothesis` entry point breaks the
Hypothesis pytest plugin at the end of every pytest run (AttributeError: _hypothesis_plugin_setup); Playwright's own
browser download does not work offline. Debian's `chromium` (apt) speaks the protocol on file descriptors 3 and 4
with --remote-debugging-pipe: messages are JSON, each ended by a NUL byte.

    python -m tests.report.chromium reports/report.html docs/report-first-screen.png   # a 1440x900 screenshot
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--remote-debugging-pipe")
TIMEOUT_S = 30.0
"""Per protocol call; opening the 3 MB report takes ~1 s on the 2-core CI machine."""


def find_chromium() -> str | None:
    """Debian's chromium (CI installs it in .ci/run), or CHROMIUM=path."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, executable: str, width: int = 1440, height: int = 900):
        self._profile = tempfile.TemporaryDirectory(prefix="anchors-chromium-")
        to_child, self._write = os.pipe()  # we write commands; the child reads them on fd 3
        self._read, from_child = os.pipe()  # the child writes replies on fd 4; we read them

        def pipes() -> None:  # in the child, before exec: the protocol's fixed descriptors 3 and 4
            # Move both ends above 9 first: os.pipe may itself have returned 3 or 4.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self._profile.name}",
                                      f"--window-size={width},{height}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     close_fds=False, preexec_fn=pipes)
        os.close(to_child)
        os.close(from_child)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._reader, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def _reader(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    self._replies.setdefault(message["id"], queue.Queue()).put(message)
                else:
                    with self._lock:
                        self.events.append(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one protocol command and wait for its result; a protocol error raises RuntimeError."""
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            self._replies.setdefault(ident, queue.Queue())
        message = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        reply = self._replies[ident].get(timeout=TIMEOUT_S)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page's session."""
        return self.call(method, session=self.session, **params)

    def open(self, path: Path) -> None:
        """Load a local file and wait for its load event."""
        start = len(self.events)
        self.send("Page.navigate", url=Path(path).resolve().as_uri())
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            with self._lock:
                if any(e.get("method") == "Page.loadEventFired" for e in self.events[start:]):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{path} did not finish loading in {TIMEOUT_S} s")

    def js(self, expression: str) -> Any:
        """Evaluate JavaScript in the page; its value (JSON-serialisable) or a RuntimeError with the exception."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page exception: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the first element matching `selector`."""
        # The first line box: the bounding box of a sentence that wraps has its centre between its two lines.
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                      " e.scrollIntoView({block: 'center'}); const r = e.getClientRects()[0];"
                      " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        if box is None:
            raise LookupError(f"no element matches {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, out: Path) -> None:
        """The viewport as PNG."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        Path(out).write_bytes(base64.b64decode(data))

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries and requests leaving the machine so far."""
        out = []
        with self._lock:
            events = list(self.events)
        for e in events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('exception', {}).get('description')}")
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log error: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    out.append(f"network request: {url}")
        return out

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, queue.Empty, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._write, self._read):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def main(argv: list[str]) -> int:
    """`python -m tests.report.chromium PAGE OUT.png [WIDTH HEIGHT]`: a screenshot of the page's first screen."""
    if len(argv) not in (2, 4):
        print(main.__doc__, file=sys.stderr)
        return 2
    executable = find_chromium()
    if executable is None:
        print("no chromium found: apt-get install chromium (or set CHROMIUM=path)", file=sys.stderr)
        return 2
    width, height = (int(argv[2]), int(argv[3])) if len(argv) == 4 else (1440, 900)
    with Browser(executable, width, height) as browser:
        browser.open(Path(argv[0]))
        browser.screenshot(Path(argv[1]))
        for problem in browser.problems():
            print(problem, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
