#!/usr/bin/env python3
"""Latch side by side with HAProxy and nginx on the same workloads, on this machine, in one run.

Three nginx upstreams answer `return 200` (the ceiling is measured against one of them directly). Each
proxy routes `Cookie: JSESSIONID=<id>.nodeN` to upstream N on ONE worker thread: HAProxy with
`use-server nodeN if { req.cook(JSESSIONID) -m end .nodeN }`, nginx with a `map` on the cookie, Latch by
its route suffix; a request without the cookie is balanced round robin by all three. wrk drives the same
keep-alive load at each, the targets interleaved round by round, and the medians are reported:
requests/s, p50/p99/p99.9 latency, the proxy's own CPU time per request (utime+stime from /proc) and its
peak RSS (VmHWM). No proxy writes an access log. Every workload starts its own fresh proxies.

Workloads (--workloads, comma-separated; default all):
  sticky        the main table and chart: sticky keep-alive GET, `return 200` answers
  light         the sticky workload at 10 connections: the latency a proxy adds with less queueing
  new-sessions  the same without a cookie: every request is balanced
  1k, 64k       sticky GETs of a static body of exactly 1024 / 65536 bytes
  upload        one 100 MiB POST per connection, streamed, to an upstream that reads and discards it
  idle          10 000 keep-alive client connections, one request each, then idle: RSS per connection
  threads       the sticky workload with 1..N worker threads (N = CPU cores)
  h2            HTTP/2 over TLS (ALPN h2) with h2load: sticky GETs, 10 connections x 10 streams each
  https1        HTTP/1.1 over TLS with h2load --h1: sticky GETs, 100 keep-alive connections (the same
                100 requests in flight as h2), so TLS's share of the h2 cost shows

Usage: Scripts/bench [--workloads LIST] [--rounds N] [--seconds S] [--connections C] [--upload-mib M]
                     [--idle-connections K] [--latch PATH] [--out DIR] [--shared-cores]
With two CPUs or more each proxy runs alone on the last CPU and everything else on the others (not in
`threads`, which gives the proxies every core); --shared-cores runs everything everywhere.
--rounds and --seconds apply to every wrk workload (upload: 3 × rounds, at least 9, uploads per target).
Writes DIR/bench.md (a table per workload, the ratios Latch/HAProxy and the machine) and DIR/bench.png.
"""
import argparse
import json
import os
import platform
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
NODES = ["node1", "node2", "node3"]
WORKLOADS = ["sticky", "light", "new-sessions", "1k", "64k", "upload", "idle", "threads", "h2", "https1"]
SIZES = {"1k": 1024, "64k": 65536}
MIB = 1 << 20

# PATH and HEADERS are filled in per workload (see wrk_script).
WRK_LUA = r"""
local i = 0
request = function()
  i = i + 1
  local node = (i % 3) + 1
  return wrk.format("GET", "PATH", HEADERS)
end
done = function(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %d, "seconds": %f, "errors": %d, "p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""
STICKY_HEADERS = '{ ["Host"] = "bench", ["Cookie"] = "JSESSIONID=5E55" .. i .. ".node" .. node }'
NEW_SESSION_HEADERS = '{ ["Host"] = "bench" }'

# The upload upstream: reads each request's whole body (Content-Length or chunked) into one reused
# buffer, then answers 200; keep-alive, one thread per connection, one listener per port in argv.
SINK_PY = r"""
import socket, sys, threading

def serve(conn):
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    pending = b""

    def fill():
        nonlocal pending
        data = conn.recv(65536)
        if not data:
            raise EOFError
        pending += data

    def line():
        nonlocal pending
        while b"\r\n" not in pending:
            fill()
        text, _, pending = pending.partition(b"\r\n")
        return text

    def skip(count):
        nonlocal pending
        taken = min(len(pending), count)
        pending = pending[taken:]
        count -= taken
        while count:
            n = conn.recv_into(view[:min(count, len(buf))])
            if not n:
                raise EOFError
            count -= n

    with conn:
        try:
            while True:
                while b"\r\n\r\n" not in pending:
                    fill()
                head, _, pending = pending.partition(b"\r\n\r\n")
                fields = {}
                for l in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = l.partition(":")
                    fields[name.strip().lower()] = value.strip().lower()
                if "chunked" in fields.get("transfer-encoding", ""):
                    while True:
                        size = int(line().split(b";")[0], 16)
                        if size == 0:
                            while line():
                                pass
                            break
                        skip(size)
                        line()
                else:
                    skip(int(fields.get("content-length", "0")))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")
        except (EOFError, OSError, ValueError):
            pass

