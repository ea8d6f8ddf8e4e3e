"""Drives wrk against our servers and nginx in the same invocation and prints ratios.

Every figure is relative to a baseline run moments apart on the same machine, because these machines are
shared and noisy: absolute numbers drift, ratios much less.
"""
import os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "lib"))
from local import free_port, wait_port, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
SMALL_BODY = '{"status":"ok","service":"customer-cache"}'
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def cpu_seconds(pid):
    """utime+stime of a process tree root (nginx master has one worker: sum children too)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def parse_ms(text):
    value, unit = float(text[:-2] if text.endswith(("ms", "us")) else text[:-1]), text[-2:] if text.endswith(("ms", "us")) else text[-1:]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, script=None, connections=CONNECTIONS, duration=DURATION):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": p50, "p99": p99, "errors": errors.group(1) if errors else "none",
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "requests": total}


class Server:
    def __init__(self, cmd, port, env=None, timeout=20):  # noqa: D107
        self.port = port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_port(port, timeout)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_nginx(port, body_bytes_for_post, wrapper=(), extra_locations="", timeout=20):
    tmp = tempfile.mkdtemp(prefix="bench-nginx-")
    conf = os.path.join(tmp, "nginx.conf")
    big = "x" * body_bytes_for_post
    # Under a wrapper (callgrind) the worker must be the process the wrapper runs: no master to fork it.
    master = "master_process off;" if wrapper else ""
    open(conf, "w").write(f"""
