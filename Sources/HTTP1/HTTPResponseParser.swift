/// A response as a client received it: status line, header fields and the whole body (at most
/// `HTTPLimits.maxBodyBytes`, after de-chunking).
public struct HTTPReceivedResponse: Sendable {
    public var status: HTTPStatus
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Whether the connection may carry the next request: the body was framed (not read up to the close) and neither
    /// `Connection: close` nor HTTP/1.0 without `Connection: keep-alive` ends it (RFC 9112 §9.3). Always true for an
    /// interim (1xx) response, since the final one follows on the same connection.
    public var keepAlive: Bool
}

/// Why a response was refused. After any of these the connection must be closed: where the next response starts can
/// no longer be trusted. `code` is stable (like `HTTPParseError.code`); `message` is ours, never response bytes.
public struct HTTPResponseParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, in the terms a client acts on.
    public enum Kind: Sendable, Hashable {
        /// Not valid HTTP/1.1 framing or syntax, conflicting framing included (RFC 9112 §6.3).
        case malformed
        /// The status line, the header section or the number of fields is over `HTTPLimits`.
        case headTooLarge
        /// The body, announced by `Content-Length` or received, is over `HTTPLimits.maxBodyBytes`; it was not read.
        case bodyTooLarge
        /// Well-formed, but not something this parser reads: a transfer coding other than chunked, a protocol switch
        /// (101), a version other than 1.0 and 1.1.
        case unsupported
        /// The connection closed before the response was complete.
        case truncated
    }

    public let kind: Kind
    public let code: String
    public let message: String

    init(_ kind: Kind, _ code: String, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The same defect found by the code both directions share, in a client's terms.
    init(_ error: HTTPParseError) {
        switch error.status.code {
        case 413: kind = .bodyTooLarge
        case 414, 431: kind = .headTooLarge
        case 501, 505: kind = .unsupported
        default: kind = .malformed
        }
        code = error.code
        message = error.message
    }

    public var description: String { "\(code): \(message)" }
}

/// Incremental, strict HTTP/1.1 response parser (RFC 9112), the client's counterpart of `HTTPRequestParser`: the
/// same limits (`maxRequestLineBytes` bounds the status line), the same field-line rules and Content-Length checks,
/// and the same chunked decoder. It is fed the connection's unconsumed bytes and says how many it used, so a
/// response may arrive split at any byte, and it never reads past the end of one response.
///
/// Framing follows RFC 9112 §6.3: a response to HEAD, a 1xx, 204 or 304 has no body whatever its fields say;
/// otherwise `Transfer-Encoding: chunked`, else `Content-Length`, else the body runs to the close (`finish()`).
/// Content-Length with Transfer-Encoding, differing lengths, a length that is not digits and Transfer-Encoding in
/// HTTP/1.0 are errors, never a guess: a client that picks one reading is one a server can split responses for.
public struct HTTPResponseParser: Sendable {
    /// What the parser produced from the bytes it was given.
    public enum Event: Sendable {
        /// Nothing complete yet; feed more bytes (or call `finish()` when the peer closed).
        case needMore
        /// An interim (1xx) response, such as 100 Continue; the final response to the same request follows.
        case interim(HTTPReceivedResponse)
        /// The final response, body complete.
        case response(HTTPReceivedResponse)
        /// The response is invalid or over a limit; close the connection.
        case failure(HTTPResponseParseError)
    }

    private enum State: Sendable {
        case head(scannedUpTo: Int)
        case body(HTTPBodyReader)
        case failed
    }

    /// The limits: `maxRequestLineBytes` for the status line, the header limits as for requests, `maxBodyBytes`
    /// for the body. May be changed between responses (a client's body limit can differ per request).
    public var limits: HTTPLimits
    /// The method of the request being answered: a response to HEAD has no body. May be changed between responses.
    public var requestMethod: String

    private var state: State = .head(scannedUpTo: 0)
    private var pending: HTTPReceivedResponse?

    public init(requestMethod: String = "GET", limits: HTTPLimits = HTTPLimits()) {
        self.requestMethod = requestMethod
        self.limits = limits
    }

