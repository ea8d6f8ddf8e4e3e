import Foundation
import Logging
import ServiceLifecycle
import ServiceMetrics

/// Re-reads the secret files (`webhook-secrets-file`, `rpc-tokens-file`) every `secret-reload-interval-ms` and
/// applies a new version at once. Kubernetes updates a mounted Secret by swapping the `..data` symlink, so the file
/// is read through its path each time and compared by content: no inotify, no mtime, nothing to miss. A file that
/// becomes unreadable or invalid keeps the secrets in force, with one warning (never the contents) and a count in
/// `customer_cache_secret_reloads_total{outcome="failed"}`.
final class SecretFileWatcher: Service, Sendable {
    /// One watched file and what a new version of it does.
    struct Watched: Sendable {
        /// The metric label and log name: `webhook-secrets` or `rpc-tokens`.
        let name: String
        let path: String
        let specification: SecretSpecification
        /// Applies the new contents; throws (naming the entry, never a secret) when they are invalid.
        let apply: @Sendable (String) throws(ConfigurationError) -> Void
    }

    private let watched: [Watched]
    private let interval: Duration
    private let logger: Logger
    private let applied: [String: Counter]
    private let failed: [String: Counter]
    private let readFile: @Sendable (String) -> String?

    init(_ watched: [Watched], intervalMilliseconds: Int, metrics: MetricsRegistry, logger: Logger,
         readFile: @escaping @Sendable (String) -> String? = SecretSpecification.readFile) {
        self.watched = watched
        interval = .milliseconds(intervalMilliseconds)
        self.logger = logger
        self.readFile = readFile
        var applied: [String: Counter] = [:], failed: [String: Counter] = [:]
        for name in ["webhook-secrets", "rpc-tokens"] {
            applied[name] = metrics.counter(.secretReloads, labels: [("secret", name), ("outcome", "applied")])
            failed[name] = metrics.counter(.secretReloads, labels: [("secret", name), ("outcome", "failed")])
        }
        self.applied = applied
        self.failed = failed
    }

    /// What was last seen at one path: the contents in force, and whether the last read failed (warned once).
    private struct Seen {
        var contents: String?
        var problem: String?
    }

    func run() async throws {
        // A service that returns early would end the whole group: with nothing to watch, wait for the shutdown.
        guard !watched.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            // The contents read at start-up are in force; only a different version is applied.
            var seen = self.watched.map { file in Seen(contents: self.readFile(file.path)?.trimmingCharacters(in: file.specification.trimmed)) }
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                for index in self.watched.indices { self.poll(self.watched[index], &seen[index]) }
            }
        }
    }

    private func poll(_ file: Watched, _ seen: inout Seen) {
        guard let raw = readFile(file.path) else {
            report(file, &seen, problem: Self.unreadable)
            return
        }
        let contents = raw.trimmingCharacters(in: file.specification.trimmed)
        guard contents != seen.contents else {
            if seen.problem == Self.unreadable {
                seen.problem = nil
                logger.notice("secret file readable again, unchanged", metadata: ["secret": "\(file.name)", "path": "\(file.path)"])
            }
            return
        }
        do throws(ConfigurationError) {
            // An empty version is a truncated write or a mistake, never a wish to drop every secret (or, for the
            // tokens, to turn authentication off): refused like an invalid one.
            guard !contents.isEmpty else { throw ConfigurationError(key: file.specification.fileKey, reason: "the file is empty") }
            try file.apply(contents)
            seen = Seen(contents: contents, problem: nil)
            applied[file.name]?.increment()
            logger.notice("secret file reloaded: the new version is in force, the previous one until its grace period ends",
                          metadata: ["secret": "\(file.name)", "path": "\(file.path)"])
        } catch {
            // Remembered, so an invalid version is reported once, not every interval; a fixed one is a new version.
            seen.contents = contents
            report(file, &seen, problem: "the new version is invalid (\(error.description)); the current secrets stay in force")
        }
    }

    private static let unreadable = "cannot read the file; the current secrets stay in force"

    private func report(_ file: Watched, _ seen: inout Seen, problem: String) {
        guard seen.problem != problem else { return }
        seen.problem = problem
        failed[file.name]?.increment()
        logger.warning("secret file not reloaded", metadata: ["secret": "\(file.name)", "path": "\(file.path)", "problem": "\(problem)"])
    }
}
