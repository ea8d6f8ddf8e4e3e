/// What a successful verification established: when Digital River signed the delivery and with which secret.
public struct VerifiedSignature: Sendable, Hashable {
    /// The signed timestamp in unix seconds (a millisecond header value is divided by 1000).
    public let timestamp: Int64
    /// Position in the configured secret list of the secret that matched (0 = newest), for rotation metrics.
    public let secretIndex: Int

    /// A verified signature with `timestamp` (unix seconds) made with configured secret number `secretIndex`.
    public init(timestamp: Int64, secretIndex: Int) {
        self.timestamp = timestamp
        self.secretIndex = secretIndex
    }
}
