import Customers
import JSON

/// A create (`CustomerRequest`) or update (`UpdateCustomerRequest`) body after validation (reference §1, §1.4).
///
/// Validation walks the body in its own key order and collects every problem, so one 400 lists them all.
struct CustomerRequest: Sendable {
    /// Whether the body creates or updates; they accept different fields.
    enum Kind: Sendable {
        case create, update
    }

    /// `id` of a create body; nil lets the sandbox generate one.
    var id: String?
    /// Plain replacements: email, shipping, defaultSourceId, locale, type, enabled, requestToBeForgotten.
    var fields: [(key: String, value: JSONValue)] = []
    /// Metadata patch: keys to merge, where a value of `""` removes the key.
    var metadata: JSONObject?
    /// One tax certificate to append to `taxCertificates`.
    var taxCertificate: JSONObject?
    /// Legacy `{type, value}` tax identifiers in body order; a `value` of `""` removes that type.
    var taxIdentifiers: [(type: String, value: String)]?

    /// The last API version whose create and update bodies take `taxIdentifiers[]`; later versions attach tax
    /// identifiers as their own resource (GitBook `customer-management/setting-tax-related-attributes.md`).
    static let lastLegacyTaxIdentifierVersion = "2020-12-17"

    static let createFields: Set<String> = [
        "id", "email", "shipping", "defaultSourceId", "taxCertificate", "metadata", "locale", "type", "enabled",
    ]
    static let updateFields: Set<String> = [
        "email", "shipping", "defaultSourceId", "taxCertificate", "metadata", "locale", "type", "enabled",
        "requestToBeForgotten",
    ]

    /// Documented limits (reference §1, §1.4).
    static let maxIDLength = 40
    static let maxMetadataKeys = 20
    static let maxMetadataKeyLength = 40
    static let maxMetadataValueLength = 500

    /// Validates `body` for `kind`.
    ///
    /// - Throws: `SandboxError` 400 `bad_request` with one `unknown_parameter`, `invalid_parameter` or
    ///   `missing_parameter` detail per problem, each naming the parameter (dotted for nested fields).
    /// `apiVersion` is the request's `digitalriver-version` (nil: the sandbox's own, newer than 2020-12-17); at or
    /// before 2020-12-17 the body may carry `taxIdentifiers[]`.
    init(_ body: JSONObject, kind: Kind, apiVersion: APIVersion = .current) throws(SandboxError) {
        var problems: [SandboxError.Detail] = []
        var allowed = kind == .create ? Self.createFields : Self.updateFields
        if apiVersion.takesLegacyTaxIdentifiers { allowed.insert("taxIdentifiers") }
        for (key, value) in body {
            guard allowed.contains(key) else {
                problems.append(SandboxError.unknown(key))
                continue
            }
            switch key {
            case "id":
                guard let id = value.stringValue, !id.isEmpty else {
                    problems.append(SandboxError.invalid("id", "'id' must be a non-empty string."))
                    continue
                }
                guard id.count <= Self.maxIDLength else {
                    problems.append(SandboxError.invalid("id", "'id' must be at most \(Self.maxIDLength) characters."))
                    continue
                }
                self.id = id
            case "email", "defaultSourceId":
                guard let text = value.stringValue, !text.isEmpty else {
                    problems.append(SandboxError.invalid(key, "'\(key)' must be a non-empty string."))
                    continue
                }
                fields.append((key, .string(text)))
            case "enabled", "requestToBeForgotten":
                guard value.boolValue != nil else {
                    problems.append(SandboxError.invalid(key, "'\(key)' must be a boolean."))
                    continue
                }
                fields.append((key, value))
            case "type":
                guard let type = value.stringValue, type == "individual" || type == "business" else {
                    problems.append(SandboxError.invalid("type", "'type' must be 'individual' or 'business'."))
                    continue
                }
                fields.append((key, value))
            case "locale":
                guard let locale = value.stringValue, Self.isLocale(locale) else {
                    problems.append(SandboxError.invalid("locale", "'locale' must look like 'en_US' (ISO 639-1 _ ISO 3166-1 alpha-2)."))
                    continue
                }
                fields.append((key, value))
            case "shipping":
                let found = Self.shippingProblems(value)
                if found.isEmpty { fields.append((key, value)) } else { problems += found }
            case "metadata":
                let found = Self.metadataProblems(value)
                if found.isEmpty, case .object(let object) = value { metadata = object } else { problems += found }
            case "taxCertificate":
                let found = Self.taxCertificateProblems(value)
                if found.isEmpty, case .object(let object) = value { taxCertificate = object } else { problems += found }
            case "taxIdentifiers":
                let found = Self.legacyTaxIdentifiers(value)
                switch found {
                case .success(let pairs): taxIdentifiers = pairs
                case .failure(let error): problems += error.errors
                }
            default:
                problems.append(SandboxError.unknown(key))
            }
        }
        guard problems.isEmpty else { throw SandboxError.badRequest(problems) }
    }

