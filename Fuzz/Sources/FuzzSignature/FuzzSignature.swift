import FuzzSupport
import WebhookSignature

private let secret = "whsec_fuzz_secret"
private let now: Int64 = 1_700_000_000
private let verifier = WebhookSignatureVerifier(
    secrets: [SigningSecret(secret), SigningSecret("whsec_expired", expiresAt: now - 1)], tolerance: 300,
    now: { now })

/// libFuzzer's entry point: the input is a `DigitalRiver-Signature` value, a newline, then the body.
/// Whatever the header, verification ends in a verdict (never a trap); a header it accepts must carry a fresh
/// timestamp and a correct HMAC for the first secret. The signer's own header for the body must verify, and must
/// stop verifying once the body changes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSignature(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = inputBytes(data, size)
    let newline = input.firstIndex(of: 0x0A) ?? input.count
    let header = String(decoding: input[..<newline], as: UTF8.self)
    let body = Array(input[min(newline + 1, input.count)...])

    if let verified = try? verifier.verify(header: header, body: body) {
        invariant(abs(verified.timestamp - now) <= 300, "accepted timestamp \(verified.timestamp)")
        invariant(verified.secretIndex == 0, "accepted the expired secret")
        let element0 = header.split(separator: ",", omittingEmptySubsequences: false).first
            .map { $0.trimmingBlanks() } ?? ""
        let expected = WebhookSigner.signature(secret: secret, timestampElement: String(element0), body: body)
        invariant(header.contains(expected), "accepted a header without the body's signature")
    }
    _ = try? verifier.verify(header: nil, body: body)

    let signed = WebhookSigner.header(secret: secret, timestamp: now, body: body)
    invariant((try? verifier.verify(header: signed, body: body)) != nil, "the signer's header was refused")
    invariant((try? verifier.verify(header: signed, body: body + [0x20])) == nil, "a changed body still verified")
    return 0
}

extension Substring {
    fileprivate func trimmingBlanks() -> Substring {
        var slice = self
        while slice.first == " " || slice.first == "\t" { slice.removeFirst() }
        while slice.last == " " || slice.last == "\t" { slice.removeLast() }
        return slice
    }
}
