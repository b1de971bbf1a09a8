#!/usr/bin/env python3
"""Loads Latch's status page in headless Chromium at several window widths, checks what a person
would see there, answers the Drain confirmation with "cancel", and writes a full-page screenshot per
width.

Talks to Chromium over the DevTools protocol on --remote-debugging-pipe (file descriptors 3 and 4,
NUL-separated JSON), so it needs nothing beyond Python's standard library.

Usage: status-page-browse.py STATUS_URL DRAINED_NODE WIDTH:SCREENSHOT [WIDTH:SCREENSHOT ...]
Exits 1 with one line per problem found.
"""
import base64
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time


class Chromium:
    def __init__(self, profile, log):
        to_browser = os.pipe()
        from_browser = os.pipe()
        # Above 4, so putting them at 3 and 4 in the child cannot overwrite one with the other.
        read_end = fcntl.fcntl(to_browser[0], fcntl.F_DUPFD, 10)
        write_end = fcntl.fcntl(from_browser[1], fcntl.F_DUPFD, 10)

        def at_3_and_4():
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            # Nothing else of ours goes to the browser.
            os.closerange(5, 4096)

        # Its own process group, so closing takes its renderers and helpers with it.
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", "--user-data-dir=" + profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=at_3_and_4, close_fds=False,
            start_new_session=True)
        for fd in (to_browser[0], from_browser[1], read_end, write_end):
            os.close(fd)
        self.writer = os.fdopen(to_browser[1], "wb", buffering=0)
        self.reader = os.fdopen(from_browser[0], "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def _message(self, deadline):
        while b"\0" not in self.buffer:
            remaining = deadline - time.time()
            if remaining <= 0 or not select.select([self.reader], [], [], remaining)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = self.reader.read(65536)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=None, timeout=30, **params):
        self.next_id += 1
        request = {"id": self.next_id, "method": method, "params": params}
        if session:
            request["sessionId"] = session
        self.writer.write(json.dumps(request).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method, timeout):
        """The first event `method` seen since `events` was last cleared, or `None` after `timeout`."""
        deadline = time.time() + timeout
        while True:
            found = next((e for e in self.events if e.get("method") == method), None)
            if found or time.time() > deadline:
                return found
            try:
                message = self._message(deadline)
            except TimeoutError:
                return None
            if "method" in message:
                self.events.append(message)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


# What the page shows, read from the DOM the page's script has brought up to date.
READ_PAGE = r"""
(() => {
  const text = (e) => e ? e.textContent.trim() : null;
  const width = window.innerWidth;
  const nodes = [...document.querySelectorAll("tr.node")].map((tr) => {
    const field = (f) => tr.querySelector('[data-field="' + f + '"]');
    const charts = document.querySelector('tr.charts[data-chart-node="' + tr.dataset.node + '"]');
    return {
      name: tr.dataset.node,
      state: text(field("state").querySelector(".badge")),
      stateNote: text(field("state").querySelector("small")),
      health: text(field("health").querySelector(".badge")),
      rate: text(field("rate")),
      requests: text(field("requests")),
      latency: text(field("latency")),
      errors: text(field("errors")),
      sessions: text(field("sessions")),
      svgs: charts ? charts.querySelectorAll("svg").length : 0,
      paths: charts ? [...charts.querySelectorAll("svg path")].filter((p) => (p.getAttribute("d") || "").includes("L")).length : 0,
      stateMarks: charts ? charts.querySelectorAll("line.event-state").length : 0,
      buttons: [...tr.querySelectorAll("button.act")].map((b) => {
        const r = b.getBoundingClientRect();
        return { label: b.textContent, visible: r.width > 0 && r.left >= 0 && r.right <= width, disabled: b.disabled };
      }),
    };
  });
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1)
    .map((e) => e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? "." + e.className : ""));
  return {
    live: document.getElementById("live").className,
    version: text(document.getElementById("version")),
    uptime: text(document.getElementById("uptime")),
    totals: text(document.querySelector('[data-field="totals"]')),
    scrollWidth: document.documentElement.scrollWidth,
    width: width,
    height: document.documentElement.scrollHeight,
    wide: wide.slice(0, 8),
    nodes: nodes,
  };
})()
"""


