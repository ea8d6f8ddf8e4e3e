#!/usr/bin/env python3
"""Replays the hostile-client attacks of issue #10 against a built customer-cache and prints what it did.

Not a test (tests/AbusiveClientTests asserts the bounds); this prints the figures for a before/after comparison,
e.g. of a release binary built from an older commit:

    python3 bench/abuse.py [--binary PATH] pipeline|emfile|silent|chunk|dualstack

pipeline   CLIENTS (1) connections pipeline GET /healthz for 8 s without reading: RSS growth, /healthz latency
emfile     under 'ulimit -n 256', 300 idle clients (PARTIAL=1: each sends half a head): CPU over 10 s, log lines
silent     4,200 connections that never send a byte: does a fresh request get 200, are they closed at 10 s
chunk      chunk sizes such as '46 1', '46 xyz', '46;' on the webhook path: the status each gets
dualstack  a [::] webhook listener reached over 127.0.0.1 and ::1
"""
import argparse, os, resource, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "lib"))
from bench import RELEASE, cpu_seconds, rss_kib  # noqa: E402
from local import free_port, wait_ready  # noqa: E402


def start(binary, ulimit=None, webhook_host="127.0.0.1"):
    directory = tempfile.mkdtemp(prefix="cc-abuse-")
    webhook, rpc = free_port(), free_port()
    host = f"[{webhook_host}]" if ":" in webhook_host else webhook_host
    command = [binary, "serve", "--webhook-listen", f"{host}:{webhook}", "--rpc-listen", f"127.0.0.1:{rpc}",
               "--data-dir", directory + "/data"]
    if ulimit:
        command = ["/bin/sh", "-c", f'ulimit -n {ulimit} && exec "$0" "$@"'] + command
    log = open(directory + "/log", "w")
    process = subprocess.Popen(command, stderr=log, stdout=subprocess.DEVNULL,
                               env=dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS="whsec_abuse"))
    wait_ready(rpc)
    return process, directory + "/log", webhook, rpc


def stop(process):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def probe(port, host="127.0.0.1", timeout=1.0):
    """GET /healthz on a fresh connection: (status or error name, seconds)."""
    started = time.time()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = s.recv(200)
        return (data.split(b" ")[1].decode() if data else "EOF"), round(time.time() - started, 3)
    except OSError as error:
        return type(error).__name__, round(time.time() - started, 3)


def metrics(port, *names):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return [line for line in data.decode().splitlines() if not line.startswith("#") and line.startswith(names) and not line.endswith(" 0")]


def pipeline(binary):
    clients = int(os.environ.get("CLIENTS", "1"))
    process, _, webhook, rpc = start(binary)
    time.sleep(0.5)
    rss_before = rss_kib(process.pid)
    greedy = []
    for _ in range(clients):
        s = socket.create_connection(("127.0.0.1", webhook))
        s.setblocking(False)
        greedy.append(s)
    batch = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
    end, next_probe, probes, sent = time.time() + 8, time.time() + 1, [], 0
    while time.time() < end:
        for s in greedy:
            try:
                sent += s.send(batch)
            except BlockingIOError:
                pass
        if time.time() >= next_probe:
            next_probe = time.time() + 1
            probes += [("webhook",) + probe(webhook), ("rpc",) + probe(rpc)]
    rss_after = rss_kib(process.pid)
    print(f"{clients} client(s) sent {sent / 1e6:.1f} MB of pipelined requests in 8 s without reading; "
          f"RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB ({(rss_after - rss_before) / 1024:+.1f} MiB)")
    bad = [p for p in probes if p[1] != "200" or p[2] >= 1.0]
    print(f"/healthz on both listeners once a second: {len(probes)} probes, {len(bad)} failed or >= 1 s {bad[:4]}")
    stop(process)


def emfile(binary):
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    process, log, webhook, rpc = start(binary, ulimit=256)
    clients = []
    for _ in range(300):
        try:
            clients.append(socket.create_connection(("127.0.0.1", webhook), timeout=2))
            if os.environ.get("PARTIAL"):
                clients[-1].sendall(b"GET /healthz HTTP/1.1\r\n")
        except OSError as error:
            print("connect failed:", error)
            break
    time.sleep(0.5)
    cpu_before, log_before = cpu_seconds(process.pid), os.path.getsize(log)
    during = probe(webhook), probe(rpc)
    time.sleep(10)
    cpu = cpu_seconds(process.pid) - cpu_before
    text = open(log).read()
    print(f"ulimit -n 256, {len(clients)} clients: CPU {cpu:.2f} s in 10 s ({cpu / 10:.2f} cores); "
          f"{text.count('accept failed')} 'accept failed' lines; log +{(len(text.encode()) - log_before) / 1e6:.2f} MB")
    print(f"meanwhile webhook /healthz {during[0]}, rpc /healthz {during[1]}")
    for client in clients:
        client.close()
    time.sleep(0.3)
    print(f"after closing the clients: webhook {probe(webhook)}, rpc {probe(rpc)}")
    print("\n".join(metrics(rpc, "customer_cache_http_accept_errors_total", "customer_cache_http_idle_connections_closed_total",
                            "customer_cache_http_connections_refused_total")))
    stop(process)


def silent(binary):
    resource.setrlimit(resource.RLIMIT_NOFILE, (10000, max(10000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    process, _, webhook, _ = start(binary)
    clients = []
    for _ in range(4200):
        try:
            clients.append(socket.create_connection(("127.0.0.1", webhook), timeout=2))
        except OSError as error:
            print("connect failed:", error)
            break
    time.sleep(0.5)
    print(f"{len(clients)} silent connections, then a fresh webhook /healthz: {probe(webhook, timeout=3)}")
    time.sleep(11)
    open_count = 0
    for client in clients:
        client.setblocking(False)
        try:
            open_count += 0 if client.recv(1) == b"" else 1
        except BlockingIOError:
            open_count += 1
        except OSError:
            pass
    print(f"11.5 s later (header-timeout-ms 10000): {open_count} of {len(clients)} still open (a 503 counts as open)")
    stop(process)


def chunk(binary):
    process, _, webhook, _ = start(binary)
    print("401 means the chunk size line was accepted and the (unsigned) webhook reached the handler")
    for size in [b"46 1", b"46 xyz", b"46;", b"46 ", b"46;a b", b'46 ; ext = "v"']:
        with socket.create_connection(("127.0.0.1", webhook), timeout=2) as s:
            s.sendall(b"POST /webhooks/digitalriver HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n{" + b" " * 68 + b"}\r\n0\r\n\r\n")
            status_line = s.recv(200).split(b"\r\n")[0].decode()
            print(f"{size.decode()!r:18} -> {status_line}")
    stop(process)


def dualstack(binary):
    process, _, webhook, _ = start(binary, webhook_host="::")
    print(f"webhook-listen [::]:{webhook}: via 127.0.0.1 {probe(webhook)}, via ::1 {probe(webhook, host='::1')}")
    stop(process)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(RELEASE, "customer-cache"))
    parser.add_argument("attack", choices=["pipeline", "emfile", "silent", "chunk", "dualstack"])
    arguments = parser.parse_args()
    globals()[arguments.attack](arguments.binary)
