import Synchronization

/// At most one log line per `interval` for each kind of repeated failure, counting what it held back: an outage of
/// minutes at thousands of requests a second then costs a few lines a minute, each saying how many it stands for.
final class LogThrottle: Sendable {
    private struct Window {
        var lastLogged: ContinuousClock.Instant
        var suppressed: Int
    }

    private let interval: Duration
    private let windows = Mutex<[String: Window]>([:])

    init(interval: Duration) {
        self.interval = interval
    }

    /// The lines held back since the last admitted one when `kind` may log now (0 the first time); nil when it may not.
    func admit(_ kind: String) -> Int? {
        let now = ContinuousClock.now
        return windows.withLock { windows in
            guard var window = windows[kind] else {
                windows[kind] = Window(lastLogged: now, suppressed: 0)
                return 0
            }
            guard window.lastLogged + interval <= now else {
                window.suppressed += 1
                windows[kind] = window
                return nil
            }
            let suppressed = window.suppressed
            windows[kind] = Window(lastLogged: now, suppressed: 0)
            return suppressed
        }
    }

    /// Starts `kind` afresh, so the first failure of the next episode is logged at once.
    func reset(_ kind: String) {
        _ = windows.withLock { $0.removeValue(forKey: kind) }
    }
}
