import JSON

/// The common single call, read by a byte scan instead of the JSON parser: one object with `jsonrpc` "2.0", a
/// `method`, an optional integer or plain-string `id`, and optional `params` holding exactly one plain-string `id`
/// (what `customer.get` sends), members in any order, whitespace anywhere JSON allows it.
///
/// Anything else (an escape, non-ASCII text, another member or parameter, a repeated key, a fraction, a batch,
/// a string over the limit, trailing bytes, …) makes `init` return nil and the full parser reads the body, so
/// every error, limit and conformance rule stays where it was: this only ever accepts bodies the parser would
/// turn into the same call.
struct JSONRPCSimpleRequest {
    /// The method name's bytes (ASCII, no escapes), matched against the method table without building a String.
    let method: Range<Int>
    let id: JSONRPCID?
    /// `params.id`, the only parameter this shape carries; nil when `params` was absent or empty.
    let parameterID: String?

    init?(_ body: UnsafeRawBufferPointer, limits: JSONRPCLimits) {
        guard limits.maxDepth >= 2 else { return nil }
        var scanner = Scanner(bytes: body, maxString: limits.maxStringBytes)
        guard scanner.consume(UInt8(ascii: "{")) else { return nil }
        var version: Range<Int>?
        var method: Range<Int>?
        var id: JSONRPCID?
        var sawID = false
        var parameterID: String?
        var sawParams = false
        var first = true
        while true {
            if first {
                first = false
                if scanner.consume(UInt8(ascii: "}")) { return nil }  // {} is an error the parser words
            } else if scanner.consume(UInt8(ascii: "}")) {
                break
            } else if !scanner.consume(UInt8(ascii: ",")) {
                return nil
            }
            guard let key = scanner.plainString(), scanner.consume(UInt8(ascii: ":")) else { return nil }
            switch scanner.keyword(key) {
            case .jsonrpc:
                guard version == nil, let value = scanner.plainString() else { return nil }
                version = value
            case .method:
                guard method == nil, let value = scanner.plainString() else { return nil }
                method = value
            case .id:
                guard !sawID, let value = scanner.id() else { return nil }
                sawID = true
                id = value
            case .params:
                guard !sawParams, let value = scanner.singleIDParameter() else { return nil }
                sawParams = true
                if case .id(let text) = value { parameterID = text }
            case .other:
                return nil
            }
        }
        guard scanner.atEnd(), let version, scanner.equals(version, "2.0"), let method else { return nil }
        self.method = method
        self.id = id
        self.parameterID = parameterID
    }

    /// The member names this shape knows.
    enum Key { case jsonrpc, method, id, params, other }

    /// A cursor over the body; every method skips the whitespace before what it reads.
    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        let maxString: Int
        var index = 0

        init(bytes: UnsafeRawBufferPointer, maxString: Int) {
            self.bytes = bytes
            self.maxString = maxString
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        @inline(__always)
        mutating func consume(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func atEnd() -> Bool {
            skipWhitespace()
            return index == bytes.count
        }

        /// A string of printable ASCII without escapes; the range of its contents. Nil (fall back) otherwise.
        mutating func plainString() -> Range<Int>? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    guard index - start <= maxString else { return nil }
                    index += 1
                    return start..<(index - 1)
                }
                guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else { return nil }
                index += 1
            }
            return nil
        }

        func equals(_ range: Range<Int>, _ text: StaticString) -> Bool {
            guard range.count == text.utf8CodeUnitCount else { return false }
            let expected = text.utf8Start
            for offset in 0..<range.count where bytes[range.lowerBound + offset] != expected[offset] { return false }
            return true
        }

        func keyword(_ range: Range<Int>) -> Key {
            switch range.count {
            case 2: return equals(range, "id") ? .id : .other
            case 6: return equals(range, "method") ? .method : equals(range, "params") ? .params : .other
            case 7: return equals(range, "jsonrpc") ? .jsonrpc : .other
            default: return .other
            }
        }

        func string(_ range: Range<Int>) -> String {
            String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        }

        /// `null`, a plain string, or an integer literal whose text `String(Int)` reproduces exactly (no `-0`,
        /// no leading zeros, at most 18 digits), so the echoed id is byte-for-byte what the client sent.
        mutating func id() -> JSONRPCID? {
            skipWhitespace()
            guard index < bytes.count else { return nil }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                guard let range = plainString() else { return nil }
                return .string(string(range))
            }
            if byte == UInt8(ascii: "n") {
                guard bytes.count - index >= 4, bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2] == UInt8(ascii: "l"),
                      bytes[index + 3] == UInt8(ascii: "l") else { return nil }
                index += 4
                return .null
            }
            let negative = byte == UInt8(ascii: "-")
            if negative { index += 1 }
            let start = index
            var value = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                value = value * 10 + Int(bytes[index] - 0x30)
                index += 1
                guard index - start <= 18 else { return nil }
            }
            let digits = index - start
            guard digits > 0, digits == 1 || bytes[start] != 0x30, !(negative && value == 0) else { return nil }
            // A fraction or exponent is left to the parser.
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
            return .number(JSONNumber(negative ? -value : value))
        }

        /// What `params` held.
        enum Parameters { case empty, id(String) }

        /// `{}` or `{"id": "<plain string>"}`; nil (fall back) for anything else.
        mutating func singleIDParameter() -> Parameters? {
            guard consume(UInt8(ascii: "{")) else { return nil }
            if consume(UInt8(ascii: "}")) { return .empty }
            guard let key = plainString(), keyword(key) == .id, consume(UInt8(ascii: ":")), let value = plainString(),
                  consume(UInt8(ascii: "}")) else { return nil }
            return .id(string(value))
        }
    }
}
