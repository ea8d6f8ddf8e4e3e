import JSON

/// Why a customer object was refused; names the field so a 400 or -32602 can point at it (never its value).
public struct CustomerValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offending field, as a dotted path such as "shipping.address.country".
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// A Digital River customer (reference §1). The whole JSON object is kept, unknown fields included, so nothing
/// Digital River adds is lost on the way to callers; the fields the cache reasons about are validated and lifted out.
public struct Customer: Sendable, Hashable {
    /// The customer as Digital River sent it, minus what must never be stored (sources' `clientSecret`).
    public private(set) var object: JSONObject {
        didSet { encoded = JSONValue.object(object).encoded() }
    }
    /// `object` encoded once, when the customer is decoded (on a request thread), so the store's single writer
    /// thread only compares and copies bytes.
    public private(set) var encoded: [UInt8]
    public let id: String
    /// `updatedTime` in microseconds since the epoch, when present.
    public let updatedTime: Int64?
    /// `createdTime` in microseconds since the epoch, when present.
    public let createdTime: Int64?
    public let requestToBeForgotten: Bool
    public let liveMode: Bool?

    /// Longest id accepted from Digital River; ids it generates have no documented length (reference §7.11), so this
    /// only guards memory, while callers creating customers are held to the documented 40.
    public static let maxStoredIdLength = 255

    /// Validates the shape of every documented field and strips secrets; unknown fields pass through untouched.
    public init(json object: JSONObject) throws(CustomerValidationError) {
        guard case .string(let id)? = object["id"], !id.isEmpty else {
            throw CustomerValidationError(field: "id", reason: "must be a non-empty string")
        }
        guard id.utf8.count <= Self.maxStoredIdLength else {
            throw CustomerValidationError(field: "id", reason: "longer than \(Self.maxStoredIdLength) bytes")
        }
        self.id = id
        updatedTime = try Self.optionalTime(object, "updatedTime")
        createdTime = try Self.optionalTime(object, "createdTime")
        requestToBeForgotten = try Self.optionalBool(object, "requestToBeForgotten") ?? false
        liveMode = try Self.optionalBool(object, "liveMode")
        for field in ["email", "locale", "type", "defaultSourceId"] {
            try Self.requireString(object, field)
        }
        _ = try Self.optionalBool(object, "enabled")
        try Self.requireObject(object, "metadata")
        if case .object(let shipping)? = object["shipping"] {
            _ = try Shipping(json: shipping, path: "shipping")
        } else {
            try Self.requireObject(object, "shipping")
        }
        for field in ["taxIdentifiers", "taxCertificates", "sources"] {
            guard let value = object[field], !value.isNull else { continue }
            guard case .array(let elements) = value, elements.allSatisfy({ $0.objectValue != nil }) else {
                throw CustomerValidationError(field: field, reason: "must be an array of objects")
            }
        }
        let stripped = Self.strippingSecrets(object)
        self.object = stripped
        self.encoded = JSONValue.object(stripped).encoded()
    }

    /// This customer without its JSON tree, keeping the encoded bytes and the fields the rules read. The store's
    /// single writer thread would otherwise free every tree node after each commit; dropping the tree on the
    /// request thread keeps that work off the one thread the webhook pipeline waits on.
    public func withoutTree() -> Customer {
        var copy = self
        copy.dropTree()
        return copy
    }

    private mutating func dropTree() {
        let bytes = encoded
        object = JSONObject()  // didSet re-encodes the empty object …
        encoded = bytes        // … so the real bytes are put back.
    }

    /// The record kept after a request to be forgotten: no PII, only what proves the request was honoured.
    public static func forgottenTombstone(id: String, liveMode: Bool?, updatedTime: Int64?) -> JSONObject {
        var object = JSONObject()
        object["id"] = .string(id)
        object["requestToBeForgotten"] = .bool(true)
        if let liveMode { object["liveMode"] = .bool(liveMode) }
        if let updatedTime { object["updatedTime"] = .string(Timestamp.string(fromMicroseconds: updatedTime)) }
        return object
    }

    /// Removes each source's `clientSecret`: it authorises payments and a cache has no use for it.
    static func strippingSecrets(_ object: JSONObject) -> JSONObject {
        guard case .array(let sources)? = object["sources"] else { return object }
        var copy = object
        copy["sources"] = .array(sources.map { source in
            guard case .object(var fields) = source, fields.contains(key: "clientSecret") else { return source }
            _ = fields.removeValue(forKey: "clientSecret")
            return .object(fields)
        })
        return copy
    }

