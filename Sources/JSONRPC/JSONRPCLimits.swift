/// Explicit bounds on what one request body may cost; every refusal is a -32600 response with id null and
/// `data` `{"limit": N}`, and a message naming the limit.
///
/// `maxDepth` and `maxStringBytes` are enforced by the JSON parser while it reads, so a hostile body is
/// refused before any tree is built; `maxBodyBytes` is checked before parsing starts.
public struct JSONRPCLimits: Sendable, Hashable {
    /// Largest body, in bytes, accepted for parsing. Default 1 MiB. The HTTP layer should refuse larger
    /// bodies with 413 first; this is the engine's own guard so it is safe to call with any input.
    /// Refused with message "Request body too large".
    public var maxBodyBytes: Int
    /// Most members of one batch. Default 100. A longer batch gets one error object (not an array),
    /// message "Batch too large", because answering each member would defeat the point of the limit.
    public var maxBatchLength: Int
    /// Deepest nesting of arrays and objects in the whole body, counted from the outermost bracket: a single
    /// request object is depth 1, its `params` object depth 2; inside a batch add one. Default 32.
    /// Refused with message "Request too deeply nested"; the parser never recurses, so deep input cannot crash.
    public var maxDepth: Int
    /// Longest string or object key after unescaping, in UTF-8 bytes. Default 64 KiB.
    /// Refused with message "String too long".
    public var maxStringBytes: Int

    public init(maxBodyBytes: Int = 1 << 20, maxBatchLength: Int = 100, maxDepth: Int = 32,
                maxStringBytes: Int = 64 << 10) {
        self.maxBodyBytes = maxBodyBytes
        self.maxBatchLength = maxBatchLength
        self.maxDepth = maxDepth
        self.maxStringBytes = maxStringBytes
    }
}