    /// Parses from `bytes` (the unconsumed input) and returns the event and how many bytes were consumed. After a
    /// final response the parser waits for the next one; after a failure it consumes nothing more.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) -> (event: Event, consumed: Int) {
        var consumed = 0
        while true {
            switch state {
            case .failed:
                return (.needMore, consumed)
            case .head(let scannedUpTo):
                let remaining = UnsafeRawBufferPointer(rebasing: bytes[consumed...])
                switch findHeadEnd(remaining, from: scannedUpTo) {
                case .notYet(let scanned):
                    if let error = incompleteHeadError(remaining) { return fail(error, consumed) }
                    state = .head(scannedUpTo: scanned)
                    return (.needMore, consumed)
                case .invalid(let error):
                    return fail(HTTPResponseParseError(error), consumed)
                case .end(let length):
                    consumed += length
                    switch parseHead(UnsafeRawBufferPointer(rebasing: remaining[0..<length])) {
                    case .failure(let error):
                        return fail(error, consumed)
                    case .success(let (response, framing)):
                        state = .head(scannedUpTo: 0)
                        switch framing {
                        case .interim: return (.interim(response), consumed)
                        case .none: return (.response(response), consumed)
                        case .body(let framing):
                            pending = response
                            state = .body(HTTPBodyReader(framing))
                        }
                    }
                }
            case .body(var reader):
                state = .failed  // moved out while it reads, so appending never copies the body it holds
                let (progress, used) = reader.read(UnsafeRawBufferPointer(rebasing: bytes[consumed...]),
                                                   maxBodyBytes: limits.maxBodyBytes, maxTrailerBytes: limits.maxHeaderBytes)
                consumed += used
                switch progress {
                case .needMore:
                    state = .body(reader)
                    return (.needMore, consumed)
                case .failure(let error): return fail(HTTPResponseParseError(error), consumed)
                case .done: return (.response(finishBody(&reader)), consumed)
                }
            }
        }
    }

    /// The peer closed its side: that ends a close-delimited body; anywhere else the response is incomplete
    /// (including when nothing of it had come yet: the caller knows whether it had sent a request).
    public mutating func finish() -> Event {
        if case .body(var reader) = state, reader.endsAtClose { return .response(finishBody(&reader)) }
        if case .failed = state { return .needMore }
        state = .failed
        pending = nil
        return .failure(HTTPResponseParseError(.truncated, "truncated", "connection closed before the response was complete"))
    }

    private mutating func finishBody(_ reader: inout HTTPBodyReader) -> HTTPReceivedResponse {
        var response = pending.take() ?? HTTPReceivedResponse(status: .ok, version: .http1_1, headers: HTTPHeaders(), body: [],
                                                              keepAlive: false)
        response.body = reader.takeBody()
        state = .head(scannedUpTo: 0)
        return response
    }

    private mutating func fail(_ error: HTTPResponseParseError, _ consumed: Int) -> (event: Event, consumed: Int) {
        state = .failed
        pending = nil
        return (.failure(error), consumed)
    }

    private static func bodyTooLarge(_ limit: Int) -> HTTPResponseParseError {
        HTTPResponseParseError(.bodyTooLarge, "body_too_large", "body exceeds \(limit) bytes")
    }

    // MARK: head

    /// A head that cannot end within the limits fails now, not when the peer stops sending.
    private func incompleteHeadError(_ bytes: UnsafeRawBufferPointer) -> HTTPResponseParseError? {
        guard let lineEnd = firstCRLF(bytes) else {
            return bytes.count > limits.maxRequestLineBytes + 1 ? Self.statusLineTooLong(limits) : nil
        }
        if lineEnd > limits.maxRequestLineBytes { return Self.statusLineTooLong(limits) }
        return bytes.count - (lineEnd + 2) > limits.maxHeaderBytes + 2 ? Self.headerSectionTooLarge(limits) : nil
    }

    private static func statusLineTooLong(_ limits: HTTPLimits) -> HTTPResponseParseError {
        HTTPResponseParseError(.headTooLarge, "status_line_too_long", "status line exceeds \(limits.maxRequestLineBytes) bytes")
    }

    private static func headerSectionTooLarge(_ limits: HTTPLimits) -> HTTPResponseParseError {
        HTTPResponseParseError(.headTooLarge, "header_section_too_large", "header section exceeds \(limits.maxHeaderBytes) bytes")
    }

    private enum Framing {
        case interim
        case none
        case body(HTTPBodyReader.Framing)
    }

    private func parseHead(_ head: UnsafeRawBufferPointer) -> Result<(HTTPReceivedResponse, Framing), HTTPResponseParseError> {
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); a missing final SP before an
        // empty reason is tolerated, since the reason means nothing to a client.
        guard let lineEnd = firstCRLF(head) else {
            return .failure(HTTPResponseParseError(.malformed, "malformed_status_line", "missing status line"))
        }
        if lineEnd > limits.maxRequestLineBytes { return .failure(Self.statusLineTooLong(limits)) }
        guard lineEnd >= 12,
              head[0] == UInt8(ascii: "H"), head[1] == UInt8(ascii: "T"), head[2] == UInt8(ascii: "T"), head[3] == UInt8(ascii: "P"),
              head[4] == UInt8(ascii: "/"), isDigit(head[5]), head[6] == UInt8(ascii: "."), isDigit(head[7]), head[8] == 0x20,
              isDigit(head[9]), isDigit(head[10]), isDigit(head[11]), lineEnd == 12 || head[12] == 0x20 else {
            return .failure(HTTPResponseParseError(.malformed, "malformed_status_line", "status line must be HTTP/1.x SP 3DIGIT SP reason"))
        }
        guard head[5] == UInt8(ascii: "1"), head[7] <= UInt8(ascii: "1") else {
            return .failure(HTTPResponseParseError(.unsupported, "version_not_supported", "only HTTP/1.0 and HTTP/1.1 responses are read"))
        }
        let code = Int(head[9] - 0x30) * 100 + Int(head[10] - 0x30) * 10 + Int(head[11] - 0x30)
        guard (100...599).contains(code) else {
            return .failure(HTTPResponseParseError(.malformed, "malformed_status_line", "status code must be 100 to 599"))
        }
        let reasonStart = min(13, lineEnd)
        for index in reasonStart..<lineEnd where head[index] < 0x20 && head[index] != 0x09 || head[index] == 0x7F {
            return .failure(HTTPResponseParseError(.malformed, "malformed_status_line", "reason phrase holds a control character"))
        }
        let status = HTTPStatus(code: code, reason: String(decoding: UnsafeRawBufferPointer(rebasing: head[reasonStart..<lineEnd]), as: UTF8.self))
        let version = HTTPVersion(major: 1, minor: head[7] - 0x30)

        if head.count - (lineEnd + 2) > limits.maxHeaderBytes + 2 { return .failure(Self.headerSectionTooLarge(limits)) }
        let headers: HTTPHeaders
        switch parseFieldLines(head, from: lineEnd + 2, limits: limits) {
        case .failure(let error): return .failure(HTTPResponseParseError(error))
        case .success(let parsed): headers = parsed
        }
        return headers.storage.withUnsafeBytes { storage in
            frame(status: status, version: version, headers: headers, storage: storage)
        }
    }

    /// Decides how the body is delimited (RFC 9112 §6.3) and whether the connection stays usable.
    private func frame(status: HTTPStatus, version: HTTPVersion, headers: HTTPHeaders,
                       storage: UnsafeRawBufferPointer) -> Result<(HTTPReceivedResponse, Framing), HTTPResponseParseError> {
        var transferEncodings: [String] = []
        var contentLengthCount = 0
        var connectionClose = false
        var connectionKeepAlive = false
        for entry in headers.entries where entry.known != 0 {
            let value = UnsafeRawBufferPointer(rebasing: storage[Int(entry.valueStart)..<Int(entry.valueEnd)])
            switch HTTPFieldName(rawValue: entry.known) {
            case .connection?:
                if HTTPRequestParser.listContains(value, token: "close") { connectionClose = true }
                if HTTPRequestParser.listContains(value, token: "keep-alive") { connectionKeepAlive = true }
            case .contentLength?: contentLengthCount += 1
            case .transferEncoding?: transferEncodings.append(String(decoding: value, as: UTF8.self))
            case .host?, .contentType?, .expect?, .authorization?, nil: break
            }
        }
        var response = HTTPReceivedResponse(status: status, version: version, headers: headers, body: [],
                                            keepAlive: !connectionClose && (version == .http1_1 || connectionKeepAlive))
        if (100..<200).contains(status.code) {
            guard status.code != 101 else {
                return .failure(HTTPResponseParseError(.unsupported, "protocol_switch", "101 Switching Protocols was not asked for"))
            }
            response.keepAlive = true
            return .success((response, .interim))
        }
        if !transferEncodings.isEmpty {
            if contentLengthCount > 0 {
                return .failure(HTTPResponseParseError(.malformed, "length_and_chunked", "Content-Length and Transfer-Encoding together"))
            }
            if version == .http1_0 {
                return .failure(HTTPResponseParseError(.malformed, "transfer_encoding_in_http10", "Transfer-Encoding is not defined for HTTP/1.0"))
            }
        }
        var length: Int?
        if contentLengthCount > 0 {
            switch contentLength(of: headers, storage: storage) {
            case .failure(let error): return .failure(HTTPResponseParseError(error))
            case .success(let parsed): length = parsed
            }
        }
        if asciiCaseInsensitiveEquals(requestMethod, "HEAD") || status.code == 204 || status.code == 304 {
            return .success((response, .none))
        }
        if !transferEncodings.isEmpty {
            guard case .chunked = classifyTransferCodings(transferEncodings) else {
                return .failure(HTTPResponseParseError(.unsupported, "unsupported_transfer_coding", "only the chunked transfer coding is read"))
            }
            return .success((response, .body(.chunked)))
        }
        if let length {
            guard length <= limits.maxBodyBytes else { return .failure(Self.bodyTooLarge(limits.maxBodyBytes)) }
            return .success((response, length == 0 ? .none : .body(.length(length))))
        }
        response.keepAlive = false
        return .success((response, .body(.untilClose)))
    }
}
