import JSON

/// List order: oldest `createdTime` first, ties broken by `id`. `createdTime` never changes, so a customer keeps
/// its place and cursors stay valid across updates.
struct SortKey: Sendable, Hashable, Comparable {
    let createdTime: Int64
    let id: String

    static func < (lhs: SortKey, rhs: SortKey) -> Bool {
        lhs.createdTime != rhs.createdTime ? lhs.createdTime < rhs.createdTime : lhs.id < rhs.id
    }
}

/// One stored customer, with what listing needs lifted out of the JSON and the encoded bytes kept ready, so a page
/// is a copy of byte arrays rather than an encode of 100 trees.
struct CustomerRecord: Sendable {
    private(set) var object: JSONObject
    private(set) var encoded: [UInt8]
    let key: SortKey
    private(set) var updatedTime: Int64
    private(set) var email: String?
    private(set) var requestToBeForgotten: Bool

    init(object: JSONObject, createdTime: Int64, updatedTime: Int64) {
        self.object = object
        self.encoded = JSONValue.object(object).encoded()
        self.key = SortKey(createdTime: createdTime, id: object["id"]?.stringValue ?? "")
        self.updatedTime = updatedTime
        self.email = object["email"]?.stringValue
        self.requestToBeForgotten = object["requestToBeForgotten"]?.boolValue ?? false
    }

    mutating func replace(object: JSONObject, updatedTime: Int64) {
        self.object = object
        self.encoded = JSONValue.object(object).encoded()
        self.updatedTime = updatedTime
        self.email = object["email"]?.stringValue
        self.requestToBeForgotten = object["requestToBeForgotten"]?.boolValue ?? false
    }
}

/// What one mutation did, ready to become a `customer.*` event.
struct CustomerChange: Sendable {
    /// `customer.created`, `customer.updated` or `customer.deleted`.
    let type: String
    /// The customer after the change; `{}` for a delete.
    let object: JSONObject
    /// Changed fields with their old values (`null` where absent); the whole last state for a delete.
    let previousAttributes: JSONObject
}

/// All customers of one sandbox: a dictionary by id plus the ids in list order, so a page costs one binary search
/// and `limit` lookups however many customers there are. Not thread-safe; the sandbox keeps it behind a lock.
struct CustomerDirectory: Sendable {
    private(set) var records: [String: CustomerRecord] = [:]
    /// Every record's key, sorted; the list order.
    private(set) var order: [SortKey] = []
    var clock = SandboxClock()
    let liveMode: Bool
    /// Next candidate for a generated id; numeric strings like Digital River's examples ("5823594806").
    private var nextGeneratedID: UInt64 = 5_823_594_806

    init(liveMode: Bool) {
        self.liveMode = liveMode
    }

    var count: Int { records.count }

    /// Field order of every customer the sandbox writes.
    static let canonicalOrder = [
        "id", "createdTime", "updatedTime", "email", "shipping", "defaultSourceId", "sources", "taxIdentifiers",
        "taxCertificates", "requestToBeForgotten", "type", "metadata", "locale", "enabled", "liveMode",
    ]

    static func canonical(_ object: JSONObject) -> JSONObject {
        var result = JSONObject()
        for key in canonicalOrder { if let value = object[key] { result[key] = value } }
        for (key, value) in object where result[key] == nil { result[key] = value }
        return result
    }

    // MARK: Mutations

    /// `POST /customers`.
    ///
    /// - Throws: `SandboxError` 400 for an invalid body; 409 `conflict` / `already_exists` (parameter `id`) when the
    ///   id is taken. Digital River's answer to a duplicate id is unverified (reference §2, §7.8): 409 is the sandbox's
    ///   choice, the status its error type list reserves for this kind of clash.
    mutating func create(_ body: JSONObject, apiVersion: APIVersion = .current) throws(SandboxError) -> CustomerChange {
        let request = try CustomerRequest(body, kind: .create, apiVersion: apiVersion)
        let id = request.id ?? generateID()
        guard records[id] == nil else {
            throw SandboxError(status: 409, type: "conflict", errors: [
                SandboxError.Detail(code: "already_exists", parameter: "id", message: "A customer with this id already exists."),
            ])
        }
        let now = clock.next()
        let time = JSONValue.string(sandboxTimeString(now))
        var object = JSONObject()
        object["id"] = .string(id)
        // Like Digital River's documented 201: no `updatedTime` until an update, no empty `sources` or
        // `taxIdentifiers`. The record still orders and filters by `updatedTime` = `createdTime`.
        object["createdTime"] = time
        object["requestToBeForgotten"] = .bool(false)
        object["enabled"] = .bool(true)
        for (key, value) in request.fields { object[key] = value }
        if let patch = request.metadata {
            var metadata = JSONObject()
            for (key, value) in patch where value != .string("") { metadata[key] = value }
            if !metadata.isEmpty { object["metadata"] = .object(metadata) }
        }
        if let certificate = request.taxCertificate { object["taxCertificates"] = .array([.object(certificate)]) }
        if let pairs = request.taxIdentifiers {
            object["taxIdentifiers"] = .array(try Self.applyingLegacyTaxIdentifiers(pairs, to: []))
        }
        object["liveMode"] = .bool(liveMode)
        object = Self.canonical(object)

        let record = CustomerRecord(object: object, createdTime: now, updatedTime: now)
        records[id] = record
        order.insert(record.key, at: upperBound(of: record.key))
        return CustomerChange(type: "customer.created", object: object, previousAttributes: JSONObject())
    }

