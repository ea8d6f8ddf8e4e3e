import JSON

/// Where a warm-up run stands, saved in the service's store under a checkpoint name (`cache.load`'s `checkpoint`,
/// read back with `cache.checkpoint`). The value is a small JSON object, so an operator can read it with one RPC and
/// later versions can add fields:
///
/// `{"v":1,"state":"running","source":"list","since":"2025-01-01T00:00:00Z","after":"cust-004200","pages":42,"customers":4200}`
///
/// - `state`: `running` while the run is under way (or was interrupted); `complete` once the last page is applied.
///   A completed checkpoint is kept rather than cleared, so `cache.checkpoint` shows when the last run finished
///   and how much it loaded; `--resume` treats it as "nothing to resume" and starts a new run from the beginning.
/// - `after` (list): the `lastID` of the last page applied, the next run's `startingAfter`; null before the first page.
/// - `position` (ids): how many ids of the (de-duplicated) list are done.
/// - `since`: the absolute lower bound on `updatedTime` the run uses, so a resumed run continues the same query
///   even when `--since` was relative (`26h`).
public struct WarmCheckpoint: Sendable, Hashable {
    /// Running or finished.
    public enum State: String, Sendable, Hashable {
        case running
        case complete
    }

    /// Which source the run reads.
    public enum Source: String, Sendable, Hashable {
        case list
        case ids
    }

    public var state: State
    public var source: Source
    public var since: String?
    public var after: String?
    public var position: Int
    public var pages: Int
    public var customers: Int

    public init(state: State, source: Source, since: String? = nil, after: String? = nil, position: Int = 0,
                pages: Int = 0, customers: Int = 0) {
        self.state = state
        self.source = source
        self.since = since
        self.after = after
        self.position = position
        self.pages = pages
        self.customers = customers
    }

    /// The value stored in the service.
    public var encoded: String {
        var object = JSONObject()
        object["v"] = 1
        object["state"] = .string(state.rawValue)
        object["source"] = .string(source.rawValue)
        object["since"] = since.map(JSONValue.string) ?? .null
        switch source {
        case .list: object["after"] = after.map(JSONValue.string) ?? .null
        case .ids: object["position"] = .number(JSONNumber(position))
        }
        object["pages"] = .number(JSONNumber(pages))
        object["customers"] = .number(JSONNumber(customers))
        return String(decoding: JSONValue.object(object).encoded(), as: UTF8.self)
    }

    /// Reads a stored value; nil when it is not a checkpoint this version understands (then `--resume` refuses
    /// rather than guessing where to continue).
    public init?(parsing text: String) {
        guard case .object(let object)? = try? JSONValue.parse(text), object["v"]?.intValue == 1,
              let state = object["state"]?.stringValue.flatMap(State.init(rawValue:)),
              let source = object["source"]?.stringValue.flatMap(Source.init(rawValue:))
        else { return nil }
        self.state = state
        self.source = source
        since = object["since"]?.stringValue
        after = object["after"]?.stringValue
        position = max(0, object["position"]?.intValue ?? 0)
        pages = max(0, object["pages"]?.intValue ?? 0)
        customers = max(0, object["customers"]?.intValue ?? 0)
    }

    // MARK: Names

    /// `warm:list:all`, or `warm:list:since=<the --since text as given>`: one resumable run per distinct query, so
    /// a full warm and an incremental one never continue each other's cursor.
    public static func listName(sinceArgument: String?) -> String {
        sinceArgument.map { "warm:list:since=" + $0 } ?? "warm:list:all"
    }

    /// `warm:ids:<16 hex digits>`: a 64-bit FNV-1a digest of the de-duplicated id list, so `--resume` only ever
    /// continues the same list (a position in another file would skip the wrong ids).
    public static func idsName(_ ids: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for id in ids {
            for byte in id.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            hash ^= 0x0A
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return "warm:ids:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
