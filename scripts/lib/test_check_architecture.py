"""Tests of check_architecture.py on small throwaway repositories; run by scripts/check-architecture."""

import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_architecture  # noqa: E402

DOCUMENT = """\
# Architecture

```
  App ─► Sockets ─► CLinux
```

| Module | May import |
|---|---|
| `CLinux` | — (C shim) |
| `Sockets` | `CLinux` |
| `App` | `Sockets`, `Logging` (commentary) |

## Next section
"""


class CheckArchitectureTests(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.root = Path(self.directory.name)
        self.write("docs/ARCHITECTURE.md", DOCUMENT)
        self.write("Sources/CLinux/shim.c", "int x;\n")
        self.write("Sources/Sockets/Socket.swift", "import CLinux\nimport Glibc\nlet fd = socket(AF_INET, 1, 0)\n")
        self.write("Sources/App/App.swift", "import Foundation\n@preconcurrency import Sockets\nimport Logging\n")
        self.package = {"CLinux": set(), "Sockets": {"CLinux"}, "App": {"Sockets", "Logging"}}

    def tearDown(self):
        self.directory.cleanup()

    def write(self, relative, text):
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")

    def failures(self):
        return check_architecture.check(self.root, self.package)[0]

    def test_a_tree_that_matches_its_document_passes(self):
        self.assertEqual(self.failures(), [])

    def test_a_forbidden_import_names_the_module_and_the_import(self):
        self.write("Sources/Sockets/Leak.swift", "internal import App\n")
        self.assertEqual(len(self.failures()), 2)  # not in the table, and not declared in Package.swift
        self.assertIn("Sockets imports App (Sources/Sockets/Leak.swift), which docs/ARCHITECTURE.md does not allow",
                      self.failures()[0])

    def test_imports_in_comments_and_strings_do_not_count(self):
        self.write("Sources/Sockets/Notes.swift", '// import App\n/* import App */\nlet text = "import App"\n')
        self.assertEqual(self.failures(), [])

    def test_a_module_missing_from_the_table_fails(self):
        self.write("Sources/Extra/Extra.swift", "import Sockets\n")
        self.package["Extra"] = {"Sockets"}
        self.assertTrue(any("module Extra (Sources/Extra) is missing" in line for line in self.failures()))

    def test_a_target_with_its_own_path_is_checked_too(self):
        self.write("Fuzz/JSONFuzz/main.swift", "import App\n")
        self.package["JSONFuzz"] = {"App"}
        failures = check_architecture.check(self.root, self.package, {"JSONFuzz": "Fuzz/JSONFuzz"})[0]
        self.assertTrue(any("module JSONFuzz (Fuzz/JSONFuzz) is missing" in line for line in failures))
        self.write("docs/ARCHITECTURE.md", DOCUMENT.replace("\n## Next", "| `JSONFuzz` | `Sockets` |\n\n## Next")
                   .replace("App ─►", "App, JSONFuzz ─►"))
        failures = check_architecture.check(self.root, self.package, {"JSONFuzz": "Fuzz/JSONFuzz"})[0]
        self.assertIn("Package.swift: JSONFuzz depends on App, which docs/ARCHITECTURE.md does not allow", failures)
        self.assertTrue(any(line.startswith("JSONFuzz imports App (Fuzz/JSONFuzz/main.swift)") for line in failures))

    def test_a_table_row_without_a_module_fails(self):
        self.write("docs/ARCHITECTURE.md", DOCUMENT.replace("| `App` |", "| `Gone` | — |\n| `App` |"))
        self.assertTrue(any("lists module Gone, but there is no Sources/Gone" in line for line in self.failures()))

    def test_a_package_dependency_outside_the_table_fails(self):
        self.package["Sockets"] = {"CLinux", "App"}
        self.assertIn("Package.swift: Sockets depends on App, which docs/ARCHITECTURE.md does not allow",
                      self.failures())

    def test_an_import_not_declared_in_the_package_fails(self):
        self.package["App"] = {"Sockets"}
        self.assertTrue(any("App imports Logging" in line and "without declaring it" in line
                            for line in self.failures()))

    def test_a_socket_syscall_outside_the_socket_module_fails(self):
        self.write("Sources/App/Direct.swift", "import Glibc\nfunc go() { _ = Glibc.recv(3, nil, 0, 0) }\n"
                   "func resolve() { getaddrinfo(nil, nil, nil, nil) }\n")
        failures = self.failures()
        self.assertIn("Sources/App/Direct.swift:2: App calls the socket syscall recv()", failures[0])
        self.assertIn("Sources/App/Direct.swift:3: App calls the socket syscall getaddrinfo()", failures[1])

    def test_methods_named_like_syscalls_are_not_syscalls(self):
        self.write("Sources/App/Methods.swift", """\
            struct Batch { func send(_ value: Int) {}; func bind(_ value: Int) {} }
            func use(batch: Batch) { batch.send(1); self.connect(); client.listen(on: 1) }
            extension Batch { func again() { send(2); bind(3) } }
            let resent = resend(1); let s = unsafeSocket(2)
            """)
        self.assertEqual(self.failures(), [])

    def test_no_file_is_exempt_from_the_socket_rule(self):
        # The warm job's client and the test clients once had their own syscalls; nothing may again.
        self.write("Sources/CacheWarmer/PlainHTTPTransport.swift", "let n = Glibc.send(1, nil, 0, 0)\n")
        self.write("Sources/HTTPTestClient/OversizedBodyServer.swift", "func stop() { shutdown(3, 2) }\n")
        self.write("docs/ARCHITECTURE.md", DOCUMENT.replace("\n## Next", "| `CacheWarmer` | — |\n| `HTTPTestClient` | — |\n\n## Next")
                   .replace("App ─►", "App, CacheWarmer, HTTPTestClient ─►"))
        self.package["CacheWarmer"] = set()
        self.package["HTTPTestClient"] = set()
        failures = self.failures()
        self.assertIn("Sources/CacheWarmer/PlainHTTPTransport.swift:1: CacheWarmer calls the socket syscall send()", failures[0])
        self.assertIn("Sources/HTTPTestClient/OversizedBodyServer.swift:1: HTTPTestClient calls the socket syscall shutdown()",
                      failures[1])

    def test_a_c_module_with_two_swift_owners_fails(self):
        self.write("docs/ARCHITECTURE.md", DOCUMENT.replace("`Sockets`, `Logging`", "`Sockets`, `CLinux`, `Logging`"))
        self.assertIn("docs/ARCHITECTURE.md: the C module CLinux has more than one Swift owner: App, Sockets",
                      self.failures())

    def test_a_module_left_out_of_the_diagram_fails(self):
        self.write("docs/ARCHITECTURE.md", DOCUMENT.replace("App ─► ", ""))
        self.assertIn("docs/ARCHITECTURE.md: module App is in the table but not in the diagram above it",
                      self.failures())


if __name__ == "__main__":
    unittest.main()
