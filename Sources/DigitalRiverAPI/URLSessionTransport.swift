import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The production transport: Foundation's URLSession, which on Linux is libcurl underneath (TLS with the system
/// trust store, connection reuse, HTTP/2 where offered), so the service needs no SwiftNIO.
///
/// Three things differ from what URLSession does by default, each for a reason found on swift-corelibs-foundation
/// (Swift 6.3.1):
/// - **Deadlines are ours.** corelibs converts `URLRequest.timeoutInterval` with `Int(seconds) * 1000`, so 0.3 s becomes
///   0 ms and fails at once, and 1.9 s becomes 1 s. This transport races each request against its own timer, cancels
///   the URLSession task when the timer wins, and only sets `timeoutInterval` (rounded up) as a backstop.
/// - **No connect-phase timeout.** corelibs exposes no `CURLOPT_CONNECTTIMEOUT`, so `connectTimeoutSeconds` cannot be
///   applied on its own here; the per-request deadline bounds connect plus exchange. The value is kept for logs and
///   for a transport that can split the phases.
/// - **Redirects are refused.** DR's API does not redirect, and following one would send the `Authorization` header
///   to wherever a `Location` pointed; a 3xx is returned as is, and the client reports it as an invalid response.
///
/// No cookies, no cache, no credential storage: every request is exactly what the client built.
public struct URLSessionTransport: DigitalRiverTransport {
    /// Seconds; see the type's notes for why URLSession on Linux cannot enforce it separately.
    public let connectTimeoutSeconds: Double
    public let maxConnectionsPerHost: Int
    private let owner: SessionOwner

    /// - Parameters:
    ///   - connectTimeoutSeconds: kept for diagnostics; see the type's notes. Default 5.
    ///   - maxConnectionsPerHost: pooled connections to DR; match it to `maxConcurrentRequests`. Default 16.
    public init(connectTimeoutSeconds: Double = 5, maxConnectionsPerHost: Int = 16) {
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.maxConnectionsPerHost = max(1, maxConnectionsPerHost)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = self.maxConnectionsPerHost
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        configuration.urlCredentialStorage = nil
        owner = SessionOwner(session: URLSession(configuration: configuration, delegate: RefuseRedirects(),
                                                 delegateQueue: nil))
    }

    public func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        guard let url = URL(string: request.url), url.scheme == "https" || url.scheme == "http" else {
            throw TransportError(.other, "invalid URL")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers { urlRequest.addValue(value, forHTTPHeaderField: name) }
        if let body = request.body { urlRequest.httpBody = Data(body) }
        let deadline = max(0.001, request.timeoutSeconds)
        // Backstop only (see the type's notes): whole seconds, rounded up, plus one so our own timer normally wins.
        urlRequest.timeoutInterval = deadline.rounded(.up) + 1
        let session = owner.session
        let immutableRequest = urlRequest

        let outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do {
                    let (data, response) = try await session.data(for: immutableRequest)
                    guard let http = response as? HTTPURLResponse else {
                        return .failed(TransportError(.other, "not an HTTP response"))
                    }
                    return .response(TransportResponse(status: http.statusCode, headers: Self.headerPairs(http),
                                                       body: [UInt8](data)))
                } catch {
                    return .failed(Self.transportError(error))
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(nanoseconds: UInt64(deadline * 1_000_000_000))
                    return .deadlinePassed
                } catch {
                    return .failed(TransportError(.cancelled, "cancelled"))
                }
            }
            // Whichever finishes first decides; cancelling the other stops the URLSession task (or the timer).
            let first = await group.next() ?? .failed(TransportError(.other, "no outcome"))
            group.cancelAll()
            return first
        }
        if Task.isCancelled { throw TransportError(.cancelled, "cancelled") }
        switch outcome {
        case .response(let response): return response
        case .failed(let error): throw error
        case .deadlinePassed: throw TransportError(.timedOut, "no response within \(deadline) s")
        }
    }

    /// Stops accepting new requests and lets running ones finish; the session is released afterwards.
    /// Also happens automatically when the last copy of this transport goes away.
    public func shutdown() {
        owner.session.finishTasksAndInvalidate()
    }

    private enum Outcome: Sendable {
        case response(TransportResponse)
        case failed(TransportError)
        case deadlinePassed
    }

    private static func headerPairs(_ response: HTTPURLResponse) -> [(String, String)] {
        response.allHeaderFields.compactMap { key, value in
            guard let name = key as? String else { return nil }
            return (name, value as? String ?? String(describing: value))
        }
    }

    /// Sorts URLSession's failures into what the retry policy needs to know: was the request certainly not sent,
    /// possibly processed, or not worth repeating. The message is the error code's name, never a URL or header.
    static func transportError(_ error: any Error) -> TransportError {
        if error is CancellationError { return TransportError(.cancelled, "cancelled") }
        guard let urlError = error as? URLError else { return TransportError(.other, "transport failure") }
        let code = urlError.code
        let message = "URLError \(code.rawValue)"
        switch code {
        case .cancelled:
            return TransportError(.cancelled, "cancelled")
        case .timedOut:
            return TransportError(.timedOut, message + " (timed out)")
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet:
            return TransportError(.connectionFailed, message + " (could not connect)")
        case .networkConnectionLost, .badServerResponse, .cannotParseResponse, .zeroByteResource:
            // curl's "Empty reply from server" surfaces as badServerResponse: the peer closed after our request.
            return TransportError(.connectionLost, message + " (connection lost)")
        default:
            return TransportError(.other, message)
        }
    }
}

/// Owns the URLSession so it is invalidated when the last transport copy is released; a session otherwise keeps
/// its delegate and libcurl handles alive forever.
private final class SessionOwner: Sendable {
    let session: URLSession

    init(session: URLSession) {
        self.session = session
    }

    deinit { session.finishTasksAndInvalidate() }
}

/// Answers every redirect with "don't follow", so the response is the 3xx itself.
private final class RefuseRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }
}
