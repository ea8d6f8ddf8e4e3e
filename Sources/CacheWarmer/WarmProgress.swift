import Foundation
import Logging
import Synchronization
import Timekeeping

/// Shows how a run is going while it runs: on a terminal, one line redrawn in place with `\r`; elsewhere (a
/// Kubernetes Job's log), a plain log line every few seconds, since a log collector would store every redraw.
///
/// Lines carry counts, rates and times only, never a customer's data.
public final class WarmProgress: Sendable {
    /// Where progress goes.
    public enum Mode: Sendable, Hashable {
        /// Redraw one line on standard output (which is a TTY).
        case terminal
        /// A log line (notice level) every `intervalSeconds`.
        case log(intervalSeconds: Double)
        /// Nothing until the summary.
        case off
    }

    public let mode: Mode
    private let statistics: WarmStatistics
    private let logger: Logger
    private let started: Double
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    /// The mode for this process: `.terminal` when standard output is a TTY, else a log line every 5 s.
    public static var automaticMode: Mode {
        isatty(STDOUT_FILENO) == 1 ? .terminal : .log(intervalSeconds: 5)
    }

    public init(mode: Mode, statistics: WarmStatistics, logger: Logger) {
        self.mode = mode
        self.statistics = statistics
        self.logger = logger
        started = SystemClock.monotonicSeconds()
    }

    /// Starts reporting in the background.
    public func start() {
        let interval: Double
        switch mode {
        case .terminal: interval = 0.25
        case .log(let seconds): interval = max(0.1, seconds)
        case .off: return
        }
        let reporter = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
                if Task.isCancelled { break }
                emit()
            }
        }
        task.withLock { $0 = reporter }
    }

    /// Stops reporting and, on a terminal, clears the line so the summary starts on a clean one.
    public func stop() {
        task.withLock { current in
            current?.cancel()
            current = nil
        }
        if mode == .terminal { Self.write("\r\u{1B}[K") }
    }

    private func emit() {
        let counts = statistics.snapshot
        let elapsed = SystemClock.monotonicSeconds() - started
        let line = Self.line(counts, elapsed: elapsed)
        switch mode {
        case .terminal:
            Self.write("\r\u{1B}[K" + line)
        case .log:
            logger.notice("warm-up progress", metadata: [
                "customers": "\(counts.processed)", "pages": "\(counts.pages)", "errors": "\(counts.errors)",
                "customers_per_second": "\(Int(rate(counts, elapsed).rounded()))",
                "elapsed_seconds": "\(Int(elapsed))",
            ])
        case .off:
            break
        }
    }

    private func rate(_ counts: WarmCounts, _ elapsed: Double) -> Double {
        elapsed > 0 ? Double(counts.processed) / elapsed : 0
    }

    /// `12,300 customers · 123 pages · 4,100/s · 0:03 · errors 0 · ETA 0:05` (ETA only with a known total).
    static func line(_ counts: WarmCounts, elapsed: Double) -> String {
        let rate = elapsed > 0 ? Double(counts.processed) / elapsed : 0
        var parts = ["warm: \(grouped(counts.processed))" + (counts.total.map { " of \(grouped($0))" } ?? "") + " customers",
                     "\(grouped(counts.pages)) \(counts.total == nil ? "pages" : "batches")",
                     "\(grouped(Int(rate.rounded())))/s", clock(elapsed), "errors \(counts.errors)"]
        if let total = counts.total, rate > 0 {
            parts.append("ETA " + clock(Double(max(0, total - counts.processed)) / rate))
        }
        return parts.joined(separator: " · ")
    }

    static func clock(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.down))
        let (hours, minutes, secs) = (whole / 3600, whole / 60 % 60, whole % 60)
        let two = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(two(minutes)):\(two(secs))" : "\(minutes):\(two(secs))"
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// write(2) on standard output, errors ignored: a progress line is not worth dying for, and Foundation's
    /// `FileHandle.write` traps when the reader has gone away (EPIPE, e.g. `warm | head`).
    private static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                Foundation.write(STDOUT_FILENO, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            if written > 0 {
                offset += written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
