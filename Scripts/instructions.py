#!/usr/bin/env python3
"""Instructions Latch executes per sticky keep-alive GET, counted by valgrind's callgrind.

Wall-clock figures on a shared 2-core machine move with whatever else runs; an instruction count
does not: the same binary and the same requests give the same count within a fraction of a percent.
So this is the figure that tells whether a change to the request path made it cheaper or dearer.

Latch (one event-loop thread, the lb.yaml `Scripts/bench` uses) runs under callgrind in front of a
small Python upstream; one client sends WARM_UP requests, the counters are zeroed, then it sends
REQUESTS more on the same keep-alive connection, each with a cookie naming one of three nodes in
turn, and the counters are dumped: instructions (Ir) over REQUESTS is the figure. Standard library
only.

  Scripts/instructions.py --latch PATH [--requests N] [--baseline FILE] [--check] [--write] [--h2]

--check fails (exit 1) when the count is more than --tolerance (5 %) above the baseline file's;
--write stores the count as the new baseline. --h2 counts HTTP/2 streams over TLS too: h2load sends
the same sticky GETs as streams, 10 in flight on one connection (a connection to warm up, then one
measured, its handshake included), against Latch terminating TLS; its figure has a baseline of its own.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

NODES = ["node1", "node2", "node3"]

# valgrind 3.19 (Debian 12) writes into the signal mask rt_sigsuspend is given, and libdispatch's
# signal thread passes one in read-only memory: valgrind dies of its own SIGSEGV. This preloaded
# sigsuspend hands the kernel a writable copy; it changes nothing else.
SIGSUSPEND_SHIM = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
"""


def prepare(latch, tmp):
    """A copy of `latch` without DWARF (valgrind 3.19's reader gives up on the toolchain's; the symbol
    table stays, so callgrind_annotate still names functions) and the shim, built in `tmp`."""
    binary = os.path.join(tmp, "latch")
    subprocess.run(["objcopy", "--strip-debug", latch, binary], check=True)
    source = os.path.join(tmp, "sigsuspend.c")
    with open(source, "w") as f:
        f.write(SIGSUSPEND_SHIM)
    shim = os.path.join(tmp, "sigsuspend.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, source], check=True)
    return binary, shim
BODY = b"x" * 100
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY


def upstream(listener):
    """Keep-alive HTTP/1.1 answering every request with the same 100-byte body."""
    def serve(conn):
        pending = b""
        with conn:
            try:
                while True:
                    while b"\r\n\r\n" not in pending:
                        data = conn.recv(65536)
                        if not data:
                            return
                        pending += data
                    _, _, pending = pending.partition(b"\r\n\r\n")
                    conn.sendall(RESPONSE)
            except OSError:
                pass

    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"instructions: latch exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"instructions: latch did not listen on {port} within {timeout} s")


def read_response(sock, pending):
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("instructions: latch closed the connection")
        pending += data
    head, _, rest = pending.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"instructions: unexpected answer {status!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("instructions: latch closed the connection mid-body")
        rest += data
    return rest[length:]


def send_requests(sock, start, count):
    pending = b""
    for i in range(start, start + count):
        node = NODES[i % len(NODES)]
        sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nCookie: JSESSIONID=5E55%d.%s\r\n\r\n" % (i, node.encode()))
        pending = read_response(sock, pending)


def callgrind(pid, *args):
    done = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"instructions: callgrind_control {' '.join(args)} failed: {done.stdout}{done.stderr}")


def totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit(f"instructions: no totals in {path}")