    /// `[{type, value}]` with exactly those two string fields, a non-empty `type`, and each `type` once.
    static func legacyTaxIdentifiers(_ value: JSONValue) -> Result<[(type: String, value: String)], SandboxError> {
        guard let elements = value.arrayValue else {
            return .failure(.badRequest([SandboxError.invalid("taxIdentifiers", "'taxIdentifiers' must be an array.")]))
        }
        var problems: [SandboxError.Detail] = []
        var pairs: [(type: String, value: String)] = []
        for (index, element) in elements.enumerated() {
            let path = "taxIdentifiers[\(index)]"
            guard case .object(let object) = element else {
                problems.append(SandboxError.invalid(path, "'\(path)' must be an object."))
                continue
            }
            for key in object.keys where key != "type" && key != "value" {
                problems.append(SandboxError.unknown("\(path).\(key)"))
            }
            guard let type = object["type"]?.stringValue, !type.isEmpty else {
                problems.append(object["type"] == nil ? SandboxError.missing("\(path).type")
                    : SandboxError.invalid("\(path).type", "'\(path).type' must be a non-empty string."))
                continue
            }
            guard let text = object["value"]?.stringValue else {
                problems.append(object["value"] == nil ? SandboxError.missing("\(path).value")
                    : SandboxError.invalid("\(path).value", "'\(path).value' must be a string."))
                continue
            }
            if pairs.contains(where: { $0.type == type }) {
                problems.append(SandboxError.invalid("\(path).type", "A customer can have only one tax identifier of type '\(type)'."))
                continue
            }
            pairs.append((type, text))
        }
        return problems.isEmpty ? .success(pairs) : .failure(.badRequest(problems))
    }

