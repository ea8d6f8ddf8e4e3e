/// Writes one JSON document member by member into a byte buffer, for bodies that splice already-encoded JSON (a
/// cached customer, a page of them) next to plain values: keys and strings are always escaped and commas placed by
/// the writer, so no hand-assembled fragment can produce invalid JSON.
///
/// Nesting is the caller's to balance (`beginObject`/`endObject`, `beginArray`/`endArray`); unbalanced use traps in
/// debug builds.
public struct JSONStreamWriter: Sendable {
    public private(set) var bytes: [UInt8]
    /// One entry per open container: whether it already holds a member (so the next one needs a comma).
    private var filled: [Bool] = []
    /// A key was just written: the next value belongs to it and takes no comma.
    private var afterKey = false

    public init(reservingCapacity capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = filled.indices.last else { return }
        if filled[last] { bytes.append(UInt8(ascii: ",")) }
        filled[last] = true
    }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        filled.append(false)
    }

    private mutating func close(_ bracket: UInt8) {
        assert(!filled.isEmpty && !afterKey, "closing without an open container, or after a key")
        filled.removeLast()
        bytes.append(bracket)
    }

    /// The key of the next value, inside an object.
    public mutating func key(_ name: String) {
        assert(!filled.isEmpty && !afterKey, "a key outside an object, or two keys in a row")
        separate()
        JSONWriter.appendEscaped(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A value (a member's, after `key`, or an array element).
    public mutating func value(_ value: JSONValue) {
        separate()
        value.encode(into: &bytes)
    }

    public mutating func string(_ text: String) {
        separate()
        JSONWriter.appendEscaped(text, to: &bytes)
    }

    public mutating func bool(_ flag: Bool) {
        separate()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
    }

    public mutating func int(_ number: Int) {
        separate()
        bytes.append(contentsOf: String(number).utf8)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Trusted: `json` must be exactly one valid JSON value (a stored customer's body); it is copied verbatim.
    public mutating func encoded(_ json: [UInt8]) {
        assert(!json.isEmpty, "an encoded value must be a JSON value")
        separate()
        bytes.append(contentsOf: json)
    }

    /// `key` then `value`, the common member.
    public mutating func member(_ name: String, _ member: JSONValue) {
        key(name)
        value(member)
    }

    /// The finished document; traps in debug builds while a container is open.
    public var document: [UInt8] {
        assert(filled.isEmpty && !afterKey, "a container is still open")
        return bytes
    }
}
