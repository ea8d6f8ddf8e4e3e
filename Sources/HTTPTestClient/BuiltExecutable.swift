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

/// Starts `binary` with `arguments` and the test's environment changed by `environment` (nil removes a variable);
/// stdout is discarded, stderr (the log) is the returned pipe. The caller terminates the process.
public func launch(_ binary: URL, _ arguments: [String], environment changes: [String: String?] = [:]) throws -> (Process, Pipe) {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    for (name, value) in changes { environment[name] = value }
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return (process, errors)
}

/// Reads `pipe` until `log` contains `marker` (or `seconds` pass, or EOF); returns the log with what was read appended.
public func readLog(from pipe: Pipe, appendingTo log: String, until marker: String, seconds: Double = 20) -> String {
    var log = log
    let deadline = Date().addingTimeInterval(seconds)
    while !log.contains(marker), Date() < deadline {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        log += String(decoding: chunk, as: UTF8.self)
    }
    return log
}

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
            // `serve --sandbox` logs the emulator's listener too (listener=sandbox): not one of ours.
            guard let name = ["webhook", "rpc"].first(where: { line.contains("listener=\($0) ") }),
                  let address = line.firstMatch(of: /address=127\.0\.0\.1:(\d+)/), let port = UInt16(address.1) else { continue }
            ports[name] = port
        }
    }
    return (ports, log)
}
