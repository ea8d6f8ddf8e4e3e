import Sockets

/// The HTTP version of a request; only 1.0 and 1.1 are accepted.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public let major: UInt8
    public let minor: UInt8
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A fully received request: head plus the whole body (bodies are bounded by `HTTPLimits.maxBodyBytes`).
public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    /// The request-target exactly as sent.
    public var target: String
    /// The target's path, without the query.
    public var path: String
    /// The query string after "?", if any.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The TCP peer (a proxy, when one is in front).
    public var remoteAddress: SocketAddress?
    /// Whether the connection stays open after this exchange (keep-alive rules of RFC 9112 §9.3).
    public var keepAlive: Bool
    /// Values captured by `{name}` segments of the matched route, percent-decoded.
    public var pathParameters: [String: String] = [:]

    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = [], remoteAddress: SocketAddress? = nil, keepAlive: Bool = true) {
        self.method = method
        self.target = target
        // By bytes: a target is ASCII by grammar, and walking Characters cost more than the rest of this init.
        if let question = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = String(target[..<question])
            query = String(target[target.utf8.index(after: question)...])
        } else {
            path = target
            query = nil
        }
        self.version = version
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.keepAlive = keepAlive
    }
}

/// A response to send; Content-Length, Date and Connection are added by the server.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Close the connection without answering: failure injection for this package's emulator and tests only
    /// (`package`, so no client of the HTTP1 library sees it). Never used by the service's own endpoints.
    package var dropsConnection = false

    /// A response that makes the server close the connection without writing anything (`package`: see above).
    package static var dropConnection: HTTPResponse {
        var response = HTTPResponse(status: .internalServerError)
        response.dropsConnection = true
        return response
    }

    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from already-encoded bytes.
    public static func json(_ status: HTTPStatus, _ body: [UInt8], headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        guard !headers.isEmpty else { return HTTPResponse(status: status, headers: jsonContentType, body: body) }
        var headers = headers
        headers.add(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// A JSON error body `{"error":"<code>","message":"<message>"}`; both strings are ours, never echoed input.
    public static func error(_ status: HTTPStatus, code: String, message: String, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(64 + message.utf8.count)
        body.append(contentsOf: #"{"error":"#.utf8)
        appendJSONString(code, to: &body)
        body.append(contentsOf: #","message":"#.utf8)
        appendJSONString(message, to: &body)
        body.append(UInt8(ascii: "}"))
        return .json(status, body, headers: headers)
    }
}

/// Built once: most responses carry exactly this one field.
private let jsonContentType = HTTPHeaders([("Content-Type", "application/json")])

/// Minimal JSON string escaping for the server's own error bodies (HTTP1 knows no JSON library).
func appendJSONString(_ text: String, to buffer: inout [UInt8]) {
    buffer.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "\""): buffer.append(contentsOf: #"\""#.utf8)
        case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            buffer.append(contentsOf: #"\u00"#.utf8)
            buffer.append(hex[Int(byte >> 4)])
            buffer.append(hex[Int(byte & 0xF)])
        default: buffer.append(byte)
        }
    }
    buffer.append(UInt8(ascii: "\""))
}
