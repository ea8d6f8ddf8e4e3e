"""Static checks of deploy/: the Kubernetes manifests and the Dockerfile; run through scripts/check-deploy.

Docker and Kubernetes cannot run on the project's machines, so the manifests are checked against the Kubernetes
JSON schemas (kubernetes-validate, offline, strict: unknown fields fail) and against the properties this service
relies on (probes, security context, secrets, who may reach which port, and per variant: one writer on a
ReadWriteOnce volume for SQLite; several spread replicas with a disruption budget, the database from a Secret and no
volume claim for PostgreSQL). nginx, hadolint and systemd-analyze run from the shell script. Prints one line per
check; exits 1 if any failed.
"""

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local import unique_key_yaml_loader  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
REPLICATED = ROOT / "deploy" / "k8s-replicated"
# The single-replica SQLite files the replicated variant replaces; it shares every other file of deploy/k8s.
SINGLE_ONLY = {"deployment.yaml", "pvc.yaml"}
DATABASE_URL_VARIABLE = "CUSTOMER_CACHE_DATABASE_URL"
DATABASE_PASSWORD_VARIABLES = {"CUSTOMER_CACHE_DATABASE_PASSWORD", "PGPASSWORD"}
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
KUBERNETES_VERSION = "1.31.0"
WEBHOOK_PATH = "/webhooks/digitalriver"
SECRET_VARIABLES = {"CUSTOMER_CACHE_WEBHOOK_SECRETS", "DR_API_KEY", "CUSTOMER_CACHE_RPC_TOKENS"}
RUNTIME_PACKAGES = {"libssl3", "libsqlite3-0", "libpq5", "libcurl4", "ca-certificates", "tzdata"}

failures = []


def check(name, problems):
    if problems:
        failures.append(name)
        print(f"FAIL {name}")
        for problem in problems:
            print(f"     - {problem}")
    else:
        print(f"ok   {name}")


UniqueKeyLoader = unique_key_yaml_loader()


def variant_files():
    """Each variant's label and files: deploy/k8s as is, and deploy/k8s-replicated with the files of deploy/k8s it shares."""
    single = sorted(K8S.glob("*.yaml"))
    replicated = sorted(REPLICATED.glob("*.yaml")) + [path for path in single if path.name not in SINGLE_ONLY]
    return [("deploy/k8s", single, False), ("deploy/k8s-replicated (+ the shared files of deploy/k8s)", replicated, True)]


def load_manifests(label, files):
    objects, problems = [], []
    if not files:
        problems.append(f"no manifests for {label}")
    for path in files:
        try:
            for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader):
                if document is None:
                    continue
                if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
                    problems.append(f"{path.name}: a document without kind/apiVersion")
                    continue
                objects.append((path.name, document))
        except yaml.YAMLError as error:
            problems.append(f"{path.name}: {error}")
    check(f"{label}: {len(files)} files parse as YAML without duplicate keys", problems)
    return objects


def validate_schemas(label, objects):
    import kubernetes_validate

    problems = []
    for filename, document in objects:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            problems.append(f"{filename} {document['kind']}/{document['metadata'].get('name')}: {error.message} (at {where})")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as error:
            problems.append(f"{filename} {document['kind']}: {error}")
    check(f"{label}: every object is valid for Kubernetes {KUBERNETES_VERSION} (kubernetes-validate, strict)", problems)


def one(objects, kind, problems, name=None):
    found = [document for _, document in objects if document["kind"] == kind and (name is None or document["metadata"]["name"] == name)]
    if len(found) != 1:
        problems.append(f"expected exactly one {kind}{' ' + name if name else ''}, found {len(found)}")
        return None
    return found[0]


def matches(selector, labels):
    return all(labels.get(key) == value for key, value in (selector or {}).items())


