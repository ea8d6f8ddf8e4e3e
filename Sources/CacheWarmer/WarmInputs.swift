import Customers

/// The id source: one customer id per line; blank lines and `#` comments are skipped.
public struct IDList: Sendable, Hashable {
    /// The ids to warm, in file order, each once.
    public let ids: [String]
    /// Lines that repeated an id already listed (warmed once).
    public let duplicates: Int
    /// 1-based numbers of lines that cannot be a customer id (longer than the service accepts), reported, not sent.
    public let invalidLines: [Int]

    /// Longest id the service stores (`Customer.maxStoredIdLength`); longer ones could never be found.
    static let maxIDBytes = Customer.maxStoredIdLength

    /// Parses the file's text. Surrounding spaces and tabs (and a CR of a CRLF line end) are trimmed; a line whose
    /// first non-blank character is `#` is a comment. Ids are opaque: nothing else is checked, because the company's
    /// own user ids can look like anything Digital River accepts.
    public init(parsing text: String) {
        var ids: [String] = []
        var seen = Set<String>()
        var duplicates = 0
        var invalid: [Int] = []
        var number = 0
        // "\r\n" is one Character in Swift, so a CRLF file must be split on both forms, not on "\n" alone.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let line = Self.trimmed(rawLine)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            guard line.utf8.count <= Self.maxIDBytes else {
                invalid.append(number)
                continue
            }
            if seen.insert(line).inserted {
                ids.append(line)
            } else {
                duplicates += 1
            }
        }
        self.ids = ids
        self.duplicates = duplicates
        invalidLines = invalid
    }

    private static func trimmed(_ line: Substring) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\r\n" }
        guard let first = line.firstIndex(where: { !isBlank($0) }), let last = line.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return String(line[first...last])
    }
}

/// `--since`: an ISO-8601 date-time (`2025-01-01T00:00:00Z`) or a duration back from now (`90s`, `30m`, `26h`,
/// `7d`). The relative form exists for CronJobs, whose arguments cannot compute "a day ago".
public enum SinceTime {
    /// The absolute date-time to send to Digital River, or nil when `text` is neither form.
    /// - Parameter nowMicroseconds: wall-clock time the relative form counts back from.
    public static func resolve(_ text: String, nowMicroseconds: Int64) -> String? {
        if Timestamp.microseconds(from: text) != nil { return text }
        guard let unit = text.last, let seconds: Int64 = ["s": 1, "m": 60, "h": 3_600, "d": 86_400][unit],
              text.count >= 2, text.dropLast().allSatisfy({ $0.isASCII && $0.isNumber }),
              let amount = Int64(text.dropLast()), amount > 0, amount <= 3_650 * 86_400 / seconds
        else { return nil }
        return Timestamp.string(fromMicroseconds: nowMicroseconds - amount * seconds * 1_000_000)
    }
}
