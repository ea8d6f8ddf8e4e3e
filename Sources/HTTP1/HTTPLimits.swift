/// Size limits the parser enforces; each is answered with its own status. Defaults are documented in README.
public struct HTTPLimits: Sendable, Hashable {
    /// Longest request line (method, target, version) in bytes; longer gets 414. Default 8 KiB.
    public var maxRequestLineBytes: Int = 8 * 1024
    /// Largest header section after the request line, in bytes; larger gets 431. Default 16 KiB.
    public var maxHeaderBytes: Int = 16 * 1024
    /// Most header fields in one request; more gets 431. Default 100.
    public var maxHeaderCount: Int = 100
    /// Largest request body after de-chunking, in bytes; larger gets 413. Default 1 MiB.
    public var maxBodyBytes: Int = 1 << 20

    public init(maxRequestLineBytes: Int = 8 * 1024, maxHeaderBytes: Int = 16 * 1024,
                maxHeaderCount: Int = 100, maxBodyBytes: Int = 1 << 20) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Why a request was refused before it reached a handler; `reason` is our own fixed text, never request bytes.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public let status: HTTPStatus
    /// A stable machine-readable code such as "obs_fold"; logged and returned in the error body.
    public let code: String
    public let message: String

    init(_ status: HTTPStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }
}
