"""Drives every JSON-RPC method through real PyPI clients against a running service; run via scripts/check-clients.

Clients (pinned in scripts/check-clients): jsonrpcclient 4 + requests, tinyrpc 1.1, jsonrpclib-pelix 1.2 and
jsonrpc-requests 0.4. Each makes single calls of every method, a batch (where the client can), notifications,
and provokes every error code that can be reached from outside. Every exchange that goes through `requests` is
recorded and validated: with openapi-core against openapi/openapi.yaml, and against openrpc.json's result and
error-data schemas with jsonschema. Three services run: one with the --sandbox upstream, one cache-only, and one
with caller tokens. Exits non-zero on the first broken expectation, printing what each client did.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import requests
import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

sys.path.insert(0, str(Path(__file__).parent))
from local import ServeProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("CHECK_CLIENTS_BINARY", ROOT / ".build" / "debug" / "customer-cache"))
OPENAPI = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text())
OPENRPC = json.loads((ROOT / "openapi" / "openrpc.json").read_text())
REGISTRY = Registry().with_resource("urn:openrpc", Resource.from_contents(OPENRPC, default_specification=DRAFT7))
METHOD_INDEX = {method["name"]: index for index, method in enumerate(OPENRPC["methods"])}
ERROR_NAMES = {error["code"]: name for name, error in OPENRPC["components"]["errors"].items()}

exchanges = []   # (PreparedRequest, Response) of every requests-based call, validated at the end
reached = {}     # client -> set of error codes it saw
failures = []


def expect(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


_send = requests.Session.send


def recording_send(self, request, **kwargs):
    response = _send(self, request, **kwargs)
    exchanges.append((request, response))
    return response


requests.Session.send = recording_send


class Service(ServeProcess):
    """One customer-cache process on free loopback ports, stopped (SIGTERM) on exit."""

    def __init__(self, name, *args, env=None):
        # Environment keys other than the service's own are never a DR key here: the checks must not reach Digital River.
        super().__init__(BINARY, f"check-clients-{name}", "check-clients-secret", *args,
                         env={key: value for key, value in (env or {}).items() if key != "DR_API_KEY"})
        self.name = name
        self.port = self.rpc
        self.url = f"http://127.0.0.1:{self.port}/rpc"


# MARK: the four clients behind one small interface: call, notify, batch (None when the client has no batches)

class JsonrpcclientDriver:
    name = "jsonrpcclient 4 + requests"

    def __init__(self, url, token=None):
        import jsonrpcclient
        self.lib, self.url = jsonrpcclient, url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method, **params):
        reply = self.lib.parse(requests.post(self.url, json=self.lib.request(method, params=params), headers=self.headers).json())
        return ("ok", reply.result) if isinstance(reply, self.lib.Ok) else ("error", reply.code, reply.data)

    def notify(self, method, **params):
        response = requests.post(self.url, json=self.lib.notification(method, params=params), headers=self.headers)
        return response.status_code, response.content

    def batch(self, calls):
        body = [self.lib.request(method, params=params) for method, params in calls]
        replies = self.lib.parse(requests.post(self.url, json=body, headers=self.headers).json())
        return [("ok", r.result) if isinstance(r, self.lib.Ok) else ("error", r.code, r.data) for r in replies]


class TinyrpcDriver:
    name = "tinyrpc 1.1"

    def __init__(self, url, token=None):
        from tinyrpc import RPCClient
        from tinyrpc.protocols.jsonrpc import JSONRPCProtocol
        from tinyrpc.transports.http import HttpPostClientTransport
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.protocol = JSONRPCProtocol()
        self.transport = HttpPostClientTransport(url, headers=headers)
        self.client = RPCClient(self.protocol, self.transport)

    def call(self, method, **params):
        from tinyrpc.exc import RPCError
        try:
            return ("ok", self.client.call(method, [], params))
        except RPCError as error:
            return ("error", getattr(error, "_jsonrpc_error_code", None), getattr(error, "data", None))

    def notify(self, method, **params):
        self.client.call(method, [], params, one_way=True)
        response = exchanges[-1][1]
        return response.status_code, response.content

    def batch(self, calls):
        request = self.protocol.create_batch_request([self.protocol.create_request(m, [], p) for m, p in calls])
        replies = self.protocol.parse_reply(self.transport.send_message(request.serialize()))
        out = []
        for reply in replies:
            if getattr(reply, "error", None) is not None:
                out.append(("error", reply._jsonrpc_error_code, getattr(reply, "data", None)))
            else:
                out.append(("ok", reply.result))
        return out


class JsonrpclibDriver:
    name = "jsonrpclib-pelix 1.2"

    def __init__(self, url, token=None):
        import jsonrpclib
        self.lib = jsonrpclib
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.server = jsonrpclib.ServerProxy(url, headers=headers)

    def _method(self, proxy, method):
        for part in method.split("."):
            proxy = getattr(proxy, part)
        return proxy

    def call(self, method, **params):
        from jsonrpclib.jsonrpc import AppError, ProtocolError
        try:
            return ("ok", self._method(self.server, method)(**params))
        except AppError as error:
            code, _, data = error.args[0]
            return ("error", code, data)
        except ProtocolError as error:
            detail = error.args[0]
            return ("error", detail[0] if isinstance(detail, tuple) else detail, None)

    def notify(self, method, **params):
        self._method(self.server._notify, method)(**params)
        return 200, b""  # the client raised nothing: it accepted the answer

    def batch(self, calls):
        from jsonrpclib.jsonrpc import AppError, ProtocolError
        multicall = self.lib.MultiCall(self.server)
        for method, params in calls:
            self._method(multicall, method)(**params)
        out = []
        iterator = multicall()
        for index in range(len(calls)):
            try:
                out.append(("ok", iterator[index]))
            except AppError as error:
                out.append(("error", error.args[0][0], error.args[0][2]))
            except ProtocolError as error:
                detail = error.args[0]
                out.append(("error", detail[0] if isinstance(detail, tuple) else detail, None))
        return out


class JsonrpcRequestsDriver:
    name = "jsonrpc-requests 0.4"

    def __init__(self, url, token=None):
        import jsonrpc_requests
        self.lib = jsonrpc_requests
        session = requests.Session()
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        self.server = jsonrpc_requests.Server(url, session=session)

    def call(self, method, **params):
        try:
            return ("ok", self.server.send_request(method, False, params))
        except self.lib.ProtocolError as error:
            if isinstance(error.server_data, dict) and "error" in error.server_data:
                return ("error", error.server_data["error"]["code"], error.server_data["error"].get("data"))
            raise

    def notify(self, method, **params):
        self.server.send_request(method, True, params)
        response = exchanges[-1][1]
        return response.status_code, response.content

    batch = None  # jsonrpc-requests 0.4 has no batch API


DRIVERS = [JsonrpcclientDriver, TinyrpcDriver, JsonrpclibDriver, JsonrpcRequestsDriver]


def seen(driver, reply):
    if reply[0] == "error":
        reached.setdefault(driver.name, set()).add(reply[1])
    return reply


def is_error(reply, code, name=None):
    return reply[0] == "error" and reply[1] == code and (name is None or (isinstance(reply[2], dict) and reply[2].get("error") == name))


def drive(driver, tag):
    """Every method, once each, plus the errors a caller can provoke against the sandbox upstream."""
    n = driver.name
    customer = f"cl-{tag}"
    r = seen(driver, driver.call("customer.get", id="cust-000001"))
    expect(r[0] == "ok" and r[1]["id"] == "cust-000001", f"{n}: customer.get reads through to the sandbox")
    r = seen(driver, driver.call("customer.get", id="cust-000001", consistency="upstream"))
    expect(r[0] == "ok", f"{n}: customer.get consistency upstream")
    r = seen(driver, driver.call("customer.ensure", id=customer, email="client@example.com", locale="en_US"))
    expect(r[0] == "ok" and r[1]["created"] is True, f"{n}: customer.ensure creates at the sandbox")
    r = seen(driver, driver.call("customer.ensure", id=customer))
    expect(r[0] == "ok" and r[1]["created"] is False, f"{n}: customer.ensure again finds it")
    r = seen(driver, driver.call("cache.load", customers=[{"id": f"{customer}-load", "email": "l@example.com",
                                                            "updatedTime": "2024-01-01T00:00:00Z"}],
                                 checkpoint={"name": f"clients-{tag}", "value": "v1"}))
    expect(r[0] == "ok" and r[1]["applied"] == 1, f"{n}: cache.load applies a customer")
    r = seen(driver, driver.call("cache.checkpoint", name=f"clients-{tag}"))
    expect(r[0] == "ok" and r[1] == {"name": f"clients-{tag}", "value": "v1"}, f"{n}: cache.checkpoint reads it back")
    r = seen(driver, driver.call("rpc.discover"))
    expect(r[0] == "ok" and r[1]["openrpc"].startswith("1."), f"{n}: rpc.discover")
    r = seen(driver, driver.call("customer.forget", id=customer))
    expect(r[0] == "ok" and r[1]["forgotten"] is True, f"{n}: customer.forget")
    r = seen(driver, driver.call("customer.get", id=customer))
    expect(is_error(r, -31002, "customer_gone"), f"{n}: a forgotten customer is -31002 with data")
    r = seen(driver, driver.call("customer.get", id=f"{customer}-nobody"))
    expect(is_error(r, -31001, "customer_not_found"), f"{n}: an unknown customer is -31001 with data")
    r = seen(driver, driver.call("customer.get", idd="x"))
    expect(r[0] == "error" and r[1] == -32602, f"{n}: an unknown parameter is -32602")
    r = seen(driver, driver.call("rpc.discover", verbose=True))
    expect(r[0] == "error" and r[1] == -32602, f"{n}: rpc.discover refuses an unknown parameter with -32602")
    r = seen(driver, driver.call("no.such.method"))
    expect(r[0] == "error" and r[1] == -32601, f"{n}: an unknown method is -32601")
    status, body = driver.notify("customer.forget", id=f"{customer}-note")
    expect(status == 200 and body == b"", f"{n}: a notification is accepted (HTTP {status}, {len(body)} bytes)")
    r = seen(driver, driver.call("customer.get", id=f"{customer}-note"))
    expect(is_error(r, -31002), f"{n}: the notification ran (the customer is forgotten)")
    if driver.batch is None:
        print(f"note {n}: no batch API; batches covered by the other clients")
        return
    replies = [seen(driver, reply) for reply in driver.batch([("customer.get", {"id": "cust-000002"}),
                                                             ("customer.get", {"id": f"{customer}-nobody"}),
                                                             ("rpc.discover", {})])]
    expect(len(replies) == 3 and replies[0][0] == "ok" and is_error(replies[1], -31001, "customer_not_found")
           and replies[2][0] == "ok", f"{n}: a batch answers each call in order, errors with data")


def drive_cache_only(driver):
    n = driver.name
    r = seen(driver, driver.call("customer.ensure", id="cache-only-new"))
    expect(is_error(r, -31003, "upstream_unavailable"), f"{n}: without upstream customer.ensure is -31003 with data")
    r = seen(driver, driver.call("customer.get", id="cache-only-new", consistency="upstream"))
    expect(is_error(r, -31003, "upstream_unavailable"), f"{n}: without upstream consistency upstream is -31003")


def drive_scoped(driver):
    n = driver.name
    r = seen(driver, driver.call("customer.forget", id="scoped"))
    expect(is_error(r, -31005, "unauthorized"), f"{n}: a method outside the caller's token is -31005 with data")


def drive_malformed(url):
    """Bodies no client library sends on purpose: unparseable JSON and an invalid request object."""
    r = requests.post(url, data=b'{"jsonrpc":', headers={"Content-Type": "application/json"})
    expect(r.json()["error"]["code"] == -32700, "raw: unparseable JSON is -32700")
    r = requests.post(url, json={"jsonrpc": "1.0", "method": "customer.get", "id": 1})
    expect(r.json()["error"]["code"] == -32600, "raw: an invalid request is -32600")
    r = requests.post(url, data=b"{}", headers={"Content-Type": "text/plain"})
    expect(r.status_code == 415, "raw: text/plain is 415 (cross-site POST defence)")


# MARK: validation of every recorded exchange

def openapi_validator(url):
    from openapi_core import OpenAPI
    spec = json.loads(json.dumps(OPENAPI))
    base = url.rsplit("/rpc", 1)[0]
    for item in spec["paths"].values():
        item["servers"] = [{"url": base}]
    return OpenAPI.from_dict(spec)


def validate_openrpc(request_body, response_body):
    calls = request_body if isinstance(request_body, list) else [request_body]
    answers = response_body if isinstance(response_body, list) else [response_body]
    methods = {json.dumps(call.get("id")): call.get("method") for call in calls if isinstance(call, dict) and "id" in call}
    problems = []
    for answer in answers:
        method = methods.get(json.dumps(answer.get("id")))
        if "result" in answer and method in METHOD_INDEX:
            schema = {"$ref": f"urn:openrpc#/methods/{METHOD_INDEX[method]}/result/schema"}
            problems += [f"{method} result: {e.message}" for e in Draft7Validator(schema, registry=REGISTRY).iter_errors(answer["result"])]
        if "error" in answer:
            code = answer["error"]["code"]
            name = ERROR_NAMES.get(code)
            if name is None:
                problems.append(f"error code {code} is not in openrpc.json")
                continue
            data_schema = OPENRPC["components"]["schemas"].get(f"{name}ErrorData")
            if data_schema is not None and "data" in answer["error"]:
                schema = {"$ref": f"urn:openrpc#/components/schemas/{name}ErrorData"}
                problems += [f"{name} data: {e.message}" for e in Draft7Validator(schema, registry=REGISTRY).iter_errors(answer["error"]["data"])]
            if method in METHOD_INDEX:
                listed = {OPENRPC["components"]["errors"][ref["$ref"].rsplit("/", 1)[1]]["code"]
                          for ref in OPENRPC["methods"][METHOD_INDEX[method]]["errors"]}
                if code not in listed and code not in (-32601, -32600, -32700):
                    problems.append(f"{method} answered {code}, which openrpc.json does not list for it")
    return problems


def validate_exchanges(validators):
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
    checked = 0
    for request, response in exchanges:
        validator = validators.get(request.url)
        if validator is None:
            continue
        checked += 1
        label = f"{request.method} {request.url} -> {response.status_code}"
        if response.status_code == 200 and not response.content:
            # Only notifications: JSON-RPC returns nothing. OpenAPI cannot say "no body" next to a JSON body for the
            # same status, so this answer is checked here: 200, Content-Length 0, no Content-Type.
            expect(response.headers.get("Content-Length") == "0" and "Content-Type" not in response.headers,
                   f"notification answer is 200, Content-Length 0, no Content-Type ({label})")
            continue
        try:
            validator.validate_response(RequestsOpenAPIRequest(request), RequestsOpenAPIResponse(response))
        except Exception as error:  # openapi-core raises one of many validation errors; any of them fails the check
            failures.append(f"openapi-core: {label}: {error!r}")
            print(f"FAIL openapi-core: {label}: {error!r}: {response.content[:300]!r}")
        if response.status_code == 200 and request.body:
            try:
                request_body = json.loads(request.body)
            except ValueError:
                continue
            for problem in validate_openrpc(request_body, response.json()):
                failures.append(f"openrpc: {label}: {problem}")
                print(f"FAIL openrpc: {label}: {problem}")
    expect(checked > 50, f"{checked} live exchanges validated with openapi-core and openrpc.json's schemas")


def validate_fixtures():
    """Digital River's documented objects (Tests/Fixtures/digitalriver) must be accepted by the input schemas."""
    fixtures = ROOT / "Tests" / "Fixtures" / "digitalriver"
    for name, schema in [("customer-201.json", "Customer"), ("source-amazon-pay.json", "Source")]:
        validator = Draft7Validator({"$ref": f"urn:openrpc#/components/schemas/{schema}"}, registry=REGISTRY)
        problems = [error.message for error in validator.iter_errors(json.loads((fixtures / name).read_text()))]
        expect(not problems, f"fixture {name} matches openrpc.json's {schema} schema {problems or ''}")