worker_processes 1;
{master}
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp};
  proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port} reuseport;
    location = /small {{ default_type application/json; return 200 '{SMALL_BODY}'; }}
    location = /echo {{ default_type application/json; client_body_buffer_size 16k; return 200 '{big}'; }}
    location = /sized {{ default_type application/json; return 200 '{big}'; }}
    {extra_locations}
  }}
}}
""")
    return Server([*wrapper, NGINX, "-c", conf, "-p", tmp], port, timeout=timeout)


def post_script(size):
    path = os.path.join(tempfile.mkdtemp(prefix="bench-wrk-"), "post.lua")
    body = "{\"pad\":\"" + "p" * (size - 10) + "\"}"
    open(path, "w").write(f'wrk.method = "POST"\nwrk.body = [==[{body}]==]\nwrk.headers["Content-Type"] = "application/json"\n')
    return path


def measure(server, url, script=None):
    before = cpu_seconds(server.proc.pid)
    result = wrk(url, script)
    result["cpu_us_per_req"] = (cpu_seconds(server.proc.pid) - before) / max(result["requests"], 1) * 1e6
    return result


def report(name, ours, base):
    def med(rows, key):
        return statistics.median(r[key] for r in rows)
    print(f"\n{name}  ({ROUNDS} rounds x {DURATION}s, wrk -t2 -c{CONNECTIONS}; medians)")
    print(f"  {'':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>11} {'errors':>8}")
    for label, rows in (("ours", ours), ("nginx", base)):
        errs = sum(1 for r in rows if r["errors"] != "none" or r["non2xx"])
        print(f"  {label:10} {med(rows,'rps'):10.0f} {med(rows,'p50'):8.2f} {med(rows,'p99'):8.2f} {med(rows,'cpu_us_per_req'):11.1f} {errs:8d}")
    ratios = [o["rps"] / b["rps"] for o, b in zip(ours, base)]
    print(f"  ratio ours/nginx req/s: {statistics.median(ratios):.2f} (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    return statistics.median(ratios)


def http_bench():
    our_port, nginx_port = free_port(), free_port()
    ours = Server([os.path.join(RELEASE, "http-bench-server"), f"127.0.0.1:{our_port}"], our_port)
    nginx = start_nginx(nginx_port, 1024)
    script = post_script(1024)
    try:
        results = {"get": ([], []), "post": ([], [])}
        for _ in range(ROUNDS):
            results["get"][0].append(measure(ours, f"http://127.0.0.1:{our_port}/small"))
            results["get"][1].append(measure(nginx, f"http://127.0.0.1:{nginx_port}/small"))
            results["post"][0].append(measure(ours, f"http://127.0.0.1:{our_port}/echo", script))
            results["post"][1].append(measure(nginx, f"http://127.0.0.1:{nginx_port}/echo", script))
        report("small GET (42-byte JSON)", *results["get"])
        report("1 KiB POST echo (nginx returns a fixed 1 KiB body: it cannot echo)", *results["post"])
    finally:
        ours.stop()
        nginx.stop()


def start_service(extra_env=None, args=(), wrapper=(), binary=None, timeout=20):
    webhook, rpc = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="bench-data-")
    env = dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS="bench-secret", **(extra_env or {}))
    server = Server([*wrapper, binary or os.path.join(RELEASE, "customer-cache"), "serve", "--webhook-listen", f"127.0.0.1:{webhook}",
                     "--rpc-listen", f"127.0.0.1:{rpc}", "--data-dir", data, "--log-level", "warning", *args], rpc, env=env,
                    timeout=timeout)
    wait_port(webhook, timeout)
    wait_ready(rpc, timeout)
    return server, webhook, rpc, data


def rpc_call(port, body):
    import http.client, json
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/rpc", body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return json.loads(data) if data else None


def synthetic_customer(i):
    return {"id": f"cust-{i:06d}", "email": f"user{i}@example.com", "enabled": True, "locale": "en_US", "type": "individual",
            "liveMode": False, "createdTime": "2024-01-01T00:00:00Z", "updatedTime": "2024-02-01T00:00:00Z",
            "shipping": {"name": f"User {i}", "phone": "555-0100", "address": {"line1": f"{i} Main St", "city": "Minneapolis",
                                                                                   "postalCode": "55401", "state": "MN", "country": "US"}},
            "metadata": {"tier": "gold"}, "taxIdentifiers": [], "sources": []}


def rpc_bench():
    import json
    service, _, rpc, _ = start_service()
    try:
        for start in range(0, 1000, 500):
            rpc_call(rpc, {"jsonrpc": "2.0", "method": "cache.load", "id": 1,
                           "params": {"customers": [synthetic_customer(i) for i in range(start, start + 500)]}})
        single = {"jsonrpc": "2.0", "method": "customer.get", "params": {"id": "cust-000042"}, "id": 1}
        batch = [{"jsonrpc": "2.0", "method": "customer.get", "params": {"id": f"cust-{i:06d}"}, "id": i} for i in range(100)]
        single_size = len(json.dumps(rpc_call(rpc, single), separators=(",", ":")))
        scripts = {}
        for name, body in (("single", single), ("batch", batch)):
            path = os.path.join(tempfile.mkdtemp(prefix="bench-wrk-"), f"{name}.lua")
            open(path, "w").write(f'wrk.method = "POST"\nwrk.body = [==[{json.dumps(body)}]==]\nwrk.headers["Content-Type"] = "application/json"\n')
            scripts[name] = path
        nginx_port = free_port()
        nginx = start_nginx(nginx_port, single_size)
        try:
            results = {"single": ([], []), "batch": []}
            for _ in range(ROUNDS):
                results["single"][0].append(measure(service, f"http://127.0.0.1:{rpc}/rpc", scripts["single"]))
                results["single"][1].append(measure(nginx, f"http://127.0.0.1:{nginx_port}/sized"))
                results["batch"].append(measure(service, f"http://127.0.0.1:{rpc}/rpc", scripts["batch"]))
            report(f"customer.get single call, cache hit ({single_size}-byte response; nginx returns the same size)", *results["single"])
            rows = results["batch"]
            med = lambda key: statistics.median(r[key] for r in rows)
            print(f"\ncustomer.get batches of 100, cache hits ({ROUNDS} rounds x {DURATION}s, -c{CONNECTIONS})")
            print(f"  {med('rps'):.0f} batches/s = {med('rps') * 100:.0f} customers/s, p50 {med('p50'):.2f} ms, p99 {med('p99'):.2f} ms, "
                  f"cpu {med('cpu_us_per_req'):.1f} us/batch, errors {sum(1 for r in rows if r['errors'] != 'none' or r['non2xx'])}")
        finally:
            nginx.stop()
    finally:
        service.stop()


def signed_webhook_load(webhook_port):
    """One load of signed, durably acknowledged webhooks from customer-cache-bench; its JSON summary."""
    import json
    out = subprocess.run([os.path.join(RELEASE, "customer-cache-bench"), "webhooks", f"127.0.0.1:{webhook_port}",
                          str(CONNECTIONS), str(DURATION)], capture_output=True, text=True,
                         env=dict(os.environ, BENCH_WEBHOOK_SECRET="bench-secret")).stdout
    return json.loads(out)


def webhook_bench():
    import json
    results = []
    ceilings = []
    for _ in range(ROUNDS):
        service, webhook, rpc, data = start_service()
        try:
            results.append(signed_webhook_load(webhook))
        finally:
            service.stop()
        out = subprocess.run([os.path.join(RELEASE, "customer-cache-bench"), "ceilings", data, "3", "650"],
                             capture_output=True, text=True).stdout
        ceilings.append(json.loads(out))
        shutil.rmtree(data, ignore_errors=True)
    eps = statistics.median(r["events_per_second"] for r in results)
    p99 = statistics.median(r["p99_ms"] for r in results)
    p50 = statistics.median(r["p50_ms"] for r in results)
    commits = statistics.median(c["sqlite_single_row_commits_per_second"] for c in ceilings)
    hmac = statistics.median(c["hmac_verifications_per_second"] for c in ceilings)
    bad = sum(sum(v for k, v in r["statuses"].items() if k != "200") for r in results)
    print(f"\nsigned webhooks, durable acks ({ROUNDS} rounds x {DURATION}s, {CONNECTIONS} keep-alive senders; medians)")
    print(f"  {eps:.0f} events/s applied, p50 {p50:.2f} ms, p99 {p99:.2f} ms, non-200: {bad}")
    print(f"  ceilings in the same run: SQLite one-row-per-transaction {commits:.0f} commits/s (WAL, synchronous=FULL); "
          f"HMAC-SHA256 verify {hmac:.0f}/s for a 650-byte body")
    per_round = ", ".join("%.1f" % (r["events_per_second"] / c["sqlite_single_row_commits_per_second"]) for r, c in zip(results, ceilings))
    print(f"  ratio events/s to one-commit-per-event SQLite rate: {eps / commits:.1f}x (per round: {per_round})")


def warm_bench():
    """`customer-cache warm` from a local sandbox of WARM_CUSTOMERS (default 100,000) into a fresh service per round.

    Reports customers/s end to end (the job's own clock, from its first list request to the last acknowledged load),
    the job's split between upstream paging (fetch_seconds) and loading (load_seconds, summed over the two loads it
    keeps in flight), and the CPU each process used, which on 2 cores is what decides the rate.
    """
    import json, resource
    customers = int(os.environ.get("WARM_CUSTOMERS", "100000"))
    binary = os.path.join(RELEASE, "customer-cache")
    sandbox_port = free_port()
    sandbox = subprocess.Popen([binary, "sandbox", "--listen", f"127.0.0.1:{sandbox_port}", "--seed", str(customers),
                                "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(sandbox_port, timeout=120)

    def run_job(rpc, *extra):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.time()
        out = subprocess.run([binary, "warm", "--rpc-url", f"http://127.0.0.1:{rpc}", "--upstream-url",
                              f"http://127.0.0.1:{sandbox_port}", "--requests-per-second", "0", "--progress", "off",
                              "--log-level", "warning", "--json", *extra],
                             capture_output=True, text=True, env=dict(os.environ, DR_API_KEY="sk_test_bench"))
        wall = time.time() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise RuntimeError(f"warm exited {out.returncode}: {out.stderr[-2000:]}")
        summary = json.loads(out.stdout)
        summary["job_cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        summary["process_per_second"] = summary["loaded"] / wall
        return summary

    def one_round(*extra):
        service, _, rpc, data = start_service()
        try:
            sandbox_cpu, service_cpu = cpu_seconds(sandbox.pid), cpu_seconds(service.proc.pid)
            first = run_job(rpc, *extra)
            first["sandbox_cpu"] = cpu_seconds(sandbox.pid) - sandbox_cpu
            first["service_cpu"] = cpu_seconds(service.proc.pid) - service_cpu
            again = run_job(rpc, *extra)
            return first, again
        finally:
            service.stop()
            shutil.rmtree(data, ignore_errors=True)

    try:
        rounds = [one_round() for _ in range(ROUNDS)]
        urlsession = one_round("--http-client", "urlsession")
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(10)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)
    firsts = [r[0] for r in rounds]
    agains = [r[1] for r in rounds]
    bad = [r for r in firsts + agains if r["loaded"] != customers or r["errors"] or r["invalid"]]
    print(f"\nwarm-up: {customers} customers, local sandbox (no rate limit) -> fresh service, {ROUNDS} rounds (medians)")
    print(f"  end to end      {med(firsts, 'customers_per_second'):8.0f} customers/s  ({med(firsts, 'elapsed_seconds'):.2f} s; "
          f"per round: {', '.join('%.0f' % r['customers_per_second'] for r in firsts)})")
    print(f"  process         {med(firsts, 'process_per_second'):8.0f} customers/s  (from exec to exit of `customer-cache warm`)")
    print(f"  fetch_seconds   {med(firsts, 'fetch_seconds'):8.2f} s   upstream paging, {med(firsts, 'pages'):.0f} pages of 100, sequential")
    print(f"  load_seconds    {med(firsts, 'load_seconds'):8.2f} s   cache.load calls (2 in flight, so summed time can exceed elapsed)")
    print(f"  waiting         {med(firsts, 'waiting_for_load_seconds'):8.2f} s   page loop blocked on a free load slot")
    print(f"  cpu seconds     job {med(firsts, 'job_cpu'):.2f}, service {med(firsts, 'service_cpu'):.2f}, sandbox {med(firsts, 'sandbox_cpu'):.2f} "
          f"(2 cores: {2 * med(firsts, 'elapsed_seconds'):.2f} available)")
    print(f"  repeated run    {med(agains, 'customers_per_second'):8.0f} customers/s  (applied {med(agains, 'applied'):.0f}, "
          f"unchanged {med(agains, 'unchanged'):.0f})")
    u = urlsession[0]
    print(f"  with --http-client urlsession (1 round): {u['customers_per_second']:.0f} customers/s, job cpu {u['job_cpu']:.2f} s")
    if bad:
        print(f"  WARNING: {len(bad)} runs did not load every customer cleanly")


class KeepAliveClient:
    """One keep-alive connection sending requests strictly one after another, so the server does the same work per
    request whatever the machine's load (what callgrind counts must not depend on batching by concurrency)."""

    def __init__(self, port):  # noqa: D107
        self.sock = socket.create_connection(("127.0.0.1", port), 30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, request):
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
        while len(self.buffer) < length:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(head.split(b" ", 2)[1]), body

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("server closed the keep-alive connection")
        return chunk

    def close(self):
        self.sock.close()


