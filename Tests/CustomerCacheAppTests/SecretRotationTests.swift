@testable import CustomerCacheApp
import Foundation
import HTTPTestClient
import Sockets
import Synchronization
import Testing
import WebhookSignature
#if canImport(Glibc)
import Glibc
#endif

/// A directory laid out the way Kubernetes mounts a Secret: each key is a symlink through `..data`, which points at
/// a timestamped directory; an update writes a new directory and renames a new `..data` link over the old one.
final class MountedSecret {
    let directory: String
    private var version = 0

    init(_ files: [String: String]) throws {
        directory = NSTemporaryDirectory() + "cc-secret-mount-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try update(files)
        for name in files.keys {
            try FileManager.default.createSymbolicLink(atPath: path(name), withDestinationPath: "..data/\(name)")
        }
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// Writes a new version of every file and swaps `..data` to it atomically, as the kubelet does.
    func update(_ files: [String: String]) throws {
        version += 1
        let versionDirectory = "..2026_12_07_\(version)"
        try FileManager.default.createDirectory(atPath: directory + "/" + versionDirectory, withIntermediateDirectories: false)
        for (name, contents) in files {
            try contents.write(toFile: directory + "/" + versionDirectory + "/" + name, atomically: false, encoding: .utf8)
        }
        try FileManager.default.createSymbolicLink(atPath: directory + "/..data_tmp", withDestinationPath: versionDirectory)
        guard rename(directory + "/..data_tmp", directory + "/..data") == 0 else { throw CocoaError(.fileWriteUnknown) }
        if version > 1 { try? FileManager.default.removeItem(atPath: directory + "/..2026_12_07_\(version - 1)") }
    }

    /// Points `..data` at a directory without the files: they become unreadable.
    func breakLink() throws {
        try FileManager.default.createSymbolicLink(atPath: directory + "/..data_tmp", withDestinationPath: "..missing")
        guard rename(directory + "/..data_tmp", directory + "/..data") == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("Secret files are reloaded while the service runs", .serialized)
struct SecretRotationTests {
    static let tokenA = "tok_rotation_first_0123456789"
    static let tokenB = "tok_rotation_second_0123456789"
    static let secretA = "whsec_rotation_first"
    static let secretB = "whsec_rotation_second"

    private static func rpcStatus(_ live: LiveService, token: String) throws -> Int? {
        let body = Array(#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#.utf8)
        return try RawClient(live.rpc).exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json"),
                                                                                         ("Authorization", "Bearer \(token)")], body: body)?.status
    }

    private static func webhookStatus(_ live: LiveService, secret: String, event: Int) throws -> Int? {
        try live.postEvent(Events.event("evt-rotation-\(event)-\(UUID().uuidString)", object: Events.customer("cust-rotation")), secret: secret)?.status
    }

    /// Waits (bounded) until `condition` holds: the watcher polls every 100 ms, so this is a wait for the reload,
    /// never a measurement of it.
    static func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }

    private static func metric(_ live: LiveService, secret: String, outcome: String) throws -> String? {
        let text = try RawClient(live.rpc).exchange(method: "GET", path: "/metrics")?.bodyText ?? ""
        let line = text.split(separator: "\n").first {
            $0.hasPrefix("customer_cache_secret_reloads_total{") && $0.contains(#"secret="\#(secret)""#) && $0.contains(#"outcome="\#(outcome)""#)
        }
        return line.flatMap { $0.split(separator: " ").last.map(String.init) }
    }

    /// A service whose tokens (caller `ops`, token A) and signing secret (A) come from a mounted Secret, checked every 100 ms.
    private static func start(graceSeconds: Int) throws -> (MountedSecret, LiveService, LogCapture) {
        let mount = try MountedSecret(["rpc-tokens": "ops \(tokenA)\n", "webhook-secrets": "\(secretA)\n"])
        let logs = LogCapture()
        do {
            let live = try LiveService(settings: ["rpc-tokens-file": mount.path("rpc-tokens"), "webhook-secrets-file": mount.path("webhook-secrets"),
                                                  "secret-reload-interval-ms": "100", "secret-rotation-grace-seconds": "\(graceSeconds)"],
                                       environment: [:], logHandler: logs)
            return (mount, live, logs)
        } catch {
            mount.remove()
            throw error
        }
    }

    @Test("rotating the mounted token and secret files: the new ones work at once, the old ones until the grace period ends")
    func rotation() throws {
        let (mount, live, logs) = try Self.start(graceSeconds: 60)
        defer { live.stop(); live.removeData(); mount.remove() }
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 200)
        #expect(try Self.rpcStatus(live, token: Self.tokenB) == 401)
        #expect(try Self.webhookStatus(live, secret: Self.secretA, event: 1) == 200)
        #expect(try Self.webhookStatus(live, secret: Self.secretB, event: 2) == 401)

        try mount.update(["rpc-tokens": "ops \(Self.tokenB)\n", "webhook-secrets": "\(Self.secretB)\n"])
        #expect(try Self.eventually { try Self.rpcStatus(live, token: Self.tokenB) == 200 }, "the new token was never accepted")
        #expect(try Self.eventually { try Self.webhookStatus(live, secret: Self.secretB, event: 3) == 200 }, "the new secret was never accepted")
        // Within the grace period the old ones still work.
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 200)
        #expect(try Self.webhookStatus(live, secret: Self.secretA, event: 4) == 200)
        #expect(try Self.metric(live, secret: "rpc-tokens", outcome: "applied") == "1")
        #expect(try Self.metric(live, secret: "webhook-secrets", outcome: "applied") == "1")

        // Past the grace period (on the service clock) only the new ones work.
        live.clock.advance(seconds: 61)
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 401)
        #expect(try Self.webhookStatus(live, secret: Self.secretA, event: 5) == 401)
        #expect(try Self.rpcStatus(live, token: Self.tokenB) == 200)
        #expect(try Self.webhookStatus(live, secret: Self.secretB, event: 6) == 200)
        #expect(!logs.text.contains(Self.tokenA) && !logs.text.contains(Self.tokenB))
        #expect(!logs.text.contains(Self.secretA) && !logs.text.contains(Self.secretB))
    }

    @Test("an invalid, empty or unreadable new version keeps the secrets in force, with a warning and a failed count but no secret")
    func invalidVersions() throws {
        let (mount, live, logs) = try Self.start(graceSeconds: 0)
        defer { live.stop(); live.removeData(); mount.remove() }

        // A token too short to be valid (and a secret with a space inside) is refused as a whole.
        try mount.update(["rpc-tokens": "ops \(Self.tokenB)\nbad short\n", "webhook-secrets": "whsec_has space,\(Self.secretB)"])
        #expect(try Self.eventually { try Self.metric(live, secret: "rpc-tokens", outcome: "failed") == "1" })
        #expect(try Self.eventually { try Self.metric(live, secret: "webhook-secrets", outcome: "failed") == "1" })
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 200)
        #expect(try Self.rpcStatus(live, token: Self.tokenB) == 401)
        #expect(try Self.webhookStatus(live, secret: Self.secretA, event: 1) == 200)
        #expect(try Self.webhookStatus(live, secret: Self.secretB, event: 2) == 401)

        // An empty file would drop every token (turning authentication off): refused too.
        try mount.update(["rpc-tokens": "", "webhook-secrets": ""])
        #expect(try Self.eventually { try Self.metric(live, secret: "rpc-tokens", outcome: "failed") == "2" })
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 200)
        #expect(try Self.rpcStatus(live, token: "tok_anyone_at_all_0123456789") == 401)

        try mount.breakLink()
        #expect(try Self.eventually { try Self.metric(live, secret: "rpc-tokens", outcome: "failed") == "3" })
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 200)
        #expect(try Self.webhookStatus(live, secret: Self.secretA, event: 3) == 200)

        // Fixed: the next valid version is applied.
        try mount.update(["rpc-tokens": "ops \(Self.tokenB)\n", "webhook-secrets": Self.secretB])
        #expect(try Self.eventually { try Self.rpcStatus(live, token: Self.tokenB) == 200 })
        #expect(try Self.eventually { try Self.webhookStatus(live, secret: Self.secretB, event: 4) == 200 })
        #expect(try Self.rpcStatus(live, token: Self.tokenA) == 401, "grace 0: the old token stops at once")
        #expect(logs.text.contains("secret file not reloaded"))
        for secret in [Self.tokenA, Self.tokenB, Self.secretA, Self.secretB, "whsec_has space"] {
            #expect(!logs.text.contains(secret))
        }
    }

    @Test("secrets from the environment are not watched: no reload, and a lookup takes no lock")
    func environmentSecretsAreFixed() throws {
        let configuration = try AppConfiguration(sources: ConfigurationSources(flags: [:], environment: [:], fileContents: nil),
                                                 environment: [CallerTokens.environmentName: "ops \(Self.tokenA)",
                                                               AppConfiguration.webhookSecretsEnvironmentName: Self.secretA])
        #expect(configuration.rpcTokensFile == nil)
        #expect(configuration.webhookSecretsFile == nil)
        #expect(configuration.callerTokens.caller(forAuthorization: "Bearer \(Self.tokenA)")?.name == "ops")
    }
}

