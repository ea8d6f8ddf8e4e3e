/// A Digital River confidential (secret) API key.
///
/// The key authorises every call made on the account, so it must never reach a log line, an error message, a crash
/// report or argv: `description`, `debugDescription` and reflection (`dump`, default struct printing) all show
/// `<redacted>`. Only the transport request's `Authorization` header ever carries the raw value.
public struct DigitalRiverAPIKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
                                  CustomReflectable {
    /// Internal so only this module can put it on the wire.
    let rawValue: String

    /// Trims surrounding whitespace and newlines (keys usually come from a file or an environment variable, which
    /// often end in a newline). Returns nil when nothing is left, or when the key holds anything but visible ASCII:
    /// DR keys are ASCII tokens, and a CR or LF inside one would let the key inject header lines.
    public init?(_ raw: String) {
        let trimmed = raw.trimmingASCIIWhitespace()
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        rawValue = trimmed
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "DigitalRiverAPIKey(<redacted>)" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// The `Authorization` header value.
    var bearerHeaderValue: String { "Bearer " + rawValue }

    /// Removes every occurrence of the key from text that came from elsewhere (DR echoing a header, for instance).
    func redacting(_ text: String) -> String {
        guard text.contains(rawValue) else { return text }
        return text.replacing(rawValue, with: "<redacted>")
    }
}

extension String {
    /// Whitespace as a key file or an env var might wrap it: space, tab, CR, LF.
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
