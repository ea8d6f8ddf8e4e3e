"""bench/run bounded: customer.get with memory bounded to 10 % of the customers, against the same run's unbounded baseline.

One SQLite store of BOUNDED_CUSTOMERS (1,000,000) customers is written once; then, each round, the same build serves it
unbounded (every customer in memory: the baseline) and with --max-cached-customers at 10 %, under uniform ids and
under Zipf(BOUNDED_ZIPF_S, 0.99) ids, with wrk. Reported: req/s, p50/p99, the ratio to the same round's unbounded
run, the hit ratio from /metrics (customer_cache_memory_hits_total vs _misses_total), and RSS per customer
(unbounded RSS minus an empty service's, divided by the customer count; BENCH_BASELINE_BINARY also measures an older
build's, on the same store).
"""
import json, os, shutil, sqlite3, statistics, subprocess, tempfile, time, urllib.request

import bench
from local import free_port, wait_port, wait_ready

CUSTOMERS = int(os.environ.get("BOUNDED_CUSTOMERS", "1000000"))
ZIPF_S = float(os.environ.get("BOUNDED_ZIPF_S", "0.99"))
LIMIT = CUSTOMERS // 10


def customer_id(i):
    return f"cust-{i:07d}"


def body(i):
    customer = bench.synthetic_customer(i)
    customer["id"] = customer_id(i)
    return json.dumps(customer, separators=(",", ":")).encode()


def serve(data, args=(), binary=None, timeout=600):
    webhook, rpc = free_port(), free_port()
    env = dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS="bench-secret")
    server = bench.Server([binary or os.path.join(bench.RELEASE, "customer-cache"), "serve", "--webhook-listen", f"127.0.0.1:{webhook}",
                           "--rpc-listen", f"127.0.0.1:{rpc}", "--data-dir", data, "--log-level", "warning", *args], rpc, env=env, timeout=timeout)
    started = time.time()
    wait_ready(rpc, timeout)
    return server, rpc, time.time() - started


