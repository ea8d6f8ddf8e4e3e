/// A number kept as its original literal text so it can be echoed byte-for-byte (JSON-RPC ids, money amounts).
///
/// Equality and hashing compare the literal, so `1.0` and `1` are different numbers: two values are
/// equal exactly when they encode to the same bytes.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible,
                          ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    /// Always a valid RFC 8259 number; the encoder writes it verbatim.
    public let literal: String

    /// Accepts only the RFC 8259 number grammar (no `+1`, `01`, `.5`, `1.`, NaN, surrounding spaces).
    public init?(literal: String) {
        var text = literal
        let valid = text.withUTF8 { utf8 -> Bool in
            guard let base = utf8.baseAddress, !utf8.isEmpty else { return false }
            do throws(JSONParseError) {
                return try NumberGrammar.scan(base, count: utf8.count, from: 0) == utf8.count
            } catch {
                return false
            }
        }
        guard valid else { return nil }
        self.literal = literal
    }

    /// For literals the parser has already checked; skips re-validation on the hot path.
    init(validatedLiteral: String) {
        self.literal = validatedLiteral
    }

    public init(_ value: Int) {
        self.literal = String(value)
    }

    public init(_ value: Int64) {
        self.literal = String(value)
    }

    /// JSON has no NaN or infinity, so a non-finite value is a programming error and traps;
    /// use `init?(finite:)` when the value comes from outside.
    public init(_ value: Double) {
        precondition(value.isFinite, "JSON cannot represent a non-finite number")
        // Swift's description is the shortest text that round-trips and is always JSON-compatible
        // for finite values (`1.0`, `1e-05`, `1e+20`, `-0.0`).
        self.literal = value.description
    }

    /// Like `init(_: Double)` but answers nil for NaN and infinities instead of trapping.
    public init?(finite value: Double) {
        guard value.isFinite else { return nil }
        self.init(value)
    }

    public init(integerLiteral value: Int) {
        self.init(value)
    }

    public init(floatLiteral value: Double) {
        self.init(value)
    }

    /// The value when the literal is written as a plain integer (`-?digits`) that fits in Int64.
    /// Literals with a fraction or exponent (`1.0`, `1e2`) answer nil even when integral, so an id
    /// or count sent as a float is noticed instead of silently accepted; use `double` for those.
    public var int64: Int64? {
        var negative = false
        var accumulator: Int64 = 0  // accumulated negatively so Int64.min is reachable
        var sawDigit = false
        for byte in literal.utf8 {
            if byte == UInt8(ascii: "-"), !sawDigit, !negative {
                negative = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            sawDigit = true
            let (shifted, overflow1) = accumulator.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(byte &- UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            accumulator = next
        }
        guard sawDigit else { return nil }
        if negative { return accumulator }
        return accumulator == .min ? nil : -accumulator
    }

    /// `int64` narrowed to Int; nil when it does not fit.
    public var int: Int? {
        int64.flatMap { Int(exactly: $0) }
    }

    /// The nearest Double, or nil when the literal is out of Double's finite range (`1e400`),
    /// because an infinity would not survive re-encoding as JSON. Underflow rounds to zero.
    public var double: Double? {
        guard let value = Double(literal), value.isFinite else { return nil }
        return value
    }

    public var description: String { literal }
}

/// The RFC 8259 number grammar over raw bytes, shared by the parser and `JSONNumber(literal:)`.
enum NumberGrammar {
    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- UInt8(ascii: "0") < 10
    }

    /// Returns the index just past the number that starts at `start`.
    @inline(__always)
    static func scan(_ p: UnsafePointer<UInt8>, count: Int, from start: Int) throws(JSONParseError) -> Int {
        var i = start
        if i < count, p[i] == UInt8(ascii: "-") { i &+= 1 }
        guard i < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
        if p[i] == UInt8(ascii: "0") {
            i &+= 1
            // A leading zero followed by a digit is its own error rather than "unexpected byte",
            // because that is what the sender got wrong.
            if i < count, isDigit(p[i]) { throw JSONParseError(.invalidNumber, offset: i) }
        } else if isDigit(p[i]) {
            i &+= 1
            while i < count, isDigit(p[i]) { i &+= 1 }
        } else {
            throw JSONParseError(.invalidNumber, offset: i)
        }
        if i < count, p[i] == UInt8(ascii: ".") {
            i &+= 1
            guard i < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            guard isDigit(p[i]) else { throw JSONParseError(.invalidNumber, offset: i) }
            i &+= 1
            while i < count, isDigit(p[i]) { i &+= 1 }
        }
        if i < count, p[i] | 0x20 == UInt8(ascii: "e") {
            i &+= 1
            guard i < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            if p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") {
                i &+= 1
                guard i < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            }
            guard isDigit(p[i]) else { throw JSONParseError(.invalidNumber, offset: i) }
            i &+= 1
            while i < count, isDigit(p[i]) { i &+= 1 }
        }
        return i
    }
}
