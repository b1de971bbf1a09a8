#!/usr/bin/env python3
"""Latch side by side with HAProxy and nginx on the same sticky workload, on this machine, in one run.

Three nginx upstreams answer `return 200` (the ceiling is measured against one of them directly). Each
proxy routes `Cookie: JSESSIONID=<id>.nodeN` to upstream N on ONE worker thread: HAProxy with
`use-server nodeN if { req.cook(JSESSIONID) -m end .nodeN }`, nginx with a `map` on the cookie, Latch by
its route suffix. wrk drives the same keep-alive load at each, the targets interleaved round by round,
and the medians are reported: requests/s, p50/p99/p99.9 latency, the proxy's own CPU time per request
(utime+stime from /proc) and its peak RSS (VmHWM). No proxy writes an access log.

Usage: Scripts/bench [--rounds N] [--seconds S] [--connections C] [--latch PATH] [--out DIR]
Writes DIR/bench.md (the table, the ratios Latch/HAProxy and the machine) and DIR/bench.png.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
NODES = ["node1", "node2", "node3"]

WRK_LUA = r"""
local i = 0
request = function()
  i = i + 1
  local node = (i % 3) + 1
  return wrk.format("GET", "/", { ["Host"] = "bench", ["Cookie"] = "JSESSIONID=5E55" .. i .. ".node" .. node })
