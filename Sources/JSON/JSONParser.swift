/// A manually managed stack: closing a container moves its elements into an exact-size array in one
/// memcpy-like step, with no refcount traffic and no per-container growth reallocations.
private struct Stack<Element> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    @inline(__always)
    mutating func push(_ element: Element) {
        if count == capacity { grow() }
        (base + count).initialize(to: element)
        count &+= 1
    }

    private mutating func grow() {
        let newCapacity = capacity * 2
        let newBase = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        newBase.moveInitialize(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    /// Moves the elements from `start` to the top out into a new exact-size array, without refcounting.
    ///
    /// `Array(unsafeUninitializedCapacity:)` would be the obvious tool, but it allocates through an
    /// unspecialised stdlib entry point that looks up generic metadata on every call (~600
    /// instructions, a tenth of a whole small parse). `append(contentsOf:)` allocates specialised
    /// and hands us the new storage through `_copyContents`, where `Draining` moves instead of copying.
    mutating func popArray(from start: Int) -> [Element] {
        let n = count &- start
        var result: [Element] = []
        result.append(contentsOf: Draining(base: base + start, count: n))
        count = start
        return result
    }

    /// Discards the elements from `start` to the top.
    mutating func drop(from start: Int) {
        (base + start).deinitialize(count: count &- start)
        count = start
    }

    /// Must be called exactly once, on every exit path.
    func release() {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

/// A one-shot sequence that moves elements out of stack memory; see `Stack.popArray`.
private struct Draining<Element>: Sequence {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    struct Iterator: IteratorProtocol {
        let base: UnsafeMutablePointer<Element>
        let count: Int
        var index: Int

        mutating func next() -> Element? {
            guard index < count else { return nil }
            defer { index &+= 1 }
            return (base + index).move()
        }
    }

    var underestimatedCount: Int { count }

    func makeIterator() -> Iterator {
        Iterator(base: base, count: count, index: 0)
    }

    func _copyContents(initializing buffer: UnsafeMutableBufferPointer<Element>) -> (Iterator, Int) {
        let n = Swift.min(count, buffer.count)
        if let destination = buffer.baseAddress {
            destination.moveInitialize(from: base, count: n)
        }
        return (Iterator(base: base, count: count, index: n), n)
    }
}

/// An open array or object. The parser keeps these on a heap stack instead of recursing, so hostile
/// nesting can only ever cost heap memory bounded by `maxDepth`, never the thread's stack.
private struct Frame {
    let isObject: Bool
    /// Where this container's elements begin on the values (array) or members (object) stack.
    let start: Int
    /// Object only: the members-stack slot that receives the next value (differs from the top when a
    /// duplicate key was allowed, so the last value lands at the first occurrence's position).
    var slot = 0
    /// Built once an object grows past `hashThreshold` keys, so duplicate detection stays linear
    /// overall for big hostile objects while small ones keep the cheaper scan.
    var keyIndex: [ExactKey: Int]?

    static let hashThreshold = 24

    init(isObject: Bool, start: Int) {
        self.isObject = isObject
        self.start = start
    }
}

/// A single-pass byte parser; see `JSONParseError` for what each error offset points at.
struct JSONParser {
    private let p: UnsafePointer<UInt8>
    private let count: Int
    private let limits: JSONLimits
    private var pos = 0
    private var frames: [Frame] = []
    private var values = Stack<JSONValue>(capacity: 32)
    private var members = Stack<Member>(capacity: 32)
    /// Parallel to `members`: cheap per-key summaries so the duplicate scan rarely compares strings.
    private var fingerprints = Stack<KeyFingerprint>(capacity: 32)
    /// Reused across escaped strings so only the first one in a document allocates.
    private var scratch: [UInt8] = []

    private init(p: UnsafePointer<UInt8>, count: Int, limits: JSONLimits) {
        self.p = p
        self.count = count
        self.limits = limits
        frames.reserveCapacity(8)
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, limits: JSONLimits) throws(JSONParseError) -> JSONValue {
        guard bytes.count <= limits.maxBytes else {
            throw JSONParseError(.documentTooLarge, offset: max(0, limits.maxBytes))
        }
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw JSONParseError(.unexpectedEnd, offset: 0)
        }
        var parser = JSONParser(p: base.assumingMemoryBound(to: UInt8.self), count: bytes.count, limits: limits)
        defer {
            parser.values.release()
            parser.members.release()
            parser.fingerprints.release()
        }
        return try parser.parseDocument()
    }

    // MARK: Structure

    private mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        while true {
            // Expecting a value.
            skipWhitespace()
            guard pos < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            var value: JSONValue
            switch p[pos] {
            case UInt8(ascii: "["):
                guard frames.count < limits.maxDepth else { throw JSONParseError(.depthLimitExceeded, offset: pos) }
                pos &+= 1
                skipWhitespace()
                if pos < count, p[pos] == UInt8(ascii: "]") {
                    pos &+= 1
                    value = .array([])
                } else {
                    frames.append(Frame(isObject: false, start: values.count))
                    continue
                }
            case UInt8(ascii: "{"):
                guard frames.count < limits.maxDepth else { throw JSONParseError(.depthLimitExceeded, offset: pos) }
                pos &+= 1
                skipWhitespace()
                if pos < count, p[pos] == UInt8(ascii: "}") {
                    pos &+= 1
                    value = .object(JSONObject())
                } else {
                    frames.append(Frame(isObject: true, start: members.count))
                    try parseKey()
                    continue
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = pos
                pos = try NumberGrammar.scan(p, count: count, from: start)
                value = .number(JSONNumber(validatedLiteral: makeString(from: start, to: pos)))
            case UInt8(ascii: "t"):
                try expectWord("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectWord("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectWord("null")
                value = .null
            default:
                throw JSONParseError(.unexpectedByte, offset: pos)
            }

            // A value is complete: attach it, then close as many containers as the input closes.
            while true {
                guard !frames.isEmpty else {
                    skipWhitespace()
                    guard pos == count else { throw JSONParseError(.trailingData, offset: pos) }
                    return value
                }
                let top = frames.count &- 1
                let isObject = frames[top].isObject
                if isObject {
                    members.base[frames[top].slot].value = value
                } else {
                    values.push(value)
                }
                skipWhitespace()
                guard pos < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
                let byte = p[pos]
                if byte == UInt8(ascii: ",") {
                    pos &+= 1
                    if isObject {
                        skipWhitespace()
                        try parseKey()
                    }
                    break
                }
                guard byte == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                    throw JSONParseError(.unexpectedByte, offset: pos)
                }
                pos &+= 1
                let start = frames.removeLast().start
                if isObject {
                    fingerprints.drop(from: start)
                    value = .object(JSONObject(uncheckedMembers: members.popArray(from: start)))
                } else {
                    value = .array(values.popArray(from: start))
                }
            }
        }
    }

    /// Parses `"key"` and the following `:` for the innermost (object) frame, reserving the slot its
    /// value goes into. Duplicates are handled here so the error points at the repeated key.
    private mutating func parseKey() throws(JSONParseError) {
        guard pos < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
        guard p[pos] == UInt8(ascii: "\"") else { throw JSONParseError(.unexpectedByte, offset: pos) }
        let quote = pos
        var print = KeyFingerprint.empty
        let key = try parseString(fingerprint: true, into: &print)
        let top = frames.count &- 1
        let start = frames[top].start
        var existing: Int?
        if let keyIndex = frames[top].keyIndex {
            existing = keyIndex[ExactKey(key)]
        } else {
            var slot = start
            while slot < members.count {
                if fingerprints.base[slot] == print, KeyFingerprint.bytesEqual(members.base[slot].key, key) {
                    existing = slot
                    break
                }
                slot &+= 1
            }
        }
        if let existing {
            guard limits.allowDuplicateKeys else { throw JSONParseError(.duplicateKey, offset: quote) }
            frames[top].slot = existing
        } else {
            let slot = members.count
            fingerprints.push(print)
            members.push(Member(key: key, value: .null))
            frames[top].slot = slot
            if frames[top].keyIndex != nil {
                frames[top].keyIndex?[ExactKey(key)] = slot
            } else if slot &- start >= Frame.hashThreshold {
                var index: [ExactKey: Int] = [:]
                index.reserveCapacity(2 * Frame.hashThreshold)
                for existingSlot in start...slot { index[ExactKey(members.base[existingSlot].key)] = existingSlot }
                frames[top].keyIndex = index
            }
        }
        skipWhitespace()
        guard pos < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
        guard p[pos] == UInt8(ascii: ":") else { throw JSONParseError(.unexpectedByte, offset: pos) }
        pos &+= 1
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while pos < count {
            let byte = p[pos]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            pos &+= 1
        }
    }

    /// Matches a literal name (`true`, `false`, `null`) byte by byte so the error offset is exact.
    @inline(__always)
    private mutating func expectWord(_ word: StaticString) throws(JSONParseError) {
        let letters = word.utf8Start
        for k in 0..<word.utf8CodeUnitCount {
            guard pos < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            guard p[pos] == letters[k] else { throw JSONParseError(.unexpectedByte, offset: pos) }
            pos &+= 1
        }
    }

    // MARK: Strings

    @inline(__always)
    private func makeString(from start: Int, to end: Int) -> String {
        Self.makeString(p + start, count: end &- start)
    }

    /// Builds a String from bytes already validated as UTF-8. This initializer skips validation for
    /// short ASCII (the common key and id case) and copies once for long strings, where
    /// `String(decoding:as:)` would validate and then copy.
    @inline(__always)
    static func makeString(_ bytes: UnsafePointer<UInt8>, count: Int) -> String {
        String(unsafeUninitializedCapacity: count) { buffer in
            guard let destination = buffer.baseAddress else { return 0 }
            destination.initialize(from: bytes, count: count)
            return count
        }
    }

    /// Parses the string whose opening quote is at `pos`.
    private mutating func parseString() throws(JSONParseError) -> String {
        var unused = KeyFingerprint.empty
        return try parseString(fingerprint: false, into: &unused)
    }

    /// Parses a string and, for keys, summarises its decoded bytes while they are at hand.
    @inline(__always)
    private mutating func parseString(fingerprint: Bool,
                                      into print: inout KeyFingerprint) throws(JSONParseError) -> String {
        let quote = pos
        let start = pos &+ 1
        var i = try scanPlain(from: start)
        if p[i] == UInt8(ascii: "\"") {
            // Fast path: no escapes, so the decoded string is exactly the already-validated input slice.
            guard i &- start <= limits.maxStringBytes else { throw JSONParseError(.stringTooLong, offset: quote) }
            pos = i &+ 1
            if fingerprint { print = KeyFingerprint(p + start, count: i &- start) }
            return makeString(from: start, to: i)
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i &- start))
        repeat {
            i = try decodeEscape(at: i)
            let runStart = i
            i = try scanPlain(from: i)
            scratch.append(contentsOf: UnsafeBufferPointer(start: p + runStart, count: i &- runStart))
        } while p[i] != UInt8(ascii: "\"")
        guard scratch.count <= limits.maxStringBytes else { throw JSONParseError(.stringTooLong, offset: quote) }
        pos = i &+ 1
        if fingerprint {
            print = scratch.withUnsafeBufferPointer { bytes in
                guard let base = bytes.baseAddress else { return KeyFingerprint.empty }
                return KeyFingerprint(base, count: bytes.count)
            }
        }
        return scratch.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return "" }
            return Self.makeString(base, count: bytes.count)
        }
    }

    /// Marks (high bit per byte) every byte of `word` that is `"`, `\\`, a control byte or non-ASCII,
    /// using the classic SWAR zero-byte tests. Bytes above a true hit may be marked spuriously by
    /// borrows, but the lowest mark is always exact, which is all the scanner uses.
    @inline(__always)
    private static func attentionMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = word ^ (ones &* 0x22)
        let backslashes = word ^ (ones &* 0x5C)
        let hasQuote = (quotes &- ones) & ~quotes
        let hasBackslash = (backslashes &- ones) & ~backslashes
        let hasControl = (word &- ones &* 0x20) & ~word
        return (hasQuote | hasBackslash | hasControl | word) & highs
    }

    /// Returns the index of the next `"` or `\\`, validating UTF-8 and rejecting control bytes on the way.
    @inline(__always)
    private func scanPlain(from start: Int) throws(JSONParseError) -> Int {
        var i = start
        while true {
            while i &+ 8 <= count {
                let mask = JSONParser.attentionMask(JSONWriter.loadWord(UnsafeRawPointer(p), i))
                if mask != 0 {
                    i &+= JSONWriter.firstMarkedByte(mask)
                    break
                }
                i &+= 8
            }
            guard i < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            let byte = p[i]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return i }
            if byte < 0x20 { throw JSONParseError(.controlCharacterInString, offset: i) }
            if byte < 0x80 {
                i &+= 1
            } else {
                i = try skipUTF8Sequence(at: i)
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence (Unicode Table 3-7: no overlongs, surrogates or
    /// values above U+10FFFF) and returns the index after it.
    @inline(__always)
    private func skipUTF8Sequence(at i: Int) throws(JSONParseError) -> Int {
        let lead = p[i]
        var trailing: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: trailing = 1
        case 0xE0: trailing = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
        case 0xED: trailing = 2; high = 0x9F
        case 0xF0: trailing = 3; low = 0x90
        case 0xF1...0xF3: trailing = 3
        case 0xF4: trailing = 3; high = 0x8F
        default: throw JSONParseError(.invalidUTF8, offset: i)
        }
        var j = i &+ 1
        guard j < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
        guard p[j] >= low, p[j] <= high else { throw JSONParseError(.invalidUTF8, offset: i) }
        trailing &-= 1
        while trailing > 0 {
            j &+= 1
            guard j < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            guard p[j] & 0xC0 == 0x80 else { throw JSONParseError(.invalidUTF8, offset: i) }
            trailing &-= 1
        }
        return j &+ 1
    }

    /// Decodes the escape whose backslash is at `i` into `scratch`; returns the index after it.
    private mutating func decodeEscape(at i: Int) throws(JSONParseError) -> Int {
        guard i &+ 1 < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
        let simple: UInt8
        switch p[i &+ 1] {
        case UInt8(ascii: "\""): simple = 0x22
        case UInt8(ascii: "\\"): simple = 0x5C
        case UInt8(ascii: "/"): simple = 0x2F
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "f"): simple = 0x0C
        case UInt8(ascii: "n"): simple = 0x0A
        case UInt8(ascii: "r"): simple = 0x0D
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "u"):
            return try decodeUnicodeEscape(at: i)
        default:
            throw JSONParseError(.invalidEscape, offset: i)
        }
        scratch.append(simple)
        return i &+ 2
    }

    private mutating func decodeUnicodeEscape(at i: Int) throws(JSONParseError) -> Int {
        let first = try hex4(at: i &+ 2, escape: i)
        var scalar = first
        var end = i &+ 6
        if first & 0xFC00 == 0xD800 {
            // A high surrogate is only meaningful as the first half of a `\uD8xx\uDCxx` pair.
            guard end < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            guard p[end] == UInt8(ascii: "\\") else { throw JSONParseError(.invalidUnicode, offset: i) }
            guard end &+ 1 < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            guard p[end &+ 1] == UInt8(ascii: "u") else { throw JSONParseError(.invalidUnicode, offset: i) }
            let second = try hex4(at: end &+ 2, escape: end)
            guard second & 0xFC00 == 0xDC00 else { throw JSONParseError(.invalidUnicode, offset: i) }
            scalar = 0x10000 &+ ((first &- 0xD800) << 10) &+ (second &- 0xDC00)
            end &+= 6
        } else if first & 0xFC00 == 0xDC00 {
            throw JSONParseError(.invalidUnicode, offset: i)
        }
        appendUTF8(scalar)
        return end
    }

    private func hex4(at start: Int, escape: Int) throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for k in start..<(start &+ 4) {
            guard k < count else { throw JSONParseError(.unexpectedEnd, offset: count) }
            let byte = p[k]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte &- UInt8(ascii: "A") &+ 10
            default: throw JSONParseError(.invalidEscape, offset: escape)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(truncatingIfNeeded: scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        }
    }
}