def check_metrics(service):
    """After the clients ran: /metrics parses (prometheus_client's parser), every series of a metric carries the same
    label names (so sum() by any label is meaningful), and webhook/rpc outcome counters have exactly one label set."""
    from prometheus_client.parser import text_string_to_metric_families
    text = requests.get(f"http://127.0.0.1:{service.port}/metrics").text
    problems = []
    for family in text_string_to_metric_families(text):
        label_sets = {tuple(sorted(sample.labels)) for sample in family.samples
                      if not sample.name.endswith(("_bucket", "_created"))}
        if len(label_sets) > 1:
            problems.append(f"{family.name}: series with different labels {sorted(label_sets)}")
    expect(not problems, f"/metrics parses and each metric's series share one label set {problems or ''}")


def main():
    validate_fixtures()
    services = [Service("sandbox", "--sandbox", "--sandbox-seed", "10")]
    try:
        services.append(Service("cache-only"))
        services.append(Service("scoped", env={"CUSTOMER_CACHE_RPC_TOKENS": "reader reader-token-0123456789 customer.get"}))
        sandbox, cache_only, scoped = services
        for index, driver_class in enumerate(DRIVERS):
            drive(driver_class(sandbox.url), f"{index}")
            drive_cache_only(driver_class(cache_only.url))
            drive_scoped(driver_class(scoped.url, token="reader-token-0123456789"))
        drive_malformed(sandbox.url)
        check_metrics(sandbox)
        validate_exchanges({service.url: openapi_validator(service.url) for service in services})
        for name, codes in reached.items():
            print(f"     {name}: error codes seen {sorted(codes)}")
    finally:
        for service in services:
            service.stop()
    if failures:
        print(f"check-clients: {len(failures)} check(s) failed")
        sys.exit(1)
    print("check-clients: all checks passed")


if __name__ == "__main__":
    main()
