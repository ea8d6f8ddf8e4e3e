/// Object members in their original order, so re-encoding preserves what the sender wrote; lookups
/// are linear because the objects we handle are small and a scan beats hashing at that size.
///
/// Keys compare with Swift `String` equality (canonically equivalent spellings are the same key).
/// Equality of whole objects is order-sensitive: equal objects encode to identical bytes.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSONValue)
    public typealias Index = Int

    /// One array of pairs means one allocation per object and a single cache-friendly scan for lookups.
    var members: [Member]

    public init() {
        members = []
    }

    /// Repeated keys collapse like repeated subscript assignments: last value wins, first position kept.
    public init(_ members: [(String, JSONValue)]) {
        self.members = []
        self.members.reserveCapacity(members.count)
        for (key, value) in members {
            self[key] = value
        }
    }

    /// An object of one member, built without the duplicate-key scan (the JSON-RPC fast path's `params`).
    public init(key: String, value: JSONValue) {
        members = [Member(key: key, value: value)]
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    /// For the parser, which has already rejected or collapsed duplicates.
    init(uncheckedMembers members: [Member]) {
        self.members = members
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { members.count }
    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    public subscript(position: Int) -> Element {
        let member = members[position]
        return (member.key, member.value)
    }

    public var keys: [String] { members.map(\.key) }
    public var values: [JSONValue] { members.map(\.value) }

    public func index(forKey key: String) -> Int? {
        members.firstIndex { $0.key == key }
    }

    public func contains(key: String) -> Bool {
        index(forKey: key) != nil
    }

    /// Assigning nil removes the member (assign `.null` to store a JSON null); assigning to an existing
    /// key keeps its position; a new key appends.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let index = index(forKey: key) else { return nil }
            return members[index].value
        }
        set {
            if let index = index(forKey: key) {
                if let newValue {
                    members[index].value = newValue
                } else {
                    members.remove(at: index)
                }
            } else if let newValue {
                members.append(Member(key: key, value: newValue))
            }
        }
    }

    /// Removes the member and returns its value, or nil when absent.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let index = index(forKey: key) else { return nil }
        return members.remove(at: index).value
    }
}

/// Storage for one object member; tuples cannot be Hashable, so the collection vends tuples built from these.
struct Member: Sendable, Hashable {
    var key: String
    var value: JSONValue
}
