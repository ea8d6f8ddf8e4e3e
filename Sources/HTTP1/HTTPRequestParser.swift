import Sockets

/// Incremental, strict HTTP/1.1 request parser (RFC 9112). It is fed the connection's unconsumed bytes and says
/// how many it used, so a request may arrive split at any byte. It never looks past the end of one request, which
/// keeps pipelined requests in order. Smuggling defences live here: every ambiguity is an error, never a guess.
public struct HTTPRequestParser: Sendable {
    /// What the parser produced from the bytes it was given.
    public enum Event: Sendable {
        /// Nothing complete yet; feed more bytes.
        case needMore
        /// The head is complete and the client waits for "100 Continue" before sending the body.
        case expectsContinue
        /// A whole request.
        case request(HTTPRequest)
        /// The request is invalid; answer with the error and close the connection.
        case failure(HTTPParseError)
    }

    private enum State: Sendable {
        case head(scannedUpTo: Int)
        case fixedBody(remaining: Int)
        case chunked
        case failed
    }

    public let limits: HTTPLimits
    private var state: State = .head(scannedUpTo: 0)
    private var pending: HTTPRequest?
    private var body: [UInt8] = []
    /// A chunked body's reader; a Content-Length body is read straight into `body` (the customer.get path).
    private var chunkedBody = HTTPBodyReader(.chunked)
    private var continueAnnounced = false

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
    }

    /// True while part of a request has been received, which shutdown and timeouts treat differently from idle.
    public func isMidRequest(bufferedBytes: Int) -> Bool {
        if case .head = state { return bufferedBytes > 0 }
        return true
    }

    /// True once the head is parsed and the body is being read (the body-read timeout applies then).
    public var isReadingBody: Bool {
        switch state {
        case .fixedBody, .chunked: return true
        case .head, .failed: return false
        }
    }

    /// Parses from `bytes` (the unconsumed input) and returns the event and how many bytes were consumed.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, remoteAddress: SocketAddress? = nil) -> (event: Event, consumed: Int) {
        var consumed = 0
        while true {
            switch state {
            case .failed:
                return (.needMore, consumed)
            case .head(let scannedUpTo):
                let remaining = UnsafeRawBufferPointer(rebasing: bytes[consumed...])
                // RFC 9112 §2.2: ignore empty lines before a request line.
                var skip = 0
                while skip + 1 < remaining.count, remaining[skip] == 0x0D, remaining[skip + 1] == 0x0A { skip += 2 }
                if skip > 0 {
                    consumed += skip
                    state = .head(scannedUpTo: 0)
                    continue
                }
                switch findHeadEnd(remaining, from: scannedUpTo) {
                case .notYet(let scanned):
                    if let error = checkIncompleteHeadLimits(remaining) { return fail(error, consumed) }
                    state = .head(scannedUpTo: scanned)
                    return (.needMore, consumed)
                case .invalid(let error):
                    return fail(error, consumed)
                case .end(let length):
                    let head = UnsafeRawBufferPointer(rebasing: remaining[0..<length])
                    consumed += length
                    switch parseHead(head, remoteAddress: remoteAddress) {
                    case .failure(let error):
                        return fail(error, consumed)
                    case .success(let (request, framing, expectContinue)):
                        body = []
                        switch framing {
                        case .none:
                            state = .head(scannedUpTo: 0)
                            return (.request(request), consumed)
                        case .length(let length):
                            pending = request
                            body.reserveCapacity(length)
                            state = .fixedBody(remaining: length)
                        case .chunked:
                            pending = request
                            chunkedBody = HTTPBodyReader(.chunked)
                            state = .chunked
                        }
                        continueAnnounced = false
                        if expectContinue, consumed == bytes.count {
                            continueAnnounced = true
                            return (.expectsContinue, consumed)
                        }
                    }
                }
            case .fixedBody(let remainingBody):
                let available = bytes.count - consumed
                let take = min(available, remainingBody)
                if take > 0 {
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[consumed..<(consumed + take)]))
                    consumed += take
                }
                if take == remainingBody {
                    return (.request(finishBody()), consumed)
                }
                state = .fixedBody(remaining: remainingBody - take)
                return (.needMore, consumed)
            case .chunked:
                let (progress, used) = chunkedBody.read(UnsafeRawBufferPointer(rebasing: bytes[consumed...]),
                                                   maxBodyBytes: limits.maxBodyBytes, maxTrailerBytes: limits.maxHeaderBytes)
                consumed += used
                switch progress {
                case .needMore: return (.needMore, consumed)
                case .failure(let error): return fail(error, consumed)
                case .done:
                    body = chunkedBody.takeBody()
                    return (.request(finishBody()), consumed)
                }
            }
        }
    }

    private mutating func finishBody() -> HTTPRequest {
        // Moved out, not copied: the pending request and the body each change hands once.
        var request = pending.take() ?? HTTPRequest(method: .get, target: "/")
        swap(&request.body, &body)
        state = .head(scannedUpTo: 0)
        return request
    }

    private mutating func fail(_ error: HTTPParseError, _ consumed: Int) -> (event: Event, consumed: Int) {
        state = .failed
        pending = nil
        body = []
        return (.failure(error), consumed)
    }

    // MARK: head


    private func checkIncompleteHeadLimits(_ bytes: UnsafeRawBufferPointer) -> HTTPParseError? {
        let lineEnd = firstCRLF(bytes)
        if lineEnd == nil, bytes.count > limits.maxRequestLineBytes + 1 {
            return HTTPParseError(.uriTooLong, "request_line_too_long", "request line exceeds \(limits.maxRequestLineBytes) bytes")
        }
        if let lineEnd, lineEnd > limits.maxRequestLineBytes {
            return HTTPParseError(.uriTooLong, "request_line_too_long", "request line exceeds \(limits.maxRequestLineBytes) bytes")
        }
        if let lineEnd, bytes.count - (lineEnd + 2) > limits.maxHeaderBytes + 2 {
            return HTTPParseError(.requestHeaderFieldsTooLarge, "header_section_too_large", "header section exceeds \(limits.maxHeaderBytes) bytes")
        }
        return nil
    }

    private enum Framing {
        case none
        case length(Int)
        case chunked
    }

    private func parseHead(_ head: UnsafeRawBufferPointer, remoteAddress: SocketAddress?) -> Result<(HTTPRequest, Framing, Bool), HTTPParseError> {
        // Request line.
        guard let lineEnd = firstCRLF(head) else {
            return .failure(HTTPParseError(.badRequest, "malformed_request_line", "missing request line"))
        }
        if lineEnd > limits.maxRequestLineBytes {
            return .failure(HTTPParseError(.uriTooLong, "request_line_too_long", "request line exceeds \(limits.maxRequestLineBytes) bytes"))
        }
        var index = 0
        while index < lineEnd, isTokenByte(head[index]) { index += 1 }
        guard index > 0, index < lineEnd, head[index] == 0x20 else {
            return .failure(HTTPParseError(.badRequest, "malformed_request_line", "request line must be METHOD SP target SP version"))
        }
        let method = HTTPMethod.parse(UnsafeRawBufferPointer(rebasing: head[0..<index]))
        let targetStart = index + 1
        index = targetStart
        while index < lineEnd, head[index] > 0x20, head[index] < 0x7F { index += 1 }
        guard index > targetStart, index < lineEnd, head[index] == 0x20 else {
            return .failure(HTTPParseError(.badRequest, "malformed_request_line", "request target is missing or holds invalid bytes"))
        }
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: head[targetStart..<index]), as: UTF8.self)
        let versionStart = index + 1
        guard lineEnd - versionStart == 8,
              head[versionStart] == UInt8(ascii: "H"), head[versionStart + 1] == UInt8(ascii: "T"),
              head[versionStart + 2] == UInt8(ascii: "T"), head[versionStart + 3] == UInt8(ascii: "P"),
              head[versionStart + 4] == UInt8(ascii: "/"), isDigit(head[versionStart + 5]),
              head[versionStart + 6] == UInt8(ascii: "."), isDigit(head[versionStart + 7]) else {
            return .failure(HTTPParseError(.badRequest, "malformed_request_line", "invalid HTTP version"))
        }
        let major = head[versionStart + 5] - UInt8(ascii: "0")
        let minor = head[versionStart + 7] - UInt8(ascii: "0")
        guard major == 1, minor <= 1 else {
            return .failure(HTTPParseError(.httpVersionNotSupported, "version_not_supported", "only HTTP/1.0 and HTTP/1.1 are supported"))
        }
        let version = HTTPVersion(major: major, minor: minor)
        // Origin-form (the usual case) is decided on the first byte; the rest only when it is not "/".
        let originForm = head[targetStart] == UInt8(ascii: "/")
        guard originForm || target == "*" || target.hasPrefix("http://") || target.hasPrefix("https://") else {
            return .failure(HTTPParseError(.badRequest, "malformed_request_line", "request target must be origin-form"))
        }

        // Header fields.
        if head.count - (lineEnd + 2) > limits.maxHeaderBytes + 2 {
            return .failure(HTTPParseError(.requestHeaderFieldsTooLarge, "header_section_too_large", "header section exceeds \(limits.maxHeaderBytes) bytes"))
        }
        let headers: HTTPHeaders
        switch parseFieldLines(head, from: lineEnd + 2, limits: limits) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): headers = parsed
        }
        return interpret(method: method, target: target, absoluteForm: !originForm && target != "*", version: version,
                         headers: headers, remoteAddress: remoteAddress)
    }

    private func interpret(method: HTTPMethod, target: String, absoluteForm: Bool, version: HTTPVersion, headers: HTTPHeaders,
                           remoteAddress: SocketAddress?) -> Result<(HTTPRequest, Framing, Bool), HTTPParseError> {
        headers.storage.withUnsafeBytes { storage in
            interpret(method: method, target: target, absoluteForm: absoluteForm, version: version, headers: headers, storage: storage,
                      remoteAddress: remoteAddress)
        }
    }

    private func interpret(method: HTTPMethod, target: String, absoluteForm: Bool, version: HTTPVersion, headers: HTTPHeaders,
                           storage: UnsafeRawBufferPointer,
                           remoteAddress: SocketAddress?) -> Result<(HTTPRequest, Framing, Bool), HTTPParseError> {
        // One pass over the classified fields; values stay bytes unless a rare path needs text.
        func value(_ entry: HTTPHeaders.Entry) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: storage[Int(entry.valueStart)..<Int(entry.valueEnd)])
        }
        var hostCount = 0
        var transferEncodings: [String] = []
        var contentLengthCount = 0
        var expectation: UnsafeRawBufferPointer?
        var connectionClose = false
        var connectionKeepAlive = false
        for entry in headers.entries where entry.known != 0 {
            switch HTTPFieldName(rawValue: entry.known) {
            case .host?: hostCount += 1
            case .expect?: if expectation == nil { expectation = value(entry) }
            case .connection?:
                if Self.listContains(value(entry), token: "close") { connectionClose = true }
                if Self.listContains(value(entry), token: "keep-alive") { connectionKeepAlive = true }
            case .contentLength?: contentLengthCount += 1
            case .transferEncoding?: transferEncodings.append(String(decoding: value(entry), as: UTF8.self))
            case .contentType?, .authorization?, nil: break
            }
        }
        if version == .http1_1, hostCount != 1 {
            return .failure(HTTPParseError(.badRequest, hostCount == 0 ? "missing_host" : "duplicate_host",
                                           "HTTP/1.1 requests need exactly one Host header"))
        }
        if version == .http1_0, hostCount > 1 {
            return .failure(HTTPParseError(.badRequest, "duplicate_host", "more than one Host header"))
        }

        var framing = Framing.none
        if !transferEncodings.isEmpty {
            if contentLengthCount > 0 {
                return .failure(HTTPParseError(.badRequest, "length_and_chunked", "Content-Length and Transfer-Encoding together"))
            }
            if version == .http1_0 {
                return .failure(HTTPParseError(.badRequest, "transfer_encoding_in_http10", "Transfer-Encoding is not defined for HTTP/1.0"))
            }
            switch classifyTransferCodings(transferEncodings) {
            case .chunked: break
            case .chunkedNotLast:
                // RFC 9112 §6.3: chunked must be last, exactly once, or the length cannot be known: 400.
                return .failure(HTTPParseError(.badRequest, "unknown_transfer_coding", "Transfer-Encoding must end in a single chunked"))
            case .unsupportedCoding:
                // RFC 9112 §6.1: a coding we do not implement (gzip, …) before chunked gets 501.
                return .failure(HTTPParseError(.notImplemented, "unsupported_transfer_coding", "only the chunked transfer coding is supported"))
            }
            framing = .chunked
        } else if contentLengthCount > 0 {
            let length: Int?
            switch contentLength(of: headers, storage: storage) {
            case .failure(let error): return .failure(error)
            case .success(let parsed): length = parsed
            }
            if let length, length > 0 { framing = .length(length) }
        }

        switch framing {
        case .length(let length) where length > limits.maxBodyBytes:
            return .failure(HTTPParseError(.contentTooLarge, "body_too_large", "body exceeds \(limits.maxBodyBytes) bytes"))
        default: break
        }

        var expectContinue = false
        if let expect = expectation {
            guard asciiLowercaseEquals(expect, "100-continue") else {
                return .failure(HTTPParseError(.expectationFailed, "unsupported_expectation", "only Expect: 100-continue is supported"))
            }
            if case .none = framing {} else { expectContinue = version == .http1_1 }
        }

        let keepAlive: Bool
        if connectionClose {
            keepAlive = false
        } else if version == .http1_0 {
            keepAlive = connectionKeepAlive
        } else {
            keepAlive = true
        }
        var request = HTTPRequest(method: method, target: target, version: version, headers: headers,
                                  remoteAddress: remoteAddress, keepAlive: keepAlive)
        if absoluteForm {
            // absolute-form: route on its path.
            let afterScheme = target.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
            let rest = afterScheme.count > 3 ? "/" + afterScheme[3] : "/"
            let normalized = HTTPRequest(method: method, target: String(rest))
            request.path = normalized.path
            request.query = normalized.query
        }
        return .success((request, framing, expectContinue))
    }

    /// Whether a comma-separated header value lists `token` (lowercase; compared ignoring case), OWS trimmed.
    static func listContains(_ value: UnsafeRawBufferPointer, token: StaticString) -> Bool {
        var partStart = 0
        while partStart <= value.count {
            var partEnd = partStart
            while partEnd < value.count, value[partEnd] != UInt8(ascii: ",") { partEnd += 1 }
            var first = partStart, last = partEnd
            while first < last, value[first] == 0x20 || value[first] == 0x09 { first += 1 }
            while last > first, value[last - 1] == 0x20 || value[last - 1] == 0x09 { last -= 1 }
            if asciiLowercaseEquals(UnsafeRawBufferPointer(rebasing: value[first..<last]), token) { return true }
            partStart = partEnd + 1
        }
        return false
    }
}

@inline(__always) func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

@inline(__always) func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
}

/// RFC 9110 tchar: the bytes allowed in methods and header names.
@inline(__always) func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
         UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
         UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): return true
    default: return false
    }
}
