import Customers
import JSON
import JSONRPC

/// Checks `customer.ensure` input the way Digital River checks a create (reference §1, §1.4), so a bad request
/// is refused locally with -32602 naming the parameter instead of costing an upstream round trip.
enum EnsureValidation {
    static let allowed: Set<String> = ["id", "email", "shipping", "type", "locale", "metadata", "enabled", "taxCertificate", "defaultSourceId"]

    /// Returns the Digital River create body (the validated parameters) or throws -32602.
    static func createBody(from params: JSONObject) throws(JSONRPCError) -> (id: String, body: JSONObject) {
        for key in params.keys where !allowed.contains(key) {
            throw .invalidParams(parameter: key, reason: "is not a customer.ensure parameter")
        }
        guard case .string(let id)? = params["id"] else { throw .invalidParams(parameter: "id", reason: "is required and must be a string") }
        guard !id.isEmpty, id.count <= 40 else { throw .invalidParams(parameter: "id", reason: "must be 1 to 40 characters") }
        guard !id.contains("/"), id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw .invalidParams(parameter: "id", reason: "must not contain '/', spaces or control characters")
        }
        if let email = params["email"] {
            guard case .string(let text) = email, text.utf8.count <= 254, text.contains("@") else {
                throw .invalidParams(parameter: "email", reason: "must be an email address of at most 254 bytes")
            }
        }
        if let type = params["type"] {
            guard case .string(let text) = type, text == "individual" || text == "business" else {
                throw .invalidParams(parameter: "type", reason: "must be individual or business")
            }
        }
        if let locale = params["locale"] {
            guard case .string(let text) = locale, isLocale(text) else {
                throw .invalidParams(parameter: "locale", reason: "must look like en_US (ISO 639-1 language, _, ISO 3166-1 country)")
            }
        }
        if let enabled = params["enabled"], enabled.boolValue == nil {
            throw .invalidParams(parameter: "enabled", reason: "must be a boolean")
        }
        if let source = params["defaultSourceId"], source.stringValue?.isEmpty != false {
            throw .invalidParams(parameter: "defaultSourceId", reason: "must be a non-empty string")
        }
        if let shipping = params["shipping"] {
            guard case .object(let object) = shipping else { throw .invalidParams(parameter: "shipping", reason: "must be an object") }
            do throws(CustomerValidationError) {
                let parsed = try Shipping(json: object, path: "shipping")
                if object["address"] != nil, parsed.address?.country?.count != 2 {
                    throw CustomerValidationError(field: "shipping.address.country", reason: "is required: an ISO 3166 alpha-2 code")
                }
            } catch {
                throw .invalidParams(parameter: error.field, reason: error.reason)
            }
        }
        if let metadata = params["metadata"] { try validateMetadata(metadata) }
        if let certificate = params["taxCertificate"] { try validateTaxCertificate(certificate) }
        return (id, params)
    }

    static func isLocale(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: "_") else { return false }
        return bytes[0...1].allSatisfy { $0 >= 0x61 && $0 <= 0x7A } && bytes[3...4].allSatisfy { $0 >= 0x41 && $0 <= 0x5A }
    }

    /// Reference §1.4: at least one key, at most 20 top-level keys, keys ≤ 40 characters, string values ≤ 500.
    static func validateMetadata(_ value: JSONValue) throws(JSONRPCError) {
        guard case .object(let object) = value else { throw .invalidParams(parameter: "metadata", reason: "must be an object") }
        guard !object.isEmpty else { throw .invalidParams(parameter: "metadata", reason: "must hold at least one key") }
        guard object.count <= 20 else { throw .invalidParams(parameter: "metadata", reason: "holds more than 20 keys") }
        for (key, member) in object {
            guard !key.isEmpty, key.count <= 40 else { throw .invalidParams(parameter: "metadata", reason: "keys must be 1 to 40 characters") }
            if case .string(let text) = member, text.count > 500 {
                throw .invalidParams(parameter: "metadata.\(key)", reason: "is longer than 500 characters")
            }
        }
    }

    /// Reference §1.2: all five fields are required; taxAuthority is a US state code.
    static func validateTaxCertificate(_ value: JSONValue) throws(JSONRPCError) {
        guard case .object(let object) = value else { throw .invalidParams(parameter: "taxCertificate", reason: "must be an object") }
        for field in ["companyName", "taxAuthority", "startDate", "endDate", "fileId"] {
            guard case .string(let text)? = object[field], !text.isEmpty else {
                throw .invalidParams(parameter: "taxCertificate.\(field)", reason: "is required and must be a string")
            }
        }
        if let authority = object["taxAuthority"]?.stringValue, authority.count != 2 {
            throw .invalidParams(parameter: "taxCertificate.taxAuthority", reason: "must be a two-letter US state code")
        }
        for field in ["startDate", "endDate"] where Timestamp.microseconds(from: object[field]?.stringValue ?? "") == nil {
            throw .invalidParams(parameter: "taxCertificate.\(field)", reason: "must be an ISO-8601 date-time")
        }
    }
}