    /// `^[a-z]{2}_[A-Z]{2}$`.
    static func isLocale(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: "_") else { return false }
        return bytes[0...1].allSatisfy { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
            && bytes[3...4].allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

    /// Two upper-case ASCII letters (ISO 3166-1 alpha-2 country, US state code).
    static func isTwoUpperLetters(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.count == 2 && bytes.allSatisfy { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
    }

    /// Shape via the domain's own `Shipping` validation, plus `address.country`, the one required Address field.
    static func shippingProblems(_ value: JSONValue) -> [SandboxError.Detail] {
        guard case .object(let shipping) = value else {
            return [SandboxError.invalid("shipping", "'shipping' must be an object.")]
        }
        do {
            _ = try Shipping(json: shipping, path: "shipping")
        } catch {
            return [SandboxError.invalid(error.field, "'\(error.field)' \(error.reason).")]
        }
        guard case .object(let address)? = shipping["address"] else { return [] }
        guard let country = address["country"]?.stringValue else {
            return [SandboxError.missing("shipping.address.country")]
        }
        guard isTwoUpperLetters(country) else {
            return [SandboxError.invalid("shipping.address.country", "'shipping.address.country' must be an ISO 3166-1 alpha-2 code.")]
        }
        return []
    }

    /// At least one key, at most 20 top-level keys, keys ≤ 40 characters, string values ≤ 500 characters;
    /// other JSON values are accepted as the current docs allow (reference §7.4).
    static func metadataProblems(_ value: JSONValue) -> [SandboxError.Detail] {
        guard case .object(let metadata) = value else {
            return [SandboxError.invalid("metadata", "'metadata' must be an object.")]
        }
        guard !metadata.isEmpty else {
            return [SandboxError.invalid("metadata", "'metadata' must hold at least one key when present.")]
        }
        var problems: [SandboxError.Detail] = []
        if metadata.count > maxMetadataKeys {
            problems.append(SandboxError.invalid("metadata", "'metadata' may hold at most \(maxMetadataKeys) keys."))
        }
        for (key, value) in metadata {
            if key.isEmpty || key.count > maxMetadataKeyLength {
                problems.append(SandboxError.invalid("metadata", "Metadata keys must be 1 to \(maxMetadataKeyLength) characters."))
            } else if let text = value.stringValue, text.count > maxMetadataValueLength {
                problems.append(SandboxError.invalid("metadata.\(key)", "Metadata values must be at most \(maxMetadataValueLength) characters."))
            }
        }
        return problems
    }

    /// The five fields `TaxCertificate` requires; dates are ISO-8601 date-times, `taxAuthority` a US state code.
    static func taxCertificateProblems(_ value: JSONValue) -> [SandboxError.Detail] {
        guard case .object(let certificate) = value else {
            return [SandboxError.invalid("taxCertificate", "'taxCertificate' must be an object.")]
        }
        let required = ["companyName", "taxAuthority", "startDate", "endDate", "fileId"]
        var problems: [SandboxError.Detail] = []
        for key in certificate.keys where !required.contains(key) {
            problems.append(SandboxError.unknown("taxCertificate.\(key)"))
        }
        for field in required {
            let parameter = "taxCertificate.\(field)"
            guard let fieldValue = certificate[field] else {
                problems.append(SandboxError.missing(parameter))
                continue
            }
            guard let text = fieldValue.stringValue, !text.isEmpty else {
                problems.append(SandboxError.invalid(parameter, "'\(parameter)' must be a non-empty string."))
                continue
            }
            switch field {
            case "startDate", "endDate":
                if Timestamp.microseconds(from: text) == nil {
                    problems.append(SandboxError.invalid(parameter, "'\(parameter)' must be an ISO-8601 date-time."))
                }
            case "taxAuthority":
                if !isTwoUpperLetters(text) {
                    problems.append(SandboxError.invalid(parameter, "'\(parameter)' must be a two-letter US state code."))
                }
            default:
                break
            }
        }
        if problems.isEmpty,
           let start = certificate["startDate"]?.stringValue.flatMap(Timestamp.microseconds(from:)),
           let end = certificate["endDate"]?.stringValue.flatMap(Timestamp.microseconds(from:)), end < start {
            problems.append(SandboxError.invalid("taxCertificate.endDate", "'taxCertificate.endDate' must not be before 'startDate'."))
        }
        return problems
    }
}

/// The API version a request asks for with Digital River's `digitalriver-version` header
/// (GitBook `general-resources/versioning.md`); versions are `YYYY-MM-DD` dates, so they order as strings.
struct APIVersion: Sendable, Equatable {
    /// The header Digital River reads; HTTP header names are case-insensitive.
    static let headerName = "digitalriver-version"
    /// What a request without the header gets: the version the sandbox renders events in.
    static let current = APIVersion(date: SandboxEvent.apiVersion)

    let date: String

    /// Whether create and update bodies take legacy `taxIdentifiers[]`.
    var takesLegacyTaxIdentifiers: Bool { date <= CustomerRequest.lastLegacyTaxIdentifierVersion }

    /// Reads `header`; nil gives `current`.
    ///
    /// - Throws: `SandboxError` 400 `invalid_parameter` naming the header when it is not a `YYYY-MM-DD` date.
    init(header: String?) throws(SandboxError) {
        guard let header else {
            self = .current
            return
        }
        guard Self.isDate(header) else {
            throw SandboxError.badRequest([SandboxError.invalid(
                Self.headerName, "'\(Self.headerName)' must be an API version date such as 2020-12-17.")])
        }
        date = header
    }

    init(date: String) {
        self.date = date
    }

    /// `YYYY-MM-DD` with digits in place, month 01-12 and day 01-31.
    static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        guard digits.allSatisfy({ bytes[$0] >= UInt8(ascii: "0") && bytes[$0] <= UInt8(ascii: "9") }) else { return false }
        let month = Int(bytes[5] - 48) * 10 + Int(bytes[6] - 48)
        let day = Int(bytes[8] - 48) * 10 + Int(bytes[9] - 48)
        return (1...12).contains(month) && (1...31).contains(day)
    }
}
