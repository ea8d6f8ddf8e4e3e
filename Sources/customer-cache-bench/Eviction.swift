import Customers
import Foundation

// customer-cache-bench eviction [CUSTOMERS] [CAPACITY] [REQUESTS] [ZIPF_S]
//
// Replays one Zipf-distributed trace of customer ids (default 1,000,000 customers, a memory of 100,000, 10,000,000
// reads, s = 0.99) through three eviction policies and prints, per policy, the hit ratio after warm-up and the
// nanoseconds per read (lookup, plus an insert on a miss). SIEVE is the service's own `ResidentCustomers`; LRU and
// FIFO are written here in the same style (a dictionary into slots, intrusive list), for comparison only.

/// A policy under comparison: look up, and admit on a miss.
protocol EvictionPolicy {
    /// The record, as the service's reads return it (a copy: the retain is part of the cost).
    mutating func get(_ id: String) -> CustomerRecord?
    mutating func admit(_ record: CustomerRecord)
}

/// The production SIEVE memory.
struct SievePolicy: EvictionPolicy {
    var memory: ResidentCustomers
    init(capacity: Int) { memory = ResidentCustomers(limit: capacity) }
    mutating func get(_ id: String) -> CustomerRecord? { memory.record(for: id) }
    mutating func admit(_ record: CustomerRecord) { memory.put(record) }
}

/// Least recently used: every hit moves the entry to the head of the list.
struct LRUPolicy: EvictionPolicy {
    private var index: [String: Int32] = [:]
    private var records: [CustomerRecord] = []
    private var newer: [Int32] = []
    private var older: [Int32] = []
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        index.reserveCapacity(capacity)
    }

    private mutating func unlink(_ slot: Int32) {
        let (n, o) = (newer[Int(slot)], older[Int(slot)])
        if n >= 0 { older[Int(n)] = o } else { head = o }
        if o >= 0 { newer[Int(o)] = n } else { tail = n }
    }

    private mutating func pushHead(_ slot: Int32) {
        newer[Int(slot)] = -1
        older[Int(slot)] = head
        if head >= 0 { newer[Int(head)] = slot }
        head = slot
        if tail < 0 { tail = slot }
    }

    mutating func get(_ id: String) -> CustomerRecord? {
        guard let slot = index[id] else { return nil }
        if slot != head {
            unlink(slot)
            pushHead(slot)
        }
        return records[Int(slot)]
    }

    mutating func admit(_ record: CustomerRecord) {
        let slot: Int32
        if index.count >= capacity {
            slot = tail
            unlink(slot)
            index[records[Int(slot)].id] = nil
            records[Int(slot)] = record
        } else {
            slot = Int32(records.count)
            records.append(record)
            newer.append(-1)
            older.append(-1)
        }
        index[record.id] = slot
        pushHead(slot)
    }
}

/// First in, first out: hits change nothing; the oldest admitted entry goes first.
struct FIFOPolicy: EvictionPolicy {
    private var index: [String: Int32] = [:]
    private var records: [CustomerRecord] = []
    private var next = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        index.reserveCapacity(capacity)
    }

    mutating func get(_ id: String) -> CustomerRecord? { index[id].map { records[Int($0)] } }

    mutating func admit(_ record: CustomerRecord) {
        if records.count < capacity {
            index[record.id] = Int32(records.count)
            records.append(record)
            return
        }
        index[records[next].id] = nil
        records[next] = record
        index[record.id] = Int32(next)
        next = (next + 1) % capacity
    }
}

/// Zipf(s) ranks over `count` items by inverse CDF; a fixed-seed xorshift so every policy sees the same trace.
func zipfTrace(customers count: Int, requests: Int, s: Double, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [Int32] {
    var cdf = [Double](repeating: 0, count: count)
    var total = 0.0
    for rank in 0..<count {
        total += 1 / pow(Double(rank + 1), s)
        cdf[rank] = total
    }
    var state = seed
    var trace = [Int32](repeating: 0, count: requests)
    // Ranks are scattered over ids (a fixed multiplicative permutation), so popularity is not insertion order.
    let stride = 7_919
    for index in 0..<requests {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let target = Double(state >> 11) / Double(1 << 53) * total
        var low = 0
        var high = count - 1
        while low < high {
            let middle = (low + high) / 2
            if cdf[middle] < target { low = middle + 1 } else { high = middle }
        }
        trace[index] = Int32((low * stride) % count)
    }
    return trace
}

func replay<Policy: EvictionPolicy>(_ policy: inout Policy, trace: [Int32], ids: [String], warmUp: Int, body: [UInt8]) -> (hitRatio: Double, nanosecondsPerRead: Double) {
    var hits = 0
    var counted = 0
    let started = DispatchTime.now().uptimeNanoseconds
    for (position, rank) in trace.enumerated() {
        let id = ids[Int(rank)]
        let hit = policy.get(id) != nil
        if !hit { policy.admit(CustomerRecord(id: id, state: .live, updatedTime: 1, eventTime: 1, stale: false, body: body)) }
        if position >= warmUp {
            counted += 1
            if hit { hits += 1 }
        }
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started)
    return (Double(hits) / Double(max(counted, 1)), elapsed / Double(trace.count))
}

func eviction(_ arguments: [String]) {
    let customers = arguments.count > 0 ? Int(arguments[0]) ?? 1_000_000 : 1_000_000
    let capacity = arguments.count > 1 ? Int(arguments[1]) ?? customers / 10 : customers / 10
    let requests = arguments.count > 2 ? Int(arguments[2]) ?? 10_000_000 : 10_000_000
    let s = arguments.count > 3 ? Double(arguments[3]) ?? 0.99 : 0.99
    let ids = (0..<customers).map { "cust-" + String(repeating: "0", count: max(0, 7 - String($0).count)) + String($0) }
    let trace = zipfTrace(customers: customers, requests: requests, s: s)
    let body = Array(String(repeating: "x", count: 600).utf8)
    let warmUp = min(requests / 5, capacity * 2)
    var results: [String: [(Double, Double)]] = [:]
    // Three rounds, alternating, so machine noise lands on every policy alike; the hit ratio is the same each round.
    for _ in 0..<3 {
        var sieve = SievePolicy(capacity: capacity)
        results["sieve", default: []].append(replay(&sieve, trace: trace, ids: ids, warmUp: warmUp, body: body))
        var lru = LRUPolicy(capacity: capacity)
        results["lru", default: []].append(replay(&lru, trace: trace, ids: ids, warmUp: warmUp, body: body))
        var fifo = FIFOPolicy(capacity: capacity)
        results["fifo", default: []].append(replay(&fifo, trace: trace, ids: ids, warmUp: warmUp, body: body))
    }
    var fields: [String] = []
    for name in ["sieve", "lru", "fifo"] {
        let rounds = results[name] ?? []
        let nanoseconds = rounds.map(\.1).sorted()
        fields.append("\"\(name)\":{\"hit_ratio\":\(String(format: "%.4f", rounds.first?.0 ?? 0)),\"ns_per_read\":\(String(format: "%.1f", nanoseconds[nanoseconds.count / 2]))}")
    }
    print("{\"customers\":\(customers),\"capacity\":\(capacity),\"requests\":\(requests),\"zipf_s\":\(s),\(fields.joined(separator: ","))}")
}