def accept(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()

listeners = []
for port in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(128)
    listeners.append(s)
for s in listeners[1:]:
    threading.Thread(target=accept, args=(s,), daemon=True).start()
accept(listeners[0])
"""

RUNNING = []  # every process started, stopped on the way out whatever happens
STOPPING = []  # set by SIGINT/SIGTERM: a workload failing then is no finding, stop the run


def on_signal(signum, _frame):
    STOPPING.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(128 + signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process=None, log=None, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}{log_tail(log)}")


# Where processes run. With two CPUs or more, every proxy gets a CPU of its own (`PROXY_CPUS`, the
# last one) and the load generator, the upstreams and this script share the others, as on a real
# balancer, which runs no load generator. Without it, on a machine of 2 cores, a proxy's latency is
# mostly how the kernel interleaves it with wrk and the upstreams on the same cores: Latch's own time
# from reading a request to writing its response (perf trace, 10 connections) had a p99 of 0.25 ms
# while wrk reported 2 ms, and the same proxy's p99 moved by ×3 between runs. Empty: no pinning
# (one CPU, `--shared-cores`, or a workload that needs every core for the proxy, `threads`).
PROXY_CPUS = set()
ALL_CPUS = set()


def place(proxy_cpus):
    """Pins this script (and so wrk, h2load and the upstreams it starts from now on) to the CPUs left
    when `proxy_cpus` are the proxies'; an empty set lets everything run anywhere."""
    global PROXY_CPUS
    PROXY_CPUS = set(proxy_cpus)
    os.sched_setaffinity(0, (ALL_CPUS - PROXY_CPUS) or ALL_CPUS)


def placement_text():
    if not PROXY_CPUS:
        return "The load generator, the upstreams and the proxy share the machine's cores."
    cpus = ", ".join(map(str, sorted(PROXY_CPUS)))
    rest = ", ".join(map(str, sorted(ALL_CPUS - PROXY_CPUS)))
    return (f"Each proxy runs alone on CPU {cpus}; the load generator and the upstreams share CPU {rest} "
            "(affinity set for every process and thread), so the proxy is not interleaved with its own load.")


class shared_cores:
    """For a workload whose proxies need every core: the script, the upstreams already running and the
    proxies started inside run anywhere; the placement comes back on exit."""
    def __init__(self, ctx):
        self.ctx, self.saved = ctx, set(PROXY_CPUS)

    def __enter__(self):
        place(set())
        os.sched_setaffinity(self.ctx["direct"].pid, ALL_CPUS)

    def __exit__(self, *exc):
        place(self.saved)
        os.sched_setaffinity(self.ctx["direct"].pid, (ALL_CPUS - PROXY_CPUS) or ALL_CPUS)


def spawn(argv, log=None, env=None, proxy=False):
    """`proxy`: the process and every thread it starts run on `PROXY_CPUS` (when pinning)."""
    err = open(log, "w") if log else subprocess.DEVNULL
    cpus = PROXY_CPUS if proxy else set()
    try:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    finally:
        if log:
            err.close()
    RUNNING.append(proc)
    return proc


def check_alive(targets, label):
    """A proxy that died under a workload is a finding, not a number: say so, with its log."""
    for t in targets:
        code = t.process.poll()
        if code is not None:
            raise RuntimeError(f"{t.name} exited with status {code} during {label}{log_tail(t.log)}")


def log_tail(log):
    if log and os.path.exists(log):
        with open(log, errors="replace") as f:
            text = f.read()[-2000:].strip()
        if text:
            return f"; its log ends:\n{text}"
    return ""


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p in RUNNING:
            RUNNING.remove(p)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def status_kib(pids, key):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
    return total


def peak_rss_kib(pids):
    return status_kib(pids, "VmHWM")


class Target:
    def __init__(self, name, port, process, measured_pid, log=None):
        self.name, self.port, self.process, self.pid, self.log = name, port, process, measured_pid, log

    def pids(self):  # an nginx with several workers is its master and their children
        return [self.pid] + children(self.pid)


def start_upstreams(tmp):
    ports = [free_port() for _ in NODES]
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    for name, size in SIZES.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(b"x" * size)
    servers = "\n".join(
        f"server {{ listen 127.0.0.1:{p}; access_log off; keepalive_requests 1000000;"
        f" location / {{ return 200 'hello from {n}\\n'; }}"
        + "".join(f" location = /{name} {{ root {www}; default_type application/octet-stream; }}" for name in SIZES)
        + " }"
        for n, p in zip(NODES, ports))
    conf = os.path.join(tmp, "upstreams.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1; pid {tmp}/upstreams.pid;
error_log {tmp}/upstreams.err; events {{ worker_connections 4096; }}
http {{ {servers} }}
""")
    proc = spawn(["nginx", "-c", conf, "-p", tmp])
    for p in ports:
        wait_port(p, proc, os.path.join(tmp, "upstreams.err"))
    return ports, proc


def start_sink(tmp):
    ports = [free_port() for _ in NODES]
    script = os.path.join(tmp, "sink.py")
    with open(script, "w") as f:
        f.write(SINK_PY)
    proc = spawn([sys.executable, script, *map(str, ports)], os.path.join(tmp, "sink.log"))
    for p in ports:
        wait_port(p, proc, os.path.join(tmp, "sink.log"))
    return ports, proc


def start_haproxy(tmp, ports, threads=1, maxconn=4000, tls=None):
    """tls: (chain, key, combined) to terminate TLS with ALPN h2,http/1.1."""
    port = free_port()
    backends = "\n".join(f"  server {n} 127.0.0.1:{p}" for n, p in zip(NODES, ports))
    rules = "\n".join(f"  use-server {n} if {{ req.cook(JSESSIONID) -m end .{n} }}" for n in NODES)
    conf = os.path.join(tmp, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(f"""global
  nbthread {threads}
  maxconn {maxconn}
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:{port}{f" ssl crt {tls[2]} alpn h2,http/1.1" if tls else ""}
  default_backend be
backend be
  balance roundrobin
{rules}
  http-reuse always
{backends}
""")
    log = os.path.join(tmp, "haproxy.log")
    proc = spawn(["haproxy", "-f", conf], log, proxy=True)
    wait_port(port, proc, log)
    return Target("HAProxy", port, proc, proc.pid, log)


def start_nginx(tmp, ports, processes=1, connections=4096, upload=False, tls=None):
    port = free_port()
    upstreams = "\n".join(f"upstream {n} {{ server 127.0.0.1:{p}; keepalive 64; }}" for n, p in zip(NODES, ports))
    every = " ".join(f"server 127.0.0.1:{p};" for p in ports)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    body = " client_max_body_size 0; proxy_request_buffering off;" if upload else ""
    ssl = (f" ssl http2; ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]}; http2_max_requests 1000000"
           if tls else "")
    conf = os.path.join(tmp, "proxy.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process {"on" if processes > 1 else "off"}; worker_processes {processes};
pid {tmp}/proxy.pid; error_log {tmp}/proxy.err; worker_rlimit_nofile {nofile};
events {{ worker_connections {connections}; }}
http {{
  access_log off;
  {upstreams}
  upstream all {{ {every} keepalive 64; }}
  map $cookie_JSESSIONID $sticky {{ ~\\.node1$ node1; ~\\.node2$ node2; ~\\.node3$ node3; default all; }}
  server {{ listen 127.0.0.1:{port}{ssl}; keepalive_requests 1000000;{body}
    location / {{ proxy_pass http://$sticky; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
}}
""")
    log = os.path.join(tmp, "proxy.stderr")
    proc = spawn(["nginx", "-c", conf, "-p", tmp], log, proxy=True)
    wait_port(port, proc, log)
    return Target("nginx", port, proc, proc.pid, os.path.join(tmp, "proxy.err"))


def start_latch(tmp, ports, latch, threads=1, upload=False, tls=None):
    port = free_port()
    nodes = "\n".join(f"      - {{ name: {n}, address: 127.0.0.1:{p} }}" for n, p in zip(NODES, ports))
    conf = os.path.join(tmp, "lb.yaml")
    with open(conf, "w") as f:
        f.write(f"""listen:
  - address: 127.0.0.1:{port}
""" + (f"""    tls: {{ certificate: {tls[0]}, key: {tls[1]} }}
pool:
  max_idle_per_node: 128
""" if tls else "") + f"""clusters:
  - name: bench
    passive: {{ failures: 0 }}
    nodes:
{nodes}
limits:
  max_client_connections: 100000
""" + ("  max_body: 1GiB\n" if upload else ""))
    env = dict(os.environ, LATCH_THREADS=str(threads), LOG_LEVEL="notice")
    log = os.path.join(tmp, "latch.log")
    proc = spawn([latch, "run", conf], log, env, proxy=True)
    wait_port(port, proc, log)
    return Target("Latch", port, proc, proc.pid, log)


def start_floor(tmp, ports, floor):
    """The floor: a bare SwiftNIO byte relay (Benchmarks/Floor), one upstream connection per client
    connection, round robin over the upstreams by connection, nothing parsed, one event loop."""
    port = free_port()
    log = os.path.join(tmp, "floor.log")
    proc = spawn([floor, str(port), *map(str, ports)], log, proxy=True)
    wait_port(port, proc, log)
    return Target("floor", port, proc, proc.pid, log)


def start_proxies(tmp, ports, latch, threads=1, idle_connections=0, upload=False, floor=None):
    """HAProxy, nginx and Latch, fresh, in a directory of their own under tmp; with `floor`, the bare
    SwiftNIO relay too."""
    d = tempfile.mkdtemp(dir=tmp)
    if idle_connections:
        haproxy = start_haproxy(d, ports, threads, maxconn=idle_connections + 50)
        nginx = start_nginx(d, ports, threads, connections=idle_connections + 1000, upload=upload)
    else:
        haproxy = start_haproxy(d, ports, threads)
        nginx = start_nginx(d, ports, threads, upload=upload)
    targets = [haproxy, nginx, start_latch(d, ports, latch, threads, upload)]
    if floor:
        targets.append(start_floor(d, ports, floor))
    return targets


def wrk_script(tmp, name, path="/", cookie=True):
    lua = os.path.join(tmp, f"{name}.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA.replace("PATH", path).replace("HEADERS", STICKY_HEADERS if cookie else NEW_SESSION_HEADERS))
    return lua


def run_wrk(port, seconds, connections, lua, path="/"):
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua, f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk against port {port} failed (status {done.returncode}): "
                           f"{(done.stderr + done.stdout).strip()[-500:]}")
    return json.loads(line[len("BENCH "):])


def measure(target, seconds, connections, lua):
    pids = target.pids()
    before = cpu_seconds(pids)
    result = run_wrk(target.port, seconds, connections, lua)
    cpu = cpu_seconds(pids) - before
    result["rps"] = result["requests"] / result["seconds"]
    result["cpu_us_per_request"] = cpu * 1e6 / max(result["requests"], 1)
    return result


def compare(label, targets, args, lua):
    """wrk at every target, interleaved rounds; one row of medians per target."""
    results = {t.name: [] for t in targets}
    try:
        for t in targets:  # warm-up: connections, caches, page-ins
            run_wrk(t.port, 2, args.connections, lua)
        for r in range(args.rounds):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for t in order:
                results[t.name].append(measure(t, args.seconds, args.connections, lua))
                print(f"bench: {label} round {r + 1} {t.name}: {results[t.name][-1]['rps']:.0f} req/s",
                      file=sys.stderr)
    except Exception:
        check_alive(targets, label)  # a dead proxy explains a failed wrk better than wrk does
        raise
    check_alive(targets, label)
    rows = []
    for t in targets:
        runs = results[t.name]
        med = lambda k: statistics.median(x[k] for x in runs)
        rows.append({
            "name": t.name, "rps": med("rps"), "p50": med("p50"), "p99": med("p99"), "p999": med("p999"),
            "cpu_us_per_request": None if t.name == "direct" else med("cpu_us_per_request"),
            "rss_mib": None if t.name == "direct" else peak_rss_kib(t.pids()) / 1024,
            "errors": sum(x["errors"] for x in runs),
        })
    return rows


def fmt(v, f="{:.0f}"):
    return "–" if v is None else f.format(v)


def ratio(a, b, f="×{:.2f}"):
    return "–" if a is None or not b else f.format(a / b)


def wrk_table(rows, size=None):
    head = "| target | requests/s | " + ("body MiB/s | " if size else "") + \
        "p50 µs | p99 µs | p99.9 µs | proxy CPU µs/request | peak RSS MiB | errors |"
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {fmt(r['rps'])} | " + (f"{fmt(r['rps'] * size / MIB)} | " if size else "") +
                     f"{fmt(r['p50'])} | {fmt(r['p99'])} | {fmt(r['p999'])} | "
                     f"{fmt(r['cpu_us_per_request'], '{:.1f}')} | {fmt(r['rss_mib'], '{:.1f}')} | {r['errors']} |")
    return lines


