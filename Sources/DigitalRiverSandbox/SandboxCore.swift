import JSON
import Logging
import Synchronization
import Timekeeping

/// The sandbox's state and behaviour, shared by the HTTP routes and the public facade. Kept apart from
/// `DigitalRiverSandbox` so the routes (owned by the server) never hold the object that owns the server.
final class SandboxCore: Sendable {
    let configuration: SandboxConfiguration
    let logger: Logger
    let directory: Mutex<CustomerDirectory>
    let failures: Mutex<SandboxFailures>
    let counts = Mutex<[String: Int]>([:])
    let bucket: Mutex<TokenBucket?>
    /// Set at init when the configuration names a webhook URL, or later by `deliverWebhooks(to:)`.
    private let dispatcherSlot: Mutex<WebhookDispatcher?>
    var dispatcher: WebhookDispatcher? { dispatcherSlot.withLock { $0 } }

    init(configuration: SandboxConfiguration, webhook: WebhookDispatcher.Settings?, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        failures = Mutex(configuration.failures)
        // Digital River's per-key limit (reference §2: 25/s test, 250/s live): a burst of `rate`, refilled at `rate`/s.
        bucket = Mutex(configuration.rateLimitPerSecond.map { TokenBucket(rate: Double($0), capacity: Double($0), now: SystemClock.monotonicSeconds()) })
        dispatcherSlot = Mutex(webhook.map { WebhookDispatcher(settings: $0, logger: logger) })

        var directory = CustomerDirectory(liveMode: configuration.liveMode)
        if configuration.seed > 0 {
            let started = SandboxClock.wallMicroseconds()
            let reference = configuration.seedReferenceTime ?? SyntheticCustomers.startOfDay(started)
            directory.insertSeeded(SyntheticCustomers.generate(count: configuration.seed, seedRandom: configuration.seedRandom,
                                                               referenceTime: reference, liveMode: configuration.liveMode))
            logger.info("seeded synthetic customers", metadata: [
                "customers": "\(directory.count)", "seed_random": "\(configuration.seedRandom)",
                "ms": "\((SandboxClock.wallMicroseconds() - started) / 1000)",
            ])
        }
        self.directory = Mutex(directory)
    }

    /// Starts webhook delivery to `settings.url`; false (nothing changes) when a target is already set.
    func deliverWebhooks(_ settings: WebhookDispatcher.Settings) -> Bool {
        dispatcherSlot.withLock { slot in
            guard slot == nil else { return false }
            slot = WebhookDispatcher(settings: settings, logger: logger)
            return true
        }
    }

    // MARK: Mutations (API and code alike)

    func create(_ body: JSONObject, apiVersion: APIVersion = .current) throws(SandboxError) -> JSONObject {
        try mutate { directory throws(SandboxError) in
            let change = try directory.create(body, apiVersion: apiVersion)
            return (change.object, change)
        }
    }

    func update(id: String, _ body: JSONObject, apiVersion: APIVersion = .current) throws(SandboxError) -> JSONObject {
        try mutate { directory throws(SandboxError) in try directory.update(id: id, body, apiVersion: apiVersion) }
    }

    func delete(id: String) throws(SandboxError) {
        _ = try mutate { directory throws(SandboxError) in (JSONObject(), try directory.delete(id: id)) }
    }

    /// Applies `change` and queues its event inside one critical section, so events leave in the order the
    /// changes happened. `change` returns the customer after the call and the change (nil when nothing changed,
    /// which emits nothing); `mutate` returns that customer.
    private func mutate(
        _ change: (inout CustomerDirectory) throws(SandboxError) -> (customer: JSONObject, change: CustomerChange?)
    ) throws(SandboxError) -> JSONObject {
        let liveMode = configuration.liveMode
        let dispatcher = dispatcher
        let outcome = directory.withLock { directory -> Result<(JSONObject, CustomerChange?, String?), SandboxError> in
            do throws(SandboxError) {
                let (customer, done) = try change(&directory)
                guard let done else { return .success((customer, nil, nil)) }
                let event = SandboxEvent(type: done.type, object: done.object, previousAttributes: done.previousAttributes,
                                         liveMode: liveMode, createdTime: directory.clock.next())
                dispatcher?.enqueue(event)
                return .success((customer, done, event.id))
            } catch {
                return .failure(error)
            }
        }
        let (customer, done, eventID) = try outcome.get()
        if let done, let eventID {
            let id = done.object["id"]?.stringValue ?? done.previousAttributes["id"]?.stringValue ?? ""
            logger.debug("customer changed", metadata: ["event_type": "\(done.type)", "customer_id": "\(id)", "event_id": "\(eventID)"])
        }
        return customer
    }

    // MARK: Failure injection

    /// True with probability `rate` (always for ≥ 1, never for ≤ 0).
    static func roll(_ rate: Double) -> Bool {
        if rate >= 1 { return true }
        if rate <= 0 { return false }
        return Double.random(in: 0..<1) < rate
    }
}