def http_request(method, path, port, body=b"", headers=()):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def webhook_event(i):
    """A customer.updated event like customer-cache-bench's: its own event id, one of 1,000 customers, and an
    updatedTime that rises with i, so every event is newer than the stored copy and is really written."""
    import datetime, json
    stamp = (datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    customer = f"instr-{i % 1000}"
    return json.dumps({"id": f"instr-event-{i}", "type": "customer.updated", "data": {"object": {
        "id": customer, "email": f"{customer}@example.com", "enabled": True, "locale": "en_US", "type": "individual",
        "liveMode": False, "updatedTime": stamp,
        "shipping": {"name": "Bench User", "phone": "555-0100", "address": {"line1": "1 Main St", "city": "Minneapolis",
                                                                           "postalCode": "55401", "state": "MN", "country": "US"}},
        "metadata": {"tier": "gold", "source": "bench"}}}, "liveMode": False, "createdTime": stamp,
        "digitalriverVersion": "2021-12-13"}, separators=(",", ":")).encode()


def signed_webhook(i, port, secret="bench-secret"):
    """The request with a DigitalRiver-Signature made now, so a slow run under valgrind stays inside the tolerance."""
    import base64, hashlib, hmac
    body = webhook_event(i)
    timestamp = str(int(time.time()))
    signature = base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()).decode()
    return http_request("POST", "/webhooks/digitalriver", port, body, [f"DigitalRiver-Signature: {timestamp}, {signature}"])


class Callgrind:
    """A server run under `valgrind --tool=callgrind`, counting user-space instructions of all its threads (the
    webhook writer's too) between `callgrind_control -z` and `-d`."""

    # valgrind 3.19's rt_sigsuspend wrapper writes into the caller's mask (it drops its own kill signal from it), and
    # libdispatch's main-queue idle passes a mask in read-only memory: valgrind itself dies with SIGSEGV as soon as
    # `serve`'s main thread parks. Preloaded, this sigsuspend hands the kernel a copy on the stack instead.
    SIGSUSPEND_COPY = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
