import Sockets

/// A setting that could not be used; names the key so the operator knows which line or flag to fix.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let key: String
    public let reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    public var description: String { "configuration '\(key)': \(reason)" }
}

/// Where settings come from, in precedence order: command-line flags, `CUSTOMER_CACHE_<NAME>` environment
/// variables, an optional config file of `key = value` lines, then the embedded defaults.
public struct ConfigurationSources: Sendable {
    private let flags: [String: String]
    private let environment: [String: String]
    private let file: [String: String]
    private let specifications: [String: SettingSpecification]

    public init(flags: [String: String], environment: [String: String], fileContents: String?,
                specifications: [SettingSpecification] = AppConfiguration.settings) throws(ConfigurationError) {
        self.flags = flags
        self.environment = environment
        var byKey: [String: SettingSpecification] = [:]
        for specification in specifications { byKey[specification.key] = specification }
        self.specifications = byKey
        self.file = try Self.parseFile(fileContents ?? "", known: byKey)
    }

    /// Parses `key = value` lines; `#` starts a comment. Unknown keys are an error so a typo never goes unnoticed.
    static func parseFile(_ text: String, known: [String: SettingSpecification]) throws(ConfigurationError) -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigurationError(key: "config file line \(number + 1)", reason: "expected 'key = value'")
            }
            let key = String(trimmed[..<equals]).trimmingCharacters(in: " \t")
            let value = String(trimmed[trimmed.index(after: equals)...]).trimmingCharacters(in: " \t")
            guard known[key] != nil else {
                throw ConfigurationError(key: key, reason: "unknown setting in config file line \(number + 1)")
            }
            values[key] = value
        }
        return values
    }

    /// The raw value for `key` after precedence, or nil when unset and without default.
    public func raw(_ key: String) -> String? {
        if let value = flags[key] { return value }
        if let specification = specifications[key], let value = environment[specification.environmentName] { return value }
        if let value = file[key] { return value }
        return specifications[key]?.defaultValue
    }

    public func string(_ key: String) throws(ConfigurationError) -> String {
        guard let value = raw(key), !value.isEmpty else { throw ConfigurationError(key: key, reason: "is required") }
        return value
    }

    public func optionalString(_ key: String) -> String? {
        guard let value = raw(key), !value.isEmpty else { return nil }
        return value
    }

    public func integer(_ key: String, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let text = try string(key)
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(key: key, reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func boolean(_ key: String) throws(ConfigurationError) -> Bool {
        switch try string(key).lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError(key: key, reason: "must be true or false")
        }
    }

    public func choice(_ key: String, _ allowed: [String]) throws(ConfigurationError) -> String {
        let value = try string(key)
        guard allowed.contains(value) else {
            throw ConfigurationError(key: key, reason: "must be one of \(allowed.joined(separator: ", "))")
        }
        return value
    }

    public func address(_ key: String) throws(ConfigurationError) -> SocketAddress {
        let text = try string(key)
        do {
            return try SocketAddress(parsing: text)
        } catch {
            throw ConfigurationError(key: key, reason: error.reason)
        }
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice.removeFirst() }
        while let last = slice.last, characters.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
