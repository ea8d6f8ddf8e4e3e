import Customers
import JSON

/// Builders for events and customers; times are given as ISO strings so tests read like payloads.
enum Fixture {
    static func customer(_ id: String = "cust-1", updated: String = "2024-01-01T00:00:00Z", email: String = "a@example.com",
                         extra: [(String, JSONValue)] = []) -> JSONObject {
        var object = JSONObject([("id", .string(id)), ("email", .string(email)), ("updatedTime", .string(updated)),
                                 ("createdTime", .string("2023-01-01T00:00:00Z")), ("liveMode", .bool(false))])
        for (key, value) in extra { object[key] = value }
        return object
    }

    static func event(_ id: String, type: String = "customer.updated", created: String = "2024-01-01T00:00:00.000001Z",
                      object: JSONObject?, previous: JSONObject? = nil, liveMode: Bool = false, versionKey: String = "digitalriverVersion") -> JSONValue {
        var data = JSONObject()
        data["object"] = object.map { JSONValue.object($0) } ?? .null
        if let previous { data["previousAttributes"] = .object(previous) }
        return .object(JSONObject([("id", .string(id)), ("type", .string(type)), ("data", .object(data)),
                                   ("liveMode", .bool(liveMode)), ("createdTime", .string(created)), (versionKey, "2021-12-13")]))
    }

    static func decoded(_ json: JSONValue) throws -> CustomerEvent { try CustomerEvent(json: json) }
}
