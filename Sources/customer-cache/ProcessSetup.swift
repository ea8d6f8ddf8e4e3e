import Foundation
import Logging

/// What every long-running subcommand does to its process once: logging to stderr at one level, and
/// SIGTERM/SIGINT delivered to a handler on a dispatch queue instead of killing the process.
enum ProcessSetup {
    /// Installs the process-wide log handler; called once per process, before any logger is made.
    static func bootstrapLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Ignores SIGPIPE (peers that close early become EPIPE) and routes SIGTERM/SIGINT to `handler`, which gets
    /// the signal number. Keep the returned sources alive while the handler should run; cancel them after.
    static func onTerminationSignals(queueLabel: String, _ handler: @escaping @Sendable (Int32) -> Void) -> [any DispatchSourceSignal] {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let queue = DispatchQueue(label: queueLabel)
        return [SIGTERM, SIGINT].map { number -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }
}
