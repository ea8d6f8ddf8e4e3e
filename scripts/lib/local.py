"""Helpers shared by the check scripts and bench/bench.py: loopback ports, readiness, a `serve` process, strict YAML."""
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def wait_ready(port, timeout=30):
    """Waits for /readyz to answer 200: the listeners come up before the store has opened, by design."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"service on {port} never became ready")


class ServeProcess:
    """One `customer-cache serve` on free loopback ports with its own data directory, ready when constructed, stopped
    with SIGTERM. DR_API_KEY is dropped from the environment unless `env` sets it, so a developer's key never makes a
    check talk to a real upstream."""

    def __init__(self, binary, prefix, secret, *args, env=None):
        self.directory = tempfile.mkdtemp(prefix=f"{prefix}-")
        self.rpc = free_port()
        self.webhook = free_port()
        environment = dict(os.environ, CUSTOMER_CACHE_WEBHOOK_SECRETS=secret, **(env or {}))
        if "DR_API_KEY" not in (env or {}):
            environment.pop("DR_API_KEY", None)
        self.process = subprocess.Popen(
            [str(binary), "serve", "--data-dir", f"{self.directory}/data", "--webhook-listen", f"127.0.0.1:{self.webhook}",
             "--rpc-listen", f"127.0.0.1:{self.rpc}", "--log-level", "error", *args], env=environment)
        wait_ready(self.rpc)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def unique_key_yaml_loader():
    """A PyYAML loader that refuses duplicate mapping keys (PyYAML silently keeps the last one, which would let a
    contract or manifest hide a key). Imported lazily so scripts without PyYAML can use the rest of this module."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            keys.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return UniqueKeyLoader
