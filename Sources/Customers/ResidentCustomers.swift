/// What memory says about one customer id, for a writer that must not take "not in memory" for "does not exist".
enum MemoryView {
    /// Memory holds this record (live or tombstone).
    case resident(CustomerRecord)
    /// Memory holds every customer (no limit), and not this one: the store has no row for it either.
    case absent
    /// Memory is bounded and does not hold it: only the store knows (it may be live, a tombstone, or nothing).
    case notResident
}

/// The customers held in memory, at most `limit` of them (0: all, with no eviction bookkeeping). Beyond the limit
/// the SIEVE policy picks the victim: a hit only sets the entry's `visited` bit (no reordering, so reads stay cheap
/// under a lock); a hand sweeps from the oldest entry towards the newest, clearing bits and evicting the first
/// entry whose bit was already clear. Insert, hit and eviction are O(1) amortised. Measured against LRU and FIFO
/// on a Zipf trace by `customer-cache-bench eviction`. Not thread-safe: `CustomerStore` holds it under its mutex.
package struct ResidentCustomers {
    /// One resident customer and its place in the insertion-ordered list (indices into `slots`, -1 for none).
    struct Entry {
        var record: CustomerRecord
        /// PostgreSQL: the change sequence this record reflects (0 with SQLite).
        var sequence: Int64
        var visited = false
        var newer: Int32 = -1
        var older: Int32 = -1
    }

    /// Most customers kept; 0 keeps all.
    package let limit: Int
    private var index: [String: Int32] = [:]
    private var slots: [Entry] = []
    private var free: [Int32] = []
    /// Newest and oldest entries of the list; the hand moves from `oldest` towards `newest`.
    private var newest: Int32 = -1
    private var oldest: Int32 = -1
    private var hand: Int32 = -1
    /// Customers evicted since start (for `customer_cache_memory_evictions_total`).
    package private(set) var evictions = 0
    /// Bounded only: a counter per stripe of ids, moved whenever memory drops or skips a change for an id of that
    /// stripe (an eviction, a follower change for a non-resident id, a reload). A store reader takes it before it
    /// reads and admits its row only if it has not moved, so a row read before a newer commit never lands in memory
    /// after that commit was dropped. 4,096 stripes make a false conflict (a needless re-read later) rare.
    private var generations: [UInt32] = []
    /// Bounded, PostgreSQL: per stripe, the newest change sequence the follower skipped (not resident). This
    /// replica's writer makes a record it committed at sequence s resident only if no newer change of its stripe was
    /// skipped: the follower may apply the writer's own change, or a newer one from another replica, first.
    private var skippedUpTo: [Int64] = []
    static let stripes = 4096

    package init(limit: Int) {
        self.limit = max(0, limit)
        if self.limit > 0 {
            generations = Array(repeating: 0, count: Self.stripes)
            skippedUpTo = Array(repeating: 0, count: Self.stripes)
        }
    }

    /// FNV-1a over the id's bytes: cheaper than a second SipHash of the id on every eviction.
    private static func stripe(_ id: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in id.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return Int(hash) & (stripes - 1)
    }

    /// The stripe counter of `id` (0 when unbounded, where nothing is ever dropped).
    func generation(of id: String) -> UInt32 {
        isBounded ? generations[Self.stripe(id)] : 0
    }

    /// Records that memory dropped or skipped a change of `id` (at `sequence`, PostgreSQL).
    mutating func invalidate(_ id: String, skippedSequence sequence: Int64 = 0) {
        guard isBounded else { return }
        let stripe = Self.stripe(id)
        generations[stripe] &+= 1
        if sequence > skippedUpTo[stripe] { skippedUpTo[stripe] = sequence }
    }

    /// Whether a record committed at `sequence` by this replica's writer may be made resident (see `skippedUpTo`).
    func mayAdmitCommitted(_ id: String, sequence: Int64) -> Bool {
        !isBounded || skippedUpTo[Self.stripe(id)] <= sequence
    }

    /// Admits a row a store reader found, taken at `generation`: only when `id` is not resident (a resident record is
    /// at least as new: the writer or follower put it there) and nothing was dropped for its stripe meanwhile.
    /// Returns the record evicted to make room, if any.
    mutating func admit(_ record: CustomerRecord, sequence: Int64, generation: UInt32) -> (admitted: Bool, evicted: CustomerRecord?) {
        guard index[record.id] == nil, self.generation(of: record.id) == generation else { return (false, nil) }
        return (true, put(record, sequence: sequence).evicted)
    }

    var isBounded: Bool { limit > 0 }
    package var count: Int { index.count }

    /// The record for `id`, marking it visited (a hit) when memory is bounded.
    package mutating func record(for id: String) -> CustomerRecord? {
        guard let slot = index[id] else { return nil }
        if isBounded, !slots[Int(slot)].visited { slots[Int(slot)].visited = true }
        return slots[Int(slot)].record
    }

    /// What a writer deciding against memory may assume about `id` (not a read: the entry is not marked visited).
    func view(_ id: String) -> MemoryView {
        if let slot = index[id] { return .resident(slots[Int(slot)].record) }
        return isBounded ? .notResident : .absent
    }

    /// The change sequence memory reflects for `id`, nil when it is not resident.
    func sequence(of id: String) -> Int64? {
        index[id].map { slots[Int($0)].sequence }
    }

    func contains(_ id: String) -> Bool { index[id] != nil }

    /// Every resident record (order unspecified).
    var records: [CustomerRecord] { index.values.map { slots[Int($0)].record } }

    /// Stores `record`, replacing the resident one or admitting it (evicting one when full). Returns the record it
    /// replaced or evicted, so the caller can keep per-state counts.
    @discardableResult
    package mutating func put(_ record: CustomerRecord, sequence: Int64 = 0) -> (replaced: CustomerRecord?, evicted: CustomerRecord?) {
        if let slot = index[record.id] {
            let previous = slots[Int(slot)].record
            slots[Int(slot)].record = record
            slots[Int(slot)].sequence = sequence
            return (previous, nil)
        }
        var evicted: CustomerRecord?
        if isBounded, index.count >= limit { evicted = evictOne() }
        let entry = Entry(record: record, sequence: sequence, newer: -1, older: newest)
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            slots[Int(slot)] = entry
        } else {
            slot = Int32(slots.count)
            slots.append(entry)
        }
        if newest >= 0 { slots[Int(newest)].newer = slot }
        newest = slot
        if oldest < 0 { oldest = slot }
        index[record.id] = slot
        return (nil, evicted)
    }

    /// Empties memory and fills it with `records` (up to the limit, in the order given).
    mutating func replaceAll(with records: some Sequence<CustomerRecord>, sequence: Int64 = 0) {
        self = ResidentCustomers(limit: limit, evictions: evictions, generations: generations.map { $0 &+ 1 })
        if isBounded { skippedUpTo = Array(repeating: sequence, count: Self.stripes) }
        for record in records {
            if isBounded, index.count >= limit { break }
            put(record, sequence: sequence)
        }
    }

    private init(limit: Int, evictions: Int, generations: [UInt32]) {
        self.init(limit: limit)
        self.evictions = evictions
        self.generations = generations
    }

    /// SIEVE: from the hand (or the oldest entry), clear visited bits until an unvisited entry is found; evict it and
    /// leave the hand on its newer neighbour. Each bit cleared is one the entry earned with a hit, so amortised O(1).
    private mutating func evictOne() -> CustomerRecord? {
        var slot = hand >= 0 ? hand : oldest
        guard slot >= 0 else { return nil }
        while slots[Int(slot)].visited {
            slots[Int(slot)].visited = false
            slot = slots[Int(slot)].newer >= 0 ? slots[Int(slot)].newer : oldest
        }
        let victim = slots[Int(slot)]
        hand = victim.newer
        if victim.newer >= 0 { slots[Int(victim.newer)].older = victim.older } else { newest = victim.older }
        if victim.older >= 0 { slots[Int(victim.older)].newer = victim.newer } else { oldest = victim.newer }
        index[victim.record.id] = nil
        invalidate(victim.record.id)
        // Drop the body now rather than when the slot is reused.
        slots[Int(slot)].record = CustomerRecord(id: "", state: .deleted, updatedTime: 0, eventTime: 0, stale: false, body: [])
        free.append(slot)
        evictions += 1
        return victim.record
    }
}
