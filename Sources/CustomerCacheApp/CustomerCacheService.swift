import Customers
import DigitalRiverAPI
import Foundation
import JSON
import JSONRPC
import HTTP1
import Logging
import PostgreSQL
import ServiceLifecycle
import ServiceMetrics
import Sockets
import Synchronization
import Timekeeping
import WebhookSignature

/// The service: the public webhook listener and the internal RPC listener, wired to one store. `start()` binds and
/// opens; `services` then run in one `ServiceGroup`, which stops them in reverse order on SIGTERM/SIGINT.
public final class CustomerCacheService: Sendable {
    public let configuration: AppConfiguration
    public let readiness: Readiness
    public let metrics: MetricsRegistry
    private let logger: Logger
    private let webhookServer: HTTPServer
    private let rpcServer: HTTPServer
    /// Both listeners, which stop accepting together.
    private let listeners: ListenerGroup
    let storeHolder = StoreHolder()
    private let clock: @Sendable () -> Int64
    private let forgetDelivery: ForgetDelivery
    private let cluster: ClusterCoordinator?
    /// The Digital River client, nil while the upstream is disabled; known from the start (`--sandbox` included:
    /// the executable starts the emulator first and passes its URL and key in the configuration).
    let upstream: DigitalRiverClient?
    /// Runs the RPC async path (misses, writes): our own bounded threads, so nothing that blocks Swift's global
    /// pool elsewhere in the process can stall RPC answers.
    private let rpcExecutor: HandlerExecutor
    /// The JSON-RPC methods as registered, in order: the one list `rpc.discover`'s document is checked against.
    let rpcMethodNames: [String]
    /// Applies new versions of the secret files the signing secrets and caller tokens came from.
    private let secretWatcher: SecretFileWatcher

