"""Keeps docs/ARCHITECTURE.md true: each module's imports against the allowed edges the document lists.

Run through scripts/check-architecture (before the Swift build: it needs only the sources, the document and
`swift package dump-package`). Checks:
  - the document's "Module | May import" table names exactly the modules under Sources/ (and Package.swift's
    non-test targets);
  - every `import X` under Sources/<Module>/ is an edge of that table (platform modules are not edges);
  - every Package.swift dependency of a target is an allowed edge, and every import is declared there (an import
    that builds only through a transitive dependency is an edge nobody drew);
  - every module in the table appears in the document's diagram, and each C module has at most one Swift owner;
  - no module outside Sockets and its C shim calls a socket syscall (no file is exempt).
Violations fail; leftovers (an allowed edge nothing uses) are printed as notes.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

# Platform and toolchain modules: available everywhere, so importing them is not an architectural edge.
PLATFORM_MODULES = {
    "Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl", "Darwin", "Dispatch",
    "Synchronization", "XCTest", "Testing", "_Concurrency",
}

# The modules allowed to make socket syscalls: the one Swift owner and its C shim.
SOCKET_OWNERS = {"Sockets", "CLinux"}

# Glibc calls that only the socket layer should make. A bare call counts unless the module declares a function
# of the same name (then `send(...)` is its own method); a `Glibc.`-qualified call always counts.
SOCKET_SYSCALLS = {
    "socket", "socketpair", "connect", "accept", "accept4", "bind", "listen", "recv", "recvfrom", "recvmsg",
    "send", "sendto", "sendmsg", "setsockopt", "getsockopt", "getsockname", "getpeername", "getaddrinfo",
    "freeaddrinfo", "getnameinfo", "gai_strerror", "shutdown", "eventfd",
}
SYSCALL_CALL = re.compile(r"(?<![\w.])(?:(Glibc|Musl|Darwin)\.)?(epoll_\w+|[a-z][a-z0-9]*)\s*\(")
FUNCTION_DECLARATION = re.compile(r"\bfunc\s+(\w+)\s*[(<]")

IMPORT_LINE = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|internal|fileprivate|private)\s+)?import\s+"
    r"(?:(?:struct|class|enum|protocol|typealias|func|var|let)\s+)?(\w+)"
)
TABLE_HEADING = re.compile(r"^\|\s*Module\s*\|\s*May import\s*\|\s*$", re.IGNORECASE)
BACKTICKED = re.compile(r"`([^`]+)`")
DIAGRAM = re.compile(r"^```\n(.*?)^```", re.DOTALL | re.MULTILINE)


def strip_comments_and_strings(source):
    """Blanks comments and string literals (keeping line breaks) so neither can look like an import or a call."""
    pattern = re.compile(r'/\*.*?\*/|//[^\n]*|"""(?:\\.|[^\\])*?"""|"(?:\\.|[^"\\\n])*"', re.DOTALL)
    return pattern.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), source)


def allowed_edges(document):
    """The "| Module | May import |" table: module -> the backticked names in its second cell (the rest is prose)."""
    edges, problems, in_table = {}, [], False
    for number, line in enumerate(document.splitlines(), 1):
        if TABLE_HEADING.match(line):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            if edges:
                break
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if set(cells[0]) <= set("-: "):
            continue
        names = BACKTICKED.findall(cells[0])
        if len(cells) != 2 or len(names) != 1:
            problems.append(f"docs/ARCHITECTURE.md:{number}: expected | `Module` | `Allowed`, ... |, got: {line}")
            continue
        if names[0] in edges:
            problems.append(f"docs/ARCHITECTURE.md:{number}: `{names[0]}` is listed twice")
        edges[names[0]] = set(BACKTICKED.findall(cells[1]))
    if not edges and not problems:
        problems.append("docs/ARCHITECTURE.md has no \"| Module | May import |\" table")
    return edges, problems


def module_imports(module_directory):
    """Import name -> the first file (relative to the repository) that imports it, for one Sources/<Module>/."""
    imports = {}
    for path in sorted(module_directory.rglob("*.swift")):
        for line in strip_comments_and_strings(path.read_text(encoding="utf-8")).splitlines():
            match = IMPORT_LINE.match(line)
            if match and match.group(1) not in PLATFORM_MODULES:
                imports.setdefault(match.group(1), path)
    return imports


def socket_syscalls(module_directory):
    """(path, line number, call) for each socket syscall a Swift module makes itself."""
    sources = {path: strip_comments_and_strings(path.read_text(encoding="utf-8"))
               for path in sorted(module_directory.rglob("*.swift"))}
    own_functions = {name for text in sources.values() for name in FUNCTION_DECLARATION.findall(text)}
    calls = []
    for path, text in sources.items():
        for number, line in enumerate(text.splitlines(), 1):
            found = {name for qualifier, name in SYSCALL_CALL.findall(line)
                     if is_syscall(name) and (qualifier or name not in own_functions)}
            calls += [(path, number, name) for name in sorted(found)]
    return calls


def is_syscall(name):
    return name in SOCKET_SYSCALLS or name.startswith("epoll_")


def package_targets(root):
    """From `swift package dump-package`, for non-test targets: name -> declared dependencies (target and product
    names), and name -> directory for targets declared with a `path:` (a Fuzz/ target, say)."""
    result = subprocess.run(["swift", "package", "--package-path", str(root), "dump-package"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL check-architecture: `swift package dump-package` failed:\n{result.stderr}")
    output = result.stdout
    targets, paths = {}, {}
    for target in json.loads(output)["targets"]:
        if target["type"] in ("test", "plugin", "macro"):
            continue
        targets[target["name"]] = {next(iter(dependency.values()))[0] for dependency in target["dependencies"]}
        if target.get("path"):
            paths[target["name"]] = target["path"]
    return targets, paths


def check(root, package=None, paths=None):
    """(failures, notes) for the repository at `root`; `package` and `paths` come from package_targets(root)
    (`package` None skips the Package.swift checks)."""
    failures, notes = [], []
    document = (root / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    edges, problems = allowed_edges(document)
    failures += problems
    modules = {path.name: path for path in sorted((root / "Sources").iterdir()) if path.is_dir()}
    modules.update({name: root / path for name, path in (paths or {}).items()})
    products = set().union(*package.values()) - set(package) if package else set()

    for name in sorted(set(modules) - set(edges)):
        failures.append(f"module {name} ({modules[name].relative_to(root)}) is missing from docs/ARCHITECTURE.md's "
                        f"\"Module | May import\" table: add a row with what it may import")
    for name in sorted(set(edges) - set(modules)):
        failures.append(f"docs/ARCHITECTURE.md lists module {name}, but there is no Sources/{name}")
    diagram = DIAGRAM.search(document)
    drawn = set(re.findall(r"[\w-]+", diagram.group(1))) if diagram else set()
    for name in sorted(set(edges) - drawn):
        failures.append(f"docs/ARCHITECTURE.md: module {name} is in the table but not in the diagram above it")
    for name in sorted(name for name, directory in modules.items() if not any(directory.rglob("*.swift"))):
        owners = sorted(owner for owner, allowed in edges.items() if name in allowed)
        if len(owners) > 1:
            failures.append(f"docs/ARCHITECTURE.md: the C module {name} has more than one Swift owner: "
                            f"{', '.join(owners)}")
    for name, allowed in sorted(edges.items()):
        for unknown in sorted(allowed - set(edges) - products):
            failures.append(f"docs/ARCHITECTURE.md: {name} may import `{unknown}`, which is neither a module in the "
                            f"table nor a product in Package.swift")

    for name, directory in modules.items():
        imports = module_imports(directory)
        allowed = edges.get(name, set())
        for imported, path in sorted(imports.items()):
            if name in edges and imported not in allowed:
                failures.append(f"{name} imports {imported} ({path.relative_to(root)}), which docs/ARCHITECTURE.md "
                                f"does not allow: {name} may import {', '.join(sorted(allowed)) or 'nothing'}")
        for unused in sorted(allowed - set(imports)):
            notes.append(f"docs/ARCHITECTURE.md lets {name} import {unused}, but nothing in "
                         f"{directory.relative_to(root)} does")
        if package is not None:
            declared = package.get(name)
            if declared is None:
                failures.append(f"{directory.relative_to(root)} is not a target in Package.swift")
                continue
            for dependency in sorted(declared - allowed if name in edges else set()):
                failures.append(f"Package.swift: {name} depends on {dependency}, which docs/ARCHITECTURE.md "
                                f"does not allow")
            for imported, path in sorted(imports.items()):
                if imported not in declared:
                    failures.append(f"{name} imports {imported} ({path.relative_to(root)}) without declaring it in "
                                    f"Package.swift (it builds only through a transitive dependency)")
    if package is not None:
        for name in sorted(set(package) - set(modules)):
            failures.append(f"Package.swift target {name} has no Sources/{name} directory (nor a `path:`)")

    for name, directory in modules.items():
        if name in SOCKET_OWNERS:
            continue
        for path, number, call in socket_syscalls(directory):
            failures.append(f"{path.relative_to(root).as_posix()}:{number}: {name} calls the socket syscall {call}(), "
                            f"which only Sockets may make: use (or extend) Sockets")
    return failures, notes


def main():
    root = Path(__file__).resolve().parents[2]
    failures, notes = check(root, *package_targets(root))
    for note in notes:
        print(f"note {note}")
    for failure in failures:
        print(f"FAIL {failure}")
    if failures:
        print(f"check-architecture: {len(failures)} problem(s); the allowed edges are the \"Module | May import\" "
              f"table in docs/ARCHITECTURE.md")
        return 1
    print(f"ok   check-architecture: the imports of every module match "
          f"docs/ARCHITECTURE.md and Package.swift; socket syscalls only in Sockets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