@Suite("Replaceable tokens and signing secrets")
struct ReplaceableSecretsTests {
    final class Clock: Sendable {
        let seconds = Mutex<Int64>(1_700_000_000)
        var now: Int64 { seconds.withLock { $0 } }
    }

    @Test("a replaced token list: new tokens at once, old ones until the grace period ends, an invalid list changes nothing")
    func tokens() throws {
        let clock = Clock()
        let tokens = try CallerTokens(parsing: "ops tok_first_token_0123456789 customer.get").reloadable(now: { clock.now })
        let copy = tokens
        try tokens.replace(parsing: "ops tok_second_token_0123456789\nbatch tok_batch_token_0123456789", graceSeconds: 30)
        #expect(copy.caller(forAuthorization: "Bearer tok_second_token_0123456789")?.name == "ops", "copies share the list")
        #expect(copy.caller(forAuthorization: "Bearer tok_first_token_0123456789")?.name == "ops")
        #expect(copy.caller(named: "ops")?.may(call: "customer.forget") == true, "the current list's methods win")
        #expect(copy.count == 2)
        clock.seconds.withLock { $0 += 30 }
        #expect(copy.caller(forAuthorization: "Bearer tok_first_token_0123456789") == nil)
        #expect(throws: ConfigurationError.self) { try tokens.replace(parsing: "ops short", graceSeconds: 30) }
        #expect(copy.caller(forAuthorization: "Bearer tok_second_token_0123456789")?.name == "ops")
        #expect(!copy.isEmpty)
    }

