import Foundation
import Logging

/// A log handler that keeps every line, for asserting what must never be logged (no PII, no secrets).
public final class LogCapture: LogHandler, @unchecked Sendable {
    public init() {}
    // @unchecked: `lines` is guarded by `lock`; the remaining fields are set once before use.
    private let lock = NSLock()
    private var lines: [String] = []
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let text = "\(event.level) \(event.message) \(merged.map { "\($0)=\($1)" }.sorted().joined(separator: " "))"
        lock.lock()
        lines.append(text)
        lock.unlock()
    }

    public var text: String {
        lock.lock()
        defer { lock.unlock() }
        return lines.joined(separator: "\n")
    }
}
