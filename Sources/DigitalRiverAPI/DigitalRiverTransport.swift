/// The wire the client sends through: `URLSessionTransport` in production, anything in tests.
///
/// A transport sends one request and returns whatever status came back; it never retries and never interprets
/// statuses, so the retry policy lives in one place (`DigitalRiverClient`).
public protocol DigitalRiverTransport: Sendable {
    /// Sends `request` and returns the full response, or throws when no HTTP response was obtained within
    /// `request.timeoutSeconds`.
    func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse
}

/// One HTTP request, fully formed by the client.
public struct TransportRequest: Sendable {
    public var method: String
    /// Absolute URL, already percent-encoded.
    public var url: String
    /// In order; the client sets Authorization, Accept, User-Agent and (with a body) Content-Type.
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Deadline for the whole exchange (connect, send, receive), in seconds.
    public var timeoutSeconds: Double
    /// Most body bytes the transport may receive; past it (or when `Content-Length` announces more) it stops
    /// reading and throws `.responseTooLarge`, so an oversized answer never sits in memory whole. nil: no limit.
    public var maxResponseBytes: Int?

    public init(method: String, url: String, headers: [(String, String)], body: [UInt8]?, timeoutSeconds: Double,
                maxResponseBytes: Int? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
        self.maxResponseBytes = maxResponseBytes
    }

    /// First value of a header, names compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// One HTTP response, body fully read.
public struct TransportResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// First value of a header, names compared case-insensitively (HTTP field names are case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Why no HTTP response was obtained. The kind decides whether the client may retry, so transports must pick it
/// carefully: `connectionFailed` promises the request never left, `connectionLost` admits it may have been processed.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed, in terms the retry policy needs.
    public enum Kind: String, Sendable, Hashable {
        /// No connection was made (refused, DNS failure, unreachable): the request was certainly not sent.
        case connectionFailed
        /// The connection broke or the peer closed it without answering: the request may have been processed.
        case connectionLost
        /// No complete response before the deadline: the request may have been processed.
        case timedOut
        /// The calling task was cancelled.
        case cancelled
        /// The body passed `TransportRequest.maxResponseBytes` and reading stopped: not worth repeating, the same
        /// answer would come again.
        case responseTooLarge
        /// Anything else (TLS failure, malformed URL, unsupported response): not worth repeating.
        case other
    }

    public let kind: Kind
    /// Ours; never contains the API key, headers or bodies.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
