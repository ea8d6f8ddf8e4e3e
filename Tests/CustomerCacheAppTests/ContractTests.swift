@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import JSON
import Testing

/// Keeps `openapi/openrpc.json` and README's configuration table honest against the code: a method, error code or
/// setting that exists on one side only fails here. (`scripts/check-contracts` validates the documents themselves.)
@Suite("Contracts match the code")
struct ContractTests {
    /// The repository root, found from this file's path so the test runs from any working directory.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// JSON-RPC 2.0's own codes: parse error, invalid request, method not found, invalid params, internal error.
    static let standardCodes: Set<Int> = [-32700, -32600, -32601, -32602, -32603]

    static func openRPC() throws -> JSONValue {
        let text = try String(contentsOf: root.appendingPathComponent("openapi/openrpc.json"), encoding: .utf8)
        return try JSONValue.parse(text)
    }

    /// Resolves a `{"$ref": "#/a/b"}` node inside `document`; any other node is returned as is.
    static func resolve(_ node: JSONValue, in document: JSONValue) -> JSONValue? {
        guard let reference = node["$ref"]?.stringValue else { return node }
        guard reference.hasPrefix("#/") else { return nil }
        var current: JSONValue? = document
        for part in reference.dropFirst(2).split(separator: "/") {
            let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if case .array? = current, let index = Int(key) { current = current?[index] } else { current = current?[key] }
        }
        return current
    }

