/// Header fields in arrival order; names compare case-insensitively and repeats are kept, as RFC 9110 requires.
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

    @usableFromInline var fields: [Field]

    public init() { fields = [] }

    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// Appends a field, keeping any earlier field of the same name.
    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every field of this name with one.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        fields.append(Field(name: name, value: value))
    }

    public mutating func remove(name: String) {
        fields.removeAll { asciiCaseInsensitiveEquals($0.name, name) }
    }

    /// The first value of `name`, or nil.
    public subscript(_ name: String) -> String? {
        for field in fields where asciiCaseInsensitiveEquals(field.name, name) { return field.value }
        return nil
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.lazy.filter { asciiCaseInsensitiveEquals($0.name, name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Whether a comma-separated header (e.g. Connection) lists `token`, ignoring case.
    public func containsToken(_ token: String, in name: String) -> Bool {
        for value in values(name) {
            for part in value.split(separator: ",") {
                if asciiCaseInsensitiveEquals(part.trimmingOWS(), token) { return true }
            }
        }
        return false
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
