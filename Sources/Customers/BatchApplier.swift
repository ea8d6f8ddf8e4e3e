/// The table writes a backend makes for a batch besides customer rows, which `BatchApplier` asks for in operation
/// order. SQLite runs each at once; PostgreSQL queues each as a statement of the batch's single write pipeline.
protocol BatchEffects {
    /// True when this event id is new to the store (then it is also recorded as processed); false for a duplicate.
    mutating func claim(eventID: String) throws -> Bool
    mutating func queueForget(_ id: String) throws
    mutating func unqueueForget(_ id: String) throws
    /// True when the id was in the forget queue (and is now parked with `reason`).
    mutating func parkForget(_ id: String, reason: String) throws -> Bool
    mutating func setCheckpoint(_ name: String, _ value: String?) throws
}

/// Walks a batch of requests through `CustomerRules` the same way on every backend: an overlay makes each operation
/// see the ones before it in the same batch, event ids are deduplicated within the batch and against the store, and
/// the outcome of every operation is collected. The backend only says what is stored (`lookup`) and how side tables
/// are written (`BatchEffects`); it writes `CommittedBatch.records` itself, as one statement or one row at a time.
enum BatchApplier {
    static func apply<Effects: BatchEffects>(_ requests: [[StoreOperation]], now: Int64, lookup stored: (String) -> CustomerRecord?,
                                            effects: inout Effects) throws -> CommittedBatch {
        let nowSeconds = now / 1_000_000
        var batch = CommittedBatch()
        var overlay: [String: CustomerRecord] = [:]
        var order: [String] = []
        func lookup(_ id: String) -> CustomerRecord? { overlay[id] ?? stored(id) }
        func apply(_ decision: Decision) -> ApplyOutcome {
            if case .write(let record, let outcome) = decision {
                if overlay.updateValue(record, forKey: record.id) == nil { order.append(record.id) }
                if outcome == .forgotten || outcome == .deleted { batch.purged.insert(record.id) }
            }
            return decision.outcome
        }
        for operations in requests {
            var outcomes: [ApplyOutcome] = []
            outcomes.reserveCapacity(operations.count)
            for operation in operations {
                switch operation {
                case .event(let event):
                    // A store learns an id only when its batch commits, so a failed batch leaves it unseen and
                    // Digital River's retry applies the event.
                    let isNew = try !batch.seenEvents.contains(event.id) && effects.claim(eventID: event.id)
                    if !isNew {
                        outcomes.append(.duplicate)
                        continue
                    }
                    batch.seenEvents.insert(event.id)
                    outcomes.append(apply(CustomerRules.event(event, current: event.customerID.flatMap(lookup))))
                case .snapshot(let customer, let observedAt):
                    outcomes.append(apply(CustomerRules.snapshot(customer, observedAt: observedAt, current: lookup(customer.id))))
                case .forget(let id, let queueUpstream):
                    outcomes.append(apply(CustomerRules.forget(id: id, now: now, current: lookup(id))))
                    if queueUpstream {
                        try effects.queueForget(id)
                        batch.forgetsQueued[id] = nowSeconds
                    }
                case .markStale(let id):
                    if let record = lookup(id), record.state == .live {
                        outcomes.append(apply(CustomerRules.markStale(record)))
                    } else {
                        outcomes.append(.ignoredUnknownCustomer)
                    }
                case .forgetDelivered(let id):
                    try effects.unqueueForget(id)
                    batch.forgetsDelivered.insert(id)
                    outcomes.append(.unchanged)
                case .forgetParked(let id, let reason):
                    if try effects.parkForget(id, reason: reason) {
                        batch.forgetsParked[id] = QueuedForget.Parked(reason: reason, atSeconds: nowSeconds)
                    }
                    outcomes.append(.unchanged)
                case .setCheckpoint(let name, let value):
                    try effects.setCheckpoint(name, value)
                    batch.checkpoints.append((name, value))
                    outcomes.append(.applied)
                }
            }
            batch.outcomes.append(outcomes)
        }
        batch.records = order.compactMap { overlay[$0] }
        return batch
    }

    /// The customer ids and event ids a batch may read or write, for a backend that locks and reads rows up front.
    static func touched(_ requests: [[StoreOperation]]) -> (customers: [String], events: [String], parked: [String]) {
        var customers: Set<String> = []
        var events: [String] = []
        var parked: [String] = []
        for operation in requests.joined() {
            switch operation {
            case .event(let event):
                events.append(event.id)
                if let id = event.customerID { customers.insert(id) }
            case .snapshot(let customer, _): customers.insert(customer.id)
            case .forget(let id, _), .markStale(let id): customers.insert(id)
            case .forgetParked(let id, _): parked.append(id)
            case .forgetDelivered, .setCheckpoint: break
            }
        }
        return (customers.sorted(), events, parked)
    }
}
