// The parts of a message head that requests and responses share (RFC 9112 §2, §5, §6.3): finding the head's end,
// field lines and Content-Length. Both parsers call these, so one set of smuggling defences guards both directions.

/// Where the end of a head is, as far as the bytes so far tell.
enum HeadEnd {
    case notYet(scanned: Int)
    case end(length: Int)
    case invalid(HTTPParseError)
}

/// Finds CRLF CRLF from `start`, rejecting a bare LF as soon as it appears (a lenient LF-only parser in front of us
/// could split the stream differently, which is how smuggling starts).
@inline(__always)
func findHeadEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> HeadEnd {
    var index = start
    let count = bytes.count
    while index < count {
        if bytes[index] == 0x0A {
            if index == 0 || bytes[index - 1] != 0x0D {
                return .invalid(HTTPParseError(.badRequest, "bare_lf", "line ends must be CRLF"))
            }
            if index >= 3, bytes[index - 2] == 0x0A, bytes[index - 3] == 0x0D {
                return .end(length: index + 1)
            }
        }
        index += 1
    }
    // Re-scan the last byte next time: it may be the CR of a CRLF.
    return .notYet(scanned: max(0, count - 1))
}

/// The offset of the first CRLF, or nil.
@inline(__always)
func firstCRLF(_ bytes: UnsafeRawBufferPointer) -> Int? {
    var index = 0
    while index + 1 < bytes.count {
        if bytes[index] == 0x0D, bytes[index + 1] == 0x0A { return index }
        index += 1
    }
    return nil
}

/// The field lines of a complete head (from `linesStart`, after the start line, to the final empty line), copied
/// once into the headers' storage; fields are byte ranges into it, and the well-known names are classified here,
/// once. Enforces `maxHeaderCount`; the caller has checked the section's size.
@inline(__always)
func parseFieldLines(_ head: UnsafeRawBufferPointer, from linesStart: Int, limits: HTTPLimits) -> Result<HTTPHeaders, HTTPParseError> {
    let headEnd = head.count - 2  // the final empty line
    var headers = HTTPHeaders(parsedLines: Array(UnsafeRawBufferPointer(rebasing: head[linesStart..<headEnd])), capacity: 8)
    var lineStart = linesStart
    while lineStart < headEnd {
        var end = lineStart
        while !(head[end] == 0x0D && head[end + 1] == 0x0A) { end += 1 }
        let line = UnsafeRawBufferPointer(rebasing: head[lineStart..<end])
        switch parseFieldLine(line) {
        case .failure(let error): return .failure(error)
        case .success(let (nameEnd, value)):
            if headers.count >= limits.maxHeaderCount {
                return .failure(HTTPParseError(.requestHeaderFieldsTooLarge, "too_many_headers", "more than \(limits.maxHeaderCount) header fields"))
            }
            let base = lineStart - linesStart
            headers.appendParsed(name: base..<(base + nameEnd), value: (base + value.lowerBound)..<(base + value.upperBound),
                                 known: HTTPFieldName.classify(UnsafeRawBufferPointer(rebasing: line[0..<nameEnd])))
        }
        lineStart = end + 2
    }
    return .success(headers)
}

/// Validates one field line (or trailer line); the end of its name and the range of its value (OWS trimmed), both
/// within `line`.
@inline(__always)
func parseFieldLine(_ line: UnsafeRawBufferPointer) -> Result<(nameEnd: Int, value: Range<Int>), HTTPParseError> {
    guard let first = line.first else {
        return .failure(HTTPParseError(.badRequest, "malformed_header", "empty header line"))
    }
    if first == 0x20 || first == 0x09 {
        return .failure(HTTPParseError(.badRequest, "obs_fold", "obsolete line folding is not accepted"))
    }
    var colon = 0
    while colon < line.count, isTokenByte(line[colon]) { colon += 1 }
    guard colon > 0, colon < line.count, line[colon] == UInt8(ascii: ":") else {
        return .failure(HTTPParseError(.badRequest, "malformed_header", "invalid header field name"))
    }
    var valueStart = colon + 1
    var valueEnd = line.count
    while valueStart < valueEnd, line[valueStart] == 0x20 || line[valueStart] == 0x09 { valueStart += 1 }
    while valueEnd > valueStart, line[valueEnd - 1] == 0x20 || line[valueEnd - 1] == 0x09 { valueEnd -= 1 }
    for position in valueStart..<valueEnd {
        let byte = line[position]
        if byte < 0x20 && byte != 0x09 || byte == 0x7F {
            return .failure(HTTPParseError(.badRequest, "invalid_header_value", "header value holds a control character"))
        }
    }
    return .success((colon, valueStart..<valueEnd))
}

/// The message's Content-Length, nil without one. Every comma-separated member of every field must be digits, and
/// all must agree (RFC 9112 §6.3): a recipient that picked one of two lengths is how requests get smuggled.
@inline(__always)
func contentLength(of headers: HTTPHeaders, storage: UnsafeRawBufferPointer) -> Result<Int?, HTTPParseError> {
    var length: Int?
    for entry in headers.entries where entry.known == HTTPFieldName.contentLength.rawValue {
        let bytes = UnsafeRawBufferPointer(rebasing: storage[Int(entry.valueStart)..<Int(entry.valueEnd)])
        var partStart = 0
        while true {
            var partEnd = partStart
            while partEnd < bytes.count, bytes[partEnd] != UInt8(ascii: ",") { partEnd += 1 }
            var first = partStart, last = partEnd
            while first < last, bytes[first] == 0x20 || bytes[first] == 0x09 { first += 1 }
            while last > first, bytes[last - 1] == 0x20 || bytes[last - 1] == 0x09 { last -= 1 }
            guard last > first, last - first <= 18 else {
                return .failure(HTTPParseError(.badRequest, "invalid_content_length", "Content-Length must be digits"))
            }
            var parsed = 0
            for index in first..<last {
                guard isDigit(bytes[index]) else {
                    return .failure(HTTPParseError(.badRequest, "invalid_content_length", "Content-Length must be digits"))
                }
                parsed = parsed * 10 + Int(bytes[index] - 0x30)
            }
            if let length, length != parsed {
                return .failure(HTTPParseError(.badRequest, "conflicting_content_length", "differing Content-Length values"))
            }
            length = parsed
            guard partEnd < bytes.count else { break }
            partStart = partEnd + 1
        }
    }
    return .success(length)
}

/// How a Transfer-Encoding list frames a body (RFC 9112 §6.1, §6.3).
enum TransferCodingList {
    /// Exactly one `chunked`, last: the only list we decode.
    case chunked
    /// `chunked` is missing, repeated or not last: the length cannot be known.
    case chunkedNotLast
    /// A coding we do not implement (gzip, …) before `chunked`.
    case unsupportedCoding
}

/// Classifies every Transfer-Encoding value of a message, in order.
@inline(__always)
func classifyTransferCodings(_ values: [String]) -> TransferCodingList {
    let codings = values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { $0.trimmingOWS() }
    guard let last = codings.last, asciiCaseInsensitiveEquals(last, "chunked"),
          codings.filter({ asciiCaseInsensitiveEquals($0, "chunked") }).count == 1 else {
        return .chunkedNotLast
    }
    return codings.count > 1 ? .unsupportedCoding : .chunked
}