    @Test("replaced signing secrets: the old one verifies until the grace period ends, or its own earlier expiry")
    func signingSecrets() throws {
        let clock = Clock()
        let secrets = WebhookSecrets(secrets: [SigningSecret("whsec_old"), SigningSecret("whsec_older", expiresAt: 1_700_000_010)],
                                     tolerance: 300, reloadable: true, now: { clock.now })
        secrets.replace(with: [SigningSecret("whsec_new")], graceSeconds: 60)
        #expect(secrets.count == 3)
        let body = Array("{}".utf8)
        func verifies(_ secret: String) -> Bool {
            (try? secrets.verify(header: WebhookSigner.header(secret: secret, timestamp: clock.now, body: body), body: body)) != nil
        }
        #expect(verifies("whsec_new") && verifies("whsec_old") && verifies("whsec_older"))
        clock.seconds.withLock { $0 += 10 }
        #expect(verifies("whsec_old") && !verifies("whsec_older"))
        clock.seconds.withLock { $0 += 50 }
        #expect(verifies("whsec_new") && !verifies("whsec_old"))
        secrets.replace(with: [SigningSecret("whsec_newest")], graceSeconds: 0)
        #expect(verifies("whsec_newest") && !verifies("whsec_new"))
        #expect(secrets.count == 1, "expired secrets are dropped at the next replacement")
    }
}

@Suite("customer-cache serve reloads a rotated Secret", .enabled(if: builtCustomerCacheExecutable != nil, "customer-cache was not built"))
struct SecretRotationProcessTests {
    @Test("the running executable: a swapped token file works at once, the old token until the grace period (5 s) ends")
    func rotatedTokenFile() throws {
        let binary = try #require(builtCustomerCacheExecutable)
        let mount = try MountedSecret(["rpc-tokens": "ops \(SecretRotationTests.tokenA)\n"])
        let directory = NSTemporaryDirectory() + "cc-rotation-" + UUID().uuidString
        defer { mount.remove(); try? FileManager.default.removeItem(atPath: directory) }
        let (process, errors) = try launch(binary, ["serve", "--webhook-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0", "--data-dir", directory,
                                                    "--rpc-tokens-file", mount.path("rpc-tokens"), "--secret-reload-interval-ms", "100",
                                                    "--secret-rotation-grace-seconds", "5"],
                                           environment: [CallerTokens.environmentName: nil])
        defer { if process.isRunning { process.terminate() } }
        let (ports, log) = readServeListeners(from: errors, until: "store open")
        let rpc = try SocketAddress(host: "127.0.0.1", port: try #require(ports["rpc"], "no rpc address in: \(log)"))
        func status(_ token: String) throws -> Int? {
            try RawClient(rpc).exchange(method: "POST", path: "/rpc", headers: [("Content-Type", "application/json"), ("Authorization", "Bearer \(token)")],
                                        body: Array(#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#.utf8))?.status
        }
        #expect(try status(SecretRotationTests.tokenA) == 200)
        #expect(try status(SecretRotationTests.tokenB) == 401)
        try mount.update(["rpc-tokens": "ops \(SecretRotationTests.tokenB)\n"])
        #expect(try SecretRotationTests.eventually { try status(SecretRotationTests.tokenB) == 200 }, "the new token was never accepted")
        #expect(try status(SecretRotationTests.tokenA) == 200, "the old token stopped before its grace period ended")
        #expect(try SecretRotationTests.eventually { try status(SecretRotationTests.tokenA) == 401 }, "the old token still works after its grace period")
        #expect(try status(SecretRotationTests.tokenB) == 200)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let fullLog = log + String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(fullLog.contains("secret file reloaded"))
        #expect(!fullLog.contains(SecretRotationTests.tokenA) && !fullLog.contains(SecretRotationTests.tokenB))
    }
}
