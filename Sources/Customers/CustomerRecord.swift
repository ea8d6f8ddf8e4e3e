/// What the cache holds for one customer id: the customer, or a tombstone that keeps late events from undoing a
/// delete or a request to be forgotten.
public struct CustomerRecord: Sendable, Hashable {
    /// The lifecycle state; raw values are stored in SQLite, so never renumber them.
    public enum State: Int64, Sendable, Hashable {
        case live = 0
        case deleted = 1
        case forgotten = 2
    }

    public let id: String
    public var state: State
    /// The customer's `updatedTime` (µs); for tombstones, the time the delete or forget took effect.
    public var updatedTime: Int64
    /// `createdTime` (µs) of the event that last wrote this record; breaks ties between equal `updatedTime`s.
    public var eventTime: Int64
    /// Set when two versions tied on both times, or a sub-resource event could not be applied: the next read
    /// refetches from Digital River when an upstream is configured.
    public var stale: Bool
    /// The encoded customer JSON (live), the forgotten tombstone JSON (no PII), or empty (deleted).
    public var body: [UInt8]

    public init(id: String, state: State, updatedTime: Int64, eventTime: Int64, stale: Bool, body: [UInt8]) {
        self.id = id
        self.state = state
        self.updatedTime = updatedTime
        self.eventTime = eventTime
        self.stale = stale
        self.body = body
    }
}
