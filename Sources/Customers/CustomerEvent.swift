import JSON

/// Why a (well-signed) event body could not be used; answered 400 with `reason`, never the payload.
public struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// A Digital River event envelope (reference §4.1), reduced to what the cache acts on.
public struct CustomerEvent: Sendable {
    /// What the cache does with an event type.
    public enum Kind: Sendable, Hashable {
        /// `customer.created` / `customer.updated`: `data.object` is the whole customer.
        case customerSnapshot
        /// `customer.deleted`.
        case customerDeleted
        /// `customer.source.created`: `data.object` is the attached source.
        case sourceAttached
        /// `customer.source.deleted`: `data.object` is the detached source.
        case sourceDetached
        /// `customer.tax_identifier.created`: `data.object` is the tax identifier.
        case taxIdentifierAttached
        /// Any other `customer.*` event: the payload is not enough to patch the cache, so the customer is marked stale.
        case otherCustomerEvent
        /// Not a customer event; acknowledged and counted so Digital River never disables the endpoint.
        case unhandled
    }

    public let id: String
    public let type: String
    public let kind: Kind
    /// The event's `createdTime` in microseconds.
    public let createdTime: Int64
    public let liveMode: Bool?
    /// `digitalriverVersion` (real payloads) or `digitalRiverVersion` (SDK spelling).
    public let apiVersion: String?
    public private(set) var object: JSONObject?
    public private(set) var previousAttributes: JSONObject?
    /// The customer this event concerns: `data.object.id` for customer events, `data.previousAttributes.id` as the
    /// fallback for deletes (whose object may be empty), and `customerId` for sub-resources. Nil only for unhandled types.
    public let customerID: String?
    /// The validated customer of a `customer.created`/`customer.updated` event.
    public private(set) var customer: Customer?

    public init(json: JSONValue) throws(EventDecodingError) {
        guard case .object(let envelope) = json else {
            throw EventDecodingError(field: "event", reason: "must be a JSON object")
        }
        guard case .string(let id)? = envelope["id"], !id.isEmpty, id.utf8.count <= 255 else {
            throw EventDecodingError(field: "id", reason: "must be a non-empty string of at most 255 bytes")
        }
        guard case .string(let type)? = envelope["type"], !type.isEmpty else {
            throw EventDecodingError(field: "type", reason: "must be a non-empty string")
        }
        let kind = Self.kind(of: type)
        // Only customer events need the time (it orders versions). Any other type is acknowledged as ignored
        // whatever its envelope holds, so Digital River never disables the endpoint over an event we do not use.
        let createdTime: Int64
        if case .string(let created)? = envelope["createdTime"], let parsed = Timestamp.microseconds(from: created) {
            createdTime = parsed
        } else if kind == .unhandled {
            createdTime = 0
        } else {
            throw EventDecodingError(field: "createdTime", reason: "must be an ISO-8601 date-time")
        }
        switch envelope["liveMode"] {
        case .bool(let flag)?: liveMode = flag
        case nil, .null?: liveMode = nil
        default: throw EventDecodingError(field: "liveMode", reason: "must be a boolean")
        }
        apiVersion = envelope["digitalriverVersion"]?.stringValue ?? envelope["digitalRiverVersion"]?.stringValue
        self.id = id
        self.type = type
        self.createdTime = createdTime
        self.kind = kind
        let data = envelope["data"]
        if kind != .unhandled {
            guard case .object? = data else {
                throw EventDecodingError(field: "data", reason: "must be an object")
            }
        }
        switch data?["object"] {
        case .object(let object)?: self.object = object
        case nil, .null?: self.object = nil
        default: throw EventDecodingError(field: "data.object", reason: "must be an object")
        }
        switch data?["previousAttributes"] {
        case .object(let previous)?: previousAttributes = previous
        case nil, .null?: previousAttributes = nil
        default: throw EventDecodingError(field: "data.previousAttributes", reason: "must be an object")
        }
        // Everything the rules need is validated here, before the store sees the event: a bad event must get its
        // own 400, never fail the grouped transaction it would share with other senders' events.
        customerID = Self.customerID(kind: kind, object: object, previous: previousAttributes)
        switch kind {
        case .customerSnapshot:
            guard let object else { throw EventDecodingError(field: "data.object", reason: "is required for \(type)") }
            do {
                customer = try Customer(json: object)
            } catch {
                throw EventDecodingError(field: "data.object.\(error.field)", reason: error.reason)
            }
        case .customerDeleted:
            guard customerID != nil else {
                throw EventDecodingError(field: "data.object.id", reason: "customer id missing from data.object and data.previousAttributes")
            }
            customer = nil
        case .sourceAttached, .sourceDetached, .taxIdentifierAttached, .otherCustomerEvent:
            guard customerID != nil else {
                throw EventDecodingError(field: "data.object.customerId", reason: "is required for \(type)")
            }
            customer = nil
        case .unhandled:
            customer = nil
        }
    }

    static func kind(of type: String) -> Kind {
        switch type {
        case "customer.created", "customer.updated": return .customerSnapshot
        case "customer.deleted": return .customerDeleted
        case "customer.source.created": return .sourceAttached
        case "customer.source.deleted": return .sourceDetached
        case "customer.tax_identifier.created": return .taxIdentifierAttached
        default: return type.hasPrefix("customer.") ? .otherCustomerEvent : .unhandled
        }
    }

    /// The event as the store needs it: the customer without its JSON tree and no previousAttributes; the
    /// sub-resource object is kept only for the kinds whose rules patch a list with it.
    public func preparedForStore() -> CustomerEvent {
        var copy = self
        copy.customer = customer?.withoutTree()
        copy.previousAttributes = nil
        switch kind {
        case .sourceAttached, .sourceDetached, .taxIdentifierAttached: break
        default: copy.object = nil
        }
        return copy
    }

    static func customerID(kind: Kind, object: JSONObject?, previous: JSONObject?) -> String? {
        func nonEmpty(_ text: String?) -> String? {
            guard let text, !text.isEmpty else { return nil }
            return text
        }
        switch kind {
        case .customerSnapshot:
            return nonEmpty(object?["id"]?.stringValue)
        case .customerDeleted:
            return nonEmpty(object?["id"]?.stringValue) ?? nonEmpty(previous?["id"]?.stringValue)
        case .sourceAttached, .sourceDetached, .taxIdentifierAttached, .otherCustomerEvent:
            return nonEmpty(object?["customerId"]?.stringValue) ?? nonEmpty(previous?["customerId"]?.stringValue)
        case .unhandled:
            return nil
        }
    }
}