"""

    def __init__(self):  # noqa: D107
        self.dir = tempfile.mkdtemp(prefix="bench-callgrind-")
        source, preload = os.path.join(self.dir, "sigsuspend.c"), os.path.join(self.dir, "sigsuspend.so")
        open(source, "w").write(self.SIGSUSPEND_COPY)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", preload, source], check=True)
        self.wrapper = ["env", f"LD_PRELOAD={preload}", "valgrind", "--tool=callgrind", "--collect-atstart=yes", "--dump-instr=no",
                        f"--callgrind-out-file={self.dir}/callgrind.out"]

    def count(self, pid, work):
        """Zeroes the counters, runs `work()`, dumps; returns (total Ir, path of the dump)."""
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        before = set(os.listdir(self.dir))
        work()
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            new = sorted(set(os.listdir(self.dir)) - before)
            if new:
                path = os.path.join(self.dir, new[-1])
                text = open(path).read()
                # summary: what the counter ran since the zero (callgrind_annotate's PROGRAM TOTALS). totals: can be a
                # little higher, as it adds the cost of calls that were already in progress at the zero.
                found = re.search(r"^summary:\s*(\d+)", text, re.M) or re.search(r"^totals:\s*(\d+)", text, re.M)
                if found:
                    return int(found.group(1)), path
            time.sleep(0.1)
        raise RuntimeError(f"callgrind wrote no dump into {self.dir}")

    def per_request(self, pid, port, make_request, check, warmup, measured):
        """Instructions per request: `warmup` requests first (caches, allocator, lazy initialisation), then the
        counters are zeroed, `measured` more are sent from the same keep-alive connection and dumped."""
        client = KeepAliveClient(port)
        sequence = iter(range(warmup + measured))

        def send(n):
            for _ in range(n):
                i = next(sequence)
                status, body = client.exchange(make_request(i))
                check(i, status, body)
        try:
            send(warmup)
            total, path = self.count(pid, lambda: send(measured))
        finally:
            client.close()
        return total / measured, path

    def idle_per_second(self, pid, seconds=2.0):
        """What the process spends with no traffic (timers, housekeeping), so a reader can tell it from per-request cost."""
        total, _ = self.count(pid, lambda: time.sleep(seconds))
        return total / seconds


def top_functions(dump, requests, count=10):
    """The `count` functions with the highest self cost in a callgrind dump, per request, Swift names demangled."""
    # Calls already in progress at `callgrind_control -z` are written with `calls=0`, which callgrind_annotate 3.19
    # then books as the caller's self cost (the thread's entry function gets everything). Counting them as one call
    # puts the cost back where it was spent.
    fixed = dump + ".annotate"
    with open(dump) as source, open(fixed, "w") as target:
        for line in source:
            target.write("calls=1 " + line[len("calls=0 "):] if line.startswith("calls=0 ") else line)
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", fixed], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        found = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(?:[^:\s]*:)?(\S+.*?)(?:\s+\[(.*)\])?\s*$", line)
        if found and "PROGRAM TOTALS" not in line:
            library = os.path.basename(found.group(3) or "")
            rows.append((int(found.group(1).replace(",", "")), found.group(2), library))
        if len(rows) == count:
            break
    names = [name for _, name, _ in rows]
    swift = shutil.which("swift")
    if swift and names:
        demangled = subprocess.run([swift, "demangle", "--simplified"], input="\n".join(names) + "\n",
                                   capture_output=True, text=True)
        if demangled.returncode == 0 and len(demangled.stdout.splitlines()) == len(rows):
            names = demangled.stdout.splitlines()
    return [(cost / requests, name, library) for (cost, _, library), name in zip(rows, names)]


def instructions_bench():
    """Instructions per request under callgrind: the same figure whatever else the machine is doing, unlike req/s.

    The release binary is copied with its debug info stripped (valgrind 3.19 cannot read Swift's DWARF 5). Each
    figure: INSTR_WARMUP requests (default 2,000), counters zeroed, INSTR_REQUESTS more (default 8,000) from one
    keep-alive client, dump, total Ir / INSTR_REQUESTS. nginx (one worker, no master) gets the same requests and
    answers bodies of the same size as ours, under the same callgrind, in the same run.
    """
    warmup = int(os.environ.get("INSTR_WARMUP", "2000"))
    measured = int(os.environ.get("INSTR_REQUESTS", "8000"))
    binary = os.path.join(tempfile.mkdtemp(prefix="bench-stripped-"), "customer-cache")
    shutil.copy2(os.path.join(RELEASE, "customer-cache"), binary)
    subprocess.run(["strip", "--strip-debug", binary], check=True)

    reply_sizes = {}  # our reply body sizes by what they must contain; nginx then answers with bodies as long

    def expect(wanted_status, wanted_text):
        def check(i, status, body):
            if status != wanted_status or wanted_text not in body:
                raise RuntimeError(f"request {i}: {status} {body[:200]!r} (wanted {wanted_status} with {wanted_text!r})")
            reply_sizes[wanted_text] = len(body)
        return check

    grind = Callgrind()
    service, webhook, rpc, data = start_service(wrapper=grind.wrapper, binary=binary, timeout=180)
    try:
        for start in range(0, 1000, 500):
            rpc_call(rpc, {"jsonrpc": "2.0", "method": "cache.load", "id": 1,
                           "params": {"customers": [synthetic_customer(i) for i in range(start, start + 500)]}})
        import json
        get_body = json.dumps({"jsonrpc": "2.0", "method": "customer.get", "params": {"id": "cust-000042"}, "id": 1}).encode()
        get_request = http_request("POST", "/rpc", rpc, get_body)
        ours_get, get_dump = grind.per_request(service.proc.pid, rpc, lambda i: get_request,
                                               expect(200, b'"cust-000042"'), warmup, measured)
        ours_hook, hook_dump = grind.per_request(service.proc.pid, webhook, lambda i: signed_webhook(i, webhook),
                                         expect(200, b'"applied"'), warmup, measured)
        ours_idle = grind.idle_per_second(service.proc.pid)
    finally:
        service.stop()
        shutil.rmtree(data, ignore_errors=True)
    get_reply, hook_reply = reply_sizes[b'"cust-000042"'], reply_sizes[b'"applied"']

    nginx_grind = Callgrind()
    nginx_port = free_port()
    extra = (f"location = /rpc {{ default_type application/json; return 200 '{'x' * get_reply}'; }}\n"
             f"    location = /webhooks/digitalriver {{ default_type application/json; return 200 '{'x' * hook_reply}'; }}")
    nginx = start_nginx(nginx_port, get_reply, wrapper=nginx_grind.wrapper, extra_locations=extra, timeout=60)
    try:
        pid = nginx.proc.pid
        nginx_get, _ = nginx_grind.per_request(pid, nginx_port, lambda i: http_request("POST", "/rpc", nginx_port, get_body),
                                               expect(200, b"x"), warmup, measured)
        nginx_sized, _ = nginx_grind.per_request(pid, nginx_port, lambda i: http_request("GET", "/sized", nginx_port),
                                                 expect(200, b"x"), warmup, measured)
        nginx_hook, _ = nginx_grind.per_request(pid, nginx_port, lambda i: signed_webhook(i, nginx_port),
                                                expect(200, b"x"), warmup, measured)
    finally:
        nginx.stop()

    print(f"\nuser-space instructions per request (callgrind Ir, all threads; {warmup} warm-up then {measured} counted, "
          f"one keep-alive client)")
    # (label, ours, nginx, whether our figure is printed: the GET row repeats customer.get's for its ratio only)
    rows = [(f"customer.get cache hit ({get_reply}-byte reply; nginx: the same POST, same-sized body)", ours_get, nginx_get, True),
            ("  nginx instead: GET /sized, same-sized body (as in bench/run rpc)", ours_get, nginx_sized, False),
            ("signed webhook, applied and committed (nginx: the same POST, same-sized body)", ours_hook, nginx_hook, True)]
    print(f"  {'':80} {'ours':>8} {'nginx':>8} {'ratio':>6}")
    for label, ours, base, shown in rows:
        print(f"  {label:80} {f'{ours:8.0f}' if shown else ' ' * 8} {base:8.0f} {ours / base:6.2f}")
    print(f"  idle customer-cache: {ours_idle:.0f} instructions/s with no traffic (included above in proportion to run time)")
    top = int(os.environ.get("INSTR_TOP", "10"))
    for label, dump in (("customer.get", get_dump), ("signed webhook (all threads: loops and the store's writer)", hook_dump)):
        print(f"\n  {label}: top {top} functions by self cost, instructions per request")
        for cost, name, library in top_functions(dump, measured, count=top):
            print(f"  {cost:10.0f}  {name[:100]}  [{library}]")
    for directory in (grind.dir, nginx_grind.dir, os.path.dirname(binary)):
        shutil.rmtree(directory, ignore_errors=True)


def process_status(pid):
    """VmRSS (KiB) and thread count from /proc/PID/status, and each thread's name (comm) with how many share it."""
    status = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        status[key] = value.split()
    names = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{task}/comm").read().strip()
        except OSError:
            continue
        names[name] = names.get(name, 0) + 1
    return int(status["VmRSS"][0]), int(status["Threads"][0]), names


def idle_bench():
    """Idle footprint: `customer-cache serve` on an empty data dir, ready and left alone for IDLE_SETTLE_SECONDS (3),
    then VmRSS and Threads from /proc/PID/status and the threads by name; nginx (master + 1 worker, the same
    /proc figures summed) in the same run. Then RSS per cached customer: IDLE_CUSTOMERS (200,000) customers written
    into a store, served from a fresh start, minus the empty service's RSS, divided by the count. ROUNDS starts each;
    medians."""
    import bounded
    settle = float(os.environ.get("IDLE_SETTLE_SECONDS", "3"))
    customers = int(os.environ.get("IDLE_CUSTOMERS", "200000"))

    def settled(pid):
        time.sleep(settle)
        return process_status(pid)

    ours, names = [], {}
    for _ in range(ROUNDS):
        empty = tempfile.mkdtemp(prefix="bench-idle-")
        server, _, _ = bounded.serve(empty)
        try:
            rss, threads, names = settled(server.proc.pid)
            ours.append((rss, threads))
        finally:
            server.stop()
            shutil.rmtree(empty, ignore_errors=True)
    theirs = []
    for _ in range(ROUNDS):
        port = free_port()
        nginx = start_nginx(port, 16)
        try:
            time.sleep(settle)
            pids = [nginx.proc.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(nginx.proc.pid)], capture_output=True,
                                                                      text=True).stdout.split()]
            figures = [process_status(pid)[:2] for pid in pids]
            theirs.append((sum(f[0] for f in figures), sum(f[1] for f in figures), len(pids)))
        finally:
            nginx.stop()

    data = tempfile.mkdtemp(prefix="bench-idle-full-")
    server, _, _ = bounded.serve(data)
    server.stop()
    import sqlite3
    db = sqlite3.connect(os.path.join(data, "customers.sqlite"))
    db.execute("PRAGMA journal_mode=WAL")
    db.executemany("INSERT INTO customers (id, state, updated_us, event_us, stale, body) VALUES (?, 0, 1706745600000000, 1706745600000000, 0, ?)",
                   ((bounded.customer_id(i), bounded.body(i)) for i in range(customers)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    full = []
    try:
        for _ in range(ROUNDS):
            server, _, _ = bounded.serve(data)
            try:
                full.append(settled(server.proc.pid)[0])
            finally:
                server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)

    med = statistics.median
    rss, threads = med(r for r, _ in ours), med(t for _, t in ours)
    print(f"\nidle footprint, empty store, {settle:.0f} s after ready ({ROUNDS} starts each; medians; /proc/PID/status)")
    print(f"  customer-cache: VmRSS {rss / 1024:.1f} MiB, {threads:.0f} threads (per start: "
          f"{', '.join(f'{r / 1024:.1f} MiB/{t}' for r, t in ours)})")
    print(f"  nginx (master + 1 worker, summed): VmRSS {med(r for r, _, _ in theirs) / 1024:.1f} MiB, "
          f"{med(t for _, t, _ in theirs):.0f} threads in {theirs[0][2]} processes")
    print(f"  ratio customer-cache/nginx RSS: {rss / med(r for r, _, _ in theirs):.2f}")
    print("  customer-cache threads by name: " + ", ".join(f"{name} x{count}" if count > 1 else name
                                                          for name, count in sorted(names.items())))
    per_customer = (med(full) - rss) * 1024 / customers
    print(f"  RSS per cached customer: {per_customer:.0f} B ({customers} customers loaded at start: VmRSS "
          f"{med(full) / 1024:.1f} MiB minus the empty service's)")


def soak():
    port = free_port()
    ours = Server([os.path.join(RELEASE, "http-bench-server"), f"127.0.0.1:{port}"], port)
    try:
        wrk(f"http://127.0.0.1:{port}/small", connections=256, duration=5)
        rss_before = rss_kib(ours.proc.pid)
        result = wrk(f"http://127.0.0.1:{port}/small", connections=256, duration=60)
        rss_after = rss_kib(ours.proc.pid)
        print(f"\nsoak: 60 s, wrk -t2 -c256, small GET: {result['rps']:.0f} req/s, p99 {result['p99']:.2f} ms, "
              f"socket errors: {result['errors']}, non-2xx: {result['non2xx']}")
        print(f"  RSS after 5 s warm-up {rss_before} KiB, after 60 s more {rss_after} KiB (delta {rss_after - rss_before:+d} KiB)")
    finally:
        ours.stop()


class LocalPostgres:
    """A throwaway server from scripts/postgres (fsync and synchronous_commit on) and a fresh schema per use."""

    def __init__(self):  # noqa: D107
        import re
        started = subprocess.run(["scripts/postgres", "start"], capture_output=True, text=True, check=True).stdout
        env_vars = dict(re.findall(r"export (\w+)=(\S+)", started))
        self.dir, self.url = env_vars["CUSTOMER_CACHE_TEST_PG_DIR"], env_vars["CUSTOMER_CACHE_TEST_DATABASE_URL"]
        self.password = open(env_vars["CUSTOMER_CACHE_TEST_DATABASE_PASSWORD_FILE"]).read().strip()
        self.env = dict(os.environ, PGPASSWORD=self.password)
        self.schemas = 0

    def schema(self, table_sql=""):
        """A new schema (plus `table_sql`, where {schema} is its name); the URL that makes it every session's search path."""
        self.schemas += 1
        schema = f"bench_{self.schemas}_{os.getpid()}"
        subprocess.run(["psql", "-q", self.url, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; {table_sql.format(schema=schema)}"],
                       env=self.env, check=True)
        return self.url + f"?options=-csearch_path%3D{schema}", schema

    def serve(self, schema_url, binary=None):
        return start_service({"CUSTOMER_CACHE_DATABASE_PASSWORD": self.password}, ("--database-url", schema_url), binary=binary)

    def stop(self):
        subprocess.run(["scripts/postgres", "stop", self.dir], check=False)


def commit_stats(rpc_port):
    """Grouped commits so far and the operations they held, from the service's /metrics."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{rpc_port}/metrics", timeout=10).read().decode()
    def value(name):
        found = re.search(rf"(?m)^{name} ([0-9.e+]+)$", text)
        return float(found.group(1)) if found else 0.0
    return value("customer_cache_store_commit_seconds_count"), value("customer_cache_store_committed_operations_total")


def postgres_bench():
    """Webhook ingest with durable acks on a PostgreSQL store (scripts/postgres: a local server, fsync and
    synchronous_commit on) vs the same server's one-INSERT-per-transaction rate measured with pgbench in the same run.
    The two alternate: each round runs pgbench with 1 client (synchronous_commit on, a table shaped like
    processed_events) right before the service, and the ratio is reported per round pair, since the machine's load
    moves both. BENCH_BASELINE_BINARY=path runs an older customer-cache build through the same load in every round
    too, right after this build, against the same pgbench round. BENCH_PG_MANY_CLIENTS=1 adds a 64-client pgbench."""
    baseline_binary = os.environ.get("BENCH_BASELINE_BINARY")
    pg = LocalPostgres()
    bin_dir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    pgbench = os.path.join("/usr/lib/postgresql", bin_dir, "bin", "pgbench")
    script = os.path.join(tempfile.mkdtemp(prefix="bench-pg-"), "insert.sql")
    open(script, "w").write("INSERT INTO bench_one (id, received_s) VALUES (:client_id::text || '-' || random(), 0);\n")
    pg_env = dict(pg.env, PGOPTIONS="-c synchronous_commit=on")

    def pgbench_tps(clients):
        schema_url, _ = pg.schema("CREATE TABLE {schema}.bench_one (id text PRIMARY KEY, received_s bigint NOT NULL); "
                                  "CREATE INDEX ON {schema}.bench_one (received_s)")
        out = subprocess.run([pgbench, "-n", "-f", script, "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(DURATION), schema_url],
                             capture_output=True, text=True, env=pg_env).stdout
        return float(re.search(r"tps = ([0-9.]+)", out).group(1))

    def service_round(binary):
        schema_url, _ = pg.schema()
        service, webhook, rpc, data = pg.serve(schema_url, binary)
        try:
            cpu_before, (commits_before, operations_before) = cpu_seconds(service.proc.pid), commit_stats(rpc)
            load = signed_webhook_load(webhook)
            commits, operations = commit_stats(rpc)
            commits, operations = commits - commits_before, operations - operations_before
            load["mean_batch"] = operations / commits if commits else 0.0
            load["cpu_us_per_event"] = (cpu_seconds(service.proc.pid) - cpu_before) * 1e6 / max(1, operations)
            return load
        finally:
            service.stop()
            shutil.rmtree(data, ignore_errors=True)

    builds = {None: []}
    if baseline_binary:
        builds[baseline_binary] = []
    singles, concurrent = [], []
    try:
        for _ in range(ROUNDS):
            singles.append(pgbench_tps(1))
            for binary, rows in builds.items():
                rows.append(service_round(binary))
            if os.environ.get("BENCH_PG_MANY_CLIENTS") == "1":
                concurrent.append(pgbench_tps(CONNECTIONS))
    finally:
        pg.stop()
    single = statistics.median(singles)
    print(f"\nsigned webhooks, durable acks on PostgreSQL ({ROUNDS} rounds x {DURATION}s, {CONNECTIONS} keep-alive senders; medians)")
    print(f"  same server, pgbench -c1 one INSERT per transaction (synchronous_commit on), right before each round: "
          f"median {single:.0f} tps (per round: {', '.join('%.0f' % x for x in singles)})")
    if concurrent:
        print(f"  pgbench with {CONNECTIONS} clients after each round: median {statistics.median(concurrent):.0f} tps")
    for binary, rows in builds.items():
        eps = statistics.median(r["events_per_second"] for r in rows)
        p50 = statistics.median(r["p50_ms"] for r in rows)
        p99 = statistics.median(r["p99_ms"] for r in rows)
        bad = sum(sum(v for k, v in r["statuses"].items() if k != "200") for r in rows)
        ratios = [r["events_per_second"] / s for r, s in zip(rows, singles)]
        print(f"  {'this build' if binary is None else 'baseline ' + binary}: {eps:.0f} events/s applied "
              f"(per round: {', '.join('%.0f' % r['events_per_second'] for r in rows)}), p50 {p50:.2f} ms, p99 {p99:.2f} ms, non-200: {bad}")
        print(f"    ratio to the same round's pgbench -c1: median {statistics.median(ratios):.1f}x (per round {', '.join('%.1f' % x for x in ratios)})")
        print(f"    mean group commit {statistics.median(r['mean_batch'] for r in rows):.1f} events (per round "
              f"{', '.join('%.1f' % r['mean_batch'] for r in rows)}); service cpu {statistics.median(r['cpu_us_per_event'] for r in rows):.0f} us/event")


def postgres_cpu_seconds(data_dir):
    """CPU of a PostgreSQL cluster so far: the postmaster, its live children, and the children it already reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    postmaster = int(open(os.path.join(data_dir, "postmaster.pid")).readline())
    total = 0.0
    pids = [postmaster] + [int(p) for p in subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()]
    for p in pids:
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in ((11, 12, 13, 14) if p == postmaster else (11, 12))) / tick
        except OSError:
            pass
    return total


def pg_instructions_bench():
    """Instructions per applied webhook on PostgreSQL under callgrind (stripped release binary, all threads), the
    same figure however loaded the machine is: PG_INSTR_WARMUP events, counters zeroed, PG_INSTR_EVENTS more, from
    one keep-alive sender (one event per transaction) and then from 32 at once (group commit; the mean batch is
    printed). BENCH_BASELINE_BINARY=path counts an older build the same way. Also the PostgreSQL cluster's CPU per
    event over the counted part, and this build's top functions by self cost for the 32-sender load."""
    import threading
    warmup = int(os.environ.get("PG_INSTR_WARMUP", "1000"))
    measured = int(os.environ.get("PG_INSTR_EVENTS", "4000"))
    builds = [("this build", os.path.join(RELEASE, "customer-cache"))]
    if os.environ.get("BENCH_BASELINE_BINARY"):
        builds.append((f"baseline {os.environ['BENCH_BASELINE_BINARY']}", os.environ["BENCH_BASELINE_BINARY"]))
    pg = LocalPostgres()
    pg_dir = next(os.path.join(pg.dir, d) for d in ("data", "") if os.path.exists(os.path.join(pg.dir, d, "postmaster.pid")))
    results = []
    try:
        for label, source in builds:
            binary = os.path.join(tempfile.mkdtemp(prefix="bench-stripped-"), "customer-cache")
            shutil.copy2(source, binary)
            subprocess.run(["strip", "--strip-debug", binary], check=True)
            grind = Callgrind()
            schema_url, _ = pg.schema()
            service, webhook, rpc, data = start_service({"CUSTOMER_CACHE_DATABASE_PASSWORD": pg.password}, ("--database-url", schema_url),
                                                        wrapper=grind.wrapper, binary=binary, timeout=180)
            counter = iter(range(10**9))
            lock = threading.Lock()

            def send(clients, per_client):
                def one():
                    client = KeepAliveClient(webhook)
                    try:
                        for _ in range(per_client):
                            with lock:
                                i = next(counter)
                            status, body = client.exchange(signed_webhook(i, webhook))
                            if status != 200 or b'"applied"' not in body:
                                raise RuntimeError(f"webhook {i}: {status} {body[:200]!r}")
                    finally:
                        client.close()
                threads = [threading.Thread(target=one) for _ in range(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            row = {"label": label}
            try:
                send(1, warmup)
                for name, clients in (("serial", 1), ("concurrent", 32)):
                    commits0, ops0 = commit_stats(rpc)
                    pg0 = postgres_cpu_seconds(pg_dir)
                    total, path = grind.count(service.proc.pid, lambda: send(clients, measured // clients))
                    commits1, ops1 = commit_stats(rpc)
                    events = (measured // clients) * clients
                    row[name] = (total / events, (ops1 - ops0) / max(1, commits1 - commits0), (postgres_cpu_seconds(pg_dir) - pg0) * 1e6 / events)
                    row[name + "_dump"], row[name + "_events"] = path, events
                row["top"] = top_functions(row["concurrent_dump"], row["concurrent_events"], 15) if not results else []
            finally:
                service.stop()
                shutil.rmtree(data, ignore_errors=True)
                shutil.rmtree(os.path.dirname(binary), ignore_errors=True)
            results.append((row, grind))
    finally:
        pg.stop()
    print(f"\nsigned webhooks applied on PostgreSQL: user-space instructions per event (callgrind Ir, all threads; {warmup} warm-up, "
          f"{measured} counted) and PostgreSQL CPU per event in the same span")
    for row, grind in results:
        for name, title in (("serial", "1 sender (a transaction per event)"), ("concurrent", "32 senders (group commit)")):
            ir, batch, pg_us = row[name]
            print(f"  {row['label']}, {title}: {ir:,.0f} Ir/event, mean batch {batch:.1f}, PostgreSQL {pg_us:.0f} us cpu/event")
    for row, grind in results:
        if row["top"]:
            print(f"\n  {row['label']}, 32 senders: top functions by self cost, instructions per event")
            for cost, name, library in row["top"]:
                print(f"  {cost:10.0f}  {name[:110]}  [{library}]")
        shutil.rmtree(grind.dir, ignore_errors=True)


def propagation_bench():
    """Cross-replica propagation: two `serve` replicas on one PostgreSQL schema, signed webhooks into replica A at a
    steady BENCH_PROPAGATION_RATE events/s (default 5,000) from 256 paced senders, and ~100 sampled events/s watched on
    replica B through customer.get (polled every millisecond from A's 200 until B returns the new version).
    BENCH_BASELINE_BINARY=path runs an older build's pair of replicas through the same load in every round too."""
    import json
    rate = int(os.environ.get("BENCH_PROPAGATION_RATE", "5000"))
    baseline_binary = os.environ.get("BENCH_BASELINE_BINARY")
    pg = LocalPostgres()
    builds = {None: []}
    if baseline_binary:
        builds[baseline_binary] = []
    try:
        for _ in range(ROUNDS):
            for binary, rounds in builds.items():
                schema_url, _ = pg.schema()
                replica_a = pg.serve(schema_url, binary)
                replica_b = pg.serve(schema_url, binary)
                try:
                    out = subprocess.run([os.path.join(RELEASE, "customer-cache-bench"), "propagation", f"127.0.0.1:{replica_a[1]}",
                                          f"127.0.0.1:{replica_b[2]}", str(rate), str(DURATION)], capture_output=True, text=True,
                                         env=dict(os.environ, BENCH_WEBHOOK_SECRET="bench-secret")).stdout
                    rounds.append(json.loads(out))
                finally:
                    for service, _, _, data in (replica_a, replica_b):
                        service.stop()
                        shutil.rmtree(data, ignore_errors=True)
    finally:
        pg.stop()
    print(f"\ncross-replica propagation on PostgreSQL ({ROUNDS} rounds x {DURATION}s, webhooks into replica A at {rate}/s, "
          f"customer.get on replica B; medians)")
    for binary, rounds in builds.items():
        med = lambda key: statistics.median(r[key] for r in rounds)
        bad = sum(sum(v for k, v in r["statuses"].items() if k != "200") for r in rounds)
        print(f"  {'this build' if binary is None else 'baseline ' + binary}: {med('events_per_second'):.0f} events/s acknowledged by A, "
              f"non-200: {bad}; {sum(r['samples'] for r in rounds)} samples, {sum(r['missed'] for r in rounds)} not seen on B within 5 s")
        print(f"    A's 200 -> visible on B: p50 {med('ack_p50_ms'):.2f} ms, p99 {med('ack_p99_ms'):.2f} ms "
              f"(per round p99: {', '.join('%.1f' % r['ack_p99_ms'] for r in rounds)})")
        print(f"    webhook sent to A -> visible on B: p50 {med('send_p50_ms'):.2f} ms, p99 {med('send_p99_ms'):.2f} ms")
        slow = [sample for r in rounds for sample in r.get("slow", [])]
        held = sum(1 for _, delay, _, gap in slow if gap > delay / 2)
        print(f"    samples over 10 ms: {len(slow)}, of which {held} spent over half their delay in one gap between the "
              f"poller's own requests (the bench not scheduled, not replica B behind)")


def bounded_bench():
    """Eviction policies on a Zipf trace, then customer.get with bounded memory (bench/bounded.py)."""
    out = subprocess.run([os.path.join(RELEASE, "customer-cache-bench"), "eviction"], capture_output=True, text=True, check=True).stdout
    result = __import__("json").loads(out)
    print(f"\neviction policies, one Zipf(s={result['zipf_s']}) trace of {result['requests']} reads over {result['customers']} customers, "
          f"memory {result['capacity']} (customer-cache-bench eviction; 3 alternating rounds, median ns)")
    for name in ("sieve", "lru", "fifo"):
        print(f"  {name:6} hit ratio {result[name]['hit_ratio']:.4f}  {result[name]['ns_per_read']:.0f} ns/read")
    import bounded
    bounded.run()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "http"
    scenarios = {"http": [http_bench], "soak": [soak], "rpc": [rpc_bench], "webhooks": [webhook_bench], "warm": [warm_bench],
                 "postgres": [postgres_bench, propagation_bench], "ingest": [postgres_bench], "pginstructions": [pg_instructions_bench],
                 "propagation": [propagation_bench], "instructions": [instructions_bench], "bounded": [bounded_bench],
                 "idle": [idle_bench]}
    scenarios["all"] = [f for name in ("http", "rpc", "webhooks", "warm", "soak", "instructions") for f in scenarios[name]]
    if mode not in scenarios:
        sys.exit(f"unknown scenario {mode}; one of {', '.join(scenarios)}")
    for scenario in scenarios[mode]:
        scenario()
