/// The chunked transfer coding (RFC 9112 §7.1), decoded incrementally: one decoder for request bodies (the request
/// parser) and response bodies (the response parser), so the strict size line, the extension grammar and the bounded,
/// validated trailers guard both directions alike. Extensions and trailers are checked, then dropped: nothing here
/// needs them. One decoder reads one body; make a new one for the next.
struct HTTPChunkedDecoder: Sendable {
    /// How far one call got.
    enum Progress {
        case needMore
        /// The last chunk and the trailer section are read.
        case done
        /// The body is malformed or over a limit; the caller must not read on.
        case failure(HTTPParseError)
    }

    private enum State: Sendable {
        case size(value: Int, digits: Int)
        case sizeExtension(ChunkExtension, length: Int)
        case sizeLF
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLine
    }

    /// Where the parser is inside `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`
    /// (RFC 9112 §7.1.1). Whitespace is allowed only where BWS is, so `46 1` or `46;` cannot be read as a size
    /// by us and differently by a proxy in front.
    private enum ChunkExtension: Sendable, Equatable {
        /// After the size and whitespace: only more whitespace or ";" may follow.
        case beforeSemicolon
        /// After ";" (and whitespace): a name must start.
        case beforeName
        case name
        /// After a name and whitespace: "=", ";" may follow.
        case afterName
        /// After "=" (and whitespace): a token or quoted-string must start.
        case beforeValue
        case tokenValue
        case quotedValue
        case quotedPair
        /// Right after a closing quote: CR, ";" or whitespace may follow.
        case valueEnd
        /// After a value and whitespace: only ";" may follow.
        case afterValue
    }

    private var state: State = .size(value: 0, digits: 0)
    private var pendingChunkSize = 0
    private var trailerLine: [UInt8] = []
    private var trailerBytes = 0

    init() {}

    /// Decodes from `bytes` (the unconsumed input), appending chunk data to `body`, and says how far it got and
    /// how many bytes it consumed: never past the end of the body's last line, so what follows stays the caller's.
    /// `maxBodyBytes` bounds `body` (checked against each announced size, before its data is read) and
    /// `maxTrailerBytes` the trailer section.
    @inline(__always)
    mutating func decode(_ bytes: UnsafeRawBufferPointer, into body: inout [UInt8], maxBodyBytes: Int,
                         maxTrailerBytes: Int) -> (progress: Progress, consumed: Int) {
        var chunk = state
        var index = 0
        defer { state = chunk }
        while index < bytes.count {
            let byte = bytes[index]
            switch chunk {
            case .size(let value, let digits):
                if let digit = hexValue(byte) {
                    guard digits < 15 else {
                        return (.failure(HTTPParseError(.contentTooLarge, "body_too_large", "chunk size too large")), index)
                    }
                    chunk = .size(value: value * 16 + Int(digit), digits: digits + 1)
                } else if digits == 0 {
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "chunk size must be hexadecimal")), index)
                } else if byte == 0x0D {
                    guard body.count + value <= maxBodyBytes else {
                        return (.failure(HTTPParseError(.contentTooLarge, "body_too_large", "body exceeds \(maxBodyBytes) bytes")), index)
                    }
                    pendingChunkSize = value
                    chunk = .sizeLF
                } else if byte == UInt8(ascii: ";") || byte == 0x20 || byte == 0x09 {
                    guard body.count + value <= maxBodyBytes else {
                        return (.failure(HTTPParseError(.contentTooLarge, "body_too_large", "body exceeds \(maxBodyBytes) bytes")), index)
                    }
                    pendingChunkSize = value
                    chunk = .sizeExtension(byte == UInt8(ascii: ";") ? .beforeName : .beforeSemicolon, length: 1)
                } else {
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "invalid byte in chunk size")), index)
                }
                index += 1
            case .sizeExtension(let position, let length):
                // Extensions are allowed and ignored, but must follow the grammar and are bounded.
                guard length < 1024 else {
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "chunk extension too long")), index)
                }
                switch Self.advance(position, over: byte) {
                case .next(let next): chunk = .sizeExtension(next, length: length + 1)
                case .endOfLine: chunk = .sizeLF
                case .invalid:
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "malformed chunk extension")), index)
                }
                index += 1
            case .sizeLF:
                guard byte == 0x0A else {
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "chunk size line must end in CRLF")), index)
                }
                index += 1
                if pendingChunkSize == 0 {
                    trailerLine.removeAll(keepingCapacity: true)
                    chunk = .trailerLine
                } else {
                    chunk = .data(remaining: pendingChunkSize)
                }
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                index += take
                chunk = take == remaining ? .dataCR : .data(remaining: remaining - take)
            case .dataCR:
                guard byte == 0x0D else {
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "chunk data must be followed by CRLF")), index)
                }
                chunk = .dataLF
                index += 1
            case .dataLF:
                guard byte == 0x0A else {
                    return (.failure(HTTPParseError(.badRequest, "malformed_chunk", "chunk data must be followed by CRLF")), index)
                }
                chunk = .size(value: 0, digits: 0)
                index += 1
            case .trailerLine:
                index += 1
                trailerBytes += 1
                if trailerBytes > maxTrailerBytes {
                    return (.failure(HTTPParseError(.requestHeaderFieldsTooLarge, "trailers_too_large", "trailer section exceeds \(maxTrailerBytes) bytes")), index)
                }
                if byte == 0x0A {
                    guard trailerLine.last == 0x0D else {
                        return (.failure(HTTPParseError(.badRequest, "bare_lf", "line ends must be CRLF")), index)
                    }
                    trailerLine.removeLast()
                    if trailerLine.isEmpty {
                        return (.done, index)
                    }
                    // Trailers are validated like headers, then dropped: no handler here needs them.
                    let result = trailerLine.withUnsafeBytes { parseFieldLine($0) }
                    if case .failure(let error) = result { return (.failure(error), index) }
                    trailerLine.removeAll(keepingCapacity: true)
                } else {
                    trailerLine.append(byte)
                }
            }
        }
        return (.needMore, index)
    }

    /// What one byte of a chunk extension leads to.
    private enum ExtensionStep {
        case next(ChunkExtension)
        /// The CR that ends the size line, allowed only right after a name or a value.
        case endOfLine
        case invalid
    }

    private static func advance(_ position: ChunkExtension, over byte: UInt8) -> ExtensionStep {
        let isWhitespace = byte == 0x20 || byte == 0x09
        let isSemicolon = byte == UInt8(ascii: ";")
        switch position {
        case .beforeSemicolon:
            if isWhitespace { return .next(.beforeSemicolon) }
            return isSemicolon ? .next(.beforeName) : .invalid
        case .beforeName:
            if isWhitespace { return .next(.beforeName) }
            return isTokenByte(byte) ? .next(.name) : .invalid
        case .name, .afterName:
            if case .name = position {
                if isTokenByte(byte) { return .next(.name) }
                if byte == 0x0D { return .endOfLine }
            }
            if isWhitespace { return .next(.afterName) }
            if isSemicolon { return .next(.beforeName) }
            return byte == UInt8(ascii: "=") ? .next(.beforeValue) : .invalid
        case .beforeValue:
            if isWhitespace { return .next(.beforeValue) }
            if byte == UInt8(ascii: "\"") { return .next(.quotedValue) }
            return isTokenByte(byte) ? .next(.tokenValue) : .invalid
        case .tokenValue, .valueEnd, .afterValue:
            if case .tokenValue = position, isTokenByte(byte) { return .next(.tokenValue) }
            if byte == 0x0D, position != .afterValue { return .endOfLine }
            if isWhitespace { return .next(.afterValue) }
            return isSemicolon ? .next(.beforeName) : .invalid
        case .quotedValue:
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            if byte == UInt8(ascii: "\"") { return .next(.valueEnd) }
            if byte == UInt8(ascii: "\\") { return .next(.quotedPair) }
            return byte == 0x09 || (byte >= 0x20 && byte != 0x7F) ? .next(.quotedValue) : .invalid
        case .quotedPair:
            return byte == 0x09 || (byte >= 0x20 && byte != 0x7F) ? .next(.quotedValue) : .invalid
        }
    }
}