end
done = function(summary, latency, requests)
  io.write(string.format('BENCH {"requests": %d, "seconds": %f, "errors": %d, "p50": %d, "p99": %d, "p999": %d}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Target:
    def __init__(self, name, port, process, measured_pid):
        self.name, self.port, self.process, self.pid = name, port, process, measured_pid


def start_upstreams(tmp):
    ports = [free_port() for _ in NODES]
    servers = "\n".join(
        f"server {{ listen 127.0.0.1:{p}; access_log off; keepalive_requests 1000000;"
        f" location / {{ return 200 'hello from {n}\\n'; }} }}"
        for n, p in zip(NODES, ports))
    conf = os.path.join(tmp, "upstreams.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1; pid {tmp}/upstreams.pid;
error_log {tmp}/upstreams.err; events {{ worker_connections 4096; }}
http {{ {servers} }}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stderr=subprocess.DEVNULL)
    for p in ports:
        wait_port(p)
    return ports, proc


def start_haproxy(tmp, ports):
    port = free_port()
    backends = "\n".join(f"  server {n} 127.0.0.1:{p}" for n, p in zip(NODES, ports))
    rules = "\n".join(f"  use-server {n} if {{ req.cook(JSESSIONID) -m end .{n} }}" for n in NODES)
    conf = os.path.join(tmp, "haproxy.cfg")
    with open(conf, "w") as f:
        f.write(f"""global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  balance roundrobin
{rules}
  http-reuse always
{backends}
""")
    proc = subprocess.Popen(["haproxy", "-f", conf], stderr=subprocess.DEVNULL)
    wait_port(port)
    return Target("HAProxy", port, proc, proc.pid)


def start_nginx(tmp, ports):
    port = free_port()
    upstreams = "\n".join(f"upstream {n} {{ server 127.0.0.1:{p}; keepalive 64; }}" for n, p in zip(NODES, ports))
    conf = os.path.join(tmp, "proxy.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1; pid {tmp}/proxy.pid;
error_log {tmp}/proxy.err; events {{ worker_connections 4096; }}
http {{
  access_log off;
  {upstreams}
  map $cookie_JSESSIONID $sticky {{ ~\\.node1$ node1; ~\\.node2$ node2; ~\\.node3$ node3; default node1; }}
  server {{ listen 127.0.0.1:{port}; keepalive_requests 1000000;
    location / {{ proxy_pass http://$sticky; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stderr=subprocess.DEVNULL)
    wait_port(port)
    return Target("nginx", port, proc, proc.pid)


def start_latch(tmp, ports, latch):
    port = free_port()
    nodes = "\n".join(f"      - {{ name: {n}, address: 127.0.0.1:{p} }}" for n, p in zip(NODES, ports))
    conf = os.path.join(tmp, "lb.yaml")
    with open(conf, "w") as f:
        f.write(f"""listen:
  - address: 127.0.0.1:{port}
clusters:
  - name: bench
    passive: {{ failures: 0 }}
    nodes:
{nodes}
limits:
  max_client_connections: 100000
""")
    env = dict(os.environ, LATCH_THREADS="1", LOG_LEVEL="notice")
    proc = subprocess.Popen([latch, "run", conf], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return Target("Latch", port, proc, proc.pid)


def run_wrk(port, seconds, connections, lua):
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua, f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    return json.loads(line[len("BENCH "):])


def measure(target, seconds, connections, lua):
    before = cpu_seconds(target.pid)
    result = run_wrk(target.port, seconds, connections, lua)
    cpu = cpu_seconds(target.pid) - before
    result["rps"] = result["requests"] / result["seconds"]
    result["cpu_us_per_request"] = cpu * 1e6 / max(result["requests"], 1)
    return result


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
                      color=["#999999" if n == "direct" else "#d9534f" if n == "Latch" else "#5b8bd9" for n in names])
        ax.set_title(title, fontsize=10)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    fig.suptitle("Sticky keep-alive GET, one proxy worker thread", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--latch", default=".build/release/latch")
    ap.add_argument("--out", default="docs")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="latch-bench-")
    lua = os.path.join(tmp, "sticky.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    procs = []
    try:
        ports, upstream = start_upstreams(tmp)
        procs.append(upstream)
        targets = [start_haproxy(tmp, ports), start_nginx(tmp, ports), start_latch(tmp, ports, args.latch)]
        procs += [t.process for t in targets]
        direct = Target("direct", ports[0], upstream, upstream.pid)
        everything = [direct] + targets
        for t in everything:  # warm-up: connections, caches, page-ins
            run_wrk(t.port, 2, args.connections, lua)
        results = {t.name: [] for t in everything}
        for r in range(args.rounds):
            order = everything[r % len(everything):] + everything[:r % len(everything)]
            for t in order:
                results[t.name].append(measure(t, args.seconds, args.connections, lua))
                print(f"bench: round {r + 1} {t.name}: {results[t.name][-1]['rps']:.0f} req/s", file=sys.stderr)
        rows = []
        for t in everything:
            runs = results[t.name]
            med = lambda k: statistics.median(x[k] for x in runs)
            rows.append({
                "name": t.name, "rps": med("rps"), "p50": med("p50"), "p99": med("p99"), "p999": med("p999"),
                "cpu_us_per_request": None if t.name == "direct" else med("cpu_us_per_request"),
                "rss_mib": None if t.name == "direct" else peak_rss_kib(t.pid) / 1024,
                "errors": sum(x["errors"] for x in runs),
            })
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    by = {r["name"]: r for r in rows}
    hap, lat = by["HAProxy"], by["Latch"]
    fmt = lambda v, f="{:.0f}": "–" if v is None else f.format(v)
    lines = [
        "| target | requests/s | p50 µs | p99 µs | p99.9 µs | proxy CPU µs/request | peak RSS MiB | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {fmt(r['rps'])} | {fmt(r['p50'])} | {fmt(r['p99'])} | {fmt(r['p999'])} | "
                     f"{fmt(r['cpu_us_per_request'], '{:.1f}')} | {fmt(r['rss_mib'], '{:.1f}')} | {r['errors']} |")
    ratios = (f"Latch/HAProxy: requests/s ×{lat['rps'] / hap['rps']:.2f} (target ≥ 1.0), "
              f"CPU per request ×{lat['cpu_us_per_request'] / hap['cpu_us_per_request']:.2f} (target ≤ 1.0), "
              f"p99 ×{lat['p99'] / max(hap['p99'], 1):.2f} (target ≤ 1.2)")
    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "bench.png")
    has_chart = chart(rows, png)
    md = [
        "# Latch, HAProxy and nginx: sticky keep-alive GET",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `Scripts/bench` on {machine()}; HAProxy "
        f"{subprocess.run(['haproxy', '-v'], capture_output=True, text=True).stdout.split()[2]}, nginx "
        f"{subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip().split('/')[-1]}. "
        f"wrk -t2 -c{args.connections}, {args.seconds} s per run, {args.rounds} interleaved rounds, medians; "
        "one proxy worker thread each; three nginx `return 200` upstreams; `direct` is wrk against one "
        "upstream (the ceiling). The load generator, the upstreams and the proxy share the machine's cores.",
        "",
        *lines,
        "",
        ratios,
        "",
    ]
    if has_chart:
        md += ["![bench chart](bench.png)", ""]
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(lines + ["", ratios]))


if __name__ == "__main__":
    main()