    /// Every error object the document defines or uses: `components.errors` plus any inline in a method.
    static func documentedErrors(_ document: JSONValue) throws -> [JSONValue] {
        var errors = document["components"]?["errors"]?.objectValue?.values ?? []
        for method in document["methods"]?.arrayValue ?? [] {
            for error in method["errors"]?.arrayValue ?? [] {
                errors.append(try #require(resolve(error, in: document), "unresolvable error reference in \(method["name"]?.stringValue ?? "?")"))
            }
        }
        return errors
    }

    @Test("openrpc.json and the embedded rpc.discover document list exactly the methods the service registers")
    func methods() throws {
        // The running service's own table is the source: a method registered but not documented, or documented
        // but not registered, fails here, in either copy of the document.
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let registered = live.service.rpcMethodNames
        #expect(registered.count == Set(registered).count)
        #expect(registered.contains("rpc.discover") && registered.contains("customer.get"), "the table is not the service's")
        let embedded = try JSONValue.parse(OpenRPCDocument.json)
        for (copy, document) in [("openapi/openrpc.json", try Self.openRPC()), ("OpenRPCDocument.swift", embedded)] {
            let documented = (document["methods"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
            #expect(documented.count == Set(documented).count, "a method is listed twice in \(copy)")
            #expect(Set(registered).subtracting(documented).sorted() == [], "registered but not in \(copy)")
            #expect(Set(documented).subtracting(registered).sorted() == [], "in \(copy) but not registered")
        }
    }

    @Test("openrpc.json lists exactly RPCErrorCode's codes plus the five standard ones")
    func errorCodes() throws {
        let document = try Self.openRPC()
        let documented = Set(try Self.documentedErrors(document).compactMap { $0["code"]?.intValue })
        let inCode = Set(RPCErrorCode.allCases.map(\.rawValue)).union(Self.standardCodes)
        #expect(inCode.subtracting(documented).sorted() == [], "in the code but not in openrpc.json")
        #expect(documented.subtracting(inCode).sorted() == [], "in openrpc.json but not in the code")
    }

    @Test("each application error's message and data.error in openrpc.json are the ones the code sends", arguments: RPCErrorCode.allCases)
    func errorNames(_ code: RPCErrorCode) throws {
        let document = try Self.openRPC()
        let documented = try Self.documentedErrors(document).filter { $0["code"]?.intValue == code.rawValue }
        #expect(!documented.isEmpty, "\(code.rawValue) is not documented")
        for error in documented {
            #expect(error["message"]?.stringValue == code.message)
            #expect(error["data"]?["error"]?.stringValue == code.name)
        }
    }

    @Test("every method openrpc.json documents is served (no -32601)")
    func documentedMethodsAreServed() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let document = try Self.openRPC()
        for name in (document["methods"]?.arrayValue ?? []).compactMap({ $0["name"]?.stringValue }) {
            let code = try Self.errorCode(calling: name, on: live)
            #expect(code != -32601, "\(name) is documented but answers Method not found")
        }
    }

    @Test("rpc.discover answers with openrpc.json")
    func discover() throws {
        let live = try LiveService()
        defer { live.stop(); live.removeData() }
        let expected = try Self.openRPC()
        let response = try #require(try Self.call("rpc.discover", on: live))
        if let error = response["error"] {
            Issue.record("rpc.discover answered error \(error["code"]?.intValue ?? 0) \(error["message"]?.stringValue ?? "")")
            return
        }
        // Compared as a Bool so a difference does not print both documents in full. A failure here usually means
        // openrpc.json was edited without running scripts/embed-openrpc.
        let same = response["result"] == expected
        #expect(same, "rpc.discover's result differs from openapi/openrpc.json: run scripts/embed-openrpc")
    }

    /// Sends `{"jsonrpc":"2.0","method":name,"params":{},"id":1}` to /rpc and returns the response object.
    static func call(_ name: String, on live: LiveService) throws -> JSONValue? {
        var body = Array(#"{"jsonrpc":"2.0","method":"#.utf8)
        JSONValue.appendEscaped(name, to: &body)
        body.append(contentsOf: #","params":{},"id":1}"#.utf8)
        let response = try #require(try RawClient(live.rpc).exchange(method: "POST", path: "/rpc",
                                                                       headers: [("Content-Type", "application/json")], body: body))
        #expect(response.status == 200)
        return try JSONValue.parse(response.body, limits: JSONLimits(maxBytes: 64 << 20))
    }

    static func errorCode(calling name: String, on live: LiveService) throws -> Int? {
        try call(name, on: live)?["error"]?["code"]?.intValue
    }

    // MARK: README

    /// The `Key` column of README's table under "## Configuration", in order, with the `Default` column's first
    /// backticked value (nil when the cell has none, e.g. "number of cores").
    static func readmeSettings() throws -> [(key: String, defaultValue: String?)] {
        let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        var rows: [(String, String?)] = []
        var inSection = false
        var inTable = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("## ") {
                if inSection { break }
                inSection = line == "## Configuration"
                continue
            }
            guard inSection else { continue }
            if line.hasPrefix("| Key |") { inTable = true; continue }
            guard inTable else { continue }
            guard line.hasPrefix("|") else { if !rows.isEmpty { break } else { continue } }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, let key = Self.firstCode(in: cells[1]) else { continue }
            rows.append((key, Self.firstCode(in: cells[2])))
        }
        return rows
    }

    static func firstCode(in cell: String) -> String? {
        let parts = cell.split(separator: "`", omittingEmptySubsequences: false)
        return parts.count >= 3 ? String(parts[1]) : nil
    }

    @Test("README's configuration table lists only real settings, with their real defaults")
    func readmeHasNoUnknownSettings() throws {
        let rows = try Self.readmeSettings()
        #expect(!rows.isEmpty, "no configuration table found under '## Configuration' in README.md")
        let settings = Dictionary(uniqueKeysWithValues: AppConfiguration.settings.map { ($0.key, $0) })
        for row in rows {
            guard let setting = settings[row.key] else {
                Issue.record("README lists \(row.key), which is not in AppConfiguration.settings")
                continue
            }
            if let documented = row.defaultValue, let actual = setting.defaultValue, row.key != "event-loops" {
                #expect(documented == actual, "README's default of \(row.key)")
            }
        }
        let keys = rows.map(\.key)
        #expect(keys.count == Set(keys).count, "a key is listed twice in README's configuration table")
    }

    @Test("README's configuration table lists every setting")
    func readmeListsEverySetting() throws {
        let listed = Set(try Self.readmeSettings().map(\.key))
        let missing = AppConfiguration.settings.map(\.key).filter { !listed.contains($0) }
        #expect(missing == [], "settings missing from README's configuration table")
    }
}
