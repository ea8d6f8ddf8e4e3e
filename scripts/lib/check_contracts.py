"""Checks openapi/openapi.yaml and openapi/openrpc.json; run through scripts/check-contracts.

Prints one line per check and exits 1 if any failed. Needs PyYAML, jsonschema (with referencing) and
openapi-spec-validator, which scripts/check-contracts installs when missing.
"""

import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local import unique_key_yaml_loader  # noqa: E402
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "openapi" / "openapi.yaml"
OPENRPC = ROOT / "openapi" / "openrpc.json"
ERROR_CODES_SWIFT = ROOT / "Sources" / "CustomerCacheApp" / "RPCErrorCode.swift"
METHODS_SWIFT = ROOT / "Sources" / "CustomerCacheApp" / "CustomerMethods.swift"
# Where the service registers its JSON-RPC methods (rpc.discover in the service, the rest in CustomerMethods).
REGISTRATION_SWIFT = [METHODS_SWIFT, ROOT / "Sources" / "CustomerCacheApp" / "CustomerCacheService.swift"]
STANDARD_CODES = {-32700, -32600, -32601, -32602, -32603}
# Digital River schemas that both documents carry and must keep identical.
SHARED_SCHEMAS = ["Customer", "Shipping", "Address", "AdditionalAddressInfo", "Source", "TaxIdentifier", "TaxCertificate"]

failures = []


def check(name, problems):
    """Records one check: `problems` is a list of strings, empty when the check passed."""
    if problems:
        failures.append(name)
        print(f"FAIL {name}")
        for problem in problems[:40]:
            print(f"     - {problem}")
        if len(problems) > 40:
            print(f"     … and {len(problems) - 40} more")
    else:
        print(f"ok   {name}")


UniqueKeyLoader = unique_key_yaml_loader()


