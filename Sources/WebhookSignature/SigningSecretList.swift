import Timekeeping

/// Parses the configured signing secrets, newest first, from one string such as an environment variable.
///
/// Syntax (spaces, tabs and line breaks around entries and around `@` are ignored):
///
///     list    = entry *( "," entry )            ; newest secret first; its position is VerifiedSignature.secretIndex
///     entry   = secret [ "@" expiry ]
///     secret  = 1*( any character except "," "@", whitespace and control characters )
///     expiry  = unix-seconds / iso-8601
///     unix-seconds = 1*13 DIGIT                  ; above 10^12 read as milliseconds, as in the header
///     iso-8601     = YYYY "-" MM "-" DD "T" hh ":" mm ":" ss [ "." 1*DIGIT ] ( "Z" / ( "+" / "-" ) hh ":" mm )
///
/// The secret is the token exactly as the Dashboard shows it; its UTF-8 bytes are the HMAC key. An expiry is
/// the instant from which the secret stops being accepted (fractions of a second are dropped). Examples:
///
///     whsec_current
///     whsec_current, whsec_previous@1700043200
///     whsec_current,whsec_previous@2023-11-15T10:13:20Z
///
/// A token containing `,`, `@` or whitespace cannot be written in this syntax; build `SigningSecret` directly.
public enum SigningSecretList {
    /// The secrets in `text`, in the order written.
    ///
    /// - Throws: `SigningSecretListError`, naming the entry by position and never quoting it.
    public static func parse(_ text: String) throws(SigningSecretListError) -> [SigningSecret] {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false)
        if entries.count == 1, trimmed(entries[0]).isEmpty {
            throw SigningSecretListError(.noSecrets, entry: nil)
        }
        var secrets: [SigningSecret] = []
        secrets.reserveCapacity(entries.count)
        for (offset, rawEntry) in entries.enumerated() {
            let position = offset + 1
            let entry = trimmed(rawEntry)
            guard !entry.isEmpty else { throw SigningSecretListError(.emptyEntry, entry: position) }

            let secret: Substring
            var expiresAt: Int64? = nil
            if let at = entry.firstIndex(of: "@") {
                secret = trimmed(entry[..<at])
                guard let expiry = parseExpiry(trimmed(entry[entry.index(after: at)...])) else {
                    throw SigningSecretListError(.malformedExpiry, entry: position)
                }
                expiresAt = expiry
            } else {
                secret = entry
            }
            guard !secret.isEmpty else { throw SigningSecretListError(.emptySecret, entry: position) }
            guard secret.unicodeScalars.allSatisfy(isAllowedInSecret) else {
                throw SigningSecretListError(.invalidCharacterInSecret, entry: position)
            }
            secrets.append(SigningSecret(String(secret), expiresAt: expiresAt))
        }
        return secrets
    }

    private static func isAllowedInSecret(_ scalar: Unicode.Scalar) -> Bool {
        !scalar.properties.isWhitespace && scalar.properties.generalCategory != .control
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) })
        else {
            return text[text.endIndex...]
        }
        return text[first...last]
    }

    /// Unix seconds for either expiry form, or nil.
    static func parseExpiry(_ text: Substring) -> Int64? {
        let bytes = Array(text.utf8)
        if !bytes.isEmpty, bytes.count <= 13, bytes.allSatisfy({ (0x30...0x39).contains($0) }) {
            let value = bytes.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
            return value > SignatureHeader.millisecondThreshold ? value / 1000 : value
        }
        return ISO8601.unixSeconds(bytes)
    }
}

/// Why a signing secret list was refused; says which entry (1-based) but never quotes it, since it may hold a secret.
public struct SigningSecretListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the list or entry.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The text holds no secret at all.
        case noSecrets
        /// Two commas in a row, or a comma at the start or end.
        case emptyEntry
        /// Nothing before the `@`.
        case emptySecret
        /// Whitespace or a control character inside the secret (a pasting mistake, never part of a token).
        case invalidCharacterInSecret
        /// The text after the first `@` is neither unix seconds nor an ISO-8601 date-time with a zone.
        case malformedExpiry
    }

    /// What is wrong.
    public let reason: Reason
    /// 1-based position of the offending entry, nil when the whole list is at fault.
    public let entry: Int?

    /// An error for `reason` at 1-based `entry`.
    public init(_ reason: Reason, entry: Int?) {
        self.reason = reason
        self.entry = entry
    }

    /// A sentence naming the entry and the problem, for startup logs; never the entry's text.
    public var description: String {
        let problem =
            switch reason {
            case .noSecrets: "no secret given"
            case .emptyEntry: "empty entry (two commas in a row, or a leading or trailing comma)"
            case .emptySecret: "nothing before '@'"
            case .invalidCharacterInSecret: "the secret contains whitespace or a control character"
            case .malformedExpiry:
                "the expiry after '@' is neither unix seconds nor ISO-8601 like 2023-11-15T10:13:20Z"
            }
        guard let entry else { return "signing secret list: \(problem)" }
        return "signing secret list, entry \(entry): \(problem)"
    }
}

/// Just enough ISO-8601 for expiry instants: `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`, zone required so the instant is unambiguous.
enum ISO8601 {
    static func unixSeconds(_ text: [UInt8]) -> Int64? {
        var cursor = 0
        func number(_ width: Int) -> Int64? {
            guard cursor + width <= text.count else { return nil }
            var value: Int64 = 0
            for byte in text[cursor..<cursor + width] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            cursor += width
            return value
        }
        func expect(_ characters: String) -> Bool {
            guard cursor < text.count, characters.utf8.contains(text[cursor]) else { return false }
            cursor += 1
            return true
        }

        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
            expect("Tt"), let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }
        if expect(".") {
            let fractionStart = cursor
            while cursor < text.count, (0x30...0x39).contains(text[cursor]) { cursor += 1 }
            guard cursor > fractionStart else { return nil }
        }
        var offset: Int64 = 0
        if !expect("Zz") {
            guard cursor < text.count else { return nil }
            let sign: Int64 = text[cursor] == UInt8(ascii: "-") ? -1 : 1
            guard expect("+-"), let offsetHours = number(2), expect(":"), let offsetMinutes = number(2),
                offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard cursor == text.count else { return nil }
        let days = CivilCalendar.daysFromCivil(year: year, month: month, day: day)
        return days * 86400 + hour * 3600 + minute * 60 + second - offset
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
