/// Byte-level encoding helpers shared by `JSONValue` and by layers that splice pre-encoded JSON into responses.
public enum JSONWriter {
    /// Writes `s` as a quoted JSON string, escaping only what RFC 8259 requires: `"`, `\` and control
    /// characters (`\b \f \n \r \t` short forms, others `\u00XX`). `/` and non-ASCII are written raw.
    public static func appendEscaped(_ s: String, to buffer: inout [UInt8]) {
        let plain = withUTF8(s) { utf8 -> Bool in
            guard nextEscape(in: utf8, from: 0) == utf8.count else { return false }
            // Nearly every string has nothing to escape: three bulk appends and done.
            buffer.append(UInt8(ascii: "\""))
            buffer.append(contentsOf: utf8)
            buffer.append(UInt8(ascii: "\""))
            return true
        }
        guard !plain else { return }
        var sink = ByteSink(capacity: s.utf8.count &+ 16)
        sink.writeEscaped(s)
        sink.append(to: &buffer)
    }

    /// Byte length of `appendEscaped(s, ...)` output, quotes included.
    public static func escapedCount(_ s: String) -> Int {
        withUTF8(s) { utf8 in
            var size = utf8.count &+ 2
            var index = nextEscape(in: utf8, from: 0)
            while index < utf8.count {
                size &+= hasShortEscape(utf8[index]) ? 1 : 5
                index = nextEscape(in: utf8, from: index &+ 1)
            }
            return size
        }
    }

    /// Index of the first byte at or after `start` that must be escaped, or `utf8.count`.
    /// Checks 8 bytes per step because almost every string has nothing to escape.
    @inline(__always)
    static func nextEscape(in utf8: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = utf8.baseAddress else { return 0 }
        let count = utf8.count
        var i = start
        let raw = UnsafeRawPointer(base)
        while i &+ 8 <= count {
            let mask = escapeMask(loadWord(raw, i))
            if mask != 0 { return i &+ firstMarkedByte(mask) }
            i &+= 8
        }
        while i < count, !needsEscape(utf8[i]) { i &+= 1 }
        return i
    }

    @inline(__always)
    static func withUTF8<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = s.utf8.withContiguousStorageIfAvailable(body) { return result }
        var copy = s
        return copy.withUTF8(body)
    }

    /// Marks (high bit per byte) bytes that need escaping, using the classic SWAR zero-byte and
    /// less-than tests. Borrows can mark bytes above a true hit spuriously, but the lowest mark is exact.
    @inline(__always)
    static func escapeMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        return ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes
                | (word &- ones &* 0x20) & ~word) & 0x8080_8080_8080_8080
    }

    /// Loads 8 bytes with the first byte in memory as the least significant, on any platform, so
    /// SWAR borrows run in memory order and the lowest mark is the first special byte.
    @inline(__always)
    static func loadWord(_ raw: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Index within the word of the lowest marked byte, i.e. the first in memory order.
    @inline(__always)
    static func firstMarkedByte(_ mask: UInt64) -> Int {
        mask.trailingZeroBitCount &>> 3
    }

    @inline(__always)
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    @inline(__always)
    static func hasShortEscape(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x08, 0x0C: true
        default: false
        }
    }
}

