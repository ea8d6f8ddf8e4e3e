/// The pieces of a `DigitalRiver-Signature` value, kept as byte ranges into the header so nothing is copied.
///
/// Grammar accepted (reference §6.2; Digital River documents none, its SFCC connector shows `<ts>, <base64>`):
/// the value is split on `,` and each element trimmed of spaces and tabs. Element 0 is the timestamp
/// element, signed byte for byte as received; its digits (after an optional `t=`) are the time. Every
/// other non-empty element is a candidate signature, tried as Base64 and, failing that, with a short
/// lowercase label such as `v1=` removed.
struct SignatureHeader {
    /// Longest header value examined, in UTF-8 bytes; a real one is about 56.
    static let maximumLength = 4096
    /// Most elements allowed after the timestamp; rotation needs two or three.
    static let maximumCandidates = 16
    /// Most digits in the timestamp; 18 cannot overflow `Int64`.
    static let maximumTimestampDigits = 18
    /// Timestamps above this are milliseconds (10^12 seconds is the year 33658).
    static let millisecondThreshold: Int64 = 1_000_000_000_000

    /// Element 0, trimmed: the exact bytes that were signed before the `.`.
    let timestampElement: Range<Int>
    /// The signing time in unix seconds.
    let timestamp: Int64
    /// The non-empty elements after element 0, trimmed.
    let candidates: [Range<Int>]

    /// Splits and checks `header`; failures are `malformedHeader` for the shape and `malformedTimestamp` for element 0.
    static func parse(_ header: UnsafeBufferPointer<UInt8>) -> Result<SignatureHeader, WebhookSignatureRejection> {
        guard header.count <= maximumLength else { return .failure(.malformedHeader) }

        var elements: [Range<Int>] = []
        elements.reserveCapacity(4)
        var start = 0
        for index in 0...header.count where index == header.count || header[index] == UInt8(ascii: ",") {
            elements.append(trimmed(start..<index, in: header))
            guard elements.count <= 1 + maximumCandidates else { return .failure(.malformedHeader) }
            start = index + 1
        }

        let candidates = elements.dropFirst().filter { !$0.isEmpty }
        guard let timestampElement = elements.first, !candidates.isEmpty else {
            return .failure(.malformedHeader)
        }
        guard let timestamp = parseTimestamp(timestampElement, in: header) else {
            return .failure(.malformedTimestamp)
        }
        return .success(
            SignatureHeader(timestampElement: timestampElement, timestamp: timestamp, candidates: Array(candidates)))
    }

    /// The 32-byte digests the candidates decode to, concatenated; a candidate that is not strict Base64 of
    /// 32 bytes, with or without its label, contributes nothing (it simply cannot match).
    func candidateDigests(in header: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var digests: [UInt8] = []
        digests.reserveCapacity(candidates.count * HMACSHA256.byteCount)
        for candidate in candidates {
            if let digest = Self.digest(candidate, in: header) {
                digests.append(contentsOf: digest)
            } else if let label = Self.labelLength(candidate, in: header),
                let digest = Self.digest(candidate.lowerBound + label..<candidate.upperBound, in: header)
            {
                digests.append(contentsOf: digest)
            }
        }
        return digests
    }

    private static func digest(_ range: Range<Int>, in header: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        // Base64 of 32 bytes is always 44 characters; checking first keeps oversized candidates cheap.
        guard range.count == 44, let bytes = Base64.decode(utf8: UnsafeBufferPointer(rebasing: header[range])) else {
            return nil
        }
        return bytes.count == HMACSHA256.byteCount ? bytes : nil
    }

    /// Length of a leading `^[a-z][a-z0-9]{0,3}=` label, including the `=`, or nil. A valid 44-character
    /// Base64 signature has `=` only at its end, so this can never cut into an unlabelled signature.
    private static func labelLength(_ range: Range<Int>, in header: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = range.first, isLowercaseLetter(header[first]) else { return nil }
        for offset in 1...4 where offset < range.count {
            let byte = header[range.lowerBound + offset]
            if byte == UInt8(ascii: "=") { return offset + 1 }
            guard isLowercaseLetter(byte) || isDigit(byte) else { return nil }
        }
        return nil
    }

    private static func parseTimestamp(_ range: Range<Int>, in header: UnsafeBufferPointer<UInt8>) -> Int64? {
        var digits = range
        if digits.count >= 2, header[digits.lowerBound] == UInt8(ascii: "t"),
            header[digits.lowerBound + 1] == UInt8(ascii: "=")
        {
            digits = digits.lowerBound + 2..<digits.upperBound
        }
        guard (1...maximumTimestampDigits).contains(digits.count) else { return nil }
        var value: Int64 = 0
        for index in digits {
            let byte = header[index]
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value > millisecondThreshold ? value / 1000 : value
    }

    private static func trimmed(_ range: Range<Int>, in header: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, isBlank(header[lower]) { lower += 1 }
        while upper > lower, isBlank(header[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
    private static func isLowercaseLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
    }
}
