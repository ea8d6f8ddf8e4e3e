#if canImport(Glibc)
import Glibc
#endif

/// Turns an `HTTPResponse` into HTTP/1.1 bytes: status line, `Date`, framing, `Connection`, the handler's fields and
/// the body. The server owns the framing fields: a handler cannot get `Content-Length` wrong or forget it.
public enum HTTPResponseEncoder {
    /// Whether the connection stays open after this response, which decides its `Connection` field.
    public enum Persistence: Sendable, Equatable {
        /// HTTP/1.1's default; no field needed.
        case keepAlive
        /// An HTTP/1.0 client that asked for keep-alive must be told it got it (RFC 9112 §9.3).
        case announcedKeepAlive
        /// The last response on this connection: `Connection: close`.
        case close
    }

    /// How the end of a response's body is known (RFC 9112 §6.3). Every response here has its whole body in hand,
    /// so a length is always known; chunked framing is for bodies of unknown length, which no handler produces.
    public enum Framing: Sendable, Equatable {
        /// 1xx, 204 and 304 have no body and no `Content-Length` (RFC 9110 §8.6).
        case none
        case contentLength(Int)
    }

    /// The framing a response with this status and body gets. HEAD answers keep the length of the body they omit.
    public static func framing(status: HTTPStatus, bodyCount: Int) -> Framing {
        let code = status.code
        return code >= 200 && code != 204 && code != 304 ? .contentLength(bodyCount) : .none
    }

    /// Appends the whole response to `out`. `date` is an IMF-fixdate (`HTTPDateCache`); `isHead` leaves the body
    /// out but keeps its `Content-Length`.
    public static func encode(_ response: HTTPResponse, date: [UInt8], isHead: Bool, persistence: Persistence,
                              into out: inout [UInt8]) {
        if out.isEmpty { out.reserveCapacity(256 + response.body.count) }
        appendStatic("HTTP/1.1 ", to: &out)
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        out.append(contentsOf: response.status.reason.utf8)
        appendStatic("\r\nDate: ", to: &out)
        out.append(contentsOf: date)
        let framing = framing(status: response.status, bodyCount: response.body.count)
        if case .contentLength(let length) = framing {
            appendStatic("\r\nContent-Length: ", to: &out)
            appendDecimal(length, to: &out)
        }
        switch persistence {
        case .close: appendStatic("\r\nConnection: close", to: &out)
        case .announcedKeepAlive: appendStatic("\r\nConnection: keep-alive", to: &out)
        case .keepAlive: break
        }
        response.headers.appendFieldLines(to: &out)
        appendStatic("\r\n\r\n", to: &out)
        if case .contentLength = framing, !isHead { out.append(contentsOf: response.body) }
    }

    /// The interim answer to `Expect: 100-continue`: the client may send the body now (RFC 9110 §10.1.1).
    public static func encodeContinue(into out: inout [UInt8]) {
        appendStatic("HTTP/1.1 100 Continue\r\n\r\n", to: &out)
    }

    /// The 503 for a connection over the connection cap, written once to a fresh socket and closed. Short enough
    /// to always fit the send buffer, so the peer learns why; no `Date`, since it is built once.
    public static let refusal: [UInt8] = {
        let body = #"{"error":"too_many_connections","message":"connection limit reached"}"#
        let text = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\nRetry-After: 1\r\n\r\n\(body)"
        return Array(text.utf8)
    }()
}

/// Appends a literal's bytes in one copy (a `String`'s UTF-8 view goes through the generic append).
@inline(__always) func appendStatic(_ text: StaticString, to buffer: inout [UInt8]) {
    buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
}

@inline(__always) func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
    if value < 10 {
        buffer.append(UInt8(truncatingIfNeeded: value) + 0x30)
        return
    }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var remaining = value
    withUnsafeMutableBytes(of: &digits) { raw in
        while remaining > 0 {
            raw[19 - count] = UInt8(truncatingIfNeeded: remaining % 10) + 0x30
            remaining /= 10
            count += 1
        }
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(20 - count)...]))
    }
}

/// The IMF-fixdate for the Date header, recomputed at most once a second per loop.
struct HTTPDateCache {
    private var second = 0
    private var bytes: [UInt8] = []

    mutating func current() -> [UInt8] {
        if bytes.isEmpty { refresh() }
        return bytes
    }

    mutating func refresh() {
        var now = time(nil)
        guard now != second || bytes.isEmpty else { return }
        second = now
        var parts = tm()
        gmtime_r(&now, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let text = "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        bytes = Array(text.utf8)
    }
}