/// Reads one message body the way its head framed it (a known length, chunked, or, for responses only, up to the
/// close) into one buffer under one limit: the request and response parsers share how a body is bounded and kept.
struct HTTPBodyReader: Sendable {
    /// How the head said the body is delimited.
    enum Framing {
        case length(Int)
        case chunked
        /// The body ends when the peer closes (a response without length); `read` never says `.done`.
        case untilClose
    }

    private enum State: Sendable {
        case length(remaining: Int)
        case chunked
        case untilClose
    }

    private var state: State
    private var body: [UInt8] = []
    /// Beside the state rather than in it, so decoding mutates it in place (no copy in and out of an enum).
    private var decoder = HTTPChunkedDecoder()

    init(_ framing: Framing) {
        switch framing {
        case .length(let length):
            body.reserveCapacity(length)
            state = .length(remaining: length)
        case .chunked: state = .chunked
        case .untilClose: state = .untilClose
        }
    }

    /// Reads from `bytes` (the unconsumed input), never past the body's end; what follows stays the caller's.
    /// A length was checked against the limit with the head; chunked and close-delimited bodies are checked here.
    @inline(__always)
    mutating func read(_ bytes: UnsafeRawBufferPointer, maxBodyBytes: Int, maxTrailerBytes: Int) -> (progress: HTTPChunkedDecoder.Progress, consumed: Int) {
        switch state {
        case .length(let remaining):
            let take = min(bytes.count, remaining)
            if take > 0 { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<take])) }
            state = .length(remaining: remaining - take)
            return (take == remaining ? .done : .needMore, take)
        case .chunked:
            return decoder.decode(bytes, into: &body, maxBodyBytes: maxBodyBytes, maxTrailerBytes: maxTrailerBytes)
        case .untilClose:
            guard body.count + bytes.count <= maxBodyBytes else {
                return (.failure(HTTPParseError(.contentTooLarge, "body_too_large", "body exceeds \(maxBodyBytes) bytes")), 0)
            }
            body.append(contentsOf: bytes)
            return (.needMore, bytes.count)
        }
    }

    /// True for a body that ends with the connection.
    var endsAtClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// The body read so far, moved out (not copied).
    mutating func takeBody() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &body)
        return taken
    }
}
