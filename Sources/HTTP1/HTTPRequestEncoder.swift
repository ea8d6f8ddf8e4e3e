/// Writes a client's HTTP/1.1 request (RFC 9112 §3): request line, `Host`, the caller's fields, the framing, then
/// the body. The encoder owns the fields that frame the message or route it (`Host`, `Content-Length`,
/// `Transfer-Encoding`, `Connection`): a caller's copy of one is left out, so a request can never carry two
/// contradicting lengths or hosts. Bodies are in memory, so the length is always known and never chunked.
public enum HTTPRequestEncoder {
    /// The request's bytes, head and body, ready for one write. `Content-Length` is written when there is a body
    /// (an empty one included) and for POST, PUT and PATCH without one (RFC 9110 §8.6).
    /// - Throws: when the method is not a token, the target or host holds a byte a request line or field cannot
    ///   carry, or a field name is not a token or a value holds CR, LF or another control byte (which would end the
    ///   field early and let the rest pass as a field of its own: header injection).
    public static func encode(method: String, target: String, host: String, headers: [(String, String)],
                              body: [UInt8]?) throws(HTTPRequestEncodingError) -> [UInt8] {
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else { throw HTTPRequestEncodingError("method is not a token") }
        guard !target.isEmpty, target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPRequestEncodingError("request target is empty or holds a space or control byte")
        }
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPRequestEncodingError("host is empty or holds a space or control byte")
        }
        var out: [UInt8] = []
        out.reserveCapacity(128 + target.utf8.count + headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 } + (body?.count ?? 0))
        out.append(contentsOf: method.utf8)
        out.append(0x20)
        out.append(contentsOf: target.utf8)
        out.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        out.append(contentsOf: host.utf8)
        out.append(contentsOf: "\r\n".utf8)
        for (name, value) in headers {
            guard !name.isEmpty, name.utf8.allSatisfy(isTokenByte) else { throw HTTPRequestEncodingError("a field name is not a token") }
            // Names only in the message: values may be credentials.
            guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
                throw HTTPRequestEncodingError("the value of \(name) holds a control byte")
            }
            switch HTTPFieldName.classify(name) {
            case .host?, .contentLength?, .transferEncoding?, .connection?: continue
            case .contentType?, .expect?, .authorization?, nil: break
            }
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if body != nil || method == "POST" || method == "PUT" || method == "PATCH" {
            out.append(contentsOf: "Content-Length: \(body?.count ?? 0)\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        if let body { out.append(contentsOf: body) }
        return out
    }
}

/// Why a request could not be encoded; the message names a field at most, never a value.
public struct HTTPRequestEncodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String

    init(_ message: String) { self.message = message }

    public var description: String { "cannot encode the request: \(message)" }
}
