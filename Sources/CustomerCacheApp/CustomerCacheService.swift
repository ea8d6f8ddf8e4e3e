import Customers
import DigitalRiverAPI
import DigitalRiverSandbox
import Foundation
import JSON
import JSONRPC
import HTTP1
import Logging
import PostgreSQL
import ServiceMetrics
import Sockets
import Synchronization
import WebhookSignature

/// The running service: the public webhook listener and the internal RPC listener, wired to one store.
public final class CustomerCacheService: Sendable {
    public let configuration: AppConfiguration
    public let readiness: Readiness
    public let metrics: MetricsRegistry
    private let logger: Logger
    private let webhookServer: HTTPServer
    private let rpcServer: HTTPServer
    let storeHolder = StoreHolder()
    private let clock: @Sendable () -> Int64
    private let forgetDelivery: ForgetDelivery
    private let cluster: ClusterCoordinator?
    private let backgroundTasks = Mutex<[Task<Void, Never>]>([])
    /// The Digital River client, nil while the upstream is disabled.
    let upstream = UpstreamHolder()
    /// The in-process emulator of `--sandbox`, and the secret it signs webhooks with.
    private let sandbox = Mutex<DigitalRiverSandbox?>(nil)
    private let sandboxSecret: String?
    /// Runs the RPC async path (misses, writes): our own bounded threads, so nothing that blocks Swift's global
    /// pool elsewhere in the process can stall RPC answers.
    private let rpcExecutor: HandlerExecutor

