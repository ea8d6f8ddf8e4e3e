/// The field names the server itself reads, classified once when a field is parsed or added, so its lookups compare
/// one byte instead of strings (a request's every header used to be compared by name on each lookup).
public enum HTTPFieldName: UInt8, Sendable, Hashable, CaseIterable {
    case host = 1
    case contentLength
    case contentType
    case transferEncoding
    case connection
    case expect
    case authorization

    /// The canonical spelling, as written when the server adds the field.
    public var canonicalName: String {
        switch self {
        case .host: "Host"
        case .contentLength: "Content-Length"
        case .contentType: "Content-Type"
        case .transferEncoding: "Transfer-Encoding"
        case .connection: "Connection"
        case .expect: "Expect"
        case .authorization: "Authorization"
        }
    }

    /// The well-known name these bytes spell in any letter case, or nil.
    @inline(__always)
    static func classify(_ name: UnsafeRawBufferPointer) -> HTTPFieldName? {
        // Lengths differ between all of them, so one compare decides which name it can be.
        switch name.count {
        case 4: return asciiLowercaseEquals(name, "host") ? .host : nil
        case 6: return asciiLowercaseEquals(name, "expect") ? .expect : nil
        case 10: return asciiLowercaseEquals(name, "connection") ? .connection : nil
        case 12: return asciiLowercaseEquals(name, "content-type") ? .contentType : nil
        case 13: return asciiLowercaseEquals(name, "authorization") ? .authorization : nil
        case 14: return asciiLowercaseEquals(name, "content-length") ? .contentLength : nil
        case 17: return asciiLowercaseEquals(name, "transfer-encoding") ? .transferEncoding : nil
        default: return nil
        }
    }

    static func classify(_ name: String) -> HTTPFieldName? {
        var name = name
        return name.withUTF8 { classify(UnsafeRawBufferPointer($0)) }
    }
}

/// Header fields in arrival order; names compare case-insensitively and repeats are kept, as RFC 9110 requires.
/// Stored as byte ranges into one buffer (for a parsed request: its header lines, copied once), so parsing builds
/// no `String` per field and lookups of well-known names compare a byte; strings are made only when asked for.
public struct HTTPHeaders: Sendable, Hashable, Sequence {
    /// One field line.
    public struct Field: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Where one field's name and value lie in `storage`, and which well-known name it is (0: none).
    @usableFromInline struct Entry: Sendable {
        @usableFromInline var nameStart: Int32
        @usableFromInline var nameEnd: Int32
        @usableFromInline var valueStart: Int32
        @usableFromInline var valueEnd: Int32
        @usableFromInline var known: UInt8
    }

    @usableFromInline var storage: [UInt8]
    @usableFromInline var entries: [Entry]

    public init() {
        storage = []
        entries = []
    }

    public init(_ pairs: [(String, String)]) {
        self.init()
        for (name, value) in pairs { add(name: name, value: value) }
    }

