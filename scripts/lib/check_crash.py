"""Crash consistency (see scripts/check-crash): concurrent signed webhooks and forgets against a real
`customer-cache serve`, SIGKILL at a random moment, restart on the same data directory, and check that every
change the service acknowledged survived: the newest acknowledged version of every customer (or a newer one),
every acknowledged forget still forgotten with its email in no file, and every acknowledged event id still a
duplicate. Bounded: CRASH_CYCLES cycles (default 6) of at most CRASH_LOAD_SECONDS (default 4) of load each."""
import base64, hashlib, hmac, http.client, json, os, random, signal, subprocess, sys, tempfile, threading, time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local import free_port, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("CHECK_CRASH_BINARY", os.path.join(ROOT, ".build", "debug", "customer-cache"))
SECRET = "crash-test-secret"
BASE_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)
WEBHOOK_SENDERS = 4
CUSTOMERS_PER_SENDER = 25


def iso(seconds):
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(body):
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return f"{timestamp}, {base64.b64encode(digest).decode()}"


def event_body(event_id, kind, customer_id, version, email):
    return json.dumps({"id": event_id, "type": kind, "liveMode": False, "createdTime": iso(version),
                       "data": {"object": {"id": customer_id, "email": email, "updatedTime": iso(version)}}},
                      separators=(",", ":")).encode()


class Ledger:
    """What the service acknowledged; only acknowledged changes are promised to survive a SIGKILL."""

    def __init__(self):
        self.lock = threading.Lock()
        self.versions = {}        # customer id -> newest acknowledged version
        self.forgotten = {}       # customer id -> its email (must be in no file once the purge is complete)
        self.events = []          # (event id, body) acknowledged, for redelivery
        self.next_version = {}    # customer id -> next version to send (survives restarts)
        self.acknowledged = 0


