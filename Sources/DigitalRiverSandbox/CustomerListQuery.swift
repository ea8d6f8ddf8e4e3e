import Customers
import HTTP1

/// The query of `GET /customers` (reference §2), parsed and checked.
///
/// Accepted parameters: `limit` (1–100, default 10), `startingAfter`, `endingBefore` (not both), `ids` (repeated:
/// `ids=a&ids=b`), `email` (exact match), `requestToBeForgotten` (`true`/`false`), and `createdTime` / `updatedTime`
/// in both candidate wire forms of reference §7.12: exact `updatedTime=T` and ranges `updatedTime[gt|gte|lt|lte|eq]=T`,
/// which combine with AND. Anything else is `unknown_parameter`, so a misspelt filter fails loudly instead of
/// silently listing everything.
///
/// Decoding: `%XX` escapes are decoded in names and values; `+` is kept as a literal plus (RFC 3986), because
/// clients leave it unescaped in emails and UTC offsets. Send `%20` for a space.
struct CustomerListQuery: Sendable, Equatable {
    var limit = 10
    var startingAfter: String?
    var endingBefore: String?
    var ids: [String]?
    var email: String?
    var requestToBeForgotten: Bool?
    var createdTime = TimeRange()
    var updatedTime = TimeRange()

    static let maxLimit = 100

    /// Inclusive bounds in microseconds; each operator narrows them.
    struct TimeRange: Sendable, Equatable {
        var lower: Int64 = .min
        var upper: Int64 = .max

        var isUnbounded: Bool { lower == .min && upper == .max }

        func contains(_ time: Int64) -> Bool { time >= lower && time <= upper }

        /// Narrows by one operator; nil for an unknown operator.
        mutating func apply(_ op: String, _ time: Int64) -> Bool {
            switch op {
            case "eq":
                lower = max(lower, time)
                upper = min(upper, time)
            case "gt": lower = max(lower, time == .max ? .max : time + 1)
            case "gte": lower = max(lower, time)
            case "lt": upper = min(upper, time == .min ? .min : time - 1)
            case "lte": upper = min(upper, time)
            default: return false
            }
            return true
        }
    }

    /// True when a filter other than `ids` is set, i.e. candidates must be checked one by one.
    var hasFilters: Bool {
        email != nil || requestToBeForgotten != nil || !createdTime.isUnbounded || !updatedTime.isUnbounded
    }

    /// Parses the raw query string (nil for none).
    ///
    /// - Throws: `SandboxError` 400 with `invalid_parameter` or `unknown_parameter` naming the parameter.
    init(_ query: String?) throws(SandboxError) {
        var problems: [SandboxError.Detail] = []
        for piece in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let (rawName, rawValue) = piece.firstIndex(of: "=").map { (piece[..<$0], piece[piece.index(after: $0)...]) }
                ?? (piece, Substring(""))
            guard let name = PercentDecoding.decode(rawName), let value = PercentDecoding.decode(rawValue) else {
                problems.append(SandboxError.invalid(nil, "Malformed percent-encoding in the query."))
                continue
            }
            switch name {
            case "limit":
                guard let number = Int(value), (1...Self.maxLimit).contains(number) else {
                    problems.append(SandboxError.invalid("limit", "'limit' must be an integer from 1 to \(Self.maxLimit)."))
                    continue
                }
                limit = number
            case "startingAfter", "endingBefore":
                guard !value.isEmpty else {
                    problems.append(SandboxError.invalid(name, "'\(name)' must be a customer id."))
                    continue
                }
                if name == "startingAfter" { startingAfter = value } else { endingBefore = value }
            case "ids":
                guard !value.isEmpty else {
                    problems.append(SandboxError.invalid("ids", "'ids' values must be customer ids."))
                    continue
                }
                ids = (ids ?? []) + [value]
            case "email":
                guard !value.isEmpty else {
                    problems.append(SandboxError.invalid("email", "'email' must not be empty."))
                    continue
                }
                email = value
            case "requestToBeForgotten":
                switch value {
                case "true": requestToBeForgotten = true
                case "false": requestToBeForgotten = false
                default: problems.append(SandboxError.invalid(name, "'requestToBeForgotten' must be true or false."))
                }
            default:
                guard let (field, op) = Self.timeFilter(name) else {
                    problems.append(SandboxError.unknown(name))
                    continue
                }
                guard let time = Timestamp.microseconds(from: value) else {
                    problems.append(SandboxError.invalid(name, "'\(name)' must be an ISO-8601 date-time."))
                    continue
                }
                let known = field == "createdTime" ? createdTime.apply(op, time) : updatedTime.apply(op, time)
                if !known { problems.append(SandboxError.invalid(name, "Range operators are eq, gt, gte, lt and lte.")) }
            }
        }
        if startingAfter != nil, endingBefore != nil {
            problems.append(SandboxError.invalid("endingBefore", "'startingAfter' and 'endingBefore' cannot be combined."))
        }
        guard problems.isEmpty else { throw SandboxError.badRequest(problems) }
    }

    /// `createdTime` → ("createdTime", "eq"); `updatedTime[gte]` → ("updatedTime", "gte"); nil for other names.
    static func timeFilter(_ name: String) -> (String, String)? {
        for field in ["createdTime", "updatedTime"] where name.hasPrefix(field) {
            let rest = name.dropFirst(field.count)
            if rest.isEmpty { return (field, "eq") }
            if rest.hasPrefix("["), rest.hasSuffix("]"), rest.count > 2 { return (field, String(rest.dropFirst().dropLast())) }
        }
        return nil
    }
}