def unique_pairs(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def refs(node, path="#"):
    """Every ($ref, where) in a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value, path
            else:
                yield from refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from refs(value, f"{path}/{index}")


def resolve_pointer(document, pointer):
    node = document
    for part in pointer.lstrip("#/").split("/") if pointer != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def dangling_refs(document):
    problems = []
    for ref, where in refs(document):
        if not ref.startswith("#/"):
            problems.append(f"{where}: external $ref {ref} (documents must be self-contained)")
            continue
        try:
            resolve_pointer(document, ref)
        except (KeyError, IndexError, ValueError):
            problems.append(f"{where}: $ref {ref} does not resolve")
    return problems


def validator_for(document, uri, specification, validator_class, pointer):
    """A validator for the schema at `pointer` inside `document`, its local $refs resolved against the document."""
    registry = Registry().with_resource(uri, Resource(contents=document, specification=specification))
    return validator_class({"$ref": f"{uri}{pointer}"}, registry=registry)


def schema_errors(validator, instance, label):
    return [f"{label}: {error.message} (at /{'/'.join(map(str, error.absolute_path))})"
            for error in validator.iter_errors(instance)]


# ---------------------------------------------------------------------------------------------- OpenAPI


def check_openapi():
    try:
        document = yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        check("openapi.yaml parses as YAML without duplicate keys", [str(error)])
        return None
    check("openapi.yaml parses as YAML without duplicate keys", [])

    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    problems = []
    if not str(document.get("openapi", "")).startswith("3.1."):
        problems.append(f"openapi is {document.get('openapi')!r}, expected 3.1.x")
    try:
        validate(document)
    except OpenAPIValidationError as error:
        problems.append(str(error).splitlines()[0])
    check("openapi.yaml is a valid OpenAPI 3.1 document (openapi-spec-validator)", problems)
    check("openapi.yaml: every $ref resolves inside the document", dangling_refs(document))

    # Examples are not validated by openapi-spec-validator; check each against its schema.
    problems = []
    uri = "urn:customer-cache:openapi"
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method not in {"get", "post", "put", "delete", "patch", "head"}:
                continue
            where = f"{method.upper()} {path}"
            media = {("request", ""): operation.get("requestBody", {}).get("content", {})}
            for status, response in operation.get("responses", {}).items():
                if "$ref" in response:
                    response = resolve_pointer(document, response["$ref"])
                media[("response", status)] = response.get("content", {})
            for (kind, status), contents in media.items():
                for media_type, content in contents.items():
                    schema = content.get("schema")
                    if schema is None:
                        continue
                    examples = []
                    if "example" in content:
                        examples.append(("example", content["example"]))
                    for name, example in content.get("examples", {}).items():
                        examples.append((name, example.get("value")))
                    for name, value in examples:
                        if media_type.startswith("text/"):
                            if not isinstance(value, str):
                                problems.append(f"{where} {kind} {status} {name}: text example is not a string")
                            continue
                        holder = {"schema": schema}
                        registry_document = dict(document, **{"x-check": holder})
                        validator = validator_for(registry_document, uri, DRAFT202012, Draft202012Validator, "#/x-check/schema")
                        problems += schema_errors(validator, value, f"{where} {kind} {status} {name}")
    for name, parameter in document.get("components", {}).get("parameters", {}).items():
        if "example" in parameter:
            validator = validator_for(document, uri, DRAFT202012, Draft202012Validator, f"#/components/parameters/{name}/schema")
            problems += schema_errors(validator, parameter["example"], f"parameter {name} example")
    check("openapi.yaml: every example matches its schema", problems)

    problems = []
    servers = {server["url"] for server in document.get("servers", [])}
    expected = {
        ("/webhooks/digitalriver", "post"): {"webhook"},
        ("/healthz", "get"): {"webhook", "rpc"},
        ("/readyz", "get"): {"webhook", "rpc"},
        ("/rpc", "post"): {"rpc"},
        ("/metrics", "get"): {"rpc"},
    }
    for (path, method), tags in expected.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            problems.append(f"{method.upper()} {path} is missing")
            continue
        if set(operation.get("tags", [])) != tags:
            problems.append(f"{method.upper()} {path} tags {operation.get('tags')} != {sorted(tags)}")
        for server in document["paths"][path].get("servers", []):
            if server["url"] not in servers:
                problems.append(f"{path}: server {server['url']} is not one of the document's servers")
    for path, item in document.get("paths", {}).items():
        for method in item:
            if method in {"get", "post", "put", "delete", "patch"} and (path, method) not in expected:
                problems.append(f"{method.upper()} {path} is documented but not served")
    check("openapi.yaml: exactly the served endpoints, on the right listeners", problems)
    return document


# ---------------------------------------------------------------------------------------------- OpenRPC

# The structure the OpenRPC specification (1.2.x/1.3.x) requires, written from its object tables. It checks what
# a generic JSON Schema cannot infer (required members, types, no misspelt members in the objects we use).
EXTENSIONS = {"^x-": {}}
REFERENCE = {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string"}}, "additionalProperties": False}
OPENRPC_STRUCTURE = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["openrpc", "info", "methods"],
    "additionalProperties": False,
    "patternProperties": EXTENSIONS,
    "properties": {
        "openrpc": {"type": "string", "pattern": r"^1\.[23]\.\d+$"},
        "info": {
            "type": "object", "required": ["title", "version"], "additionalProperties": False,
            "patternProperties": EXTENSIONS,
            "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                           "termsOfService": {"type": "string"}, "version": {"type": "string"},
                           "contact": {"type": "object"}, "license": {"type": "object"}},
        },
        "servers": {"type": "array", "items": {
            "type": "object", "required": ["url"], "additionalProperties": False, "patternProperties": EXTENSIONS,
            "properties": {"url": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
                           "summary": {"type": "string"}, "variables": {"type": "object"}}}},
        "methods": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/method"}},
        "components": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "schemas": {"type": "object", "additionalProperties": {"type": ["object", "boolean"]}},
                "links": {"type": "object"},
                "errors": {"type": "object", "additionalProperties": {"$ref": "#/definitions/error"}},
                "examples": {"type": "object", "additionalProperties": {"$ref": "#/definitions/example"}},
                "examplePairings": {"type": "object", "additionalProperties": {"$ref": "#/definitions/examplePairing"}},
                "contentDescriptors": {"type": "object", "additionalProperties": {"$ref": "#/definitions/contentDescriptor"}},
                "tags": {"type": "object", "additionalProperties": {"$ref": "#/definitions/tag"}},
            },
        },
        "externalDocs": {"type": "object", "required": ["url"]},
    },
    "definitions": {
        "reference": REFERENCE,
        "method": {
            "type": "object", "required": ["name", "params", "result"], "additionalProperties": False,
            "patternProperties": EXTENSIONS,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "summary": {"type": "string"}, "description": {"type": "string"},
                "tags": {"type": "array", "items": {"anyOf": [{"$ref": "#/definitions/tag"}, REFERENCE]}},
                "paramStructure": {"enum": ["by-name", "by-position", "either"]},
                "params": {"type": "array", "items": {"anyOf": [{"$ref": "#/definitions/contentDescriptor"}, REFERENCE]}},
                "result": {"anyOf": [{"$ref": "#/definitions/contentDescriptor"}, REFERENCE]},
                "errors": {"type": "array", "items": {"anyOf": [{"$ref": "#/definitions/error"}, REFERENCE]}},
                "links": {"type": "array"},
                "examples": {"type": "array", "items": {"anyOf": [{"$ref": "#/definitions/examplePairing"}, REFERENCE]}},
                "deprecated": {"type": "boolean"},
                "servers": {"type": "array"},
                "externalDocs": {"type": "object", "required": ["url"]},
            },
        },
        "contentDescriptor": {
            "type": "object", "required": ["name", "schema"], "additionalProperties": False,
            "patternProperties": EXTENSIONS,
            "properties": {"name": {"type": "string", "minLength": 1}, "summary": {"type": "string"},
                           "description": {"type": "string"}, "required": {"type": "boolean"},
                           "schema": {"type": ["object", "boolean"]}, "deprecated": {"type": "boolean"}},
        },
        "error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
        "example": {
            "type": "object", "required": ["name", "value"], "patternProperties": EXTENSIONS,
            "properties": {"name": {"type": "string", "minLength": 1}, "summary": {"type": "string"},
                           "description": {"type": "string"}, "value": {}},
        },
        "examplePairing": {
            "type": "object", "required": ["name", "params", "result"],
            "properties": {"name": {"type": "string", "minLength": 1}, "description": {"type": "string"},
                           "summary": {"type": "string"},
                           "params": {"type": "array", "items": {"anyOf": [{"$ref": "#/definitions/example"}, REFERENCE]}},
                           "result": {"anyOf": [{"$ref": "#/definitions/example"}, REFERENCE]}},
        },
        "tag": {
            "type": "object", "required": ["name"], "additionalProperties": False, "patternProperties": EXTENSIONS,
            "properties": {"name": {"type": "string", "minLength": 1}, "summary": {"type": "string"},
                           "description": {"type": "string"}, "externalDocs": {"type": "object"}},
        },
    },
}


def deref(document, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve_pointer(document, node["$ref"])
    return node


def check_openrpc():
    try:
        document = json.loads(OPENRPC.read_text(encoding="utf-8"), object_pairs_hook=unique_pairs)
    except ValueError as error:
        check("openrpc.json parses as JSON without duplicate keys", [str(error)])
        return None
    check("openrpc.json parses as JSON without duplicate keys", [])

    Draft7Validator.check_schema(OPENRPC_STRUCTURE)
    structure = Draft7Validator(OPENRPC_STRUCTURE)
    check("openrpc.json has the structure of an OpenRPC 1.2/1.3 document", schema_errors(structure, document, "openrpc.json"))
    check("openrpc.json: every $ref resolves inside the document", dangling_refs(document))

    problems = []
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        for error in Draft7Validator(Draft7Validator.META_SCHEMA).iter_errors(schema):
            problems.append(f"components.schemas.{name}: {error.message}")
    for method in document.get("methods", []):
        for descriptor in [method.get("result", {})] + method.get("params", []):
            descriptor = deref(document, descriptor)
            for error in Draft7Validator(Draft7Validator.META_SCHEMA).iter_errors(descriptor.get("schema", {})):
                problems.append(f"{method.get('name')} {descriptor.get('name')}: {error.message}")
    check("openrpc.json: every schema is a valid JSON Schema (draft-07)", problems)

    uri = "urn:customer-cache:openrpc"
    problems = []
    names = [method.get("name") for method in document.get("methods", [])]
    problems += [f"method {name} listed twice" for name in sorted(set(names)) if names.count(name) > 1]
    for index, method in enumerate(document.get("methods", [])):
        name = method.get("name")
        if method.get("paramStructure") != "by-name":
            problems.append(f"{name}: paramStructure must be by-name (the server refuses positional params)")
        params = {}
        for position, descriptor in enumerate(method.get("params", [])):
            descriptor = deref(document, descriptor)
            params[descriptor["name"]] = (descriptor, position)
        if not method.get("examples"):
            problems.append(f"{name}: no example")
        if not method.get("description"):
            problems.append(f"{name}: no description")
        for example_index, example in enumerate(method.get("examples", [])):
            example = deref(document, example)
            label = f"{name} example {example.get('name')!r}"
            given = {}
            for value in example.get("params", []):
                value = deref(document, value)
                if value["name"] not in params:
                    problems.append(f"{label}: unknown parameter {value['name']}")
                    continue
                given[value["name"]] = value["value"]
                _, position = params[value["name"]]
                pointer = f"#/methods/{index}/params/{position}/schema"
                if "$ref" in method["params"][position]:
                    pointer = method["params"][position]["$ref"] + "/schema"
                problems += schema_errors(validator_for(document, uri, DRAFT7, Draft7Validator, pointer), value["value"],
                                          f"{label} param {value['name']}")
            for param_name, (descriptor, _) in params.items():
                if descriptor.get("required") and param_name not in given:
                    problems.append(f"{label}: required parameter {param_name} missing")
            result = deref(document, example.get("result", {}))
            pointer = f"#/methods/{index}/result/schema"
            if "$ref" in method.get("result", {}):
                pointer = method["result"]["$ref"] + "/schema"
            if name != "rpc.discover" or example_index == 0:
                problems += schema_errors(validator_for(document, uri, DRAFT7, Draft7Validator, pointer), result.get("value"),
                                          f"{label} result")
        for tag in method.get("tags", []):
            tag = deref(document, tag)
            if tag.get("name") == "internal" and "internal" not in method.get("description", "").lower():
                problems.append(f"{name}: tagged internal but its description does not say so")
        if name.startswith("cache.") and "internal" not in [deref(document, tag).get("name") for tag in method.get("tags", [])]:
            problems.append(f"{name}: cache.* methods are internal and must carry the internal tag")
    check("openrpc.json: methods are unique, by-name, described, and every example matches its schemas", problems)

    problems = []
    errors = document.get("components", {}).get("errors", {})
    codes = [error["code"] for error in errors.values()]
    problems += [f"error code {code} listed twice" for code in sorted(set(codes)) if codes.count(code) > 1]
    schemas = document.get("components", {}).get("schemas", {})
    for key, error in errors.items():
        data_schema = f"{key}ErrorData"
        if data_schema not in schemas:
            problems.append(f"error {key} ({error['code']}): no components.schemas.{data_schema} describing its data")
            continue
        if "data" in error:
            validator = validator_for(document, uri, DRAFT7, Draft7Validator, f"#/components/schemas/{data_schema}")
            problems += schema_errors(validator, error["data"], f"error {key} data")
        if -32099 <= error["code"] <= -32000:
            name = error.get("data", {}).get("error")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z]+(_[a-z]+)*", name):
                problems.append(f"error {key} ({error['code']}): data.error must carry the snake_case name")
    for method in document.get("methods", []):
        for error in method.get("errors", []):
            if "$ref" not in error:
                problems.append(f"{method['name']}: inline error {error.get('code')}; reference components.errors instead")
    check("openrpc.json: error codes are unique and each error's data matches its schema", problems)
    return document


# ---------------------------------------------------------------------------------------------- both


def check_code_consistency(openrpc):
    """A quick source-level mirror of ContractTests (which is the authority, but needs a build)."""
    problems = []
    swift_codes = {int(code) for code in re.findall(r"case\s+\w+\s*=\s*(-\d+)", ERROR_CODES_SWIFT.read_text(encoding="utf-8"))}
    # The method table is the source: every `table.register("name"` / `registerMappingErrors("name"` call.
    registration = re.compile(r'\btable\.register(?:MappingErrors)?\(\s*"([^"]+)"')
    swift_methods = {name for path in REGISTRATION_SWIFT for name in registration.findall(path.read_text(encoding="utf-8"))}
    if not swift_codes or not swift_methods:
        problems.append("could not read RPCErrorCode cases or the method table's registrations from the sources")
    document_codes = {error["code"] for error in openrpc.get("components", {}).get("errors", {}).values()}
    document_methods = {method["name"] for method in openrpc.get("methods", [])}
    expected_codes = swift_codes | STANDARD_CODES
    expected_methods = swift_methods
    problems += [f"error code {code} is in the code but not in openrpc.json" for code in sorted(expected_codes - document_codes)]
    problems += [f"error code {code} is in openrpc.json but not in the code" for code in sorted(document_codes - expected_codes)]
    problems += [f"method {name} is in the code but not in openrpc.json" for name in sorted(expected_methods - document_methods)]
    problems += [f"method {name} is in openrpc.json but not in the code" for name in sorted(document_methods - expected_methods)]
    check("openrpc.json lists exactly the methods and error codes in the sources", problems)


def check_shared_schemas(openapi, openrpc):
    problems = []
    for name in SHARED_SCHEMAS:
        left = openapi.get("components", {}).get("schemas", {}).get(name)
        right = openrpc.get("components", {}).get("schemas", {}).get(name)
        if left is None or right is None:
            problems.append(f"{name} missing from {'openapi.yaml' if left is None else 'openrpc.json'}")
        elif left != right:
            problems.append(f"{name} differs between openapi.yaml and openrpc.json")
    rpc_methods = set(openapi["components"]["schemas"]["JSONRPCRequest"]["properties"]["method"]["enum"])
    if rpc_methods != {method["name"] for method in openrpc.get("methods", [])}:
        problems.append("openapi.yaml JSONRPCRequest.method enum differs from openrpc.json's methods")
    rpc_codes = set(openapi["components"]["schemas"]["JSONRPCError"]["properties"]["code"]["enum"])
    if rpc_codes != {error["code"] for error in openrpc.get("components", {}).get("errors", {}).values()}:
        problems.append("openapi.yaml JSONRPCError.code enum differs from openrpc.json's error codes")
    check("openapi.yaml and openrpc.json agree (Digital River schemas, method names, error codes)", problems)


def main():
    openapi = check_openapi()
    openrpc = check_openrpc()
    if openrpc is not None:
        check_code_consistency(openrpc)
    if openapi is not None and openrpc is not None:
        check_shared_schemas(openapi, openrpc)
    if failures:
        print(f"check-contracts: {len(failures)} check(s) failed")
        return 1
    print("check-contracts: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
