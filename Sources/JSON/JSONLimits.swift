/// Parser limits that bound memory, time and nesting for untrusted bodies; each has a dedicated error code.
public struct JSONLimits: Sendable, Hashable {
    /// Deepest nesting of arrays and objects; a top-level `[]` is depth 1. Default 64.
    /// The parser itself never recurses, but the trees it returns are torn down, compared and
    /// encoded recursively, so this limit is what keeps those operations off the stack cliff.
    public var maxDepth: Int = 64
    /// Longest string or key after escapes are decoded, in UTF-8 bytes. Default 1 MiB.
    public var maxStringBytes: Int = 1 << 20
    /// Largest document accepted, in bytes; checked before any parsing. Default 16 MiB.
    public var maxBytes: Int = 16 << 20
    /// RFC 8259 leaves duplicates undefined; refusing them stops two readers seeing two different values.
    /// When allowed, the last value wins and keeps the position of the first occurrence.
    public var allowDuplicateKeys: Bool = false

    public init(maxDepth: Int = 64, maxStringBytes: Int = 1 << 20, maxBytes: Int = 16 << 20,
                allowDuplicateKeys: Bool = false) {
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
        self.maxBytes = maxBytes
        self.allowDuplicateKeys = allowDuplicateKeys
    }
}