    /// `clock` is wall time in microseconds (tests move it); signatures use the same clock in seconds. `upstream`
    /// replaces the Digital River client the configuration describes (tests script Digital River with it).
    public init(configuration: AppConfiguration, logger: Logger,
                clock: @escaping @Sendable () -> Int64 = SystemClock.wallMicroseconds,
                upstream: DigitalRiverClient? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        let readiness = Readiness()
        self.readiness = readiness
        let metrics = MetricsRegistry()
        self.metrics = metrics
        let storeHolder = self.storeHolder
        readiness.register("store") { (listener: Readiness.Listener) in storeHolder.readiness(for: listener) }

        let verifier = WebhookSecrets(secrets: configuration.webhookSecrets, tolerance: configuration.signatureToleranceSeconds,
                                      reloadable: configuration.webhookSecretsFile != nil, now: { clock() / 1_000_000 })
        let webhook = WebhookEndpoint(store: storeHolder, verifier: verifier, liveMode: configuration.liveMode,
                                      clients: ClientAddressResolver(trustedProxies: configuration.trustedProxies,
                                                                     header: configuration.clientAddressHeader),
                                      allowedSources: configuration.webhookAllowedSources, metrics: metrics, logger: logger)
        var webhookRouter = HTTPRouter()
        Self.addHealthRoutes(to: &webhookRouter, readiness: readiness, listener: .webhook)
        webhookRouter.add(.post, configuration.webhookPath, .deferred { request, sink in webhook.handle(request, sink) })

        let upstream = upstream ?? Self.makeUpstream(configuration, logger: logger)
        self.upstream = upstream
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
        // Grace periods run on the service clock, as signature timestamps do.
        let tokens = configuration.rpcTokensFile == nil ? configuration.callerTokens
                                                        : configuration.callerTokens.reloadable(now: { clock() / 1_000_000 })
        let discovery = JSONRPCResult(encoded: Array(OpenRPCDocument.json.utf8))
        // rpc.discover takes no parameters; like every method it refuses unknown ones (openrpc.json's rule). Any
        // authenticated caller may read the document, whatever methods its token grants.
        table.register("rpc.discover", access: .everyCaller, immediate: { call in
            do throws(JSONRPCError) {
                try call.rejectUnknownParameters(allowed: [] as [StaticString])
            } catch { return .error(error) }
            return .result(discovery)
        }) { call throws(JSONRPCError) in
            try call.rejectUnknownParameters(allowed: [] as [StaticString])
            return discovery
        }
        methods.register(into: &table)
        rpcMethodNames = table.methodNames
        let rpcEngine = JSONRPCServer(methods: table, limits: JSONRPCLimits(maxBodyBytes: configuration.limits.maxBodyBytes,
                                                                             maxBatchLength: configuration.rpcMaxBatch,
                                                                             maxDepth: configuration.rpcMaxDepth,
                                                                             maxStringBytes: configuration.rpcMaxStringBytes),
                                      denied: RPCEndpoint.denied)
        let rpc = RPCEndpoint(server: rpcEngine, tokens: tokens, executor: rpcExecutor)
        readiness.register("forget_queue") { forgetDelivery.readiness() }
        readiness.register("upstream") {
            .init(ready: true, detail: upstream == nil ? "disabled: cache-only (no API key, no --sandbox)"
                                                               : configuration.sandbox ? "sandbox emulator (not Digital River)" : "configured")
        }
        readiness.register("purge") { storeHolder.purgeReadiness() }
        metrics.gauge(.storePurgesPending) {
            storeHolder.current?.health.pendingPurgeCount ?? 0
        }
        // With PostgreSQL both count the queue every replica shares.
        metrics.gauge(.forgetQueue) {
            forgetDelivery.queueState().waiting
        }
        metrics.gauge(.forgetParked) {
            forgetDelivery.queueState().parkedByReason.values.reduce(0, +)
        }

        var rpcRouter = HTTPRouter()
        Self.addHealthRoutes(to: &rpcRouter, readiness: readiness, listener: .rpc)
        rpcRouter.add(.post, "/rpc", .deferred { request, sink in rpc.handle(request, sink) })
        rpcRouter.add(.get, "/metrics", .inline { _ in
            HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]),
                         body: Array(metrics.render().utf8))
        })

        webhookServer = HTTPServer(configuration: configuration.httpConfiguration(address: configuration.webhookListen, name: "webhook"),
                                   router: webhookRouter, logger: logger)
        self.rpcServer = HTTPServer(configuration: configuration.httpConfiguration(address: configuration.rpcListen, name: "rpc"),
                                    router: rpcRouter, logger: logger)
        listeners = ListenerGroup([webhookServer, rpcServer], logger: logger)
        for (name, server) in [("webhook", webhookServer), ("rpc", self.rpcServer)] {
            metrics.gauge(.httpOpenConnections, labels: [("listener", name)]) {
                server.openConnections
            }
            Self.registerConnectionProtectionMetrics(of: server, named: name, in: metrics)
        }
        for state in [CustomerRecord.State.live, .deleted, .forgotten] {
            metrics.gauge(.customers, labels: [("state", "\(state)")]) {
                storeHolder.current?.countsByState()[state] ?? 0
            }
        }
        // PostgreSQL only (0 with SQLite): how far this replica's memory is behind what any replica committed.
        metrics.gauge(.storeChangesBehind) {
            Int(storeHolder.current?.replication?.changesBehind ?? 0)
        }
        metrics.gauge(.storeReplicationLagSeconds) {
            Double(storeHolder.current?.replication?.lastPropagationMilliseconds ?? 0) / 1000
        }
        metrics.gauge(.storeReachable) {
            storeHolder.current?.health.unreachable == true ? 0 : 1
        }
        metrics.gauge(.storeFollowerConnected) {
            storeHolder.current?.replication?.connected == false ? 0 : 1
        }
        metrics.gauge(.webhookSecretsConfigured) {
            verifier.count
        }
        secretWatcher = SecretFileWatcher(Self.watchedSecretFiles(configuration, webhookSecrets: verifier, tokens: tokens),
                                          intervalMilliseconds: configuration.secretReloadIntervalMilliseconds, metrics: metrics, logger: logger)
    }

    /// The secret files `secretWatcher` re-reads: those the secrets came from (none when they came from the environment).
    private static func watchedSecretFiles(_ configuration: AppConfiguration, webhookSecrets: WebhookSecrets,
                                           tokens: CallerTokens) -> [SecretFileWatcher.Watched] {
        let grace = configuration.secretRotationGraceSeconds
        var watched: [SecretFileWatcher.Watched] = []
        if let path = configuration.webhookSecretsFile {
            watched.append(.init(name: "webhook-secrets", path: path, specification: AppConfiguration.webhookSecretsSecret) { text throws(ConfigurationError) in
                webhookSecrets.replace(with: try AppConfiguration.parseWebhookSecrets(text, from: .file(path)), graceSeconds: grace)
            })
        }
        if let path = configuration.rpcTokensFile {
            watched.append(.init(name: "rpc-tokens", path: path, specification: AppConfiguration.rpcTokensSecret) { text throws(ConfigurationError) in
                try tokens.replace(parsing: text, graceSeconds: grace)
            })
        }
        return watched
    }

    /// What a listener did to protect itself from clients that exhaust descriptors, connections or memory.
    private static func registerConnectionProtectionMetrics(of server: HTTPServer, named name: String, in metrics: MetricsRegistry) {
        for reason in HTTPServer.AcceptErrorReason.allCases {
            metrics.counter(.httpAcceptErrors, labels: [("listener", name), ("reason", reason.rawValue)]) { server.acceptErrors(reason) }
        }
        metrics.counter(.httpIdleConnectionsClosed, labels: [("listener", name)]) { server.idleConnectionsClosed }
        metrics.counter(.httpConnectionsRefused, labels: [("listener", name)]) { server.connectionsRefused }
        metrics.counter(.httpReadsPausedForOutput, labels: [("listener", name)]) { server.readsPausedForOutput }
        metrics.gauge(.httpPeakOutputBufferBytes, labels: [("listener", name)]) { server.peakOutputBufferBytes }
    }

    /// Binds both listeners, then opens and loads the store (readiness fails until it is open), so the ports are
    /// known before anything runs. Returns the real addresses (ports resolved when 0 was asked for). Then run
    /// `services`; on a throw nothing is left bound or open.
    @discardableResult
    public func start() throws -> (webhook: SocketAddress, rpc: SocketAddress) {
        if configuration.webhookSecrets.isEmpty {
            logger.warning("no webhook signing secrets configured: every webhook will be rejected with 401",
                           metadata: ["hint": "set \(AppConfiguration.webhookSecretsEnvironmentName) or webhook-secrets-file"])
        }
        let webhook = try webhookServer.start()
        let rpc: SocketAddress
        do {
            rpc = try rpcServer.start()
            try openStore()
        } catch {
            for server in [webhookServer, rpcServer] {
                server.shutdown()
                server.waitUntilStopped()
            }
            rpcExecutor.shutdown()
            cluster?.close()
            throw error
        }
        return (webhook, rpc)
    }

    /// What `serve` runs in one `ServiceGroup` once `start()` has returned, in start order. The group stops them
    /// in reverse, each after the one before has returned: the listeners stop accepting (both at once) and drain
    /// in-flight requests within `shutdown-grace-ms`; forget delivery stops; the store commits and closes last.
    public var services: [any Service] {
        [StoreService(holder: storeHolder, cluster: cluster, logger: logger),
         ForgetDeliveryService(delivery: forgetDelivery, executor: rpcExecutor),
         HTTPListenerService(server: rpcServer, listeners: listeners),
         HTTPListenerService(server: webhookServer, listeners: listeners), secretWatcher]
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
        let commitLatency = metrics.histogram(.storeCommitSeconds)
        let commitSize = metrics.counter(.storeCommittedOperations)
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
            storeHolder.waitForReachable(firstError: error, logger: logger,
                                         then: .init(retryMaxSeconds: storeConfiguration.reconnectMaxSeconds, open: open, opened: opened))
        } catch {
            storeHolder.fail(error.code.rawValue)
            logger.critical("store failed to open", metadata: ["error": "\(error)"])
            throw error
        }
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
        router.add(.get, "/healthz", .inline { _ in .json(.ok, alive) })
        router.add(.get, "/readyz", .inline { _ in
            let (ready, checks) = readiness.evaluate(for: listener)
            var body = JSONStreamWriter(reservingCapacity: 256)
            body.beginObject()
            body.member("status", .string(ready ? "ready" : "not_ready"))
            body.key("checks")
            body.beginObject()
            for check in checks {
                body.member(check.name, .object(JSONObject([("ready", .bool(check.status.ready)), ("detail", .string(check.status.detail))])))
            }
            body.endObject()
            body.endObject()
            return .json(ready ? .ok : .serviceUnavailable, body.document)
        })
    }
}
