"""Drives deploy/nginx/customer-cache.conf in front of a real customer-cache (see scripts/check-proxy)."""
import base64, hashlib, hmac, http.client, json, os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from local import free_port, wait_port, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SECRET = "proxy-test-secret"
failures = []


def check(name, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))
    if not condition:
        failures.append(name)


def sign(body, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return f"{timestamp}, {base64.b64encode(digest).decode()}"


def event(event_id, customer_id, email="proxy@example.com"):
    return json.dumps({"id": event_id, "type": "customer.updated", "liveMode": False,
                       "createdTime": "2024-01-01T00:00:00Z", "digitalriverVersion": "2021-12-13",
                       "data": {"object": {"id": customer_id, "email": email, "updatedTime": "2024-01-01T00:00:00Z"}}},
                      separators=(",", ":")).encode()


def main():
    work = tempfile.mkdtemp(prefix="check-proxy-")
    service_port, rpc_port, proxy_port = free_port(), free_port(), free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem"], check=True, capture_output=True)
    site = open(os.path.join(ROOT, "deploy", "nginx", "customer-cache.conf")).read()
    site = site.replace("127.0.0.1:8080", f"127.0.0.1:{service_port}")
    site = re.sub(r"listen \[::\]:443 ssl;", "", site)
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{proxy_port} ssl;")
    site = site.replace("/etc/ssl/customer-cache/fullchain.pem", f"{work}/cert.pem")
    site = site.replace("/etc/ssl/customer-cache/privkey.pem", f"{work}/key.pem")
    open(f"{work}/site.conf", "w").write(site)
    open(f"{work}/nginx.conf", "w").write(f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  include {work}/site.conf;
}}
""")
    log_path = f"{work}/service.log"
    env = dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS=SECRET)
    service = subprocess.Popen([os.path.join(ROOT, ".build", "debug", "customer-cache"), "serve",
                                "--webhook-listen", f"127.0.0.1:{service_port}", "--rpc-listen", f"127.0.0.1:{rpc_port}",
                                "--data-dir", f"{work}/data", "--trusted-proxies", "127.0.0.1", "--log-level", "notice"],
                               env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
    nginx = subprocess.Popen([NGINX, "-c", f"{work}/nginx.conf", "-p", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(service_port)
        wait_port(proxy_port)
        wait_ready(rpc_port)
        context = ssl._create_unverified_context()

        def connect(source="127.0.0.1"):
            return http.client.HTTPSConnection("127.0.0.1", proxy_port, context=context, timeout=10, source_address=(source, 0))

        # Signed webhooks over one kept-alive TLS connection through the proxy.
        connection = connect()
        statuses = []
        for index in range(3):
            body = event(f"proxy-keepalive-{index}", f"proxy-c{index}")
            connection.request("POST", "/webhooks/digitalriver", body=body,
                               headers={"Content-Type": "application/json", "DigitalRiver-Signature": sign(body)})
            response = connection.getresponse()
            statuses.append((response.status, response.read()))
        check("signed webhooks through the proxy on one keep-alive connection are applied",
              all(status == 200 and b"applied" in payload for status, payload in statuses), statuses)
        connection.close()

        # A chunked upload: the client streams, nginx buffers and forwards it.
        body = event("proxy-chunked", "proxy-chunked-customer")
        connection = connect()
        connection.putrequest("POST", "/webhooks/digitalriver")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("DigitalRiver-Signature", sign(body))
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for start in range(0, len(body), 50):
            piece = body[start:start + 50]
            connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        payload = response.read()
        check("a chunked webhook upload through the proxy is verified and applied", response.status == 200 and b"applied" in payload,
              (response.status, payload))
        connection.close()

        # The proxy's body cap answers before the service sees anything.
        big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        connection = connect()
        try:
            connection.request("POST", "/webhooks/digitalriver", body=big, headers={"Content-Type": "application/json", "DigitalRiver-Signature": sign(big)})
            status = connection.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413  # nginx may close while the client is still sending, after writing its 413
        check("a body over the proxy's 1 MiB cap is refused by the proxy (413)", status == 413, status)
        connection.close()

        # A forged signature from another client address: refused by the service, logged with that address.
        body = event("proxy-forged", "proxy-forged-customer")
        connection = connect(source="127.0.0.2")
        connection.request("POST", "/webhooks/digitalriver", body=body,
                           headers={"Content-Type": "application/json", "DigitalRiver-Signature": sign(body).split(",")[0] + ", AAAA"})
        response = connection.getresponse()
        response.read()
        check("a forged signature is refused by the service (401)", response.status == 401, response.status)
        connection.close()

        # The internal API is not reachable through the proxy.
        connection = connect()
        connection.request("POST", "/rpc", body=b'{"jsonrpc":"2.0","method":"customer.get","params":{"id":"x"},"id":1}',
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        check("/rpc is not reachable through the proxy (404)", response.status == 404, response.status)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        response.read()
        check("/metrics is not reachable through the proxy (404)", response.status == 404, response.status)
        connection.close()

        time.sleep(0.3)
        log = open(log_path).read()
        rejected = [line for line in log.splitlines() if "webhook rejected" in line]
        check("the service logs the client address from the trusted proxy's X-Forwarded-For (127.0.0.2, not nginx's 127.0.0.1)",
              any("client=127.0.0.2" in line for line in rejected), rejected)
        check("no email address reaches the service log", "proxy@example.com" not in log)
    finally:
        for process in (nginx, service):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"check-proxy: {len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("check-proxy: all checks passed")


if __name__ == "__main__":
    main()