class Service:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.webhook_port, self.rpc_port = free_port(), free_port()
        env = dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS=SECRET)
        self.log = open(os.path.join(os.path.dirname(data_dir), "service.log"), "a")
        self.process = subprocess.Popen([BINARY, "serve", "--webhook-listen", f"127.0.0.1:{self.webhook_port}",
                                         "--rpc-listen", f"127.0.0.1:{self.rpc_port}", "--data-dir", data_dir,
                                         "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        wait_ready(self.webhook_port, timeout=60)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code


def post(connection, path, body, headers):
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


def rpc(port, method, params):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
        status, answer = post(connection, "/rpc", body, {"Content-Type": "application/json"})
        return json.loads(answer) if status == 200 else {"http": status}
    finally:
        connection.close()


def send_webhook(connection, event_id, kind, customer_id, version, email):
    body = event_body(event_id, kind, customer_id, version, email)
    status, _ = post(connection, "/webhooks/digitalriver", body,
                     {"Content-Type": "application/json", "DigitalRiver-Signature": sign(body)})
    return status == 200, body


def webhook_sender(index, ledger, port, stop, cycle):
    """Owns its customers, so versions per customer rise in the order they are sent."""
    customers = [f"crash-{index}-{n:02d}" for n in range(CUSTOMERS_PER_SENDER)]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sequence = 0
    while not stop.is_set():
        customer = random.choice(customers)
        with ledger.lock:
            version = ledger.next_version.get(customer, 1)
            ledger.next_version[customer] = version + 1
        event_id = f"evt-{customer}-{version}"
        sequence += 1
        try:
            acknowledged, body = send_webhook(connection, event_id, "customer.updated", customer, version,
                                              f"{customer}-v{version}@example.com")
        except OSError:
            return  # the service was killed mid-request: nothing unacknowledged is promised
        except http.client.HTTPException:
            return
        if acknowledged:
            with ledger.lock:
                ledger.acknowledged += 1
                ledger.versions[customer] = max(ledger.versions.get(customer, 0), version)
                if sequence % 7 == 0:
                    ledger.events.append((event_id, body))


def forgetter(ledger, port, rpc_port, stop, cycle):
    """Creates a customer by webhook, then forgets it over JSON-RPC; only a complete purge is recorded."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    number = 0
    while not stop.is_set():
        number += 1
        customer = f"forget-{cycle}-{number}"
        email = f"{customer}-secret-pii@example.com"
        try:
            created, _ = send_webhook(connection, f"evt-{customer}", "customer.created", customer, 1, email)
            if not created:
                continue
            answer = rpc(rpc_port, "customer.forget", {"id": customer})
        except (OSError, http.client.HTTPException, ValueError):
            return
        result = answer.get("result") or {}
        if result.get("forgotten") is True and result.get("purge") == "complete":
            with ledger.lock:
                ledger.forgotten[customer] = email
                ledger.acknowledged += 1


def verify(ledger, service, cycle):
    failures = []
    with ledger.lock:
        versions = dict(ledger.versions)
        forgotten = dict(ledger.forgotten)
        events = list(ledger.events)
    for customer, version in versions.items():
        answer = rpc(service.rpc_port, "customer.get", {"id": customer})
        stored = (answer.get("result") or {}).get("updatedTime")
        if stored is None or stored < iso(version):
            failures.append(f"{customer}: acknowledged version {iso(version)}, stored {stored or answer}")
    for customer in forgotten:
        code = (answer := rpc(service.rpc_port, "customer.get", {"id": customer})).get("error", {}).get("code")
        if code != -31002:
            failures.append(f"{customer}: forgotten but customer.get answered {answer}")
    blobs = b""
    for name in os.listdir(service.data_dir):
        path = os.path.join(service.data_dir, name)
        if os.path.isfile(path):
            blobs += open(path, "rb").read()
    for customer, email in forgotten.items():
        if email.encode() in blobs:
            failures.append(f"{customer}: forgotten, yet its email is still in a file of the data directory")
    connection = http.client.HTTPConnection("127.0.0.1", service.webhook_port, timeout=10)
    for event_id, body in random.sample(events, min(20, len(events))):
        status, answer = post(connection, "/webhooks/digitalriver", body,
                              {"Content-Type": "application/json", "DigitalRiver-Signature": sign(body)})
        if status != 200 or json.loads(answer).get("status") != "duplicate":
            failures.append(f"redelivered {event_id}: {status} {answer[:80]!r}, expected duplicate")
    connection.close()
    print(f"check-crash: cycle {cycle}: {len(versions)} customers at their acknowledged version, "
          f"{len(forgotten)} forgets, {min(20, len(events))} redeliveries checked; {len(failures)} problem(s)")
    return failures


def main():
    cycles = int(os.environ.get("CRASH_CYCLES", "6"))
    load_seconds = float(os.environ.get("CRASH_LOAD_SECONDS", "4"))
    random.seed(os.environ.get("CRASH_SEED", str(time.time())))
    work = tempfile.mkdtemp(prefix="check-crash-")
    data_dir = os.path.join(work, "data")
    ledger = Ledger()
    failures = []
    service = Service(data_dir)
    for cycle in range(1, cycles + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=webhook_sender, args=(i, ledger, service.webhook_port, stop, cycle))
                   for i in range(WEBHOOK_SENDERS)]
        threads.append(threading.Thread(target=forgetter, args=(ledger, service.webhook_port, service.rpc_port, stop, cycle)))
        for thread in threads:
            thread.start()
        time.sleep(random.uniform(0.5, load_seconds))
        service.kill()  # mid-load: requests in flight are cut off, unacknowledged ones are not promised
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        service = Service(data_dir)
        failures += verify(ledger, service, cycle)
    code = service.stop()
    if code != 0:
        failures.append(f"the last service exited {code} on SIGTERM")
    print(f"check-crash: {cycles} SIGKILLs, {ledger.acknowledged} acknowledged changes")
    for failure in failures[:30]:
        print("FAIL " + failure)
    if failures:
        print(f"check-crash: {len(failures)} acknowledged change(s) lost or wrong; logs in {work}")
        sys.exit(1)
    print("check-crash: every acknowledged change survived")


if __name__ == "__main__":
    main()