def make_store():
    """Creates the schema through the service itself, then bulk-inserts the customers (one transaction)."""
    data = tempfile.mkdtemp(prefix="bench-bounded-")
    server, _, _ = serve(data)
    server.stop()
    started = time.time()
    db = sqlite3.connect(os.path.join(data, "customers.sqlite"))
    db.execute("PRAGMA journal_mode=WAL")
    db.executemany("INSERT INTO customers (id, state, updated_us, event_us, stale, body) VALUES (?, 0, 1706745600000000, 1706745600000000, 0, ?)",
                   ((customer_id(i), body(i)) for i in range(CUSTOMERS)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"  store: {CUSTOMERS} customers written in {time.time() - started:.1f} s", flush=True)
    return data


def lua_script(distribution):
    """wrk script: each request a customer.get of a random id, uniform or Zipf (inverse CDF, ranks scattered over ids)."""
    path = os.path.join(tempfile.mkdtemp(prefix="bench-wrk-"), f"{distribution}.lua")
    zipf = distribution == "zipf"
    open(path, "w").write(f"""
local n = {CUSTOMERS}
local cdf = nil
function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  if {str(zipf).lower()} then
    cdf = {{}}
    local total = 0
    for rank = 1, n do total = total + 1 / (rank ^ {ZIPF_S}); cdf[rank] = total end
    for rank = 1, n do cdf[rank] = cdf[rank] / total end
  end
end
local function pick()
  if cdf == nil then return math.random(0, n - 1) end
  local target = math.random()
  local low, high = 1, n
  while low < high do
    local middle = math.floor((low + high) / 2)
    if cdf[middle] < target then low = middle + 1 else high = middle end
  end
  return ((low - 1) * 7919) % n
end
request = function()
  local id = string.format("cust-%07d", pick())
  return wrk.format("POST", "/rpc", {{["Content-Type"] = "application/json"}},
    '{{"jsonrpc":"2.0","method":"customer.get","params":{{"id":"' .. id .. '"}},"id":1}}')
end
""")
    return path


def counters(rpc):
    text = urllib.request.urlopen(f"http://127.0.0.1:{rpc}/metrics", timeout=10).read().decode()
    values = {"hits": 0, "misses": 0}
    for line in text.splitlines():
        if line.startswith("customer_cache_memory_hits_total "):
            values["hits"] += int(float(line.split()[-1]))
        elif line.startswith("customer_cache_memory_misses_total{"):
            values["misses"] += int(float(line.split()[-1]))
    return values


def load(server, rpc, script):
    before = counters(rpc)
    result = bench.measure(server, f"http://127.0.0.1:{rpc}/rpc", script)
    after = counters(rpc)
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    result["hit_ratio"] = hits / max(hits + misses, 1)
    return result


def rss_per_customer(data, binary=None):
    empty = tempfile.mkdtemp(prefix="bench-empty-")
    server, _, _ = serve(empty, binary=binary)
    base = bench.rss_kib(server.proc.pid)
    server.stop()
    shutil.rmtree(empty, ignore_errors=True)
    server, _, seconds = serve(data, binary=binary)
    full = bench.rss_kib(server.proc.pid)
    server.stop()
    return (full - base) * 1024 / CUSTOMERS, seconds


def run():
    print(f"\ncustomer.get, memory bounded to {LIMIT} of {CUSTOMERS} customers vs unbounded (same build, same store), "
          f"{bench.ROUNDS} rounds x {bench.DURATION}s, wrk -t2 -c{bench.CONNECTIONS}; Zipf s={ZIPF_S}", flush=True)
    data = make_store()
    scripts = {name: lua_script(name) for name in ("uniform", "zipf")}
    rows = {(mode, dist): [] for mode in ("unbounded", "bounded") for dist in scripts}
    try:
        for _ in range(bench.ROUNDS):
            for mode, args in (("unbounded", ()), ("bounded", ("--max-cached-customers", str(LIMIT)))):
                server, rpc, seconds = serve(data, args)
                try:
                    for dist, script in scripts.items():
                        result = load(server, rpc, script)
                        result["start_s"] = seconds
                        result["rss_kib"] = bench.rss_kib(server.proc.pid)
                        rows[(mode, dist)].append(result)
                finally:
                    server.stop()
        med = lambda mode, dist, key: statistics.median(r[key] for r in rows[(mode, dist)])
        print(f"  {'':22} {'req/s':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'hit ratio':>9} {'RSS MiB':>8} {'start s':>7} {'errors':>6}")
        for dist in scripts:
            for mode in ("unbounded", "bounded"):
                ratios = [b["rps"] / u["rps"] for b, u in zip(rows[(mode, dist)], rows[("unbounded", dist)])]
                errors = sum(1 for r in rows[(mode, dist)] if r["errors"] != "none" or r["non2xx"])
                print(f"  {mode + ' ' + dist:22} {med(mode, dist, 'rps'):9.0f} {statistics.median(ratios):6.2f} {med(mode, dist, 'p50'):7.2f} "
                      f"{med(mode, dist, 'p99'):7.2f} {med(mode, dist, 'hit_ratio'):9.3f} {med(mode, dist, 'rss_kib') / 1024:8.0f} "
                      f"{med(mode, dist, 'start_s'):7.1f} {errors:6d}")
            per_round = [b["rps"] / u["rps"] for b, u in zip(rows[("bounded", dist)], rows[("unbounded", dist)])]
            print(f"    bounded/unbounded per round ({dist}): {', '.join(f'{r:.2f}' for r in per_round)}")
        per_customer, seconds = rss_per_customer(data)
        print(f"  RSS per cached customer (unbounded, minus an empty service): {per_customer:.0f} B (this build; loaded in {seconds:.1f} s)")
        baseline = os.environ.get("BENCH_BASELINE_BINARY")
        if baseline:
            per_customer, seconds = rss_per_customer(data, binary=baseline)
            print(f"  RSS per cached customer: {per_customer:.0f} B (baseline {baseline}; loaded in {seconds:.1f} s)")
    finally:
        shutil.rmtree(data, ignore_errors=True)
