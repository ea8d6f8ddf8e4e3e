"""Runs the service, drives webhooks and JSON-RPC calls until every declared metric family has samples, and passes
`/metrics` through `promtool check metrics` (Prometheus' own linter); run via scripts/check-metrics.

Two services run: one on the --sandbox emulator (read-throughs, creates, forgets delivered), and one whose upstream
is a stub that refuses every request with 401, so a forget is refused for good and
customer_cache_forget_refusals_total gets its first series. Each scrape must be promtool-clean; together they must
give every family README's metrics table lists at least one sample. Python 3 standard library only.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from local import ServeProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("CHECK_METRICS_BINARY", ROOT / ".build" / "debug" / "customer-cache"))
SECRET = "check-metrics-secret"
failures = []


def expect(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


class Service(ServeProcess):
    """One customer-cache process on free loopback ports, stopped (SIGTERM) on exit."""

    def __init__(self, name, *args, env=None):
        super().__init__(BINARY, f"check-metrics-{name}", SECRET, *args, env=env)

    def call(self, method, params):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.rpc}/rpc", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def webhook_event(self, event, secret=SECRET, timestamp=None):
        body = json.dumps(event).encode() if isinstance(event, dict) else event
        timestamp = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
        request = urllib.request.Request(f"http://127.0.0.1:{self.webhook}/webhooks/digitalriver", body, {
            "Content-Type": "application/json", "DigitalRiver-Signature": f"{timestamp}, {base64.b64encode(mac).decode()}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rpc}/metrics", timeout=10) as response:
            return response.read().decode()



def event(event_id, kind, obj, live_mode=False):
    return {"id": event_id, "type": kind, "liveMode": live_mode, "createdTime": "2024-01-01T00:00:01Z", "data": {"object": obj}}


def customer(customer_id, updated="2024-01-01T00:00:00Z"):
    return {"id": customer_id, "email": "metrics@example.com", "createdTime": "2024-01-01T00:00:00Z", "updatedTime": updated}


def drive_sandbox(service):
    statuses = [
        service.webhook_event(event("m-1", "customer.created", customer("m-c1"))),                      # applied
        service.webhook_event(event("m-1", "customer.created", customer("m-c1"))),                      # duplicate
        service.webhook_event(event("m-2", "order.accepted", {"id": "o-1"})),                          # ignored_type
        service.webhook_event(event("m-3", "customer.updated", customer("m-c2"), live_mode=True)),     # wrong_mode
        service.webhook_event(b'{"id":"m-4"}'),                                                         # malformed_event
        service.webhook_event(event("m-5", "customer.created", customer("m-c3")), secret="wrong"),      # bad_signature
        service.webhook_event(event("m-6", "customer.created", customer("m-c3")), timestamp=int(time.time()) - 7200),
        service.webhook_event(event("m-7", "customer.deleted", {"id": "m-c1"})),                        # deleted
    ]
    expect(statuses == [200, 200, 200, 400, 400, 401, 401, 200], f"sandbox: webhooks answered {statuses}")
    answers = [
        service.call("customer.get", {"id": "cust-000001"}),                                 # read_through
        service.call("customer.get", {"id": "cust-000001"}),                                 # cache_hit
        service.call("customer.get", {"id": "cust-000002", "consistency": "store"}),         # store, then read-through
        service.call("customer.get", {"id": "nobody"}),                                       # not_found (upstream 404)
        service.call("customer.get", {"id": "m-c1"}),                                         # gone
        service.call("customer.ensure", {"id": "m-new", "email": "new@example.com"}),        # created
        service.call("customer.ensure", {"id": "m-new"}),                                     # existing
        service.call("customer.forget", {"id": "cust-000003"}),                               # forgotten, delivered
        service.call("cache.load", {"customers": [customer("m-load-1"), customer("m-load-2")]}),
    ]
    errors = [answer.get("error", {}).get("data", {}).get("error") for answer in answers]
    expect(errors == [None, None, None, "customer_not_found", "customer_gone", None, None, None, None],
           f"sandbox: calls answered as expected {errors}")


class RefusingDigitalRiver(http.server.BaseHTTPRequestHandler):
    """Answers every request 401 with Digital River's error shape: a permanent refusal, never an outage."""

    def refuse(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"type": "unauthorized", "errors": [{"code": "unauthorized", "message": "no such key"}]}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = refuse

    def log_message(self, *args):
        pass


def drive_refusing(service):
    answer = service.call("customer.forget", {"id": "m-refused"})
    expect(answer.get("result", {}).get("upstream") == "parked", f"refusing upstream: forget is parked ({answer})")


def check(name, text):
    """promtool's lint, plus what it does not check: HELP and TYPE for every family, a sample under its own family."""
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    expect(result.returncode == 0, f"{name}: promtool check metrics is clean{': ' + output if output else ''}")
    helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    expect(set(types) == helps, f"{name}: every family has both HELP and TYPE {sorted(set(types) ^ helps)}")
    sampled = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            base = re.sub(r"_(bucket|sum|count)$", "", series)
            family = base if types.get(base) == "histogram" else series
            if family not in types:
                expect(False, f"{name}: {series} has no HELP and TYPE of its own family")
            sampled.add(family)
    return set(types), sampled


def readme_families():
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def main():
    if not BINARY.exists():
        sys.exit(f"check-metrics: {BINARY} is missing (swift build --product customer-cache)")
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RefusingDigitalRiver)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    services = []
    try:
        services.append(Service("sandbox", "--sandbox", "--sandbox-seed", "10"))
        services.append(Service("refusing", "--upstream-url", f"http://127.0.0.1:{stub.server_address[1]}",
                                "--upstream-timeout-ms", "2000", env={"DR_API_KEY": "sk_test_check_metrics_0123456789"}))
        sandbox, refusing = services
        drive_sandbox(sandbox)
        drive_refusing(refusing)
        declared, sampled = set(), set()
        for name, service in [("sandbox", sandbox), ("refusing", refusing)]:
            families, with_samples = check(name, service.metrics())
            declared |= families
            sampled |= with_samples
        expect(declared == readme_families(), f"/metrics lists exactly README's families {sorted(declared ^ readme_families())}")
        expect(declared <= sampled, f"every family has samples {sorted(declared - sampled)}")
    finally:
        for service in services:
            service.stop()
        stub.shutdown()
    if failures:
        print(f"check-metrics: {len(failures)} check(s) failed")
        sys.exit(1)
    print("check-metrics: all checks passed")


if __name__ == "__main__":
    main()
