import Foundation
import Synchronization
import WebhookSignature

/// Bearer tokens of the internal callers, mapped to a caller name and optionally to the methods it may call.
///
/// Format (file `rpc-tokens-file` or env `CUSTOMER_CACHE_RPC_TOKENS`, one caller per line or `;`-separated):
/// `caller-name token [method,method,...]`. Without a method list the caller may call every method.
/// Presented tokens are compared by keyed digest, so lookup time does not depend on how much of a token matched.
public struct CallerTokens: Sendable, CustomStringConvertible, CustomReflectable {
    /// A caller as configured.
    public struct Caller: Sendable, Hashable {
        public let name: String
        /// nil: every method.
        public let methods: Set<String>?

        public func may(call method: String) -> Bool { methods?.contains(method) ?? true }
    }

    /// One parsed token list: callers by keyed token digest, and by name.
    struct Generation: Sendable {
        let callers: [[UInt8]: Caller]
        let byName: [String: Caller]
    }

    private let key: [UInt8]
    private let fixed: Generation
    /// Set only for tokens read from a file: `replace(parsing:graceSeconds:)` swaps the generation in it. Without it
    /// (tokens from the environment, or none) a lookup takes no lock.
    private let rotation: TokenRotation?

    /// True when no token is configured: authentication is off and every caller is anonymous.
    public var isEmpty: Bool { rotation?.isEmpty ?? fixed.callers.isEmpty }
    /// Callers in the current list (tokens still in their grace period not counted).
    public var count: Int { rotation?.currentCount ?? fixed.callers.count }

    public static let environmentName = "CUSTOMER_CACHE_RPC_TOKENS"

    /// Parses the token list; errors name the entry number, never a token.
    public init(parsing text: String) throws(ConfigurationError) {
        var generator = SystemRandomNumberGenerator()
        key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        fixed = try Self.parse(text, key: key)
        rotation = nil
    }

    private init(key: [UInt8], fixed: Generation, rotation: TokenRotation?) {
        self.key = key
        self.fixed = fixed
        self.rotation = rotation
    }

    private static func parse(_ text: String, key: [UInt8]) throws(ConfigurationError) -> Generation {
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
        return Generation(callers: callers, byName: Dictionary(uniqueKeysWithValues: callers.values.map { ($0.name, $0) }))
    }

    public static let none = CallerTokens(key: [], fixed: Generation(callers: [:], byName: [:]), rotation: nil)

    /// The same tokens, made replaceable by `replace(parsing:graceSeconds:)`: for tokens read from a file that is
    /// watched. Copies share the replaceable list. `now` is the clock (unix seconds) grace periods are measured on.
    public func reloadable(now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }) -> CallerTokens {
        CallerTokens(key: key, fixed: fixed, rotation: TokenRotation(current: fixed, now: now))
    }

    /// Makes `text` the current list at once; tokens of the previous lists keep working for `graceSeconds`, then
    /// stop. A list that does not parse changes nothing and throws (naming the entry, never a token).
    public func replace(parsing text: String, graceSeconds: Int64) throws(ConfigurationError) {
        guard let rotation else { preconditionFailure("replace(parsing:) on tokens that are not reloadable") }
        rotation.replace(with: try Self.parse(text, key: key), graceSeconds: graceSeconds)
    }

    /// The callers' names only: never a token, nor the digest key.
    public var description: String {
        let names = rotation?.first { Array($0.byName.keys) } ?? Array(fixed.byName.keys)
        return "CallerTokens(\(names.sorted().joined(separator: ", ")))"
    }

    /// Without this, `dump()` would print the digest key and the digests.
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }

    /// The configured caller with this name (the name travels in the JSON-RPC context after authentication).
    public func caller(named name: String) -> Caller? {
        guard let rotation else { return fixed.byName[name] }
        return rotation.first { $0.byName[name] }
    }

    /// The caller for an `Authorization` header value, or nil when missing or wrong.
    public func caller(forAuthorization header: String?) -> Caller? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let digest = HMACSHA256.authenticationCode(key: key, message: Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8))
        guard let rotation else { return fixed.callers[digest] }
        return rotation.first { $0.callers[digest] }
    }
}

/// The replaceable token lists: the current one, and the ones it replaced until their grace period ends.
final class TokenRotation: Sendable {
    private struct State {
        var current: CallerTokens.Generation
        var retired: [(generation: CallerTokens.Generation, until: Int64)] = []
    }

    private let state: Mutex<State>
    private let now: @Sendable () -> Int64

    init(current: CallerTokens.Generation, now: @escaping @Sendable () -> Int64) {
        state = Mutex(State(current: current))
        self.now = now
    }

    func replace(with generation: CallerTokens.Generation, graceSeconds: Int64) {
        let until = now() + graceSeconds
        state.withLock { state in
            let now = self.now()
            state.retired = [(state.current, until)] + state.retired.filter { $0.until > now }
            state.current = generation
        }
    }

    /// The first answer from the current list, then from lists still in their grace period, newest first.
    func first<Found>(_ lookup: (CallerTokens.Generation) -> Found?) -> Found? {
        state.withLock { state in
            if let found = lookup(state.current) { return found }
            let now = self.now()
            for retired in state.retired where retired.until > now {
                if let found = lookup(retired.generation) { return found }
            }
            return nil
        }
    }

    var isEmpty: Bool {
        state.withLock { state in
            let now = self.now()
            return state.current.callers.isEmpty && !state.retired.contains { $0.until > now && !$0.generation.callers.isEmpty }
        }
    }

    var currentCount: Int { state.withLock { $0.current.callers.count } }
}
