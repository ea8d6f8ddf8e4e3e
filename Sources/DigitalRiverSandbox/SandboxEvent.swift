import Foundation
import JSON

/// One `customer.*` event, encoded once: every delivery attempt sends these exact bytes (only the signature header
/// is recomputed per attempt).
///
/// Envelope (reference §4.1): `{id, type, data: {object, previousAttributes?}, liveMode, createdTime,
/// digitalriverVersion: "2021-12-13", webhookIds: ["sandbox"]}`, with `digitalriverVersion` spelled as in real payloads.
struct SandboxEvent: Sendable, Hashable {
    /// A lower-case UUID, the receiver's dedup key.
    let id: String
    /// `customer.created`, `customer.updated` or `customer.deleted`.
    let type: String
    /// The encoded envelope.
    let body: [UInt8]

    /// The API version events are rendered in.
    static let apiVersion = "2021-12-13"

    init(type: String, object: JSONObject, previousAttributes: JSONObject, liveMode: Bool, createdTime: Int64) {
        id = UUID().uuidString.lowercased()
        self.type = type
        var data = JSONObject()
        data["object"] = .object(object)
        // Digital River's previousAttributes holds changed attributes with their old values; a creation changed
        // none, so it is left out there rather than sent empty.
        if !previousAttributes.isEmpty { data["previousAttributes"] = .object(previousAttributes) }
        var envelope = JSONObject()
        envelope["id"] = .string(id)
        envelope["type"] = .string(type)
        envelope["data"] = .object(data)
        envelope["liveMode"] = .bool(liveMode)
        envelope["createdTime"] = .string(sandboxTimeString(createdTime))
        envelope["digitalriverVersion"] = .string(Self.apiVersion)
        envelope["webhookIds"] = .array(["sandbox"])
        body = JSONValue.object(envelope).encoded()
    }
}