    /// A parsed head's header lines; the parser appends entries pointing into them.
    init(parsedLines: [UInt8], capacity: Int) {
        storage = parsedLines
        entries = []
        entries.reserveCapacity(capacity)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// Iterates fields as strings (built on the way); the server's own paths use the byte accessors instead.
    public struct Iterator: IteratorProtocol {
        let headers: HTTPHeaders
        var index = 0
        public mutating func next() -> Field? {
            guard index < headers.entries.count else { return nil }
            defer { index += 1 }
            return headers.field(at: index)
        }
    }

    public func makeIterator() -> Iterator { Iterator(headers: self) }

    func field(at index: Int) -> Field {
        let entry = entries[index]
        return Field(name: string(entry.nameStart, entry.nameEnd), value: string(entry.valueStart, entry.valueEnd))
    }

    private func string(_ start: Int32, _ end: Int32) -> String {
        storage.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[Int(start)..<Int(end)]), as: UTF8.self) }
    }

    /// Appends a field, keeping any earlier field of the same name.
    public mutating func add(name: String, value: String) {
        let nameStart = Int32(storage.count)
        storage.append(contentsOf: name.utf8)
        let valueStart = Int32(storage.count)
        storage.append(contentsOf: value.utf8)
        entries.append(Entry(nameStart: nameStart, nameEnd: valueStart, valueStart: valueStart, valueEnd: Int32(storage.count),
                             known: HTTPFieldName.classify(name)?.rawValue ?? 0))
    }

    /// Records a field already in `storage` (the parser's path: no copy, no string).
    mutating func appendParsed(name: Range<Int>, value: Range<Int>, known: HTTPFieldName?) {
        entries.append(Entry(nameStart: Int32(name.lowerBound), nameEnd: Int32(name.upperBound),
                             valueStart: Int32(value.lowerBound), valueEnd: Int32(value.upperBound), known: known?.rawValue ?? 0))
    }

    public mutating func remove(name: String) {
        let kept = indices(of: name, matching: false)
        guard kept.count < entries.count else { return }
        var rebuilt = HTTPHeaders()
        for index in kept {
            let field = field(at: index)
            rebuilt.add(name: field.name, value: field.value)
        }
        self = rebuilt
    }

    /// Indices of the fields named (or, with `matching` false, not named) `name`.
    private func indices(of name: String, matching: Bool) -> [Int] {
        var result: [Int] = []
        if let known = HTTPFieldName.classify(name) {
            for (index, entry) in entries.enumerated() where (entry.known == known.rawValue) == matching { result.append(index) }
            return result
        }
        var name = name
        name.withUTF8 { wanted in
            storage.withUnsafeBytes { bytes in
                for (index, entry) in entries.enumerated() {
                    let candidate = UnsafeRawBufferPointer(rebasing: bytes[Int(entry.nameStart)..<Int(entry.nameEnd)])
                    if asciiCaseInsensitiveEquals(candidate, UnsafeRawBufferPointer(wanted)) == matching { result.append(index) }
                }
            }
        }
        return result
    }

    /// The first value of `name`, or nil.
    public subscript(_ name: String) -> String? {
        guard let index = indices(of: name, matching: true).first else { return nil }
        let entry = entries[index]
        return string(entry.valueStart, entry.valueEnd)
    }

    /// The first value of a well-known field, or nil.
    public subscript(_ name: HTTPFieldName) -> String? {
        guard let entry = firstEntry(name) else { return nil }
        return string(entry.valueStart, entry.valueEnd)
    }

    @inlinable
    func firstEntry(_ name: HTTPFieldName) -> Entry? {
        for entry in entries where entry.known == name.rawValue { return entry }
        return nil
    }

    /// Calls `body` with the first value of a well-known field as bytes (nil when absent), building no string.
    @inlinable
    public func withValueBytes<R>(_ name: HTTPFieldName, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let entry = firstEntry(name) else { return try body(nil) }
        return try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[Int(entry.valueStart)..<Int(entry.valueEnd)])) }
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        indices(of: name, matching: true).map { string(entries[$0].valueStart, entries[$0].valueEnd) }
    }

    /// Every value of a well-known field, in order.
    public func values(_ name: HTTPFieldName) -> [String] {
        entries.filter { $0.known == name.rawValue }.map { string($0.valueStart, $0.valueEnd) }
    }

    public func contains(_ name: String) -> Bool { !indices(of: name, matching: true).isEmpty }

    /// Writes every field as `\r\n<name>: <value>` (the response writer's path: bytes straight from storage).
    func appendFieldLines(to out: inout [UInt8]) {
        guard !entries.isEmpty else { return }
        storage.withUnsafeBytes { bytes in
            for entry in entries {
                out.append(0x0D)
                out.append(0x0A)
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[Int(entry.nameStart)..<Int(entry.nameEnd)]))
                out.append(UInt8(ascii: ":"))
                out.append(0x20)
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[Int(entry.valueStart)..<Int(entry.valueEnd)]))
            }
        }
    }

    /// Equal when the same fields (names ignoring case) come in the same order, however they are stored.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (left, right) in zip(lhs, rhs) {
            guard asciiCaseInsensitiveEquals(left.name, right.name), left.value == right.value else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for field in self {
            hasher.combine(field.name.lowercased())
            hasher.combine(field.value)
        }
    }
}

/// ASCII-only case folding: header names and tokens are ASCII by grammar, and this avoids Unicode work on the hot path.
@inlinable
func asciiCaseInsensitiveEquals<A: StringProtocol, B: StringProtocol>(_ a: A, _ b: B) -> Bool {
    // Lengths first: most header names differ in length, and native strings know theirs in O(1).
    guard a.utf8.count == b.utf8.count else { return false }
    var left = a.utf8.makeIterator()
    var right = b.utf8.makeIterator()
    while true {
        switch (left.next(), right.next()) {
        case (nil, nil): return true
        case (let x?, let y?):
            if x == y { continue }
            if x | 0x20 == y | 0x20, (x | 0x20) >= UInt8(ascii: "a"), (x | 0x20) <= UInt8(ascii: "z") { continue }
            return false
        default: return false
        }
    }
}

/// The same over raw bytes.
@inline(__always)
func asciiCaseInsensitiveEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    for index in 0..<a.count {
        let x = a[index], y = b[index]
        if x == y { continue }
        if x | 0x20 == y | 0x20, (x | 0x20) >= UInt8(ascii: "a"), (x | 0x20) <= UInt8(ascii: "z") { continue }
        return false
    }
    return true
}

/// Whether `bytes` equal `lowercase` (lowercase ASCII, same length) ignoring the letter case of `bytes`.
@inline(__always)
func asciiLowercaseEquals(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
    guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
    let expected = lowercase.utf8Start
    for index in 0..<bytes.count {
        let wanted = expected[index]
        let byte = bytes[index]
        // Only letters fold: '-' | 0x20 is '-' already, but a digit or ':' must match exactly.
        if byte == wanted { continue }
        if wanted >= UInt8(ascii: "a"), wanted <= UInt8(ascii: "z"), byte | 0x20 == wanted { continue }
        return false
    }
    return true
}

extension StringProtocol {
    /// Trims optional whitespace (SP and HTAB) as HTTP defines it, not Unicode whitespace.
    func trimmingOWS() -> Substring {
        let characters = Substring(self)
        var start = characters.startIndex
        var end = characters.endIndex
        while start < end, characters[start] == " " || characters[start] == "\t" { start = characters.index(after: start) }
        while end > start {
            let before = characters.index(before: end)
            guard characters[before] == " " || characters[before] == "\t" else { break }
            end = before
        }
        return characters[start..<end]
    }
}
