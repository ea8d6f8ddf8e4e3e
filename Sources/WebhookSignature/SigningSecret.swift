/// One webhook signing secret; `expiresAt` lets an old secret stay valid for a while after rotation.
///
/// Every textual form (`description`, `debugDescription`, `dump`) redacts the secret, so a secret that
/// reaches a log line or an error message by accident shows up as `SigningSecret(redacted…)`.
public struct SigningSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The HMAC key: the UTF-8 bytes of the token exactly as Digital River shows it.
    let keyBytes: [UInt8]

    /// Unix seconds from which the secret is no longer accepted; nil means it never expires.
    public let expiresAt: Int64?

    /// Wraps `secret` (the token from the Dashboard); `expiresAt` (unix seconds) ends its validity, e.g. after rotation.
    public init(_ secret: String, expiresAt: Int64? = nil) {
        self.keyBytes = Array(secret.utf8)
        self.expiresAt = expiresAt
    }

    /// True while `now` (unix seconds) is before `expiresAt`: the secret stops working at that very second.
    /// The secret as text, for signing (the `sign` command, the sandbox). Deliberately not `description`.
    public var secretForSigning: String { String(decoding: keyBytes, as: UTF8.self) }

    public func isActive(at now: Int64) -> Bool {
        guard let expiresAt else { return true }
        return now < expiresAt
    }

    /// `SigningSecret(redacted)` or `SigningSecret(redacted, expiresAt: <unix seconds>)`.
    public var description: String {
        guard let expiresAt else { return "SigningSecret(redacted)" }
        return "SigningSecret(redacted, expiresAt: \(expiresAt))"
    }

    /// The same redacted text as `description`.
    public var debugDescription: String { description }

    /// Without this, `dump()` and the default reflection would print the key bytes.
    public var customMirror: Mirror {
        Mirror(self, children: ["expiresAt": expiresAt as Any], displayStyle: .struct)
    }
}
