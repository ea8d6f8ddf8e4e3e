import Foundation
import Synchronization
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
/// - **Bodies are bounded while they arrive.** `session.data(for:)` buffers the whole body before returning, so a
///   200 MB answer would cost 200 MB before any limit could apply. Here a data delegate receives the body piece by
///   piece and cancels the task as soon as `Content-Length` or the bytes received pass `maxResponseBytes`.
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
        let delegate = SessionDelegate()
        owner = SessionOwner(session: URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil),
                             delegate: delegate)
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
        let owner = self.owner
        let immutableRequest = urlRequest
        let limit = request.maxResponseBytes

        let outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                switch await owner.exchange(immutableRequest, limit: limit) {
                case .success(let response): return .response(response)
                case .failure(let error): return .failed(error)
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

    static func headerPairs(_ response: HTTPURLResponse) -> [(String, String)] {
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
    let delegate: SessionDelegate

    init(session: URLSession, delegate: SessionDelegate) {
        self.session = session
        self.delegate = delegate
    }

    deinit { session.finishTasksAndInvalidate() }

    /// Runs one data task through the delegate; cancelling the calling task cancels the URLSession task.
    func exchange(_ request: URLRequest, limit: Int?) async -> Result<TransportResponse, TransportError> {
        let task = session.dataTask(with: request)
        let exchange = Exchange(limit: limit)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard exchange.begin(continuation) else { return }
                delegate.register(exchange, for: task)
                task.resume()
            }
        } onCancel: {
            exchange.finish(.failure(TransportError(.cancelled, "cancelled")))
            task.cancel()
        }
    }
}

/// One response on its way in: the body so far, and the caller waiting for the outcome (resumed exactly once).
private final class Exchange: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result<TransportResponse, TransportError>, Never>?
        var finished: Result<TransportResponse, TransportError>?
        var body: [UInt8] = []
    }

    let limit: Int?
    private let state = Mutex(State())

    init(limit: Int?) {
        self.limit = limit
    }

    /// False when the exchange already finished (cancelled before it started); the continuation is resumed then.
    func begin(_ continuation: CheckedContinuation<Result<TransportResponse, TransportError>, Never>) -> Bool {
        let early = state.withLock { state -> Result<TransportResponse, TransportError>? in
            if let finished = state.finished { return finished }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
        return early == nil
    }

    /// Appends a piece of the body; false once it passes the limit (the caller then cancels the task).
    func append(_ data: Data) -> Bool {
        let within = state.withLock { state -> Bool in
            guard state.finished == nil else { return false }
            if let limit, state.body.count + data.count > limit { return false }
            state.body.append(contentsOf: data)
            return true
        }
        if !within { finish(.failure(Self.tooLarge(limit))) }
        return within
    }

    /// The task ended: the body collected so far is the response (a failure that came first wins).
    func complete(_ response: URLResponse?, error: (any Error)?) {
        if let error {
            finish(.failure(URLSessionTransport.transportError(error)))
            return
        }
        guard let http = response as? HTTPURLResponse else {
            finish(.failure(TransportError(.other, "not an HTTP response")))
            return
        }
        let body = state.withLock { state in
            defer { state.body = [] }
            return state.body
        }
        finish(.success(TransportResponse(status: http.statusCode, headers: URLSessionTransport.headerPairs(http), body: body)))
    }

    func finish(_ outcome: Result<TransportResponse, TransportError>) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<TransportResponse, TransportError>, Never>? in
            guard state.finished == nil else { return nil }
            state.finished = outcome
            state.body = []
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: outcome)
    }

    static func tooLarge(_ limit: Int?) -> TransportError {
        TransportError(.responseTooLarge, "response body over \(limit ?? 0) bytes")
    }
}

/// Feeds each task's body to its `Exchange` as it arrives, enforces the limit, and answers every redirect with
/// "don't follow", so the response is the 3xx itself.
private final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private let exchanges = Mutex<[Int: Exchange]>([:])

    func register(_ exchange: Exchange, for task: URLSessionTask) {
        exchanges.withLock { $0[task.taskIdentifier] = exchange }
    }

    private func exchange(for task: URLSessionTask) -> Exchange? {
        exchanges.withLock { $0[task.taskIdentifier] }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        if let exchange = exchange(for: dataTask), let limit = exchange.limit, response.expectedContentLength > Int64(limit) {
            // Answering `.cancel` fails the task; none of the body is kept. (corelibs tears the connection down
            // with some delay, so libcurl may still read and discard part of the body; calling `cancel()` here
            // instead was measured to let it read all of it.)
            exchange.finish(.failure(Exchange.tooLarge(limit)))
            completionHandler(.cancel)
            return
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let exchange = exchange(for: dataTask) else { return }
        if !exchange.append(data) { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let exchange = exchanges.withLock { $0.removeValue(forKey: task.taskIdentifier) }
        exchange?.complete(task.response, error: error)
    }
}
