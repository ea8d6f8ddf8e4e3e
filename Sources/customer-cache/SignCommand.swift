import ArgumentParser
import Foundation
import WebhookSignature

/// `customer-cache sign`: prints the `DigitalRiver-Signature` header Digital River would send for the body on stdin,
/// so operators can replay or hand-craft webhooks with curl.
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Print the DigitalRiver-Signature header for the event JSON on standard input.",
        discussion: """
            The body is signed byte for byte as read (no trailing newline is added or removed), so send exactly the
            same bytes, e.g. with curl --data-binary @event.json. The secret comes from --secret-file or, failing
            that, the first secret in CUSTOMER_CACHE_WEBHOOK_SECRETS; never from the command line.
            """
    )

    @Option(name: .customLong("secret-file"), help: "File holding the signing secret.")
    var secretFile: String?
    @Option(name: .customLong("timestamp"), help: "Unix seconds to sign with (default: now).")
    var timestamp: Int64?
    @Flag(name: .customLong("value-only"), help: "Print only the header value, without 'DigitalRiver-Signature: '.")
    var valueOnly = false

    func run() throws {
        let secret: String
        if let secretFile {
            guard let text = try? String(contentsOfFile: secretFile, encoding: .utf8) else {
                throw ValidationError("cannot read --secret-file \(secretFile)")
            }
            secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let list = ProcessInfo.processInfo.environment["CUSTOMER_CACHE_WEBHOOK_SECRETS"],
                  let first = try? SigningSecretList.parse(list).first {
            secret = first.secretForSigning
        } else {
            throw ValidationError("give --secret-file F or set CUSTOMER_CACHE_WEBHOOK_SECRETS")
        }
        guard !secret.isEmpty else { throw ValidationError("the signing secret is empty") }
        let body = Array(FileHandle.standardInput.readDataToEndOfFile())
        let value = WebhookSigner.header(secret: secret, timestamp: timestamp ?? Int64(Date().timeIntervalSince1970), body: body)
        print(valueOnly ? value : "DigitalRiver-Signature: \(value)")
    }
}