def check_replicas(spec, pod, labels, objects, problems):
    """The replicated variant: N spread replicas, a disruption budget, and nothing that needs a volume of its own."""
    if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 2:
        problems.append("Deployment must run at least 2 replicas (PostgreSQL store shared by replicas)")
    strategy = spec.get("strategy", {})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate" or strategy.get("rollingUpdate", {}).get("maxUnavailable") not in (0, "0%"):
        problems.append("Deployment must roll with maxUnavailable 0, so no replica stops before its successor is ready")
    budgets = [document for _, document in objects if document["kind"] == "PodDisruptionBudget"]
    if len(budgets) != 1:
        problems.append(f"expected exactly one PodDisruptionBudget, found {len(budgets)}")
    for budget in budgets:
        budget_spec = budget["spec"]
        if not matches(budget_spec.get("selector", {}).get("matchLabels"), labels) or not budget_spec.get("selector", {}).get("matchLabels"):
            problems.append("the PodDisruptionBudget does not select the Deployment's pods")
        allowed = budget_spec.get("maxUnavailable")
        floor = budget_spec.get("minAvailable")
        if allowed is not None and (not isinstance(allowed, int) or allowed < 1 or allowed >= spec.get("replicas", 0)):
            problems.append(f"PodDisruptionBudget maxUnavailable must be a number from 1 to replicas - 1, found {allowed}")
        if floor is not None and (not isinstance(floor, int) or floor < 1 or floor >= spec.get("replicas", 0)):
            problems.append(f"PodDisruptionBudget minAvailable must be a number from 1 to replicas - 1, found {floor}")
        if allowed is None and floor is None:
            problems.append("the PodDisruptionBudget must set maxUnavailable or minAvailable")
    spread = pod.get("topologySpreadConstraints", [])
    keys = {constraint.get("topologyKey") for constraint in spread}
    if "kubernetes.io/hostname" not in keys:
        problems.append("topologySpreadConstraints must spread the replicas over kubernetes.io/hostname")
    for constraint in spread:
        if not matches(constraint.get("labelSelector", {}).get("matchLabels"), labels) or not constraint.get("labelSelector", {}).get("matchLabels"):
            problems.append(f"topologySpreadConstraint on {constraint.get('topologyKey')} does not select the Deployment's pods")
    claims = [document["metadata"]["name"] for _, document in objects if document["kind"] == "PersistentVolumeClaim"]
    if claims:
        problems.append(f"no PersistentVolumeClaim may be part of the replicated variant, found {claims}")
    for volume in pod.get("volumes", []):
        if not ({"emptyDir", "secret"} & set(volume)):
            problems.append(f"volume {volume['name']}: only emptyDir (scratch) and Secret volumes; replicas keep nothing on the pod")


def check_database_settings(container, pod, problems):
    """The replicated variant's container: the database URL from a Secret, its password from a Secret file or key."""
    name = container["name"]
    environment = {variable["name"]: variable for variable in container.get("env", [])}
    arguments = " ".join(container.get("args", []) + container.get("command", []))
    if "--database-url" in arguments or "postgres" in arguments.lower():
        problems.append(f"container {name}: the database URL must not be in args (argv is visible on the node)")
    url = environment.get(DATABASE_URL_VARIABLE, {})
    if "secretKeyRef" not in url.get("valueFrom", {}):
        problems.append(f"container {name}: {DATABASE_URL_VARIABLE} must come from valueFrom.secretKeyRef")
    for variable in DATABASE_PASSWORD_VARIABLES & set(environment):
        if "secretKeyRef" not in environment[variable].get("valueFrom", {}):
            problems.append(f"container {name}: {variable} must come from valueFrom.secretKeyRef, never a literal value")
    password_file = environment.get(DATABASE_URL_VARIABLE.replace("_URL", "_PASSWORD_FILE"), {}).get("value")
    if password_file is None and not (DATABASE_PASSWORD_VARIABLES & set(environment)):
        problems.append(f"container {name}: the database password is not provided (a Secret file or secretKeyRef)")
    if password_file is not None:
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        mounted = [mount for mount in container.get("volumeMounts", [])
                   if password_file.startswith(mount["mountPath"].rstrip("/") + "/") and "secret" in volumes.get(mount["name"], {})]
        if not mounted:
            problems.append(f"container {name}: the database password file {password_file} is not on a mounted Secret volume")