/// Growable raw output for the encoder: one pass over the tree, with a capacity check per token
/// instead of `Array.append`'s per-call uniqueness and capacity checks.
struct ByteSink: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if capacity &- count < extra { grow(extra) }
    }

    @inline(never)
    private mutating func grow(_ extra: Int) {
        let newCapacity = max(capacity &* 2, count &+ extra)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.initialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        reserve(1)
        (base + count).initialize(to: byte)
        count &+= 1
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        reserve(bytes.count)
        (base + count).initialize(from: source, count: bytes.count)
        count &+= bytes.count
    }

    @inline(__always)
    mutating func write(_ token: StaticString) {
        write(UnsafeBufferPointer(start: token.utf8Start, count: token.utf8CodeUnitCount))
    }

    mutating func writeRaw(_ s: String) {
        JSONWriter.withUTF8(s) { write($0) }
    }

    mutating func writeEscaped(_ s: String) {
        JSONWriter.withUTF8(s) { utf8 in
            reserve(utf8.count &+ 2)
            put(UInt8(ascii: "\""))
            var runStart = 0
            while true {
                let index = JSONWriter.nextEscape(in: utf8, from: runStart)
                // Unescaped runs go in with one bulk copy.
                write(UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                guard index < utf8.count else { break }
                runStart = index &+ 1
                let byte = utf8[index]
                reserve(6)
                put(UInt8(ascii: "\\"))
                switch byte {
                case 0x22: put(UInt8(ascii: "\""))
                case 0x5C: put(UInt8(ascii: "\\"))
                case 0x0A: put(UInt8(ascii: "n"))
                case 0x0D: put(UInt8(ascii: "r"))
                case 0x09: put(UInt8(ascii: "t"))
                case 0x08: put(UInt8(ascii: "b"))
                case 0x0C: put(UInt8(ascii: "f"))
                default:
                    put(UInt8(ascii: "u"))
                    put(UInt8(ascii: "0"))
                    put(UInt8(ascii: "0"))
                    put(ByteSink.hexDigit(byte >> 4))
                    put(ByteSink.hexDigit(byte & 0x0F))
                }
            }
            put(UInt8(ascii: "\""))
        }
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") &+ nibble : UInt8(ascii: "a") &+ (nibble &- 10)
    }

    func makeArray() -> [UInt8] {
        Array(UnsafeBufferPointer(start: base, count: count))
    }

    func append(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: base, count: count))
    }
}

extension JSONValue {
    /// Exact byte length of `encoded()`, e.g. for a Content-Length header before encoding.
    public var encodedCount: Int {
        switch self {
        case .null: return 4
        case .bool(let value): return value ? 4 : 5
        case .number(let number): return number.literal.utf8.count
        case .string(let string): return JSONWriter.escapedCount(string)
        case .array(let elements):
            // Iterating through the buffer borrows elements in place; a for-in copy would retain each one.
            return elements.withUnsafeBufferPointer { buffer in
                var size = 2 &+ max(0, buffer.count &- 1)
                for index in buffer.indices { size &+= buffer[index].encodedCount }
                return size
            }
        case .object(let object):
            return object.members.withUnsafeBufferPointer { members in
                // Braces, plus a colon per member and commas between members.
                var size = 2 &+ max(0, 2 &* members.count &- 1)
                for index in members.indices {
                    size &+= JSONWriter.escapedCount(members[index].key) &+ members[index].value.encodedCount
                }
                return size
            }
        }
    }

    /// Compact UTF-8 JSON: no whitespace, keys in stored order, numbers as their literal.
    public func encoded() -> [UInt8] {
        var sink = ByteSink(capacity: 1024)
        write(to: &sink)
        return sink.makeArray()
    }

    /// Appends rather than replaces, so callers can splice values into larger pre-encoded bodies.
    public func encode(into buffer: inout [UInt8]) {
        var sink = ByteSink(capacity: 1024)
        write(to: &sink)
        sink.append(to: &buffer)
    }

    func write(to sink: inout ByteSink) {
        switch self {
        case .null:
            sink.write("null")
        case .bool(true):
            sink.write("true")
        case .bool(false):
            sink.write("false")
        case .number(let number):
            sink.writeRaw(number.literal)
        case .string(let string):
            sink.writeEscaped(string)
        case .array(let elements):
            sink.put(UInt8(ascii: "["))
            // Iterating through the buffer borrows elements in place; a for-in copy would retain each one.
            elements.withUnsafeBufferPointer { buffer in
                for index in buffer.indices {
                    if index > 0 { sink.put(UInt8(ascii: ",")) }
                    buffer[index].write(to: &sink)
                }
            }
            sink.put(UInt8(ascii: "]"))
        case .object(let object):
            sink.put(UInt8(ascii: "{"))
            object.members.withUnsafeBufferPointer { members in
                for index in members.indices {
                    if index > 0 { sink.put(UInt8(ascii: ",")) }
                    sink.writeEscaped(members[index].key)
                    sink.put(UInt8(ascii: ":"))
                    members[index].value.write(to: &sink)
                }
            }
            sink.put(UInt8(ascii: "}"))
        }
    }
}