def wrk_ratios(rows, targets=True):
    by = {r["name"]: r for r in rows}
    hap, lat = by["HAProxy"], by["Latch"]
    if targets:
        text = (f"Latch/HAProxy: requests/s ×{lat['rps'] / hap['rps']:.2f} (target ≥ 1.0), "
                f"CPU per request ×{lat['cpu_us_per_request'] / hap['cpu_us_per_request']:.2f} (target ≤ 1.0), "
                f"p99 ×{lat['p99'] / max(hap['p99'], 1):.2f} (target ≤ 1.2)")
    else:
        text = (f"Latch/HAProxy: requests/s ×{lat['rps'] / hap['rps']:.2f}, "
                f"CPU per request ×{lat['cpu_us_per_request'] / hap['cpu_us_per_request']:.2f}, "
                f"p99 ×{lat['p99'] / max(hap['p99'], 1):.2f}, peak RSS ×{lat['rss_mib'] / hap['rss_mib']:.2f}")
    if "floor" in by:
        floor = by["floor"]
        text += (f"; floor/HAProxy: requests/s ×{floor['rps'] / hap['rps']:.2f}, "
                 f"CPU per request ×{floor['cpu_us_per_request'] / hap['cpu_us_per_request']:.2f}; "
                 f"Latch above the floor: {lat['cpu_us_per_request'] - floor['cpu_us_per_request']:.1f} µs CPU per request")
    return text