def check_properties(label, objects, replicated):
    problems = []
    title = f"{label}: the Deployment, Services, NetworkPolicy, Ingress and " + \
        ("PodDisruptionBudget fit together; replicas spread, no volume claim" if replicated else "PVC fit together")
    deployment = one(objects, "Deployment", problems)
    claim = None if replicated else one(objects, "PersistentVolumeClaim", problems)
    policy = one(objects, "NetworkPolicy", problems)
    ingress = one(objects, "Ingress", problems)
    services = [document for _, document in objects if document["kind"] == "Service"]
    if deployment is None:
        check(title, problems)
        return

    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    if not matches(spec["selector"].get("matchLabels"), labels):
        problems.append("Deployment selector does not match its pod labels")
    if replicated:
        check_replicas(spec, pod, labels, objects, problems)
    elif spec.get("replicas") != 1 or spec.get("strategy", {}).get("type") != "Recreate":
        problems.append("Deployment must run one replica with strategy Recreate (SQLite, one writer, ReadWriteOnce volume)")
    if pod.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken must be false (the service never talks to the API server)")
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        problems.append("pod securityContext.runAsNonRoot must be true")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod seccompProfile must be RuntimeDefault")
    if pod.get("terminationGracePeriodSeconds", 30) <= 10:
        problems.append("terminationGracePeriodSeconds must exceed shutdown-grace-ms (10 s)")

    containers = pod.get("containers", [])
    if len(containers) != 1:
        problems.append(f"expected one container, found {len(containers)}")
    for container in containers:
        name = container["name"]
        security = container.get("securityContext", {})
        for key, expected in [("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False), ("runAsNonRoot", True)]:
            if security.get(key) is not expected:
                problems.append(f"container {name}: securityContext.{key} must be {expected}")
        if security.get("capabilities", {}).get("drop") != ["ALL"] or security.get("capabilities", {}).get("add"):
            problems.append(f"container {name}: capabilities must drop ALL and add none")
        if security.get("seccompProfile", {}).get("type") not in (None, "RuntimeDefault"):
            problems.append(f"container {name}: seccompProfile must be RuntimeDefault")
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        if ports != {"webhook": 8080, "rpc": 8081}:
            problems.append(f"container {name}: ports must be webhook 8080 and rpc 8081, found {ports}")
        for probe, path in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]:
            get = container.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") not in ("rpc", 8081):
                problems.append(f"container {name}: {probe} must GET {path} on the rpc port")
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            if "memory" not in resources.get(section, {}) or "cpu" not in resources.get("requests", {}):
                problems.append(f"container {name}: resources.{section} must set memory (and requests cpu)")
        arguments = container.get("args", []) + container.get("command", [])
        if replicated:
            check_database_settings(container, pod, problems)
        elif "--data-dir" not in arguments or arguments[arguments.index("--data-dir") + 1] != "/data":
            problems.append(f"container {name}: args must include --data-dir /data")
        joined = " ".join(arguments).lower()
        if any(word in joined for word in ("secret", "api-key", "token", "dr_api_key")):
            problems.append(f"container {name}: args mention a secret; secrets come from the environment or files")
        environment = {variable["name"]: variable for variable in container.get("env", [])}
        for variable in sorted(SECRET_VARIABLES):
            entry = environment.get(variable)
            mounted = any(item["name"].startswith(variable) and item["name"].endswith("_FILE") for item in container.get("env", []))
            if entry is None and not mounted:
                problems.append(f"container {name}: {variable} is not provided")
            elif entry is not None and ("value" in entry or "secretKeyRef" not in entry.get("valueFrom", {})):
                problems.append(f"container {name}: {variable} must come from valueFrom.secretKeyRef, never a literal value")
        mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        data = volumes.get(mounts.get("/data"), {})
        if not replicated and claim is not None and data.get("persistentVolumeClaim", {}).get("claimName") != claim["metadata"]["name"]:
            problems.append(f"container {name}: /data must be the PersistentVolumeClaim {claim['metadata']['name']}")
        if "/tmp" not in mounts:
            problems.append(f"container {name}: /tmp must be a writable volume (read-only root filesystem)")

    if claim is not None and claim["spec"].get("accessModes") != ["ReadWriteOnce"]:
        problems.append("the PersistentVolumeClaim must be ReadWriteOnce")

    by_port = {}
    for service in services:
        if not matches(service["spec"].get("selector"), labels):
            problems.append(f"Service {service['metadata']['name']} does not select the Deployment's pods")
        if service["spec"].get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"Service {service['metadata']['name']} must be ClusterIP (the Ingress is the only way in)")
        for port in service["spec"].get("ports", []):
            by_port.setdefault(port["targetPort"], []).append(service["metadata"]["name"])
    if sorted(by_port) != ["rpc", "webhook"] or any(len(names) != 1 for names in by_port.values()):
        problems.append(f"expected one Service targeting webhook and one targeting rpc, found {by_port}")
    if len({name for names in by_port.values() for name in names}) != 2:
        problems.append("the webhook and rpc ports must be separate Services")

    if ingress is not None:
        backends = []
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backends.append((path["path"], path["pathType"], path["backend"]["service"]["name"]))
        webhook_services = by_port.get("webhook", [])
        if [(path, kind) for path, kind, _ in backends] != [(WEBHOOK_PATH, "Exact")] or \
                [service for _, _, service in backends] != webhook_services[:1]:
            problems.append(f"the Ingress must route exactly {WEBHOOK_PATH} (Exact) to the webhook Service, found {backends}")
        if not ingress["spec"].get("tls"):
            problems.append("the Ingress must terminate TLS")

    if policy is not None:
        policy_spec = policy["spec"]
        if not matches(policy_spec.get("podSelector", {}).get("matchLabels"), labels):
            problems.append("the NetworkPolicy does not select the Deployment's pods")
        if "Ingress" not in policy_spec.get("policyTypes", []):
            problems.append("the NetworkPolicy must restrict Ingress")
        allowed = {}
        for rule in policy_spec.get("ingress", []):
            for port in rule.get("ports", []) or [{"port": "any"}]:
                allowed.setdefault(port["port"], []).extend(rule.get("from", []) or [{"anyone": True}])
        if set(allowed) != {"webhook", "rpc"}:
            problems.append(f"the NetworkPolicy must open exactly the webhook and rpc ports, found {sorted(map(str, allowed))}")
        for peer in allowed.get("webhook", []):
            names = peer.get("namespaceSelector", {}).get("matchLabels", {})
            if "podSelector" in peer or "ipBlock" in peer or "kubernetes.io/metadata.name" not in names:
                problems.append(f"webhook port: only the ingress controller's namespace may connect, found {peer}")
        for peer in allowed.get("rpc", []):
            if not peer.get("podSelector", {}).get("matchLabels") or "ipBlock" in peer:
                problems.append(f"rpc port: only labelled mesh pods may connect, found {peer}")
    check(title, problems)