    /// `POST /customers/{id}`. Metadata merges (a key set to `""` is removed); `taxCertificate` is appended to
    /// `taxCertificates`; other fields replace. Returns the customer after the call and the change, which is nil when
    /// the body changed nothing: then there is no new `updatedTime` and no event.
    ///
    /// - Throws: `SandboxError` 404 `not_found` (parameter `id`); 400 for an invalid body or metadata that would exceed
    ///   20 keys after the merge.
    mutating func update(id: String, _ body: JSONObject, apiVersion: APIVersion = .current) throws(SandboxError)
        -> (customer: JSONObject, change: CustomerChange?) {
        guard var record = records[id] else { throw SandboxError.customerNotFound(id) }
        let request = try CustomerRequest(body, kind: .update, apiVersion: apiVersion)
        var object = record.object
        var previous = JSONObject()
        for (key, value) in request.fields where object[key] != value {
            previous[key] = object[key] ?? .null
            object[key] = value
        }
        if let patch = request.metadata {
            var merged = object["metadata"]?.objectValue ?? JSONObject()
            for (key, value) in patch {
                if value == .string("") { merged.removeValue(forKey: key) } else { merged[key] = value }
            }
            guard merged.count <= CustomerRequest.maxMetadataKeys else {
                throw SandboxError.badRequest([SandboxError.invalid(
                    "metadata", "'metadata' may hold at most \(CustomerRequest.maxMetadataKeys) keys after merging.")])
            }
            let newValue: JSONValue? = merged.isEmpty ? nil : .object(merged)
            if newValue != object["metadata"] {
                previous["metadata"] = object["metadata"] ?? .null
                object["metadata"] = newValue
            }
        }
        if let certificate = request.taxCertificate {
            let existing = object["taxCertificates"]?.arrayValue
            previous["taxCertificates"] = existing.map(JSONValue.array) ?? .null
            object["taxCertificates"] = .array((existing ?? []) + [.object(certificate)])
        }
        if let pairs = request.taxIdentifiers {
            let existing = object["taxIdentifiers"]?.arrayValue ?? []
            let updated = try Self.applyingLegacyTaxIdentifiers(pairs, to: existing)
            if updated != existing {
                previous["taxIdentifiers"] = object["taxIdentifiers"] ?? .null
                object["taxIdentifiers"] = .array(updated)
            }
        }
        guard !previous.isEmpty else { return (record.object, nil) }
        let now = clock.next()
        object["updatedTime"] = .string(sandboxTimeString(now))
        object = Self.canonical(object)
        record.replace(object: object, updatedTime: now)
        records[id] = record
        return (object, CustomerChange(type: "customer.updated", object: object, previousAttributes: previous))
    }

    /// Legacy (≤ 2020-12-17) tax identifiers: a `value` of `""` removes the saved one of that `type`; a new `type`
    /// is appended as `{type, value}`, the shape the docs' response shows. Digital River allows one per `type` and
    /// says to remove the saved one first; it does not say what a second one gets, so the sandbox answers 400.
    ///
    /// - Throws: `SandboxError` 400 `invalid_parameter` when a `type` already holds a different value.
    static func applyingLegacyTaxIdentifiers(_ pairs: [(type: String, value: String)], to existing: [JSONValue])
        throws(SandboxError) -> [JSONValue] {
        var list = existing
        for (index, pair) in pairs.enumerated() {
            let saved = list.firstIndex { $0["type"]?.stringValue == pair.type }
            if pair.value.isEmpty {
                if let saved { list.remove(at: saved) }
            } else if let saved {
                guard list[saved]["value"]?.stringValue == pair.value else {
                    throw SandboxError.badRequest([SandboxError.invalid("taxIdentifiers[\(index)].type",
                        "The customer already has a tax identifier of type '\(pair.type)'; remove it first with value \"\".")])
                }
            } else {
                var element = JSONObject()
                element["type"] = .string(pair.type)
                element["value"] = .string(pair.value)
                list.append(.object(element))
            }
        }
        return list
    }

