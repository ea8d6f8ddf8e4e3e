import Foundation
import WebhookSignature

/// Bearer tokens of the internal callers, mapped to a caller name and optionally to the methods it may call.
///
/// Format (file `rpc-tokens-file` or env `CUSTOMER_CACHE_RPC_TOKENS`, one caller per line or `;`-separated):
/// `caller-name token [method,method,...]`. Without a method list the caller may call every method.
/// Presented tokens are compared by keyed digest, so lookup time does not depend on how much of a token matched.
public struct CallerTokens: Sendable {
    /// A caller as configured.
    public struct Caller: Sendable, Hashable {
        public let name: String
        /// nil: every method.
        public let methods: Set<String>?

        public func may(call method: String) -> Bool { methods?.contains(method) ?? true }
    }

    private let key: [UInt8]
    private let callers: [[UInt8]: Caller]
    private let byName: [String: Caller]

    /// True when no token is configured: authentication is off and every caller is anonymous.
    public var isEmpty: Bool { callers.isEmpty }
    public var count: Int { callers.count }

    public static let environmentName = "CUSTOMER_CACHE_RPC_TOKENS"

    /// Parses the token list; errors name the entry number, never a token.
    public init(parsing text: String) throws(ConfigurationError) {
        var generator = SystemRandomNumberGenerator()
        key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        var callers: [[UInt8]: Caller] = [:]
        var names: Set<String> = []
        let entries = text.split(whereSeparator: { $0.isNewline || $0 == ";" })  // isNewline: "\r\n" is one Character
        for (index, entry) in entries.enumerated() {
            let line = entry.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 2 || fields.count == 3 else {
                throw ConfigurationError(key: "rpc tokens entry \(index + 1)", reason: "expected 'caller-name token [method,...]'")
            }
            let name = String(fields[0])
            let token = Array(fields[1].utf8)
            guard token.count >= 16 else {
                throw ConfigurationError(key: "rpc tokens entry \(index + 1)", reason: "token must be at least 16 characters")
            }
            guard !names.contains(name) else {
                throw ConfigurationError(key: "rpc tokens entry \(index + 1)", reason: "caller \(name) listed twice")
            }
            names.insert(name)
            let methods = fields.count == 3 ? Set(fields[2].split(separator: ",").map(String.init)) : nil
            let digest = HMACSHA256.authenticationCode(key: key, message: token)
            guard callers[digest] == nil else {
                throw ConfigurationError(key: "rpc tokens entry \(index + 1)", reason: "token already used by another caller")
            }
            callers[digest] = Caller(name: name, methods: methods)
        }
        self.callers = callers
        self.byName = Dictionary(uniqueKeysWithValues: callers.values.map { ($0.name, $0) })
    }

    public static let none: CallerTokens = {
        // An empty list cannot fail to parse.
        (try? CallerTokens(parsing: "")) ?? CallerTokens(uncheckedEmpty: ())
    }()

    private init(uncheckedEmpty: Void) {
        key = []
        callers = [:]
        byName = [:]
    }

    /// The configured caller with this name (the name travels in the JSON-RPC context after authentication).
    public func caller(named name: String) -> Caller? { byName[name] }

    /// The caller for an `Authorization` header value, or nil when missing or wrong.
    public func caller(forAuthorization header: String?) -> Caller? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
        return callers[HMACSHA256.authenticationCode(key: key, message: token)]
    }
}
