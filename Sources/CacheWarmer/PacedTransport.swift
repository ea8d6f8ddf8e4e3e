import DigitalRiverAPI
import Synchronization
import Timekeeping

/// Wraps the transport under `DigitalRiverClient` so that **every** request to Digital River, the client's own
/// retries included, first takes a token from the job's `RequestPacer`. Pacing only the job's page loop would let a
/// burst of retries after a 5xx exceed the budget.
///
/// It also counts requests and 429 answers for the summary, without looking at anything else in them.
public struct PacedTransport: DigitalRiverTransport {
    let base: any DigitalRiverTransport
    let pacer: RequestPacer
    let tally: Tally

    /// Request and 429 counts, shared by every copy of the transport.
    final class Tally: Sendable {
        let counts = Mutex<(requests: Int, rateLimited: Int, waited: Double)>((0, 0, 0))
    }

    /// - Parameters:
    ///   - base: the real transport (URLSession).
    ///   - pacer: the bucket every request takes a token from.
    public init(base: any DigitalRiverTransport, pacer: RequestPacer) {
        self.base = base
        self.pacer = pacer
        tally = Tally()
    }

    /// Requests sent so far (retries included) and how many of them Digital River answered 429.
    public var counts: (requests: Int, rateLimited: Int) {
        let counts = tally.counts.withLock { $0 }
        return (counts.requests, counts.rateLimited)
    }

    /// Seconds spent waiting for a token, summed over requests.
    public var pacedSeconds: Double { tally.counts.withLock { $0.waited } }

    public func send(_ request: TransportRequest) async throws(TransportError) -> TransportResponse {
        let started = SystemClock.monotonicSeconds()
        await pacer.acquire()
        let waited = SystemClock.monotonicSeconds() - started
        if Task.isCancelled { throw TransportError(.cancelled, "cancelled") }
        tally.counts.withLock {
            $0.requests += 1
            $0.waited += waited
        }
        let response = try await base.send(request)
        if response.status == 429 { tally.counts.withLock { $0.rateLimited += 1 } }
        return response
    }
}