def check_dockerfile():
    problems = []
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instructions = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    stages = [line for line in instructions if line.upper().startswith("FROM ")]
    if len(stages) < 2:
        problems.append("expected a multi-stage build (at least two FROM)")
    final = instructions[instructions.index(stages[-1]):] if stages else instructions
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must switch to a non-root USER")
    if not any(line.upper().startswith("HEALTHCHECK ") for line in final):
        problems.append("the final stage has no HEALTHCHECK")
    installed = set()
    for line in final:
        if "apt-get install" in line:
            words = line.split("apt-get install", 1)[1].split("&&")[0].split()
            installed |= {word for word in words if not word.startswith("-")}
    if installed != RUNTIME_PACKAGES:
        problems.append(f"the runtime stage must install exactly {sorted(RUNTIME_PACKAGES)}, found {sorted(installed)}")
    if re.search(r"(?i)(ENV|ARG)\s+[^\n]*(SECRET|API_KEY|TOKEN)S?=", "\n".join(instructions)):
        problems.append("a secret is set in the image (ENV/ARG)")
    check("deploy/Dockerfile: multi-stage, non-root, HEALTHCHECK, only the needed runtime packages, no secrets", problems)


def main():
    for label, files, replicated in variant_files():
        objects = load_manifests(label, files)
        if objects:
            validate_schemas(label, objects)
            check_properties(label, objects, replicated)
    check_dockerfile()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