def response_status(buf):
    """The status of the complete HTTP/1.1 response in buf, or None while it is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    fields = {}
    for l in head[1:]:
        name, _, value = l.partition(":")
        fields[name.strip().lower()] = value.strip().lower()
    if "chunked" in fields.get("transfer-encoding", ""):
        if not buf.endswith(b"0\r\n\r\n"):
            return None
    elif len(buf) < end + 4 + int(fields.get("content-length", "0")):
        return None
    return int(head[0].split()[1])


def read_response(sock):
    buf = b""
    while (status := response_status(buf)) is None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the end of the response")
        buf += data
    return status


# ---------------------------------------------------------------------------------------------- sticky

def bench_sticky(ctx):
    args, tmp = ctx["args"], ctx["tmp"]
    lua = wrk_script(tmp, "sticky")
    targets = start_proxies(tmp, ctx["ports"], args.latch, floor=args.floor)
    try:
        rows = compare("sticky", [ctx["direct"]] + targets, args, lua)
    finally:
        stop([t.process for t in targets])
    lines = wrk_table(rows)
    ratios = wrk_ratios(rows)
    has_chart = chart(rows, os.path.join(args.out, "bench.png"))
    md = [
        "## Sticky keep-alive GET",
        "",
        f"wrk -t2 -c{args.connections}, {args.seconds} s per run, {args.rounds} interleaved rounds, medians; "
        "one proxy worker thread each; three nginx `return 200` upstreams; `direct` is wrk against one "
        "upstream, no proxy between (the ceiling of the load side); `floor` is a bare SwiftNIO byte relay (`Benchmarks/Floor`: one upstream "
        f"connection per client, nothing parsed), the cost of SwiftNIO itself. {placement_text()}",
        "",
        *lines,
        "",
        ratios,
        "",
    ]
    if has_chart:
        md += ["![bench chart](bench.png)", ""]
    return md


# ---------------------------------------------------------------------------------------------- light

LIGHT_CONNECTIONS = 10


def bench_light(ctx):
    args, tmp = ctx["args"], ctx["tmp"]
    lua = wrk_script(tmp, "sticky")
    targets = start_proxies(tmp, ctx["ports"], args.latch, floor=args.floor)
    try:
        rows = compare("light", targets, argparse.Namespace(**{**vars(args), "connections": LIGHT_CONNECTIONS}), lua)
    finally:
        stop([t.process for t in targets])
    return [
        f"## Sticky keep-alive GET at {LIGHT_CONNECTIONS} connections",
        "",
        f"The sticky workload with wrk -c{LIGHT_CONNECTIONS}: 10 requests in flight rather than "
        f"{args.connections}, so a request queues behind fewer others and the latency is closer to what the "
        f"proxy itself adds. {placement_text()}",
        "",
        *wrk_table(rows),
        "",
        wrk_ratios(rows, targets=False),
        "",
    ]


# --------------------------------------------------------------------------------------------- HTTP/2

def make_certificate(tmp):
    """A certificate for 127.0.0.1 from Scripts/self-signed-cert; HAProxy wants chain and key in one file."""
    d = os.path.join(tmp, "tls")
    subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "self-signed-cert"), "-d", d,
                    "localhost", "127.0.0.1"], check=True, capture_output=True)
    chain, key = os.path.join(d, "localhost.pem"), os.path.join(d, "localhost.key")
    combined = os.path.join(d, "haproxy.pem")
    with open(combined, "w") as f:
        f.write(open(chain).read() + open(key).read())
    return chain, key, combined


def start_tls_proxies(tmp, ports, latch, tls, h2_floor=None):
    """HAProxy, nginx and Latch terminating TLS with ALPN h2,http/1.1, each on one worker thread; with
    `h2_floor`, the bare swift-nio-http2 relay too (it speaks h2 only)."""
    d = tempfile.mkdtemp(dir=tmp)
    targets = [start_haproxy(d, ports, tls=tls), start_nginx(d, ports, tls=tls), start_latch(d, ports, latch, tls=tls)]
    if h2_floor:
        port = free_port()
        log = os.path.join(d, "h2floor.log")
        proc = spawn([h2_floor, str(port), tls[0], tls[1], *map(str, ports)], log, proxy=True)
        wait_port(port, proc, log)
        targets.append(Target("floor", port, proc, proc.pid, log))
    return targets


def run_h2load(port, seconds, warm_up=1, h1=False):
    """h2load: 10 connections, 10 concurrent streams each (with `h1`: 100 HTTP/1.1 keep-alive
    connections, one request in flight each), one sticky cookie (h2load sends the same headers on every
    request), for `seconds`; requests/s, mean request time and failures."""
    shape = ["--h1", "-c100", "-m1"] if h1 else ["-c10", "-m10"]
    done = subprocess.run(
        ["h2load", "-t1", *shape, f"-D{seconds}", f"--warm-up-time={warm_up}",
         "-H", "cookie: JSESSIONID=5E55.node2", f"https://127.0.0.1:{port}/"],
        capture_output=True, text=True)
    out = done.stdout
    rps = next((float(l.split(",")[1].split()[0]) for l in out.splitlines() if l.startswith("finished in")), None)
    counts = next((l for l in out.splitlines() if l.startswith("requests:")), "")
    mean = next((l.split()[5] for l in out.splitlines() if l.startswith("time for request:")), None)
    protocol = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Application protocol")), "?")
    if done.returncode or rps is None:
        raise RuntimeError(f"h2load against port {port} failed (status {done.returncode}): {(done.stderr + out)[-500:]}")
    words = counts.replace(",", "").split()
    succeeded = int(words[words.index("succeeded") - 1]) if "succeeded" in words else 0
    failed = int(words[words.index("failed") - 1]) if "failed" in words else 0
    return {"rps": rps, "mean": mean, "succeeded": succeeded, "failed": failed, "protocol": protocol}


def bench_h2(ctx, h1=False):
    """HTTP/2 over TLS, or (`h1`) HTTP/1.1 over TLS in the same shape of load."""
    args, tmp = ctx["args"], ctx["tmp"]
    label = "https1" if h1 else "h2"
    if not shutil.which("h2load"):
        raise RuntimeError("h2load is not installed (Debian package nghttp2-client)")
    h2_floor = None if h1 or args.h2_floor == "none" else args.h2_floor
    targets = start_tls_proxies(tmp, ctx["ports"], args.latch, make_certificate(tmp), h2_floor)
    results = {t.name: [] for t in targets}
    try:
        for r in range(args.rounds):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for t in order:
                pids = t.pids()
                before = cpu_seconds(pids)
                started = time.time()
                run = run_h2load(t.port, args.seconds, h1=h1)
                cpu = cpu_seconds(pids) - before
                # h2load's rate counts the measuring window; CPU covers warm-up too, so per request it
                # is divided by everything served in the whole run.
                total = run["succeeded"] + run["failed"]
                run["cpu_us_per_request"] = cpu * 1e6 / max(total, 1)
                run["wall"] = time.time() - started
                results[t.name].append(run)
                print(f"bench: {label} round {r + 1} {t.name}: {run['rps']:.0f} req/s ({run['protocol']})", file=sys.stderr)
        check_alive(targets, label)
    finally:
        stop([t.process for t in targets])
    rows = []
    for t in targets:
        runs = results[t.name]
        rows.append({
            "name": t.name, "rps": statistics.median(x["rps"] for x in runs),
            "cpu": statistics.median(x["cpu_us_per_request"] for x in runs),
            "mean": runs[len(runs) // 2]["mean"], "failed": sum(x["failed"] for x in runs),
            "protocol": runs[0]["protocol"], "rss": peak_rss_kib(t.pids()) / 1024 if t.process.poll() is None else None,
        })
    lines = ["| | protocol | requests/s | mean request time | proxy CPU per request | failed |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['protocol']} | {row['rps']:.0f} | {row['mean']} | {row['cpu']:.1f} µs | {row['failed']} |")
    latch = next(r for r in rows if r["name"] == "Latch")
    haproxy = next(r for r in rows if r["name"] == "HAProxy")
    floor = next((r for r in rows if r["name"] == "floor"), None)
    floor_ratios = (
        f" Floor / HAProxy: requests/s {ratio(floor['rps'], haproxy['rps'])}, CPU per request "
        f"{ratio(floor['cpu'], haproxy['cpu'])}; Latch above the floor: {latch['cpu'] - floor['cpu']:.1f} µs CPU per request."
        if floor else "")
    if h1:
        return [
            "## HTTP/1.1 over TLS (h2load --h1)",
            "",
            f"h2load -t1 --h1 -c100 -m1 -D{args.seconds} --warm-up-time=1 with `cookie: JSESSIONID=5E55.node2`: "
            "100 keep-alive connections with one request in flight each, the same 100 requests in flight as "
            "the HTTP/2 table's 10 × 10 streams, so the two tables side by side separate what TLS costs "
            f"from what HTTP/2 costs; {args.rounds} interleaved rounds, medians; proxies set up as for HTTP/2.",
            "",
            *lines,
            "",
            f"Latch / HAProxy: requests/s {ratio(latch['rps'], haproxy['rps'])}, CPU per request {ratio(latch['cpu'], haproxy['cpu'])}.",
            "",
        ]
    return [
        "## HTTP/2 over TLS (h2load)",
        "",
        f"h2load -t1 -c10 -m10 -D{args.seconds} --warm-up-time=1 with `cookie: JSESSIONID=5E55.node2` (every "
        f"request sticky to node2), {args.rounds} interleaved rounds, medians; each proxy terminates TLS "
        "(ECDSA P-256 from Scripts/self-signed-cert) with ALPN `h2,http/1.1` on one worker thread and speaks "
        "HTTP/1.1 to the nginx upstreams (Latch with `pool.max_idle_per_node: 128`, as the 100 streams in "
        "flight all go to one node; HAProxy reuses without a limit, nginx keeps 64). CPU per request counts "
        "the warm-up too. `floor` is `Benchmarks/H2Floor`: the least a SwiftNIO program does to relay the "
        "same streams (TLS, swift-nio-http2 at frame level with no channel per stream, NIOHTTP1's client "
        "codec to kept-alive node connections; nothing routed, checked or logged), the libraries' own cost. "
        f"{placement_text()}",
        "",
        *lines,
        "",
        f"Latch / HAProxy: requests/s {ratio(latch['rps'], haproxy['rps'])}, CPU per request {ratio(latch['cpu'], haproxy['cpu'])}."
        + floor_ratios,
        "",
    ]


# ------------------------------------------------------------------------------- new sessions, 1k, 64k

def bench_new_sessions(ctx):
    args, tmp = ctx["args"], ctx["tmp"]
    lua = wrk_script(tmp, "new-sessions", cookie=False)
    targets = start_proxies(tmp, ctx["ports"], args.latch, floor=args.floor)
    try:
        rows = compare("new-sessions", targets, args, lua)
    finally:
        stop([t.process for t in targets])
    return [
        "## New sessions (no cookie)",
        "",
        "The sticky workload without a `Cookie` header, so every request is balanced round robin over the "
        "three upstreams (HAProxy `balance roundrobin`, an nginx upstream of all three, Latch's "
        f"`balance: round_robin`); same wrk settings. `direct` is as in the sticky table.",
        "",
        *wrk_table(rows),
        "",
        wrk_ratios(rows, targets=False),
        "",
    ]


def bench_body(ctx, name):
    args, tmp = ctx["args"], ctx["tmp"]
    size = SIZES[name]
    lua = wrk_script(tmp, name, path=f"/{name}")
    targets = start_proxies(tmp, ctx["ports"], args.latch, floor=args.floor)
    try:
        rows = compare(name, [ctx["direct"]] + targets, args, lua)
    finally:
        stop([t.process for t in targets])
    return [
        f"## {size // 1024} KiB responses",
        "",
        f"The sticky workload for `/{name}`, a static file of exactly {size} bytes that each nginx upstream "
        "serves from a temp dir; same wrk settings; body MiB/s is requests/s × the body size.",
        "",
        *wrk_table(rows, size),
        "",
        wrk_ratios(rows, targets=False),
        "",
    ]


# ---------------------------------------------------------------------------------------------- upload

def upload(port, size, chunk, node):
    """One POST of size bytes from memory on a new connection; (seconds, status)."""
    head = (f"POST /upload HTTP/1.1\r\nHost: bench\r\nCookie: JSESSIONID=UPLOAD.{node}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n").encode()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(head)
        for _ in range(size // len(chunk)):
            s.sendall(chunk)
        s.sendall(chunk[:size % len(chunk)])
        status = read_response(s)
    return time.perf_counter() - start, status


def bench_upload(ctx):
    args, tmp = ctx["args"], ctx["tmp"]
    size = args.upload_mib * MIB
    chunk = memoryview(b"u" * MIB)
    sink_ports, sink = start_sink(tmp)
    targets = [Target("direct", sink_ports[0], sink, sink.pid)] + start_proxies(tmp, sink_ports, args.latch, upload=True)
    rounds = max(args.rounds * 3, 9)  # an upload takes well under a second; CPU ticks are 10 ms
    results = {t.name: [] for t in targets}
    try:
        for r in range(-1, rounds):  # round -1 warms up
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for t in order:
                before = cpu_seconds(t.pids())
                try:
                    seconds, status = upload(t.port, size, chunk, NODES[r % len(NODES)])
                except OSError as e:
                    seconds, status = None, type(e).__name__
                cpu = cpu_seconds(t.pids()) - before
                if r >= 0:
                    results[t.name].append({"seconds": seconds, "status": status, "cpu": cpu})
                print(f"bench: upload {'warm-up' if r < 0 else f'round {r + 1}'} {t.name}: "
                      + (f"{seconds:.2f} s" if seconds else "failed") + f", status {status}", file=sys.stderr)
        check_alive(targets, "upload")
        rows = []
        for t in targets:
            runs = results[t.name]
            good = [x for x in runs if x["status"] == 200]
            secs = statistics.median(x["seconds"] for x in good) if good else None
            rows.append({
                "name": t.name, "seconds": secs, "mibps": args.upload_mib / secs if secs else None,
                "cpu": None if t.name == "direct" else statistics.mean(x["cpu"] for x in runs),
                "rss_mib": None if t.name == "direct" else peak_rss_kib(t.pids()) / 1024,
                "errors": len(runs) - len(good),
                "statuses": sorted({str(x["status"]) for x in runs if x["status"] != 200}),
            })
    finally:
        stop([t.process for t in targets])
    lines = ["| target | ms | MiB/s | proxy CPU ms per upload | peak RSS MiB | errors |", "|---|---|---|---|---|---|"]
    for r in rows:
        errors = str(r["errors"]) + (f" ({', '.join(r['statuses'])})" if r["statuses"] else "")
        lines.append(f"| {r['name']} | {fmt(r['seconds'] and r['seconds'] * 1e3)} | {fmt(r['mibps'])} | "
                     f"{fmt(r['cpu'] and r['cpu'] * 1e3)} | {fmt(r['rss_mib'], '{:.1f}')} | {errors} |")
    by = {r["name"]: r for r in rows}
    hap, lat = by["HAProxy"], by["Latch"]
    return [
        f"## {args.upload_mib} MiB upload",
        "",
        f"One `POST` with `Content-Length: {size}` per new connection, streamed from memory by a Python "
        "client in 1 MiB writes, to an upstream (Python, one thread per connection) that reads the whole "
        "body and discards it before it answers 200; `direct` posts to that upstream. nginx streams it "
        "(`proxy_request_buffering off; client_max_body_size 0`), Latch has `limits.max_body: 1GiB`. "
        f"One warm-up, then {rounds} interleaved rounds: the median time from connect to the end of the "
        "response, the mean proxy CPU time (utime+stime) per upload, the proxy's VmHWM after all uploads.",
        "",
        *lines,
        "",
        f"Latch/HAProxy: time {ratio(lat['seconds'], hap['seconds'])}, "
        f"CPU per upload {ratio(lat['cpu'], hap['cpu'])}, peak RSS {ratio(lat['rss_mib'], hap['rss_mib'])}",
        "",
    ]


# ------------------------------------------------------------------------------------------------ idle

def open_idle(port, count, in_flight=100, timeout=60):
    """count keep-alive connections, each after one complete request; (open sockets, errors, seconds)."""
    sel = selectors.DefaultSelector()
    idle, errors, started, busy = [], 0, 0, 0
    start = time.perf_counter()
    deadline = time.time() + timeout

    def fail(s):
        nonlocal errors, busy
        sel.unregister(s)
        s.close()
        errors += 1
        busy -= 1

    while len(idle) + errors < count and time.time() < deadline:
        while started < count and busy < in_flight:
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            request = (f"GET / HTTP/1.1\r\nHost: bench\r\n"
                       f"Cookie: JSESSIONID=1D1E{started}.{NODES[started % len(NODES)]}\r\n\r\n").encode()
            sel.register(s, selectors.EVENT_WRITE, [request, b""])
            started += 1
            busy += 1
        for key, events in sel.select(timeout=1):
            s, state = key.fileobj, key.data
            if events & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    fail(s)
                    continue
                try:
                    s.send(state[0])  # a few dozen bytes: one send
                except OSError:
                    fail(s)
                    continue
                sel.modify(s, selectors.EVENT_READ, state)
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                fail(s)
                continue
            if not data:
                fail(s)
                continue
            state[1] += data
            status = response_status(state[1])
            if status is None:
                continue
            if status != 200:
                fail(s)
                continue
            sel.unregister(s)
            idle.append(s)
            busy -= 1
    for key in list(sel.get_map().values()):  # whatever did not finish in time
        key.fileobj.close()
        errors += 1
    sel.close()
    return idle, errors + count - started, time.perf_counter() - start


def still_open(socks):
    n = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                continue  # bytes nobody asked for
        except BlockingIOError:
            n += 1
        except OSError:
            pass
    return n


def close_all(socks):
    for s in socks:  # reset rather than FIN: no TIME_WAIT pile-up between targets
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def rss_mib(target):
    return status_kib(target.pids(), "VmRSS") / 1024


def bench_idle(ctx):
    args, tmp = ctx["args"], ctx["tmp"]
    count = ctx["idle_connections"]
    targets = start_proxies(tmp, ctx["ports"], args.latch, idle_connections=count)
    rows = []
    try:
        for t in targets:
            warm, _, _ = open_idle(t.port, 200)  # first requests, lazy set-up, pools
            close_all(warm)
            time.sleep(1)
            before = rss_mib(t)
            socks, errors, seconds = open_idle(t.port, count)
            time.sleep(2)
            alive = still_open(socks)
            during = rss_mib(t)
            close_all(socks)
            time.sleep(2)
            after = rss_mib(t)
            rows.append({"name": t.name, "open": len(socks), "alive": alive, "errors": errors, "seconds": seconds,
                         "before": before, "during": during, "after": after,
                         "kib": (during - before) * 1024 / max(len(socks), 1)})
            print(f"bench: idle {t.name}: {len(socks)} open in {seconds:.1f} s, {alive} still open, "
                  f"{errors} errors, RSS {before:.1f} → {during:.1f} MiB "
                  f"({rows[-1]['kib']:.1f} KiB per connection), {after:.1f} MiB after closing", file=sys.stderr)
        check_alive(targets, "idle")
    finally:
        stop([t.process for t in targets])
    lines = ["| target | idle connections | still open after 2 s | errors | set-up s | RSS before MiB | "
             "RSS with them MiB | KiB per connection | RSS after closing MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['open']} | {r['alive']} | {r['errors']} | {r['seconds']:.1f} | "
                     f"{r['before']:.1f} | {r['during']:.1f} | {r['kib']:.1f} | {r['after']:.1f} |")
    by = {r["name"]: r for r in rows}
    hap, lat = by["HAProxy"], by["Latch"]
    note = ""
    if count < args.idle_connections:
        note = (f" {count} rather than {args.idle_connections} connections: the open-file limit here is "
                f"{ctx['nofile']} and HAProxy reserves two descriptors per connection (`maxconn`).")
    return [
        f"## {count} idle keep-alive connections",
        "",
        f"{count} client connections to one proxy at a time (one worker thread each), at most 100 of them "
        "busy at once: each sends one sticky GET, reads the whole answer, then stays open and idle. The "
        "proxy's RSS (VmRSS, all its processes) after a warm-up of 200 such connections, closed, and 2 s "
        "after the last one went idle; KiB per connection is the difference over the connections open. "
        f"HAProxy `maxconn {count + 50}`, nginx `worker_connections {count + 1000}`, Latch "
        f"`limits.max_client_connections: 100000`.{note}",
        "",
        *lines,
        "",
        f"Latch/HAProxy: RSS per idle connection {ratio(lat['kib'], hap['kib'])}; "
        f"Latch: {lat['kib']:.1f} KiB per idle connection (target ≤ 4 KiB)",
        "",
    ]


# --------------------------------------------------------------------------------------------- threads

def bench_threads(ctx):
    args, tmp = ctx["args"], ctx["tmp"]
    lua = wrk_script(tmp, "threads")
    counts = list(range(1, (os.cpu_count() or 1) + 1))
    rows = {}
    with shared_cores(ctx):
        for n in counts:
            targets = start_proxies(tmp, ctx["ports"], args.latch, threads=n)
            try:
                for r in compare(f"threads {n}", targets, args, lua):
                    rows[(n, r["name"])] = r
            finally:
                stop([t.process for t in targets])
    names = ["HAProxy", "nginx", "Latch"]
    lines = ["| threads | " + " | ".join(f"{n} requests/s" for n in names) + " | "
             + " | ".join(f"{n} CPU µs/request" for n in names) + " | Latch/HAProxy requests/s | Latch/HAProxy CPU |",
             "|---|" + "---|" * (2 * len(names) + 2)]
    for n in counts:
        rps = [rows[(n, x)]["rps"] for x in names]
        cpu = [rows[(n, x)]["cpu_us_per_request"] for x in names]
        lines.append(f"| {n} | " + " | ".join(fmt(v) for v in rps) + " | "
                     + " | ".join(fmt(v, "{:.1f}") for v in cpu)
                     + f" | ×{rps[2] / rps[0]:.2f} | ×{cpu[2] / cpu[0]:.2f} |")
    last = counts[-1]
    scaling = ", ".join(f"{x} ×{rows[(last, x)]['rps'] / rows[(1, x)]['rps']:.2f}" for x in names)
    return [
        f"## Worker threads 1 to {last}",
        "",
        f"The sticky workload with each proxy on 1 to {last} worker threads: HAProxy `nbthread`, nginx "
        "`worker_processes` (with a master process from 2 on; CPU counts all its processes), Latch "
        "`LATCH_THREADS`; same wrk settings, rounds interleaved within a thread count. wrk, the three upstreams "
        "(one nginx worker) and the proxy share the machine's cores here, unlike the other tables, so more "
        "proxy threads than free cores cannot scale.",
        "",
        *lines,
        "",
        f"Requests/s from 1 to {last} threads: {scaling}",
        "",
    ]


# ----------------------------------------------------------------------------------------------- report

def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def chart(rows, path):
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=False)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib unavailable; no chart", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, key, title in zip(axes, ["rps", "p99", "cpu_us_per_request"],
                              ["requests/s (higher is better)", "p99 latency, µs (lower is better)",
                               "proxy CPU µs per request (lower is better)"]):
        shown = [r for r in rows if r[key] is not None]  # the direct run has no proxy CPU
        names = [r["name"] for r in shown]
        bars = ax.bar(names, [r[key] for r in shown],
                      color=["#999999" if n == "direct" else "#d9534f" if n == "Latch"
                             else "#7fb77e" if n == "floor" else "#5b8bd9" for n in names])
        ax.set_title(title, fontsize=10)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    fig.suptitle("Sticky keep-alive GET, one proxy worker thread", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    want = min(want, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the proxies inherit it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help=f"comma-separated, from {', '.join(WORKLOADS)} (default: all)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--upload-mib", type=int, default=100)
    ap.add_argument("--idle-connections", type=int, default=10000)
    ap.add_argument("--latch", default=".build/release/latch")
    ap.add_argument("--h2-floor", default="Benchmarks/H2Floor/.build/release/H2Floor",
                    help="the bare swift-nio-http2 relay (Benchmarks/H2Floor) for the h2 table; 'none' leaves it out")
    ap.add_argument("--floor", default="Benchmarks/Floor/.build/release/Floor",
                    help="the bare SwiftNIO relay (Benchmarks/Floor); 'none' leaves the floor row out")
    ap.add_argument("--out", default="docs")
    ap.add_argument("--shared-cores", action="store_true",
                    help="no CPU of its own for the proxy: everything runs on every core")
    args = ap.parse_args()
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown or not workloads:
        ap.error(f"unknown workload {', '.join(unknown) or '(none)'}; choose from {', '.join(WORKLOADS)}")
    if not os.access(args.latch, os.X_OK):
        ap.error(f"no latch binary at {args.latch}")
    args.latch = os.path.abspath(args.latch)
    if args.floor == "none":
        args.floor = None
    elif not os.access(args.floor, os.X_OK):
        ap.error(f"no floor relay at {args.floor} (Scripts/build-release --package-path Benchmarks/Floor --product Floor, or --floor none)")
    else:
        args.floor = os.path.abspath(args.floor)
    if args.h2_floor != "none" and "h2" in workloads:
        if not os.access(args.h2_floor, os.X_OK):
            ap.error(f"no HTTP/2 floor relay at {args.h2_floor} (Scripts/build-release --package-path Benchmarks/H2Floor "
                     "--product H2Floor, or --h2-floor none)")
        args.h2_floor = os.path.abspath(args.h2_floor)
    os.makedirs(args.out, exist_ok=True)
    for sig in (signal.SIGINT, signal.SIGTERM):  # unwind: stop every process, remove tmp
        signal.signal(sig, on_signal)

    ALL_CPUS.update(os.sched_getaffinity(0))
    if not args.shared_cores and len(ALL_CPUS) >= 2:
        place({max(ALL_CPUS)})
    nofile = raise_nofile()
    # HAProxy needs 2 × maxconn + a few descriptors; keep clear of the limit.
    idle_connections = min(args.idle_connections, max((nofile - 200) // 2 // 100 * 100, 100))
    tmp = tempfile.mkdtemp(prefix="latch-bench-")
    sections = []
    started = time.time()
    try:
        ports, upstream = start_upstreams(tmp)
        ctx = {"args": args, "tmp": tmp, "ports": ports, "direct": Target("direct", ports[0], upstream, upstream.pid),
               "nofile": nofile, "idle_connections": idle_connections}
        run = {"sticky": bench_sticky, "light": bench_light, "new-sessions": bench_new_sessions, "1k": lambda c: bench_body(c, "1k"),
               "64k": lambda c: bench_body(c, "64k"), "upload": bench_upload, "idle": bench_idle,
               "threads": bench_threads, "h2": bench_h2, "https1": lambda ctx: bench_h2(ctx, h1=True)}
        for w in WORKLOADS:
            if w in workloads:
                print(f"bench: {w} ({time.time() - started:.0f} s in)", file=sys.stderr)
                try:
                    sections += run[w](ctx)
                except Exception as e:  # report it and go on with the others
                    if STOPPING:
                        raise
                    print(f"bench: {w} failed: {e}", file=sys.stderr)
                    sections += [f"## {w}: failed", "", "```", str(e), "```", ""]
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        stop(list(RUNNING))
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"bench: done in {time.time() - started:.0f} s", file=sys.stderr)

    md = [
        "# Latch, HAProxy and nginx",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `Scripts/bench` on {machine()}; HAProxy "
        f"{subprocess.run(['haproxy', '-v'], capture_output=True, text=True).stdout.split()[2]}, nginx "
        f"{subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip().split('/')[-1]}. "
        "Everything on 127.0.0.1; each workload starts fresh proxies; no proxy writes an access log.",
        "",
        *sections,
    ]
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
