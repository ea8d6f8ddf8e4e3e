/// Produces a `DigitalRiver-Signature` value exactly as Digital River would, for the `sign` command, the sandbox and tests.
public enum WebhookSigner {
    /// The header value `"<timestamp>, <base64 HMAC-SHA256(secret, "<timestamp>." + body)>"`; `timestamp` is unix seconds.
    public static func header(secret: String, timestamp: Int64, body: [UInt8]) -> String {
        let element = String(timestamp)
        return "\(element), \(signature(secret: secret, timestampElement: element, body: body))"
    }

    /// The Base64 signature over `timestampElement` taken verbatim (e.g. `t=1700000000`), a `.`, and `body`.
    public static func signature(secret: String, timestampElement: String, body: [UInt8]) -> String {
        let code = HMACSHA256.authenticationCode(
            key: Array(secret.utf8),
            message: Array(timestampElement.utf8), [UInt8(ascii: ".")], body
        )
        return Base64.encode(code)
    }
}
