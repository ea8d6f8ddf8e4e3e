import Foundation

/// The `customer-cache` executable next to the test bundle, when the build produced it (`swift build --build-tests`
/// does; building only one test target does not, and process-level tests are then skipped).
public let builtCustomerCacheExecutable: URL? = {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("customer-cache"),
        Bundle.main.bundleURL.appendingPathComponent("customer-cache"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()