    /// `DELETE /customers/{id}`: gone at once; the event carries `{}` and the last state in `previousAttributes`
    /// (the shape of DR's `subscription.deleted`, reference §4.2).
    ///
    /// - Throws: `SandboxError` 404 `not_found` (parameter `id`).
    mutating func delete(id: String) throws(SandboxError) -> CustomerChange {
        guard let record = records.removeValue(forKey: id) else { throw SandboxError.customerNotFound(id) }
        let index = lowerBound(of: record.key)
        if index < order.count, order[index] == record.key { order.remove(at: index) }
        return CustomerChange(type: "customer.deleted", object: JSONObject(), previousAttributes: record.object)
    }

    /// Adds synthetic customers (no validation, no events); ids already present are skipped.
    mutating func insertSeeded(_ customers: [SyntheticCustomer]) {
        var latest = Int64.min
        for customer in customers {
            let record = CustomerRecord(object: customer.object, createdTime: customer.createdTime, updatedTime: customer.updatedTime)
            guard records[record.key.id] == nil else { continue }
            records[record.key.id] = record
            order.append(record.key)
            latest = max(latest, customer.updatedTime)
        }
        order.sort()
        clock.advance(past: latest)
    }

    private mutating func generateID() -> String {
        while records[String(nextGeneratedID)] != nil { nextGeneratedID += 1 }
        defer { nextGeneratedID += 1 }
        return String(nextGeneratedID)
    }

    // MARK: Listing

    /// One page of `GET /customers`: the encoded customers in list order and whether more lie beyond them
    /// (after them for `startingAfter` or no cursor, before them for `endingBefore`).
    ///
    /// - Throws: `SandboxError` 400 `invalid_parameter` when a cursor names no existing customer.
    func list(_ query: CustomerListQuery) throws(SandboxError) -> (hasMore: Bool, items: [[UInt8]]) {
        var cursor: (key: SortKey, forward: Bool)?
        if let id = query.startingAfter {
            guard let record = records[id] else {
                throw SandboxError.badRequest([SandboxError.invalid("startingAfter", "No customer has this id.")])
            }
            cursor = (record.key, true)
        } else if let id = query.endingBefore {
            guard let record = records[id] else {
                throw SandboxError.badRequest([SandboxError.invalid("endingBefore", "No customer has this id.")])
            }
            cursor = (record.key, false)
        }

        // `ids` narrows the candidates to a handful, looked up directly instead of scanning the whole order.
        let candidates: [SortKey]
        if let ids = query.ids {
            candidates = Set(ids).compactMap { records[$0]?.key }.sorted()
        } else {
            candidates = order
        }
        let wanted = query.limit + 1
        var found: [[UInt8]] = []
        found.reserveCapacity(wanted)

        func take(_ key: SortKey) -> Bool {
            guard let record = records[key.id] else { return false }
            if query.hasFilters {
                if let email = query.email, record.email != email { return false }
                if let flag = query.requestToBeForgotten, record.requestToBeForgotten != flag { return false }
                if !query.createdTime.contains(key.createdTime) || !query.updatedTime.contains(record.updatedTime) { return false }
            }
            found.append(record.encoded)
            return found.count == wanted
        }

        if let cursor, !cursor.forward {
            var index = Self.lowerBound(of: cursor.key, in: candidates) - 1
            while index >= 0, !take(candidates[index]) { index -= 1 }
            let hasMore = found.count == wanted
            if hasMore { found.removeLast() }
            return (hasMore, found.reversed())
        }
        var index = cursor.map { Self.upperBound(of: $0.key, in: candidates) } ?? 0
        while index < candidates.count, !take(candidates[index]) { index += 1 }
        let hasMore = found.count == wanted
        if hasMore { found.removeLast() }
        return (hasMore, found)
    }

    private func lowerBound(of key: SortKey) -> Int { Self.lowerBound(of: key, in: order) }
    private func upperBound(of key: SortKey) -> Int { Self.upperBound(of: key, in: order) }

    /// First index whose key is not less than `key`.
    static func lowerBound(of key: SortKey, in keys: [SortKey]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// First index whose key is greater than `key`.
    static func upperBound(of key: SortKey, in keys: [SortKey]) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if key < keys[middle] { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
