/// Percent-encoding for the URLs the client builds (RFC 3986). Customer ids are opaque (reference §1): they may hold
/// `/`, `?`, `#`, `%`, spaces or non-ASCII, and each must arrive at DR as exactly one path segment or query value.
enum PercentEncoding {
    /// One path segment: everything but ALPHA / DIGIT / `-` / `_` / `~` is escaped. `.` is escaped too, so an id of
    /// `.` or `..` cannot become a dot-segment that a client library or proxy would resolve away.
    static func pathSegment(_ text: String) -> String {
        encode(text) { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~") }
    }

    /// One query name or value: unreserved characters plus `:` stay readable (timestamps); `+`, `&`, `=`, `#`, `%`,
    /// `[`, `]` and everything else are escaped (`+` matters: many servers read a bare `+` as a space, which would
    /// turn a `+01:00` offset into garbage).
    static func queryComponent(_ text: String) -> String {
        encode(text) {
            isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "~")
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func encode(_ text: String, keeping keep: (UInt8) -> Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if keep(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