/// Duplicate keys are decided on exact decoded bytes (RFC 8259 §8.3), not Swift's canonical-equivalence
/// `String` equality; this summary (length plus first and last 8 bytes) settles almost every comparison
/// without touching the strings.
struct KeyFingerprint: Equatable {
    let head: UInt64
    let tail: UInt64

    static let empty = KeyFingerprint(head: 0, tail: 0)

    private init(head: UInt64, tail: UInt64) {
        self.head = head
        self.tail = tail
    }

    init(_ bytes: UnsafePointer<UInt8>, count n: Int) {
        let raw = UnsafeRawPointer(bytes)
        if n >= 8 {
            head = raw.loadUnaligned(as: UInt64.self)
            tail = raw.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self) ^ UInt64(truncatingIfNeeded: n)
        } else {
            var word: UInt64 = 0
            for k in 0..<n { word |= UInt64(bytes[k]) << (8 &* UInt64(truncatingIfNeeded: k)) }
            head = word
            tail = UInt64(truncatingIfNeeded: n)
        }
    }

    /// Exact byte equality, compared a word at a time.
    static func bytesEqual(_ a: String, _ b: String) -> Bool {
        JSONWriter.withUTF8(a) { x in
            JSONWriter.withUTF8(b) { y in
                guard x.count == y.count else { return false }
                guard let xb = x.baseAddress, let yb = y.baseAddress else { return true }
                let xr = UnsafeRawPointer(xb)
                let yr = UnsafeRawPointer(yb)
                var k = 0
                while k &+ 8 <= x.count {
                    if xr.loadUnaligned(fromByteOffset: k, as: UInt64.self)
                        != yr.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
                    k &+= 8
                }
                while k < x.count {
                    if x[k] != y[k] { return false }
                    k &+= 1
                }
                return true
            }
        }
    }
}

/// A dictionary key with byte-exact equality and hashing, for the large-object duplicate index.
struct ExactKey: Hashable {
    let string: String

    init(_ string: String) {
        self.string = string
    }

    static func == (lhs: ExactKey, rhs: ExactKey) -> Bool {
        KeyFingerprint.bytesEqual(lhs.string, rhs.string)
    }

    func hash(into hasher: inout Hasher) {
        JSONWriter.withUTF8(string) { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
