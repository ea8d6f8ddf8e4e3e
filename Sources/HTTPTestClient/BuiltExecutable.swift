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

/// Reads a starting `serve` process's log from `pipe` until both listeners logged their address and `marker`
/// appeared (or 60 s, or EOF); returns the ports by listener name ("webhook", "rpc") and the log read so far.
public func readServeListeners(from pipe: Pipe, until marker: String) -> (ports: [String: UInt16], log: String) {
    var log = ""
    var ports: [String: UInt16] = [:]
    let deadline = Date().addingTimeInterval(60)
    while ports.count < 2 || !log.contains(marker), Date() < deadline {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        log += String(decoding: chunk, as: UTF8.self)
        for line in log.split(separator: "\n") where line.contains("listening") {
            guard let address = line.firstMatch(of: /address=127\.0\.0\.1:(\d+)/), let port = UInt16(address.1) else { continue }
            ports[line.contains("listener=webhook") ? "webhook" : "rpc"] = port
        }
    }
    return (ports, log)
}
