import JSON

/// What one request contributes to the response body.
enum Outcome: Sendable {
    /// A notification: nothing is written.
    case silent
    case result(JSONRPCID, JSONRPCResult)
    case error(JSONRPCID, JSONRPCError)

    private static let resultPrefix: StaticString = #"{"jsonrpc":"2.0","result":"#
    private static let errorPrefix: StaticString = #"{"jsonrpc":"2.0","error":"#
    private static let idInfix: StaticString = #","id":"#

    /// Exact encoded size, nil when silent; responses are sized before writing so the body is allocated once.
    var encodedCount: Int? {
        switch self {
        case .silent:
            return nil
        case .result(let id, let result):
            return Self.resultPrefix.utf8CodeUnitCount + result.json.count + Self.idInfix.utf8CodeUnitCount
                + id.encodedCount + 1
        case .error(let id, let error):
            return Self.errorPrefix.utf8CodeUnitCount + error.encodedObjectCount + Self.idInfix.utf8CodeUnitCount
                + id.encodedCount + 1
        }
    }

    /// Member order is fixed (`jsonrpc`, `result`/`error`, `id`) so responses are byte-for-byte predictable.
    func encode(into out: inout [UInt8]) {
        switch self {
        case .silent:
            return
        case .result(let id, let result):
            Self.append(Self.resultPrefix, to: &out)
            out.append(contentsOf: result.json)
            Self.append(Self.idInfix, to: &out)
            id.encode(into: &out)
        case .error(let id, let error):
            Self.append(Self.errorPrefix, to: &out)
            error.encodeObject(into: &out)
            Self.append(Self.idInfix, to: &out)
            id.encode(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    @inline(__always)
    private static func append(_ text: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The body for a single request; nil for a notification.
    func single() -> [UInt8]? {
        guard let size = encodedCount else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        encode(into: &out)
        assert(out.count == size, "response size miscounted")
        return out
    }

    /// The body for a batch: an array of the non-silent outcomes in request order, or nil when all are silent.
    static func batch(_ outcomes: [Outcome]) -> [UInt8]? {
        var size = 1
        var written = 0
        for outcome in outcomes {
            if let count = outcome.encodedCount {
                size += count + 1  // the element and its following comma or closing bracket
                written += 1
            }
        }
        guard written > 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        out.append(UInt8(ascii: "["))
        for outcome in outcomes {
            if case .silent = outcome { continue }
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            outcome.encode(into: &out)
        }
        out.append(UInt8(ascii: "]"))
        assert(out.count == size, "response size miscounted")
        return out
    }
}
