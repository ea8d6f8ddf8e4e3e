import JSON

/// What applying one event or snapshot did; the raw values are metric labels and log fields, so keep them stable.
public enum ApplyOutcome: String, Sendable, Hashable, CaseIterable {
    /// The customer (or one of its lists) was written.
    case applied
    /// The customer was removed and a tombstone kept.
    case deleted
    /// PII was purged and a forgotten tombstone kept.
    case forgotten
    /// This event id was already processed.
    case duplicate
    /// Older than what is stored; acknowledged and ignored.
    case staleEvent = "stale_event"
    /// Same version and content as stored.
    case unchanged
    /// A tie or an unusable sub-resource payload: the entry is flagged for refetch instead of guessed at.
    case markedStale = "marked_stale"
    /// The customer is deleted or forgotten and this event may not bring it back.
    case ignoredTombstone = "ignored_tombstone"
    /// A sub-resource event for a customer the cache does not hold; the next read fetches it whole.
    case ignoredUnknownCustomer = "ignored_unknown_customer"
    /// Not a customer event.
    case ignoredType = "ignored_type"
}

/// A decision of the rules: write this record, or leave the store as it is.
public enum Decision: Sendable, Hashable {
    case write(CustomerRecord, ApplyOutcome)
    case skip(ApplyOutcome)

    public var outcome: ApplyOutcome {
        switch self {
        case .write(_, let outcome), .skip(let outcome): return outcome
        }
    }
}

/// The newest-wins, tombstone and forget rules, as pure functions of (input, stored record). Webhooks, warm-up
/// loads and read-throughs all go through these, so no path can overwrite newer data or restore forgotten PII.
///
/// Ordering: a version is (`updatedTime`, event `createdTime`). Newer `updatedTime` wins; equal `updatedTime` with
/// equal content is `unchanged`; with different content the later event `createdTime` wins; if that ties too the
/// stored entry is kept but marked stale so the next read refetches it.
public enum CustomerRules {
    /// Applies a customer snapshot observed at `observedAt` (an event's `createdTime`, or the fetch time).
    ///
    /// A customer without `updatedTime` has never been updated (Digital River's documented 201 has none), so its
    /// version is its `createdTime`: falling back to the local fetch time instead would let a skewed local clock
    /// outrank a real update made just after the fetch. `observedAt` is the last resort.
    public static func snapshot(_ customer: Customer, observedAt: Int64, current: CustomerRecord?) -> Decision {
        let version = customer.updatedTime ?? customer.createdTime ?? observedAt
        if customer.requestToBeForgotten {
            if current?.state == .forgotten { return .skip(.unchanged) }
            return .write(forgottenRecord(id: customer.id, liveMode: customer.liveMode,
                                          at: max(version, current?.updatedTime ?? version),
                                          eventTime: max(observedAt, current?.eventTime ?? observedAt)), .forgotten)
        }
        let body = customer.encoded
        let candidate = CustomerRecord(id: customer.id, state: .live, updatedTime: version, eventTime: observedAt, stale: false, body: body)
        guard let current else { return .write(candidate, .applied) }
        switch current.state {
        case .forgotten:
            return .skip(.ignoredTombstone)
        case .deleted:
            // Only a customer created after the delete (same id reused) may come back; a late update may not.
            if let created = customer.createdTime, created > current.updatedTime { return .write(candidate, .applied) }
            return .skip(.ignoredTombstone)
        case .live:
            if version > current.updatedTime { return .write(candidate, .applied) }
            if version < current.updatedTime { return .skip(.staleEvent) }
            if body == current.body { return .skip(.unchanged) }
            if observedAt > current.eventTime { return .write(candidate, .applied) }
            if observedAt < current.eventTime { return .skip(.staleEvent) }
            var flagged = current
            flagged.stale = true
            return .write(flagged, .markedStale)
        }
    }

