import Configuration
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
/// variables, an optional config file of `key = value` lines, then the declared defaults. The precedence is
/// swift-configuration's: one `ConfigReader` over four providers, the first that has a key wins. Secrets are not
/// settings: `SecretSpecification.read` takes them from a file or the environment, never from flags or this file.
public struct ConfigurationSources: Sendable {
    private let reader: ConfigReader
    private let specifications: [String: SettingSpecification]

    public init(flags: [String: String], environment: [String: String], fileContents: String?,
                specifications: [SettingSpecification] = AppConfiguration.settings) throws(ConfigurationError) {
        var byKey: [String: SettingSpecification] = [:]
        for specification in specifications { byKey[specification.key] = specification }
        self.specifications = byKey
        try Self.checkEnvironmentNames(environment.keys, specifications: specifications)
        let file = try Self.parseFile(fileContents ?? "", known: byKey)
        func provider(_ name: String, _ values: [String: String]) -> InMemoryProvider {
            InMemoryProvider(name: name, values: Dictionary(uniqueKeysWithValues: values.map { key, value in
                (AbsoluteConfigKey([key]), ConfigValue(.string(value), isSecret: false))
            }))
        }
        // The environment provider encodes key `customer-cache.data-dir` as CUSTOMER_CACHE_DATA_DIR.
        let settingsEnvironment = EnvironmentVariablesProvider(environmentVariables: environment)
            .prefixKeys(with: ConfigKey([Self.environmentKeyPrefix]))
        reader = ConfigReader(providers: [
            provider("flags", flags), settingsEnvironment, provider("config file", file),
            provider("defaults", byKey.compactMapValues(\.defaultValue)),
        ])
    }

    /// The key component the environment provider prefixes to every setting's key.
    static let environmentKeyPrefix = "customer-cache"

    /// The prefix of every variable the program reads.
    public static let environmentPrefix = "CUSTOMER_CACHE_"

    /// Left to the test harness (`CUSTOMER_CACHE_TEST_DATABASE_URL`, `CUSTOMER_CACHE_TEST_TMPFS`) and ignored: the
    /// tests' `serve` subprocesses inherit them.
    public static let reservedTestPrefix = "CUSTOMER_CACHE_TEST_"

    /// Refuses any `CUSTOMER_CACHE_*` variable that names nothing the program reads, because a misspelt one would
    /// otherwise be silently ignored (`CUSTOMER_CACHE_DATABSE_URL` would quietly give SQLite). The error names the
    /// variables and the closest known name; never a value, which may be a secret.
    public static func checkEnvironmentNames(_ names: some Sequence<String>,
                                             specifications: [SettingSpecification] = AppConfiguration.settings,
                                             otherNames: [String] = AppConfiguration.environmentNamesBesideSettings) throws(ConfigurationError) {
        let known = Set(specifications.map(\.environmentName) + otherNames)
        let unknown = names.filter { $0.hasPrefix(environmentPrefix) && !$0.hasPrefix(reservedTestPrefix) && !known.contains($0) }.sorted()
        guard !unknown.isEmpty else { return }
        let candidates = specifications.map { ($0.environmentName, "\($0.environmentName) (setting \($0.key))") } + otherNames.map { ($0, $0) }
        let explanations = unknown.map { name in
            let distances = candidates.map { (description: $0.1, distance: editDistance(name, $0.0)) }
            guard let nearest = distances.map(\.distance).min(), nearest <= 2 else { return "\(name) names no setting" }
            let guesses = distances.filter { $0.distance == nearest }.map(\.description)
            return "\(name) names no setting; did you mean \(guesses.joined(separator: " or "))?"
        }
        throw ConfigurationError(key: "environment",
                                 reason: explanations.joined(separator: ". ") + " (\(reservedTestPrefix)* is reserved for tests and ignored)")
    }

