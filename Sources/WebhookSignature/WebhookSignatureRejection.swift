/// Why a signature was refused; `code` is stable and goes to logs and metrics (never the header value or secret).
public struct WebhookSignatureRejection: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable reason codes; the raw values are what logs and metrics carry, so they never change.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The request had no `DigitalRiver-Signature` header.
        case missingHeader
        /// The header is empty, too long, has no signature or too many, or is otherwise not `<timestamp>, <signature>…`.
        case malformedHeader
        /// Element 0 is not digits (after an optional `t=`) or has too many of them.
        case malformedTimestamp
        /// The signature is authentic but its timestamp is further than the tolerance from now: a replay or a clock problem.
        case timestampOutsideTolerance
        /// No candidate signature matches any active secret: a forgery, a tampered body or timestamp, or a wrong secret.
        case signatureMismatch
        /// Every configured secret has expired, so nothing can be verified: a configuration problem on our side.
        case noActiveSecret
    }

    /// The reason, stable across releases.
    public let code: Code

    /// A rejection for `code`.
    public init(_ code: Code) {
        self.code = code
    }

    /// Shorthand for `WebhookSignatureRejection(.missingHeader)`, for `throw` and `#expect(throws:)`.
    public static let missingHeader = WebhookSignatureRejection(.missingHeader)
    /// Shorthand for `WebhookSignatureRejection(.malformedHeader)`, for `throw` and `#expect(throws:)`.
    public static let malformedHeader = WebhookSignatureRejection(.malformedHeader)
    /// Shorthand for `WebhookSignatureRejection(.malformedTimestamp)`, for `throw` and `#expect(throws:)`.
    public static let malformedTimestamp = WebhookSignatureRejection(.malformedTimestamp)
    /// Shorthand for `WebhookSignatureRejection(.timestampOutsideTolerance)`, for `throw` and `#expect(throws:)`.
    public static let timestampOutsideTolerance = WebhookSignatureRejection(.timestampOutsideTolerance)
    /// Shorthand for `WebhookSignatureRejection(.signatureMismatch)`, for `throw` and `#expect(throws:)`.
    public static let signatureMismatch = WebhookSignatureRejection(.signatureMismatch)
    /// Shorthand for `WebhookSignatureRejection(.noActiveSecret)`, for `throw` and `#expect(throws:)`.
    public static let noActiveSecret = WebhookSignatureRejection(.noActiveSecret)

    /// `webhook signature rejected: <code>`; nothing from the request.
    public var description: String { "webhook signature rejected: \(code.rawValue)" }
}
