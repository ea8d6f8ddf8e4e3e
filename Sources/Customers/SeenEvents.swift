/// Event ids processed within the retention window, held in memory by the writer thread so the duplicate check
/// costs no B-tree lookup and the on-disk log needs no index (appends only, sequential pages). The log is replayed
/// at start. Ids are kept as 128-bit keyed hashes: smaller than the strings, and the key is random per process,
/// so nobody can aim for a collision (at 10 million ids the chance of any is about 10^-25).
struct SeenEvents {
    /// An id's keyed hash; the writer computes it once per event and reuses it after COMMIT.
    struct Key: Hashable {
        let high: UInt64
        let low: UInt64
    }

    private var keys: Set<Key> = []
    /// Insertion order with receive times, for expiry; `head` is the oldest live entry.
    private var order: [(key: Key, receivedSeconds: Int64)] = []
    private var head = 0
    private let saltHigh = UInt64.random(in: .min ... .max)
    private let saltLow = UInt64.random(in: .min ... .max)

    var count: Int { keys.count }

    func key(_ id: String) -> Key {
        var high = Hasher()
        high.combine(saltHigh)
        high.combine(id)
        var low = Hasher()
        low.combine(saltLow)
        low.combine(id)
        return Key(high: UInt64(bitPattern: Int64(high.finalize())), low: UInt64(bitPattern: Int64(low.finalize())))
    }

    func contains(_ id: String) -> Bool { contains(key(id)) }

    func contains(_ key: Key) -> Bool { keys.contains(key) }

    mutating func insert(_ id: String, receivedSeconds: Int64) { insert(key(id), receivedSeconds: receivedSeconds) }

    mutating func insert(_ key: Key, receivedSeconds: Int64) {
        guard keys.insert(key).inserted else { return }
        order.append((key, receivedSeconds))
    }

    /// Forgets ids received before `cutoff`.
    mutating func expire(before cutoff: Int64) {
        while head < order.count, order[head].receivedSeconds < cutoff {
            keys.remove(order[head].key)
            head += 1
        }
        if head > 4096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