def evaluate(browser, session, expression):
    result = browser.call("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)
    if "exceptionDetails" in result:
        raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
    return result["result"].get("value")


def check(page, drained, width):
    problems = []
    say = lambda text: problems.append(f"at {width} px: {text}")
    if page["live"] != "live ok":
        say(f"the page's script did not poll /api/status (live: {page['live']!r})")
    if page["scrollWidth"] > page["width"]:
        say(f"the page scrolls sideways: {page['scrollWidth']} px wide in a {page['width']} px window ({', '.join(page['wide'])})")
    if not (page["version"] or "").strip():
        say("no version shown")
    if not (page["uptime"] or "").startswith("up "):
        say(f"no uptime shown ({page['uptime']!r})")
    if "sessions" not in (page["totals"] or "") or "/s" not in (page["totals"] or ""):
        say(f"no cluster totals with a rate ({page['totals']!r})")
    names = [n["name"] for n in page["nodes"]]
    if sorted(names) != ["tomcat1", "tomcat2", "tomcat3"]:
        say(f"expected rows for tomcat1..3, found {names}")
    for node in page["nodes"]:
        where = node["name"]
        if node["svgs"] != 3:
            say(f"{where}: expected 3 charts, found {node['svgs']}")
        if node["paths"] < 3:
            say(f"{where}: charts have {node['paths']} drawn lines, expected at least 3 (history not drawn)")
        if not (node["rate"] or "").endswith("/s"):
            say(f"{where}: no request rate ({node['rate']!r})")
        if "for " not in (node["stateNote"] or ""):
            say(f"{where}: no time in state ({node['stateNote']!r})")
        if not all(b["visible"] for b in node["buttons"]) or len(node["buttons"]) != 3:
            say(f"{where}: state buttons not all visible: {node['buttons']}")
    busy = [n for n in page["nodes"] if (n["latency"] or "").startswith("p50 ")]
    if not busy:
        say("no node shows latency (p50 … p99 … ms)")
    target = next((n for n in page["nodes"] if n["name"] == drained), None)
    if target:
        if target["state"] != "draining":
            say(f"{drained} is shown as {target['state']!r}, not draining")
        if target["stateMarks"] < 1:
            say(f"{drained}'s charts do not mark the state change")
        if not any(b["label"] == "Drain" and b["disabled"] for b in target["buttons"]):
            say(f"{drained}'s Drain button is not disabled")
    return problems


def drain_asks_first(browser, session, drained):
    """Clicks Drain on another node, answers the confirmation with "cancel", and checks it was asked
    and nothing changed."""
    other = "tomcat1" if drained != "tomcat1" else "tomcat2"
    browser.events.clear()
    evaluate(browser, session, f"""
      setTimeout(() => document.querySelector('tr.node[data-node="{other}"] button.act[data-state="draining"]').click(), 0); true
    """)
    dialog = browser.wait_event("Page.javascriptDialogOpening", timeout=10)
    if dialog is None:
        return [f"clicking Drain on {other} asked no confirmation"]
    browser.call("Page.handleJavaScriptDialog", session, accept=False)
    problems = []
    message = dialog["params"].get("message", "")
    if "Drain" not in message or other not in message:
        problems.append(f"the Drain confirmation does not name the action and node: {message!r}")
    time.sleep(0.5)
    state = evaluate(browser, session, f"""
      fetch("/api/status").then((r) => r.json()).then((d) => d.clusters[0].nodes.find((n) => n.name === "{other}").state)
    """)
    if state != "active":
        problems.append(f"{other} changed to {state!r} although the confirmation was cancelled")
    return problems


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    url, drained, shots = sys.argv[1], sys.argv[2], [a.split(":", 1) for a in sys.argv[3:]]
    problems = []
    with tempfile.TemporaryDirectory() as profile, open(os.path.join(profile, "chromium.log"), "w") as log:
        browser = Chromium(os.path.join(profile, "p"), log)
        try:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            browser.call("Page.enable", session)
            browser.call("Runtime.enable", session)
            for width, path in shots:
                width = int(width)
                browser.call("Emulation.setDeviceMetricsOverride", session, width=width, height=800, deviceScaleFactor=1, mobile=False)
                browser.call("Page.navigate", session, url=url)
                page = None
                deadline = time.time() + 20
                # Ready once the status poll has run and every node's charts are drawn.
                while time.time() < deadline:
                    time.sleep(0.5)
                    page = evaluate(browser, session, READ_PAGE)
                    if page and page["live"] == "live ok" and all(n["paths"] >= 3 for n in page["nodes"]):
                        break
                problems += check(page, drained, width)
                height = max(800, page["height"])
                browser.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1, mobile=False)
                time.sleep(0.3)
                shot = browser.call("Page.captureScreenshot", session, format="png")
                with open(path, "wb") as out:
                    out.write(base64.b64decode(shot["data"]))
                print(f"status-page-browse: {width} px: {len(page['nodes'])} nodes, totals {page['totals']!r}, screenshot {path}")
            problems += drain_asks_first(browser, session, drained)
        finally:
            browser.close()
    if problems:
        for problem in problems:
            print("status-page-browse: " + problem, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
