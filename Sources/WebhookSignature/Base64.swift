/// Strict Base64 (RFC 4648 §4: standard alphabet, `=` padding): decoding refuses anything a canonical encoder would not produce.
///
/// Strictness matters for signatures: two different strings must never decode to the same digest, and
/// whitespace, URL-safe characters, missing padding or stray bits are signs of a malformed or tampered header.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Encodes `bytes` with the standard alphabet and `=` padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { encode($0) }
    }

    /// Encodes raw `bytes` with the standard alphabet and `=` padding.
    public static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        encode(bytes.assumingMemoryBound(to: UInt8.self))
    }

    private static func encode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let outputCount = (bytes.count + 2) / 3 * 4
        guard outputCount > 0 else { return "" }
        return alphabet.withUnsafeBufferPointer { alphabet in
            String(unsafeUninitializedCapacity: outputCount) { output in
                var input = 0
                var written = 0
                while input + 3 <= bytes.count {
                    let group = UInt32(bytes[input]) << 16 | UInt32(bytes[input + 1]) << 8 | UInt32(bytes[input + 2])
                    output[written] = alphabet[Int(group >> 18 & 0x3F)]
                    output[written + 1] = alphabet[Int(group >> 12 & 0x3F)]
                    output[written + 2] = alphabet[Int(group >> 6 & 0x3F)]
                    output[written + 3] = alphabet[Int(group & 0x3F)]
                    input += 3
                    written += 4
                }
                let remaining = bytes.count - input
                if remaining > 0 {
                    let second = remaining == 2 ? UInt32(bytes[input + 1]) : 0
                    let group = UInt32(bytes[input]) << 16 | second << 8
                    output[written] = alphabet[Int(group >> 18 & 0x3F)]
                    output[written + 1] = alphabet[Int(group >> 12 & 0x3F)]
                    output[written + 2] = remaining == 2 ? alphabet[Int(group >> 6 & 0x3F)] : UInt8(ascii: "=")
                    output[written + 3] = UInt8(ascii: "=")
                    written += 4
                }
                return written
            }
        }
    }

    /// Decodes padded standard-alphabet Base64, or returns nil for anything else.
    ///
    /// Rejected: a length that is not a multiple of 4, characters outside `A–Z a–z 0–9 + /`, whitespace,
    /// `=` anywhere but the last one or two positions, and non-zero bits left over before the padding
    /// (which would let several strings decode to the same bytes). The empty string decodes to no bytes.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        if let decoded = text.utf8.withContiguousStorageIfAvailable({ decode(utf8: $0) }) {
            return decoded
        }
        return Array(text.utf8).withUnsafeBufferPointer { decode(utf8: $0) }
    }

    /// Decodes strict Base64 from UTF-8 bytes; the verifier calls this on slices of the header without copying them.
    static func decode(utf8 text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        guard text.count > 0 else { return [] }
        var padding = 0
        if text[text.count - 1] == UInt8(ascii: "=") {
            padding = text[text.count - 2] == UInt8(ascii: "=") ? 2 : 1
        }
        let outputCount = text.count / 4 * 3 - padding
        let significant = text.count - padding
        var valid = true
        let bytes = [UInt8](unsafeUninitializedCapacity: outputCount) { output, initialized in
            var group: UInt32 = 0
            var written = 0
            for position in 0..<significant {
                guard let value = sextet(text[position]) else {
                    valid = false
                    return
                }
                group = group << 6 | UInt32(value)
                if position % 4 == 3 {
                    output[written] = UInt8(truncatingIfNeeded: group >> 16)
                    output[written + 1] = UInt8(truncatingIfNeeded: group >> 8)
                    output[written + 2] = UInt8(truncatingIfNeeded: group)
                    written += 3
                    group = 0
                }
            }
            switch padding {
            case 1:  // 3 sextets = 18 bits: 2 bytes, the low 2 bits must be zero
                guard group & 0x3 == 0 else {
                    valid = false
                    return
                }
                output[written] = UInt8(truncatingIfNeeded: group >> 10)
                output[written + 1] = UInt8(truncatingIfNeeded: group >> 2)
                written += 2
            case 2:  // 2 sextets = 12 bits: 1 byte, the low 4 bits must be zero
                guard group & 0xF == 0 else {
                    valid = false
                    return
                }
                output[written] = UInt8(truncatingIfNeeded: group >> 4)
                written += 1
            default:
                break
            }
            initialized = written
        }
        return valid ? bytes : nil
    }

    /// The 6-bit value of a standard-alphabet character; nil for `=`, whitespace and everything else.
    private static func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