def h2load(port, requests):
    done = subprocess.run(
        ["h2load", "-n", str(requests), "-c1", "-m10", "-H", "cookie: JSESSIONID=5E55.node2", f"https://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or f"{requests} succeeded" not in done.stdout:
        raise SystemExit(f"instructions: h2load against latch failed: {(done.stdout + done.stderr)[-500:]}")


def measure(latch, requests, warm_up, keep=None, floor=False, h2=False):
    tmp = tempfile.mkdtemp(prefix="latch-instructions-")
    listeners, procs = [], []
    try:
        ports = []
        for _ in NODES:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(128)
            listeners.append(s)
            ports.append(s.getsockname()[1])
            threading.Thread(target=upstream, args=(s,), daemon=True).start()
        port = free_port()
        nodes = "\n".join(f"      - {{ name: {n}, address: 127.0.0.1:{p} }}" for n, p in zip(NODES, ports))
        conf = os.path.join(tmp, "lb.yaml")
        tls = ""
        if h2:
            certificates = os.path.join(tmp, "tls")
            subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "self-signed-cert"), "-d", certificates,
                            "localhost", "127.0.0.1"], check=True, capture_output=True)
            tls = (f"    tls: {{ certificate: {certificates}/localhost.pem, key: {certificates}/localhost.key }}\n"
                   "pool:\n  max_idle_per_node: 128\n")
        with open(conf, "w") as f:
            f.write(f"listen:\n  - address: 127.0.0.1:{port}\n{tls}clusters:\n  - name: bench\n"
                    f"    passive: {{ failures: 0 }}\n    nodes:\n{nodes}\n")
        out = os.path.join(tmp, "callgrind.out")
        binary, shim = prepare(latch, tmp)
        env = dict(os.environ, LATCH_THREADS="1", LOG_LEVEL="notice", LD_PRELOAD=shim)
        log = open(os.path.join(tmp, "latch.log"), "w")
        # The floor relays (Benchmarks/Floor, Benchmarks/H2Floor) take their ports (and the HTTP/2 one
        # its certificate) on the command line instead of an lb.yaml.
        if floor and h2:
            command = [binary, str(port), f"{certificates}/localhost.pem", f"{certificates}/localhost.key", *map(str, ports)]
        elif floor:
            command = [binary, str(port), *map(str, ports)]
        else:
            command = [binary, "run", conf]
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        procs.append(proc)
        wait_port(port, proc)
        if h2:
            h2load(port, warm_up)
            callgrind(proc.pid, "--zero")
            h2load(port, requests)
            callgrind(proc.pid, "--dump")
        else:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                send_requests(sock, 0, warm_up)
                callgrind(proc.pid, "--zero")
                send_requests(sock, warm_up, requests)
                callgrind(proc.pid, "--dump")
        dumps = sorted(glob.glob(out + ".*"), key=os.path.getmtime)
        if not dumps:
            raise SystemExit("instructions: callgrind wrote no dump")
        if keep:
            shutil.copy(dumps[-1], keep)
            print(f"instructions: profile in {keep} (callgrind_annotate {keep})")
        return totals(dumps[-1]) / requests
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for s in listeners:
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latch", required=True)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--warm-up", type=int, default=300)
    ap.add_argument("--baseline", default="Benchmarks/instructions-baseline.json")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--check", action="store_true", help="fail when above the baseline by more than the tolerance")
    ap.add_argument("--write", action="store_true", help="store this count as the baseline")
    ap.add_argument("--profile", help="keep the callgrind dump of the measured requests here")
    ap.add_argument("--floor", help="also count the bare SwiftNIO relay (Benchmarks/Floor) on the same requests")
    ap.add_argument("--floor-profile", help="keep the floor's callgrind dump here (with --h2-floor: the HTTP/2 floor's)")
    ap.add_argument("--h2", action="store_true", help="count HTTP/2 streams over TLS too (h2load)")
    ap.add_argument("--h2-profile", help="keep the HTTP/2 callgrind dump here")
    ap.add_argument("--h2-floor", help="with --h2, also count the bare HTTP/2 relay (Benchmarks/H2Floor) on the same streams")
    args = ap.parse_args()

    per_request = measure(args.latch, args.requests, args.warm_up, keep=args.profile)
    print(f"instructions: {per_request:,.0f} instructions per sticky keep-alive GET "
          f"({args.requests} requests after {args.warm_up} to warm up, one event-loop thread)")
    if args.floor:
        floor = measure(args.floor, args.requests, args.warm_up, keep=args.floor_profile, floor=True)
        print(f"instructions: the floor (a bare SwiftNIO relay) {floor:,.0f} per request; "
              f"Latch {per_request - floor:,.0f} above it (×{per_request / floor:.2f})")
    counts = {"sticky_get_instructions_per_request": per_request}
    if args.h2:
        h2 = measure(args.latch, args.requests, args.warm_up, keep=args.h2_profile, h2=True)
        counts["h2_stream_instructions_per_request"] = h2
        print(f"instructions: {h2:,.0f} instructions per HTTP/2 stream over TLS (sticky GETs, 10 in flight on one "
              f"connection; {args.requests} streams on a connection of their own, its handshake included)")
        if args.h2_floor:
            h2_floor = measure(args.h2_floor, args.requests, args.warm_up, keep=args.floor_profile, floor=True, h2=True)
            print(f"instructions: the HTTP/2 floor (Benchmarks/H2Floor) {h2_floor:,.0f} per stream; "
                  f"Latch {h2 - h2_floor:,.0f} above it (×{h2 / h2_floor:.2f})")
    if args.write:
        stored = {}
        if os.path.exists(args.baseline):
            with open(args.baseline) as f:
                stored = json.load(f)
        stored.update({key: round(value) for key, value in counts.items()})
        with open(args.baseline, "w") as f:
            json.dump(stored, f, indent=2)
            f.write("\n")
        print(f"instructions: baseline written to {args.baseline}")
    if args.check:
        with open(args.baseline) as f:
            baselines = json.load(f)
        failed = False
        for key, count in counts.items():
            if key not in baselines:
                print(f"instructions: no baseline for {key} in {args.baseline}; write one with --write", file=sys.stderr)
                failed = True
                continue
            change = count / baselines[key] - 1
            print(f"instructions: {key} baseline {baselines[key]:,} ({change:+.1%})")
            if change > args.tolerance:
                print(f"instructions: FAILED: {key} more than {args.tolerance:.0%} above the baseline; find what the "
                      f"request path does more (callgrind_annotate), or, if it is worth it, write the new baseline "
                      f"with --write and say why in the commit", file=sys.stderr)
                failed = True
            if change < -args.tolerance:
                print(f"instructions: {key} {-change:.1%} below the baseline: write the new one (--write) so it stays a guard")
        if failed:
            sys.exit(1)


if __name__ == "__main__":
    main()
