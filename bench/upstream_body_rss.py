#!/usr/bin/env python3
"""Peak RSS of the service when Digital River answers one customer.get read-through with a huge body.

Usage: bench/upstream_body_rss.py [binary] [megabytes]   (default .build/debug/customer-cache, 200)
Serves the body once with Content-Length and once chunked from a local fake; prints VmHWM before and after each.
"""
import json, os, socket, subprocess, sys, tempfile, threading, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "lib"))
from local import free_port, wait_port, wait_ready  # noqa: E402

BINARY = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/customer-cache"
TOTAL = (int(sys.argv[2]) if len(sys.argv) > 2 else 200) << 20


def fake_upstream(port, chunked):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)

    def serve():
        while True:
            connection, _ = listener.accept()
            connection.recv(65536)
            framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {TOTAL}"
            piece = b" " * 65536
            try:
                connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode())
                sent = 0
                while sent < TOTAL:
                    connection.sendall((b"10000\r\n" + piece + b"\r\n") if chunked else piece)
                    sent += len(piece)
                if chunked:
                    connection.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            connection.close()

    threading.Thread(target=serve, daemon=True).start()


def hwm_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return -1


for chunked in (False, True):
    upstream_port, webhook_port, rpc_port = free_port(), free_port(), free_port()
    fake_upstream(upstream_port, chunked)
    work = tempfile.mkdtemp()
    env = dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS="whsec_rss_measure_0123456789", DR_API_KEY="sk_test_rss_measure_0123456789")
    service = subprocess.Popen([BINARY, "serve", "--webhook-listen", f"127.0.0.1:{webhook_port}", "--rpc-listen", f"127.0.0.1:{rpc_port}",
                                "--data-dir", work, "--upstream-url", f"http://127.0.0.1:{upstream_port}", "--upstream-timeout-ms", "60000",
                                "--log-level", "critical"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(rpc_port)
        wait_ready(rpc_port)
        before = hwm_mb(service.pid)
        body = json.dumps({"jsonrpc": "2.0", "method": "customer.get", "params": {"id": "huge-1"}, "id": 1}).encode()
        started = time.time()
        request = urllib.request.Request(f"http://127.0.0.1:{rpc_port}/rpc", data=body, headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=120).read())
        error = answer.get("error", {})
        print(f"{'chunked' if chunked else 'content-length'} {TOTAL >> 20} MB: VmHWM {before} MB -> {hwm_mb(service.pid)} MB, "
              f"{time.time() - started:.1f} s, answer {error.get('code')} {error.get('message')}")
    finally:
        service.terminate()
        service.wait()