    /// Replaces a list field (sources, taxIdentifiers) after a sub-resource event.
    public func replacingList(_ field: String, with elements: [JSONValue]) -> Customer {
        var copy = self
        copy.object[field] = .array(elements)
        copy.object = Self.strippingSecrets(copy.object)
        return copy
    }


    static func optionalTime(_ object: JSONObject, _ field: String) throws(CustomerValidationError) -> Int64? {
        guard let value = object[field], !value.isNull else { return nil }
        guard case .string(let text) = value, let time = Timestamp.microseconds(from: text) else {
            throw CustomerValidationError(field: field, reason: "must be an ISO-8601 date-time")
        }
        return time
    }

    static func optionalBool(_ object: JSONObject, _ field: String) throws(CustomerValidationError) -> Bool? {
        guard let value = object[field], !value.isNull else { return nil }
        guard case .bool(let flag) = value else { throw CustomerValidationError(field: field, reason: "must be a boolean") }
        return flag
    }

    static func requireString(_ object: JSONObject, _ field: String, path: String? = nil) throws(CustomerValidationError) {
        guard let value = object[field], !value.isNull else { return }
        guard value.stringValue != nil else {
            throw CustomerValidationError(field: path.map { "\($0).\(field)" } ?? field, reason: "must be a string")
        }
    }

    static func requireObject(_ object: JSONObject, _ field: String, path: String? = nil) throws(CustomerValidationError) {
        guard let value = object[field], !value.isNull else { return }
        guard value.objectValue != nil else {
            throw CustomerValidationError(field: path.map { "\($0).\(field)" } ?? field, reason: "must be an object")
        }
    }
}

/// `shipping` (reference §1.1): recipient, contact and address; validated for shape only.
public struct Shipping: Sendable, Hashable {
    public let name: String?
    public let phone: String?
    public let email: String?
    public let organization: String?
    public let address: Address?
    public let additionalAddressInfo: AdditionalAddressInfo?

    public init(json object: JSONObject, path: String = "shipping") throws(CustomerValidationError) {
        for field in ["name", "phone", "email", "organization"] { try Customer.requireString(object, field, path: path) }
        name = object["name"]?.stringValue
        phone = object["phone"]?.stringValue
        email = object["email"]?.stringValue
        organization = object["organization"]?.stringValue
        if case .object(let address)? = object["address"] {
            self.address = try Address(json: address, path: path + ".address")
        } else {
            try Customer.requireObject(object, "address", path: path)
            address = nil
        }
        if case .object(let info)? = object["additionalAddressInfo"] {
            additionalAddressInfo = try AdditionalAddressInfo(json: info, path: path + ".additionalAddressInfo")
        } else {
            try Customer.requireObject(object, "additionalAddressInfo", path: path)
            additionalAddressInfo = nil
        }
    }
}

/// A postal address; `country` is ISO 3166 alpha-2 and the only field Digital River requires.
public struct Address: Sendable, Hashable {
    public let line1: String?
    public let line2: String?
    public let city: String?
    public let postalCode: String?
    public let state: String?
    public let country: String?

    public init(json object: JSONObject, path: String = "address") throws(CustomerValidationError) {
        for field in ["line1", "line2", "city", "postalCode", "state", "country"] { try Customer.requireString(object, field, path: path) }
        line1 = object["line1"]?.stringValue
        line2 = object["line2"]?.stringValue
        city = object["city"]?.stringValue
        postalCode = object["postalCode"]?.stringValue
        state = object["state"]?.stringValue
        country = object["country"]?.stringValue
    }
}

/// Extra address details some countries need.
public struct AdditionalAddressInfo: Sendable, Hashable {
    public let neighborhood: String?
    public let division: String?
    public let phoneticName: String?

    public init(json object: JSONObject, path: String = "additionalAddressInfo") throws(CustomerValidationError) {
        for field in ["neighborhood", "division", "phoneticName"] { try Customer.requireString(object, field, path: path) }
        neighborhood = object["neighborhood"]?.stringValue
        division = object["division"]?.stringValue
        phoneticName = object["phoneticName"]?.stringValue
    }
}
