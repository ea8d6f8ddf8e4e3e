import Synchronization
import WebhookSignature

/// The webhook signing secrets the endpoint verifies with. Fixed when they came from the environment (no lock on
/// the hot path); replaceable when they came from `webhook-secrets-file`, which `SecretFileWatcher` re-reads.
final class WebhookSecrets: Sendable {
    private let fixed: WebhookSignatureVerifier?
    /// A class only because an optional `Mutex` (non-copyable) cannot be unwrapped.
    private final class Replaceable: Sendable {
        let state: Mutex<(verifier: WebhookSignatureVerifier, secrets: [SigningSecret])>
        init(_ verifier: WebhookSignatureVerifier, _ secrets: [SigningSecret]) { state = Mutex((verifier, secrets)) }
    }
    private let replaceable: Replaceable?
    private let fixedCount: Int
    private let tolerance: Int64
    private let now: @Sendable () -> Int64

    /// `now` is the verifier's clock in unix seconds; grace periods are measured on it too.
    init(secrets: [SigningSecret], tolerance: Int64, reloadable: Bool, now: @escaping @Sendable () -> Int64) {
        self.tolerance = tolerance
        self.now = now
        fixedCount = secrets.count
        let verifier = WebhookSignatureVerifier(secrets: secrets, tolerance: tolerance, now: now)
        fixed = reloadable ? nil : verifier
        replaceable = reloadable ? Replaceable(verifier, secrets) : nil
    }

    /// Secrets configured now, those still in their grace period included.
    var count: Int { replaceable?.state.withLock { $0.secrets.count } ?? fixedCount }

    func verify(header: String?, body: [UInt8]) throws(WebhookSignatureRejection) -> VerifiedSignature {
        guard let replaceable else {
            // `fixed` is set whenever `replaceable` is not.
            return try fixed.unsafelyUnwrapped.verify(header: header, body: body)
        }
        // Copied out so verification (two HMACs at most) runs outside the lock.
        return try replaceable.state.withLock { $0.verifier }.verify(header: header, body: body)
    }

    /// Makes `secrets` current at once. A previous secret the new list no longer has keeps working for
    /// `graceSeconds` (or until its own expiry, if sooner), then stops: the expiry the verifier already honours.
    func replace(with secrets: [SigningSecret], graceSeconds: Int64) {
        guard let replaceable else { preconditionFailure("replace(with:) on secrets that are not reloadable") }
        let now = self.now()
        replaceable.state.withLock { state in
            let kept = Set(secrets.map(\.secretForSigning))
            let retiring = state.secrets.filter { !kept.contains($0.secretForSigning) }.map { old in
                SigningSecret(old.secretForSigning, expiresAt: min(old.expiresAt ?? .max, now + graceSeconds))
            }.filter { $0.isActive(at: now) }
            let all = secrets + retiring
            state = (WebhookSignatureVerifier(secrets: all, tolerance: tolerance, now: self.now), all)
        }
    }
}
