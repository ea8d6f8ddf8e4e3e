import ArgumentParser
import CustomerCacheApp
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// What every long-running subcommand does to its process once: logging to stderr at one level, and
/// SIGTERM/SIGINT delivered as a sequence (swift-service-lifecycle's UnixSignals) instead of killing the process.
enum ProcessSetup {
    /// Installs the process-wide log handler; called once per process, before any logger is made.
    static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// SIGTERM and SIGINT from now on, as a sequence (their default action, exit, is off while it lives); SIGPIPE
    /// is ignored (peers that close early become EPIPE). Take it before binding, so no signal is lost at start-up.
    static func terminationSignals() async -> UnixSignalsSequence {
        signal(SIGPIPE, SIG_IGN)
        return await UnixSignalsSequence(trapping: .sigterm, .sigint)
    }

    /// Refuses a `CUSTOMER_CACHE_*` variable that names no setting, as the command's usage error (exit 64), so every
    /// command applies serve's rule the same way: a misspelt variable must never be silently ignored.
    static func refuseUnknownVariables(in environment: [String: String]) throws {
        do {
            try ConfigurationSources.checkEnvironmentNames(environment.keys)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// A secret for a command from its file or its variable (`SecretSpecification.read`: both is an error), as
    /// the command's usage error; an empty file is an error too, since it can only be a mistake.
    static func secret(_ specification: SecretSpecification, path: String?, environment: [String: String]) throws -> String? {
        let secret: (text: String, origin: SecretSpecification.Origin)?
        do {
            secret = try specification.read(path: path, environment: environment)
        } catch {
            throw ValidationError(error.description)
        }
        if let secret, secret.text.isEmpty, case .file(let path) = secret.origin {
            throw ValidationError("--\(specification.fileKey): \(path) is empty")
        }
        return secret?.text
    }

    /// Runs `group` until it has stopped; each of `signals` asks it to shut down gracefully (logged as `message`).
    static func run(_ group: ServiceGroup, stoppingOn signals: UnixSignalsSequence, logger: Logger, _ message: Logger.Message) async throws {
        let stopOnSignal = Task {
            for await signal in signals {
                logger.info(message, metadata: ["signal": "\(signal)"])
                await group.triggerGracefulShutdown()
            }
        }
        defer { stopOnSignal.cancel() }
        try await group.run()
    }
}