    /// Applies a webhook event (already deduplicated and mode-checked by the caller).
    public static func event(_ event: CustomerEvent, current: CustomerRecord?) -> Decision {
        switch event.kind {
        case .unhandled:
            return .skip(.ignoredType)
        case .customerSnapshot:
            guard let customer = event.customer else { return .skip(.ignoredType) }
            return snapshot(customer, observedAt: event.createdTime, current: current)
        case .customerDeleted:
            guard let id = event.customerID else { return .skip(.ignoredType) }
            guard let current else {
                // Keep the tombstone even for an unknown customer: a create delivered late must not resurrect it.
                return .write(CustomerRecord(id: id, state: .deleted, updatedTime: event.createdTime, eventTime: event.createdTime,
                                             stale: false, body: []), .deleted)
            }
            switch current.state {
            case .forgotten, .deleted:
                return .skip(.unchanged)
            case .live:
                return .write(CustomerRecord(id: id, state: .deleted, updatedTime: max(event.createdTime, current.updatedTime),
                                             eventTime: max(event.createdTime, current.eventTime), stale: false, body: []), .deleted)
            }
        case .sourceAttached, .sourceDetached, .taxIdentifierAttached, .otherCustomerEvent:
            guard let id = event.customerID else { return .skip(.ignoredType) }
            guard let current else { return .skip(.ignoredUnknownCustomer) }
            guard current.state == .live else { return .skip(.ignoredTombstone) }
            return patchList(event, id: id, current: current)
        }
    }

    /// Updates `sources` or `taxIdentifiers` in place when the payload carries the element; otherwise flags the
    /// customer stale. Ordering keys are left alone: a list change is not a newer customer version.
    static func patchList(_ event: CustomerEvent, id: String, current: CustomerRecord) -> Decision {
        let field: String
        switch event.kind {
        case .sourceAttached, .sourceDetached: field = "sources"
        case .taxIdentifierAttached: field = "taxIdentifiers"
        default: return markStale(current)
        }
        guard let element = event.object, case .string(let elementID)? = element["id"],
              case .object(let stored)? = try? JSONValue.parse(current.body), let customer = try? Customer(json: stored) else {
            return markStale(current)
        }
        var list = customer.object[field]?.arrayValue ?? []
        let existing = list.firstIndex { $0["id"]?.stringValue == elementID }
        if event.kind == .sourceDetached {
            guard let existing else { return .skip(.unchanged) }
            list.remove(at: existing)
        } else if let existing {
            list[existing] = .object(element)
        } else {
            list.append(.object(element))
        }
        var updated = current
        updated.body = customer.replacingList(field, with: list).encoded
        if updated.body == current.body { return .skip(.unchanged) }
        return .write(updated, .applied)
    }

    static func markStale(_ current: CustomerRecord) -> Decision {
        if current.stale { return .skip(.markedStale) }
        var flagged = current
        flagged.stale = true
        return .write(flagged, .markedStale)
    }

    /// A local request to be forgotten (RPC `customer.forget`), effective at `now`.
    public static func forget(id: String, now: Int64, current: CustomerRecord?) -> Decision {
        if current?.state == .forgotten { return .skip(.unchanged) }
        var liveMode: Bool?
        if let current, current.state == .live, case .object(let stored)? = try? JSONValue.parse(current.body) {
            liveMode = stored["liveMode"]?.boolValue
        }
        return .write(forgottenRecord(id: id, liveMode: liveMode, at: max(now, current?.updatedTime ?? now),
                                      eventTime: max(now, current?.eventTime ?? now)), .forgotten)
    }

    static func forgottenRecord(id: String, liveMode: Bool?, at time: Int64, eventTime: Int64) -> CustomerRecord {
        CustomerRecord(id: id, state: .forgotten, updatedTime: time, eventTime: eventTime, stale: false,
                       body: JSONValue.object(Customer.forgottenTombstone(id: id, liveMode: liveMode, updatedTime: time)).encoded())
    }
}
