// swift-tools-version:6.0
import PackageDescription

// Dependency direction (arrows point at what is imported) is drawn in docs/ARCHITECTURE.md.
let package = Package(
    name: "customer-cache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "customer-cache", targets: ["customer-cache"]),
        // For Fuzz/ (its own package, so `swift build` here never builds a harness): the modules that parse input.
        .library(name: "CustomerCacheParsers", targets: ["HTTP1", "JSON", "JSONRPC", "WebhookSignature", "Customers"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Service, ServiceGroup and graceful shutdown; NIO-free (swift-log, swift-async-algorithms, swift-collections).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        // Settings precedence (flags, environment, config file, defaults) in CustomerCacheApp. NIO-free: it adds
        // swift-system; its default trait (JSON) adds no package, and the Reloading/YAML traits stay off.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
    ],
    targets: [
        // C shims: each has exactly one Swift owner.
        .target(name: "CLinux"),
        // SQLite from the system (libsqlite3-dev); its only Swift owner is the SQLite module.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),

        // The one clock (wall and monotonic) and the one token bucket; no dependencies.
        .target(name: "Timekeeping"),
        // Sockets: descriptors, addresses, epoll. No HTTP.
        .target(name: "Sockets", dependencies: ["CLinux"]),
        // HTTP/1.1 on Sockets: the server, and the response parser and request encoder clients use. No customers.
        .target(name: "HTTP1", dependencies: ["Sockets", "Timekeeping", .product(name: "Logging", package: "swift-log")],
                // Release only: the event loop's state is confined to its thread, and the runtime's dynamic
                // exclusivity checks on its class properties cost about 2,700 of 31,000 instructions per customer.get
                // hit (callgrind, swift_beginAccess + AccessSet::insert + TLS lookups). Debug builds and tests keep them.
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),

        // OpenSSL's libcrypto (libssl-dev); its only Swift owner is WebhookSignature.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Webhook signatures: HMAC-SHA256 over CLibCrypto, header rules, secrets. No HTTP.
        .target(name: "WebhookSignature", dependencies: ["CLibCrypto", "Timekeeping"]),
        // Strict JSON with explicit limits and an order-preserving tree; no dependencies.
        .target(name: "JSON"),
        // The customer model, event rules (pure) and the store (SQLite, or PostgreSQL shared by replicas). No HTTP, no RPC.
        .target(name: "Customers", dependencies: ["JSON", "SQLite", "PostgreSQL", "Timekeeping"]),
        // JSON-RPC 2.0 engine: request bytes in, response bytes out. No HTTP, no customers.
        .target(name: "JSONRPC", dependencies: ["JSON"]),
        // Thin, generic SQLite wrapper: connection, statements, typed errors, migrations. No customers.
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        // libpq from the system (libpq-dev); its only Swift owner is the PostgreSQL module.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // Thin, generic PostgreSQL client over libpq: connections, parameterised statements, typed errors with
        // SQLSTATE, transactions, LISTEN/NOTIFY, advisory locks, migrations. No customers.
        .target(name: "PostgreSQL", dependencies: ["CLibPQ"]),
        // The service's metric families declared in one place, over swift-metrics and swift-prometheus (no SwiftNIO).
        .target(name: "ServiceMetrics", dependencies: [
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Digital River's Customers API over an injected transport (URLSession in production); maps DR JSON to Customer.
        .target(name: "DigitalRiverAPI", dependencies: ["JSON", "Customers", "Timekeeping", .product(name: "Logging", package: "swift-log")]),

        // An in-memory emulator of Digital River's Customers API that also delivers signed customer.* webhooks;
        // for demos, tests and benchmarks only, never a stand-in for the real service.
        .target(name: "DigitalRiverSandbox", dependencies: [
            "HTTP1", "Sockets", "JSON", "Customers", "WebhookSignature", "Timekeeping",
            .product(name: "Logging", package: "swift-log"),
        ]),

        .target(name: "CustomerCacheApp", dependencies: [
            "HTTP1", "Sockets", "ServiceMetrics", "JSON", "JSONRPC", "Customers", "PostgreSQL", "WebhookSignature", "DigitalRiverAPI",
            "Timekeeping", .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Configuration", package: "swift-configuration"),
        ]),
        // The warm-up job: pages Digital River's list (or reads ids) and loads the running service over JSON-RPC.
        // Never opens the store; talks to Digital River and the service only through HTTP (URLSession for https,
        // a small keep-alive client on HTTP1's response parser and Sockets for plain http).
        .target(name: "CacheWarmer", dependencies: [
            "DigitalRiverAPI", "JSON", "Customers", "HTTP1", "Sockets", "Timekeeping", .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "customer-cache", dependencies: [
            "CustomerCacheApp", "CacheWarmer", "DigitalRiverAPI", "WebhookSignature", "DigitalRiverSandbox",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // A bare HTTP server with fixed routes, used only by bench/run to compare the server against nginx.
        .executableTarget(name: "http-bench-server", dependencies: [
            "HTTP1", "Sockets", .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "JSON"]),
        .testTarget(name: "CustomersTests", dependencies: ["Customers", "JSON", "PostgreSQL", "HTTPTestClient"]),
        .testTarget(name: "WebhookSignatureTests", dependencies: ["WebhookSignature"], exclude: ["Fixtures"]),
        .testTarget(name: "SQLiteTests", dependencies: ["SQLite"]),
        .testTarget(name: "PostgreSQLTests", dependencies: ["PostgreSQL", "HTTPTestClient"]),
        // Test support shared by the test targets (never linked into the product): a blocking raw-bytes HTTP
        // client, a log handler that keeps lines, the path of the built executable, a PostgreSQL schema per test, and
        // a service group run the way `serve` runs it.
        .target(name: "HTTPTestClient", dependencies: [
            "Sockets", "PostgreSQL", "HTTP1", .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Load generator and ceiling probes for bench/run (webhooks, SQLite commit rate, HMAC rate).
        .executableTarget(name: "customer-cache-bench", dependencies: [
            "HTTPTestClient", "Sockets", "SQLite", "WebhookSignature", "Customers",
        ]),
        .testTarget(name: "CustomerCacheAppTests", dependencies: [
            "CustomerCacheApp", "DigitalRiverSandbox", "HTTPTestClient", "Sockets", "JSON", "Customers", "WebhookSignature",
            "ServiceMetrics",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ServiceMetricsTests", dependencies: ["ServiceMetrics", .product(name: "Metrics", package: "swift-metrics")]),
        .testTarget(name: "DigitalRiverAPITests", dependencies: [
            "DigitalRiverAPI", "HTTP1", "HTTPTestClient", "Sockets", "JSON", "Customers", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "DigitalRiverSandboxTests", dependencies: [
            "DigitalRiverSandbox", "HTTP1", "HTTPTestClient", "Sockets", "JSON", "Customers", "WebhookSignature", "Timekeeping",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "CacheWarmerTests", dependencies: [
            "CacheWarmer", "CustomerCacheApp", "DigitalRiverAPI", "DigitalRiverSandbox", "HTTP1", "HTTPTestClient", "Sockets", "JSON",
            "Customers", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1", "HTTPTestClient", "Sockets", .product(name: "Logging", package: "swift-log")]),
    ]
)

// One strictness list for every Swift target (Swift 6 language mode is implied by tools-version 6).
for target in package.targets where target.type != .system && target.name != "CLinux" {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("ExistentialAny")]
}