    /// `clock` is wall time in microseconds (tests move it); signatures use the same clock in seconds.
    public init(configuration: AppConfiguration, logger: Logger,
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000_000) }) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        let readiness = Readiness()
        self.readiness = readiness
        let metrics = MetricsRegistry()
        self.metrics = metrics
        let storeHolder = self.storeHolder
        readiness.register("store") { (listener: Readiness.Listener) in storeHolder.readiness(for: listener) }

        // --sandbox without configured secrets: the emulator signs with a secret made up for this process.
        var secrets = configuration.webhookSecrets
        if configuration.sandbox {
            let generated = configuration.webhookSecrets.first?.secretForSigning ?? Self.randomToken(prefix: "sandbox_whsec_")
            if configuration.webhookSecrets.isEmpty { secrets = [SigningSecret(generated)] }
            sandboxSecret = generated
        } else {
            sandboxSecret = nil
        }
        let verifier = WebhookSignatureVerifier(secrets: secrets, tolerance: configuration.signatureToleranceSeconds,
                                                now: { clock() / 1_000_000 })
        let webhook = WebhookEndpoint(store: storeHolder, verifier: verifier, liveMode: configuration.liveMode,
                                      clients: ClientAddressResolver(trustedProxies: configuration.trustedProxies,
                                                                     header: configuration.clientAddressHeader),
                                      allowedSources: configuration.webhookAllowedSources, metrics: metrics, logger: logger)
        var webhookRouter = HTTPRouter()
        Self.addHealthRoutes(to: &webhookRouter, readiness: readiness, listener: .webhook)
        webhookRouter.add("POST", configuration.webhookPath, .deferred { request, sink in webhook.handle(request, sink) })

        if !configuration.sandbox, let client = Self.makeUpstream(configuration, logger: logger) { upstream.set(client) }
        let upstream = self.upstream
        let rpcExecutor = HandlerExecutor(threadCount: 2 * configuration.eventLoops, name: "rpc-work")
        self.rpcExecutor = rpcExecutor
        // PostgreSQL: replicas agree on creates, forget deliveries and checkpoints through the shared database.
        let cluster = Self.database(configuration).map { ClusterCoordinator(database: $0) }
        self.cluster = cluster
        let forgetDelivery = ForgetDelivery(store: storeHolder, upstream: upstream, intervalSeconds: configuration.forgetRetrySeconds, cluster: cluster,
                                            metrics: metrics, logger: logger, clock: clock)
        self.forgetDelivery = forgetDelivery
        let methods = CustomerMethods(store: storeHolder, upstream: upstream, negativeCacheSeconds: configuration.negativeCacheSeconds,
                                      metrics: metrics, logger: logger, clock: clock, executor: rpcExecutor, forgetDelivery: forgetDelivery,
                                      cluster: cluster)
        var table = JSONRPCMethodTable()
        let tokens = configuration.callerTokens
        let discovery = JSONRPCResult(encoded: Array(OpenRPCDocument.json.utf8))
        // rpc.discover takes no parameters; like every method it refuses unknown ones (openrpc.json's rule).
        table.register("rpc.discover", immediate: { call in
            do throws(JSONRPCError) {
                try call.rejectUnknownParameters(allowed: [] as [StaticString])
            } catch { return .error(error) }
            return .result(discovery)
        }) { call throws(JSONRPCError) in
            try call.rejectUnknownParameters(allowed: [] as [StaticString])
            return discovery
        }
        methods.register(into: &table) { call in
            guard !tokens.isEmpty, let name = call.context.caller, let caller = tokens.caller(named: name) else { return nil }
            return caller.may(call: call.method) ? nil : RPCErrorCode.unauthorized.error([("method", .string(call.method))])
        }
        let rpcEngine = JSONRPCServer(methods: table, limits: JSONRPCLimits(maxBodyBytes: configuration.limits.maxBodyBytes,
                                                                             maxBatchLength: configuration.rpcMaxBatch,
                                                                             maxDepth: configuration.rpcMaxDepth,
                                                                             maxStringBytes: configuration.rpcMaxStringBytes))
        let rpc = RPCEndpoint(server: rpcEngine, tokens: tokens, executor: rpcExecutor)
        readiness.register("forget_queue") { forgetDelivery.readiness() }
        readiness.register("upstream") {
            .init(ready: true, detail: upstream.current == nil ? "disabled: cache-only (no API key, no --sandbox)"
                                                               : configuration.sandbox ? "sandbox emulator (not Digital River)" : "configured")
        }
        readiness.register("purge") { storeHolder.purgeReadiness() }
        metrics.gauge("customer_cache_store_purges_pending", help: "Purged customers whose old bytes may still be in the WAL (checkpoint+truncate failed; retried).") {
            storeHolder.current?.health.pendingPurgeCount ?? 0
        }
        // With PostgreSQL both count the queue every replica shares.
        metrics.gauge("customer_cache_forget_queue", help: "Requests to be forgotten not yet delivered to Digital River.") {
            forgetDelivery.queueState().waiting
        }
        metrics.gauge("customer_cache_forget_parked", help: "Queued forgets Digital River refused for good (4xx), retried rarely.") {
            forgetDelivery.queueState().parkedByReason.values.reduce(0, +)
        }

        var rpcRouter = HTTPRouter()
        Self.addHealthRoutes(to: &rpcRouter, readiness: readiness, listener: .rpc)
        rpcRouter.add("POST", "/rpc", .deferred { request, sink in rpc.handle(request, sink) })
        rpcRouter.add("GET", "/metrics", .inline { _ in
            HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4")]),
                         body: Array(metrics.render().utf8))
        })

        webhookServer = HTTPServer(configuration: configuration.httpConfiguration(address: configuration.webhookListen, name: "webhook"),
                                   router: webhookRouter, logger: logger)
        self.rpcServer = HTTPServer(configuration: configuration.httpConfiguration(address: configuration.rpcListen, name: "rpc"),
                                    router: rpcRouter, logger: logger)
        for (name, server) in [("webhook", webhookServer), ("rpc", self.rpcServer)] {
            metrics.gauge("customer_cache_http_open_connections", help: "Open TCP connections per listener.", labels: [("listener", name)]) {
                server.openConnections
            }
            Self.registerConnectionProtectionMetrics(of: server, named: name, in: metrics)
        }
        for state in [CustomerRecord.State.live, .deleted, .forgotten] {
            metrics.gauge("customer_cache_customers", help: "Records held in memory by state.", labels: [("state", "\(state)")]) {
                storeHolder.current?.countsByState()[state] ?? 0
            }
        }
        // PostgreSQL only (0 with SQLite): how far this replica's memory is behind what any replica committed.
        metrics.gauge("customer_cache_store_changes_behind", help: "Committed changes not yet applied to this replica's memory.") {
            Int(storeHolder.current?.replication?.changesBehind ?? 0)
        }
        metrics.gauge("customer_cache_store_replication_lag_milliseconds", help: "Commit-to-memory delay of the last change applied from the shared store.") {
            Int(storeHolder.current?.replication?.lastPropagationMilliseconds ?? 0)
        }
        metrics.gauge("customer_cache_store_reachable", help: "0 while the writer finds the shared store unreachable (PostgreSQL down or restarting; 1 with SQLite).") {
            storeHolder.current?.health.unreachable == true ? 0 : 1
        }
        metrics.gauge("customer_cache_store_follower_connected", help: "1 while the change follower is connected to the shared store (1 with SQLite).") {
            storeHolder.current?.replication?.connected == false ? 0 : 1
        }
        let secretCount = secrets.count
        metrics.gauge("customer_cache_webhook_secrets_configured", help: "Signing secrets configured (0 means every webhook is rejected).") {
            secretCount
        }
    }

    /// What a listener did to protect itself from clients that exhaust descriptors, connections or memory.
    private static func registerConnectionProtectionMetrics(of server: HTTPServer, named name: String, in metrics: MetricsRegistry) {
        for reason in HTTPServer.AcceptErrorReason.allCases {
            metrics.counter("customer_cache_http_accept_errors_total", help: "Failed accepts (emfile, enfile: out of descriptors).",
                            labels: [("listener", name), ("reason", reason.rawValue)]) { server.acceptErrors(reason) }
        }
        metrics.counter("customer_cache_http_idle_connections_closed_total",
                        help: "Idle connections closed to admit a new one at max-connections or when descriptors ran out.",
                        labels: [("listener", name)]) { server.idleConnectionsClosed }
        metrics.counter("customer_cache_http_connections_refused_total", help: "Connections answered 503 because none could be admitted.",
                        labels: [("listener", name)]) { server.connectionsRefused }
        metrics.counter("customer_cache_http_reads_paused_for_output_total",
                        help: "Times a connection stopped being read because its unsent output passed max-output-buffer-bytes.",
                        labels: [("listener", name)]) { server.readsPausedForOutput }
        metrics.gauge("customer_cache_http_peak_output_buffer_bytes", help: "Most unsent response bytes one connection has held since start.",
                      labels: [("listener", name)]) { server.peakOutputBufferBytes }
    }

    /// Binds both listeners, then opens and loads the store (readiness fails until it is open).
    /// Returns the real addresses (ports resolved when 0 was asked for).
    @discardableResult
    public func start() throws -> (webhook: SocketAddress, rpc: SocketAddress) {
        if configuration.webhookSecrets.isEmpty, !configuration.sandbox {
            logger.warning("no webhook signing secrets configured: every webhook will be rejected with 401",
                           metadata: ["hint": "set \(AppConfiguration.webhookSecretsEnvironmentName) or webhook-secrets-file"])
        }
        let webhook = try webhookServer.start()
        let rpc: SocketAddress
        do {
            rpc = try rpcServer.start()
        } catch {
            webhookServer.shutdown()
            webhookServer.waitUntilStopped()
            throw error
        }
        do {
            try openStore()
        } catch {
            shutdown()
            waitUntilStopped()
            throw error
        }
        if configuration.sandbox {
            do {
                try startSandbox(webhook: webhook)
            } catch {
                shutdown()
                waitUntilStopped()
                throw error
            }
        }
        let forgetDelivery = self.forgetDelivery
        backgroundTasks.withLock { $0.append(Task(executorPreference: rpcExecutor) { await forgetDelivery.run() }) }
        return (webhook, rpc)
    }

    /// `--sandbox`: an in-process Digital River emulator on a loopback port, delivering signed webhooks to our own
    /// webhook listener, becomes the upstream. Logged loudly; never the default.
    private func startSandbox(webhook: SocketAddress) throws {
        let apiKey = Self.randomToken(prefix: "sandbox_sk_")
        var sandboxConfiguration = SandboxConfiguration(listen: try SocketAddress(host: "127.0.0.1", port: 0))
        sandboxConfiguration.apiKey = apiKey
        let host = webhook.host == "0.0.0.0" ? "127.0.0.1" : webhook.host == "::" ? "::1" : webhook.host
        let hostPart = host.contains(":") ? "[\(host)]" : host
        sandboxConfiguration.webhookURL = "http://\(hostPart):\(webhook.port)\(configuration.webhookPath)"
        sandboxConfiguration.webhookSecret = sandboxSecret
        sandboxConfiguration.seed = configuration.sandboxSeed
        sandboxConfiguration.liveMode = configuration.liveMode
        let emulator = DigitalRiverSandbox(configuration: sandboxConfiguration, logger: logger)
        try emulator.start()
        sandbox.withLock { $0 = emulator }
        var sandboxed = configuration
        sandboxed.upstreamURL = emulator.baseURL
        sandboxed.upstreamAPIKey = apiKey
        if let client = Self.makeUpstream(sandboxed, logger: logger) { upstream.set(client) }
        logger.warning("SANDBOX MODE: the upstream is an in-process Digital River emulator, not Digital River",
                       metadata: ["sandbox_url": "\(emulator.baseURL)", "seeded_customers": "\(configuration.sandboxSeed)"])
    }

    static func randomToken(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + (0..<24).map { _ in String(UInt8.random(in: 0...15, using: &generator), radix: 16) }.joined()
    }

    /// Every PostgreSQL session of this replica (writer, follower, readers, coordination) gets the same dead-connection
    /// timeouts: a coordination session that missed them would hold a create lock on a vanished connection for minutes.
    private static func database(_ configuration: AppConfiguration) -> PostgresConfiguration? {
        guard let url = configuration.databaseURL else { return nil }
        var database = PostgresConfiguration(connectionString: url, password: configuration.databasePassword)
        database.deadConnectionTimeoutMilliseconds = configuration.databaseTimeoutMilliseconds
        database.connectTimeoutSeconds = max(2, configuration.databaseTimeoutMilliseconds / 1000)
        return database
    }

    private func openStore() throws {
        let started = Date()
        var storeConfiguration = StoreConfiguration(path: configuration.dataDirectory + "/customers.sqlite")
        if let url = configuration.databaseURL, let database = Self.database(configuration) {
            storeConfiguration.database = database
            storeConfiguration.reconnectMaxSeconds = Double(configuration.databaseReconnectMaxMilliseconds) / 1000
            logger.info("store is PostgreSQL, shared by replicas", metadata: ["database": "\(PostgresConfiguration.redact(url))"])
        } else {
            do {
                try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
            } catch {
                storeHolder.fail("cannot create data directory")
                throw StoreError(.openFailed, "cannot create data directory \(configuration.dataDirectory)")
            }
        }
        storeConfiguration.dedupRetentionSeconds = configuration.dedupRetentionSeconds
        storeConfiguration.maxCachedCustomers = configuration.maxCachedCustomers
        let commitLatency = metrics.histogram("customer_cache_store_commit_seconds", help: "Duration of one grouped store transaction.")
        let commitSize = metrics.counter("customer_cache_store_committed_operations_total", help: "Operations committed to the store.")
        let healthLog = StoreHealthLog(metrics: metrics, logger: logger)
        let open: @Sendable () throws(StoreError) -> CustomerStore = { [clock, storeConfiguration] () throws(StoreError) in
            try CustomerStore(configuration: storeConfiguration, clock: clock, onCommit: { seconds, operations in
                commitLatency.observe(seconds: seconds)
                commitSize.increment(by: operations)
            }, onHealthEvent: { healthLog.record($0) })
        }
        let logger = self.logger
        let opened: @Sendable (CustomerStore) -> Void = { store in
            logger.info("store open", metadata: ["customers": "\(store.count)", "milliseconds": "\(Int(Date().timeIntervalSince(started) * 1000))"])
        }
        do {
            let store = try open()
            storeHolder.set(store)
            opened(store)
        } catch where error.code == .unreachable {
            storeHolder.keepOpening(firstError: error, retryMaxSeconds: storeConfiguration.reconnectMaxSeconds, logger: logger, open: open, opened: opened)
        } catch {
            storeHolder.fail(error.code.rawValue)
            logger.critical("store failed to open", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Graceful: both listeners stop accepting and drain in-flight requests within the grace period.
    public func shutdown() {
        logger.info("shutdown requested")
        storeHolder.stopOpening()
        backgroundTasks.withLock { tasks in tasks.forEach { $0.cancel() } }
        webhookServer.shutdown()
        rpcServer.shutdown()
        sandbox.withLock { $0 }?.shutdown()
    }

    /// Blocks until both listeners have drained, then closes the store (last, so in-flight writes commit).
    public func waitUntilStopped() {
        webhookServer.waitUntilStopped()
        rpcServer.waitUntilStopped()
        sandbox.withLock { $0 }?.waitUntilStopped()
        rpcExecutor.shutdown()
        storeHolder.current?.close()
        cluster?.close()
        logger.info("stopped")
    }

    /// The Digital River client, or nil (cache-only) without an API key; says which, loudly.
    static func makeUpstream(_ configuration: AppConfiguration, logger: Logger) -> DigitalRiverClient? {
        guard let raw = configuration.upstreamAPIKey, let key = DigitalRiverAPIKey(raw) else {
            logger.warning("upstream disabled: no Digital River API key (DR_API_KEY or api-key-file) and no --sandbox; serving from the cache only")
            return nil
        }
        var clientConfiguration = DigitalRiverClientConfiguration(apiKey: key)
        clientConfiguration.baseURL = configuration.upstreamURL
        clientConfiguration.requestTimeoutSeconds = configuration.upstreamRequestTimeoutSeconds
        clientConfiguration.maxConcurrentRequests = configuration.upstreamMaxConcurrency
        clientConfiguration.updatedTimeFilterStyle = UpdatedTimeFilterStyle(rawValue: configuration.upstreamUpdatedFilterStyle) ?? .bracketed
        logger.info("upstream configured", metadata: ["url": "\(configuration.upstreamURL)"])
        return DigitalRiverClient(configuration: clientConfiguration,
                                  transport: URLSessionTransport(maxConnectionsPerHost: configuration.upstreamMaxConcurrency), logger: logger)
    }

    static func addHealthRoutes(to router: inout HTTPRouter, readiness: Readiness, listener: Readiness.Listener) {
        let alive = Array(#"{"status":"ok"}"#.utf8)
        router.add("GET", "/healthz", .inline { _ in .json(.ok, alive) })
        router.add("GET", "/readyz", .inline { _ in
            let (ready, checks) = readiness.evaluate(for: listener)
            var body = Array(#"{"status":"#.utf8)
            body.append(contentsOf: (ready ? #""ready""# : #""not_ready""#).utf8)
            body.append(contentsOf: #","checks":{"#.utf8)
            for (index, check) in checks.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                JSONValue.appendEscaped(check.name, to: &body)
                body.append(contentsOf: #":{"ready":"#.utf8)
                body.append(contentsOf: (check.status.ready ? "true" : "false").utf8)
                body.append(contentsOf: #","detail":"#.utf8)
                JSONValue.appendEscaped(check.status.detail, to: &body)
                body.append(UInt8(ascii: "}"))
            }
            body.append(contentsOf: "}}".utf8)
            return .json(ready ? .ok : .serviceUnavailable, body)
        })
    }
}
