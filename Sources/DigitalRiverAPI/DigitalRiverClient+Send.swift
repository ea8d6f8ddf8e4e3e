import Foundation
import Logging
import Timekeeping

extension DigitalRiverClient {
    /// One logical call: what to send and how safe it is to send again.
    struct Call: Sendable {
        var method: String
        /// For logs and messages: `/customers/{id}`, never the concrete id, so lines stay short and aggregate well.
        var pathTemplate: String
        /// Already percent-encoded.
        var path: String
        /// Already percent-encoded, without the `?`.
        var query: String?
        var body: [UInt8]?
        var replay: RetryPolicy.Replay

        init(method: String, pathTemplate: String, path: String, query: String? = nil, body: [UInt8]? = nil,
             replay: RetryPolicy.Replay) {
            self.method = method
            self.pathTemplate = pathTemplate
            self.path = path
            self.query = query
            self.body = body
            self.replay = replay
        }
    }

    /// The response a call ended with, and how many requests it took.
    struct Outcome: Sendable {
        var response: TransportResponse
        var attempts: Int
    }

    /// Sends `call` until it gets a final answer: a 2xx (or a 404 when `notFoundIsAnswer`) is returned; everything
    /// else is retried while the policy allows and then thrown as a `DigitalRiverError`.
    /// A slot of the concurrency limit is held only while a request is on the wire, never during a backoff, so one
    /// call waiting out a `Retry-After` does not stall the others.
    func perform(_ call: Call, notFoundIsAnswer: Bool) async throws(DigitalRiverError) -> Outcome {
        var headers: [(String, String)] = [
            ("Authorization", configuration.apiKey.bearerHeaderValue),
            ("Accept", "application/json"),
            ("User-Agent", Self.userAgent),
        ]
        if call.body != nil { headers.append(("Content-Type", "application/json")) }
        let request = TransportRequest(method: call.method, url: base + call.path + (call.query.map { "?" + $0 } ?? ""),
                                       headers: headers, body: call.body,
                                       timeoutSeconds: configuration.requestTimeoutSeconds,
                                       maxResponseBytes: Self.responseLimits.maxBytes)
        var attempt = 0
        while true {
            if Task.isCancelled { throw cancelled(call, attempts: attempt) }
            do {
                try await limiter.acquire()
            } catch {
                throw cancelled(call, attempts: attempt)
            }
            attempt += 1
            let result: Result<TransportResponse, TransportError>
            do {
                result = .success(try await transport.send(request))
            } catch {
                result = .failure(error)
            }
            await limiter.release()

            let delay: Double
            switch result {
            case .success(let response):
                let status = response.status
                if (200..<300).contains(status) || (status == 404 && notFoundIsAnswer) {
                    return Outcome(response: response, attempts: attempt)
                }
                let retryAfter = response.header("Retry-After").flatMap { RetryPolicy.retryAfterSeconds($0, now: now()) }
                guard policy.mayRetry(status: status, replay: call.replay) else {
                    throw statusError(call, response, attempts: attempt, retryAfter: retryAfter, note: nil)
                }
                switch policy.decide(afterAttempt: attempt, retryAfter: retryAfter, unitRandom: Double.random(in: 0...1)) {
                case .retry(let seconds):
                    delay = seconds
                    logRetry(call, attempt: attempt, delay: delay, metadata: ["dr_status": "\(status)"])
                case .exhausted:
                    throw statusError(call, response, attempts: attempt, retryAfter: retryAfter,
                                      note: "after \(attempt) attempt" + (attempt == 1 ? "" : "s"))
                case .retryAfterTooLong:
                    throw statusError(call, response, attempts: attempt, retryAfter: retryAfter,
                                      note: "Retry-After is longer than the \(policy.maxRetryAfterSeconds) s this client waits")
                }
            case .failure(let error):
                if error.kind == .cancelled || Task.isCancelled { throw cancelled(call, attempts: attempt) }
                if error.kind == .responseTooLarge {
                    throw DigitalRiverError(kind: .invalidResponse,
                                            message: "\(call.method) \(call.pathTemplate): response body over "
                                                + "\(Self.responseLimits.maxBytes) bytes; stopped reading it",
                                            attempts: attempt)
                }
                guard policy.mayRetry(error.kind, replay: call.replay),
                      case .retry(let seconds) = policy.decide(afterAttempt: attempt, retryAfter: nil,
                                                               unitRandom: Double.random(in: 0...1))
                else {
                    throw DigitalRiverError(kind: .unavailable,
                                            message: "\(call.method) \(call.pathTemplate) failed after \(attempt) "
                                                + "attempt\(attempt == 1 ? "" : "s"): \(error)",
                                            attempts: attempt)
                }
                delay = seconds
                logRetry(call, attempt: attempt, delay: delay, metadata: ["dr_failure": "\(error.kind.rawValue)"])
            }
            await sleep(delay)
        }
    }

    private func logRetry(_ call: Call, attempt: Int, delay: Double, metadata: Logger.Metadata) {
        logger.debug("retrying Digital River request", metadata: metadata.merging([
            "dr_method": "\(call.method)", "dr_path": "\(call.pathTemplate)", "attempt": "\(attempt)",
            "delay_seconds": "\((delay * 1000).rounded() / 1000)",
        ]) { current, _ in current })
    }

    private func cancelled(_ call: Call, attempts: Int) -> DigitalRiverError {
        DigitalRiverError(kind: .unavailable, message: "\(call.method) \(call.pathTemplate) cancelled", attempts: attempts)
    }

    /// Maps a final non-2xx answer to the error kinds of `DigitalRiverError`.
    func statusError(_ call: Call, _ response: TransportResponse, attempts: Int, retryAfter: Double?,
                     note: String?) -> DigitalRiverError {
        let status = response.status
        let kind: DigitalRiverError.Kind = switch status {
        case 401, 403: .unauthorized
        case 404: .notFound
        case 429: .rateLimited
        case 400..<500: .rejected
        case 500..<600: .unavailable
        default: .invalidResponse  // 1xx and 3xx: DR's API sends neither, and redirects are not followed
        }
        let body = DigitalRiverErrorBody(parsing: response.body, redactingWith: configuration.apiKey)
        var message = "\(call.method) \(call.pathTemplate) answered \(status)"
        if let note { message += " " + note }
        let retryAfterSeconds = retryAfter.map { $0 >= Double(Int32.max) ? Int(Int32.max) : Int($0.rounded(.up)) }
        return DigitalRiverError(kind: kind, status: status, type: body.type, errors: body.errors,
                                 retryAfterSeconds: retryAfterSeconds, message: message, attempts: attempts)
    }
}

/// Seconds since the epoch on the wall clock; only used to read `Retry-After` dates.
func wallClockSeconds() -> Double {
    SystemClock.wallSeconds()
}