    /// Edit distance with adjacent transpositions (optimal string alignment): `TOKNE` is one slip from `TOKEN`, as a
    /// typist sees it, not two.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in stride(from: 1, through: a.count, by: 1) {
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + substitution)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
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
        reader.string(forKey: ConfigKey([key]))
    }

    public func string(_ key: String) throws(ConfigurationError) -> String {
        guard let value = raw(key), !value.isEmpty else { throw ConfigurationError(key: key, reason: "is required") }
        return value
    }

    public func optionalString(_ key: String) -> String? {
        guard let value = raw(key), !value.isEmpty else { return nil }
        return value
    }

    /// A whole number within the range its declaration gives.
    public func integer(_ key: String) throws(ConfigurationError) -> Int {
        guard case .integer(let range) = specifications[key]?.kind else { preconditionFailure("\(key) is not declared as an integer") }
        let text = try string(key)
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(key: key, reason: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func boolean(_ key: String) throws(ConfigurationError) -> Bool {
        guard let value = SettingSpecification.Kind.booleanValue(try string(key)) else {
            throw ConfigurationError(key: key, reason: "must be true or false")
        }
        return value
    }

    /// One of the values its declaration allows.
    public func choice(_ key: String) throws(ConfigurationError) -> String {
        guard case .choice(let allowed) = specifications[key]?.kind else { preconditionFailure("\(key) is not declared as a choice") }
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
    /// Trims characters made only of `set`'s scalars: by scalar, since `"\r\n"` in `set` is one Character and
    /// would otherwise leave a lone trailing `"\n"` untrimmed.
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        let trimmed = { (character: Character) in character.unicodeScalars.allSatisfy { scalars.contains($0) } }
        var slice = Substring(self)
        while let first = slice.first, trimmed(first) { slice.removeFirst() }
        while let last = slice.last, trimmed(last) { slice.removeLast() }
        return String(slice)
    }
}

extension ConfigurationSources {
    /// The settings given as command-line arguments: `--key value`, `--key=value`, and for a boolean setting a bare
    /// `--key` (true) or `--key true|false`. An argument naming no setting is refused by name with the nearest one;
    /// a secret's name gets the reminder that secrets are never arguments (argv is world-readable through `ps`).
    public static func parseFlags(_ arguments: [String],
                                  specifications: [SettingSpecification] = AppConfiguration.settings) throws(ConfigurationError) -> [String: String] {
        var byKey: [String: SettingSpecification] = [:]
        for specification in specifications { byKey[specification.key] = specification }
        var flags: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(key: argument, reason: "unexpected argument: settings are given as --key value")
            }
            let body = argument.dropFirst(2)
            let key = String(body.prefix { $0 != "=" })
            var value = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            guard let specification = byKey[key] else { throw unknownFlag(key, specifications: specifications) }
            if value == nil {
                if case .boolean = specification.kind {
                    if index < arguments.count, SettingSpecification.Kind.booleanValue(arguments[index]) != nil {
                        value = arguments[index]
                        index += 1
                    } else {
                        value = "true"
                    }
                } else {
                    guard index < arguments.count else { throw ConfigurationError(key: key, reason: "--\(key) needs a value") }
                    value = arguments[index]
                    index += 1
                }
            }
            flags[key] = value
        }
        return flags
    }

    private static func unknownFlag(_ key: String, specifications: [SettingSpecification]) -> ConfigurationError {
        if let secret = AppConfiguration.secrets.first(where: { $0.fileKey == key + "-file" }) {
            return ConfigurationError(key: key, reason: "is a secret and never a command-line argument: set \(secret.environmentName) or --\(secret.fileKey)")
        }
        let nearest = specifications.map { (key: $0.key, distance: editDistance(key, $0.key)) }.min { $0.distance < $1.distance }
        guard let nearest, nearest.distance <= 2 else { return ConfigurationError(key: key, reason: "--\(key) names no setting") }
        return ConfigurationError(key: key, reason: "--\(key) names no setting; did you mean --\(nearest.key)?")
    }
}
