#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Verifies `DigitalRiver-Signature` headers against raw body bytes (reference §6.2); one value serves all threads.
///
/// Order of checks, and why:
/// 1. header present (`missingHeader`), then its shape (`malformedHeader`, `malformedTimestamp`): syntax only;
/// 2. at least one secret not expired at `now` (`noActiveSecret`): otherwise nothing could ever verify;
/// 3. HMAC of `element0 + "." + body` under each active secret against every candidate (`signatureMismatch`);
///    a header whose candidates are all undecodable fails here without computing any HMAC;
/// 4. only for an authentic signature, `|now − timestamp| ≤ tolerance` (`timestampOutsideTolerance`).
///
/// Freshness comes after the HMAC on purpose. Checking it first would save nothing against an attacker, who
/// can always send a fresh timestamp, and it would blur the codes: here `timestampOutsideTolerance` always
/// means "Digital River really signed this, but at the wrong time" (a replay or a skewed clock), while every
/// forgery, fresh or stale, is `signatureMismatch`. Neither code reveals anything about a secret.
public struct WebhookSignatureVerifier: Sendable {
    /// Longest header value examined, in UTF-8 bytes; longer ones are `malformedHeader`.
    public static let maximumHeaderLength = SignatureHeader.maximumLength
    /// Most elements allowed after the timestamp; more are `malformedHeader`.
    public static let maximumCandidateCount = SignatureHeader.maximumCandidates

    /// Largest accepted distance between the signed timestamp and now, in seconds, in either direction.
    public let tolerance: Int64

    /// A configured secret with its key already absorbed into libcrypto, so verification never re-keys.
    private struct ConfiguredKey: Sendable {
        let index: Int
        let expiresAt: Int64?
        let key: HMACSHA256.Key
    }

    private let keys: [ConfiguredKey]
    private let now: @Sendable () -> Int64

    /// A verifier for `secrets` (newest first) that accepts timestamps within `tolerance` seconds (≥ 0) of `now()`,
    /// a clock in unix seconds that tests replace.
    ///
    /// Keys every secret into libcrypto once, here; traps only if libcrypto lacks HMAC-SHA256 or memory.
    public init(
        secrets: [SigningSecret],
        tolerance: Int64 = 300,
        now: @escaping @Sendable () -> Int64 = { WebhookSignatureVerifier.currentUnixTime() }
    ) {
        precondition(tolerance >= 0, "signature tolerance must not be negative")
        self.tolerance = tolerance
        self.now = now
        self.keys = secrets.enumerated().map { index, secret in
            ConfiguredKey(
                index: index,
                expiresAt: secret.expiresAt,
                key: secret.keyBytes.withUnsafeBytes { HMACSHA256.Key($0) }
            )
        }
    }

    /// The system wall clock in unix seconds, the default `now`.
    public static func currentUnixTime() -> Int64 {
        Int64(time(nil))
    }

    /// Verifies `header` (nil when the request had none) against the raw `body` bytes as received.
    ///
    /// - Throws: `WebhookSignatureRejection` with the first failing check, in the order given on the type.
    public func verify(header: String?, body: [UInt8]) throws(WebhookSignatureRejection) -> VerifiedSignature {
        let outcome = body.withUnsafeBytes { verifyResult(header: header, body: $0) }
        return try outcome.get()
    }

    /// Verifies `header` (nil when the request had none) against raw `body` bytes borrowed from the HTTP layer.
    ///
    /// - Throws: `WebhookSignatureRejection` with the first failing check, in the order given on the type.
    public func verify(header: String?, body: UnsafeRawBufferPointer) throws(WebhookSignatureRejection)
        -> VerifiedSignature
    {
        try verifyResult(header: header, body: body).get()
    }

    private typealias Outcome = Result<VerifiedSignature, WebhookSignatureRejection>

    private func verifyResult(header: String?, body: UnsafeRawBufferPointer) -> Outcome {
        guard var header else { return .failure(.missingHeader) }
        // Refuse absurd values before touching their bytes (`utf8.count` is O(1) for native strings).
        guard header.utf8.count <= Self.maximumHeaderLength else { return .failure(.malformedHeader) }
        return header.withUTF8 { verify(headerBytes: $0, body: body) }
    }

    private func verify(headerBytes: UnsafeBufferPointer<UInt8>, body: UnsafeRawBufferPointer) -> Outcome {
        let parsed: SignatureHeader
        switch SignatureHeader.parse(headerBytes) {
        case .success(let header): parsed = header
        case .failure(let rejection): return .failure(rejection)
        }

        let now = self.now()
        guard keys.contains(where: { Self.isActive($0, at: now) }) else { return .failure(.noActiveSecret) }

        let digests = parsed.candidateDigests(in: headerBytes)
        guard !digests.isEmpty else { return .failure(.signatureMismatch) }

        let timestampElement = UnsafeRawBufferPointer(
            UnsafeBufferPointer(rebasing: headerBytes[parsed.timestampElement]))
        let matchedIndex: Int? = withUnsafeTemporaryAllocation(byteCount: HMACSHA256.byteCount, alignment: 1) { code in
            digests.withUnsafeBytes { digests in
                let computed = UnsafeRawBufferPointer(code)
                for configured in keys where Self.isActive(configured, at: now) {
                    configured.key.signedPayloadCode(timestampElement: timestampElement, body: body, into: code)
                    for start in stride(from: 0, to: digests.count, by: HMACSHA256.byteCount) {
                        let candidate = UnsafeRawBufferPointer(rebasing: digests[start..<start + HMACSHA256.byteCount])
                        if HMACSHA256.constantTimeEquals(computed, candidate) { return configured.index }
                    }
                }
                return nil
            }
        }
        guard let matchedIndex else { return .failure(.signatureMismatch) }

        // Overflow means the clock and the timestamp are absurdly far apart: outside any tolerance.
        let (difference, overflow) = now.subtractingReportingOverflow(parsed.timestamp)
        guard !overflow, difference.magnitude <= tolerance.magnitude else {
            return .failure(.timestampOutsideTolerance)
        }
        return .success(VerifiedSignature(timestamp: parsed.timestamp, secretIndex: matchedIndex))
    }

    private static func isActive(_ key: ConfiguredKey, at now: Int64) -> Bool {
        guard let expiresAt = key.expiresAt else { return true }
        return now < expiresAt
    }
}
