import Testing
@testable import WebhookSignature

@Suite("Signing secrets and the configured secret list")
struct SigningSecretTests {
    static let secret = "whsec_SUPERSECRET_token"

    @Test("a secret never appears in description, debugDescription, interpolation or dump")
    func redaction() {
        let secret = SigningSecret(Self.secret, expiresAt: 1_700_043_200)
        var dumped = ""
        dump(secret, to: &dumped)
        for text in ["\(secret)", String(describing: secret), String(reflecting: secret), dumped, "\([secret])"] {
            #expect(!text.contains("SUPERSECRET"))
            #expect(text.contains("redacted") || text.contains("1700043200"))
        }
        #expect(secret.description == "SigningSecret(redacted, expiresAt: 1700043200)")
        #expect(SigningSecret(Self.secret).description == "SigningSecret(redacted)")
    }

    @Test("a secret is active until the second of its expiry")
    func activity() {
        #expect(SigningSecret("a").isActive(at: .max))
        #expect(SigningSecret("a", expiresAt: 100).isActive(at: 99))
        #expect(!SigningSecret("a", expiresAt: 100).isActive(at: 100))
    }

    @Test("the key is the UTF-8 of the token")
    func keyBytes() {
        #expect(SigningSecret("sécret").keyBytes == [0x73, 0xc3, 0xa9, 0x63, 0x72, 0x65, 0x74])
    }

    static let validLists: [(String, [Int64?])] = [
        ("whsec_current", [nil]),
        ("whsec_current, whsec_previous@1700043200", [nil, 1_700_043_200]),
        ("whsec_current,whsec_previous@2023-11-15T10:13:20Z", [nil, 1_700_043_200]),
        ("a@2023-11-15T12:13:20+02:00", [1_700_043_200]),
        ("a@2023-11-15T05:13:20-05:00", [1_700_043_200]),
        ("a@2023-11-15T10:13:20.999Z", [1_700_043_200]),
        ("a@2023-11-15t10:13:20z", [1_700_043_200]),
        ("a@1700043200000", [1_700_043_200]),
        ("a@2024-02-29T00:00:00Z", [1_709_164_800]),
        ("a@2000-02-29T23:59:59Z", [951_868_799]),
        ("a@0", [0]),
        ("  a ,\n b @ 1700043200 \n", [nil, 1_700_043_200]),
        ("a,b,c@1,d@2", [nil, nil, 1, 2]),
    ]

    @Test("valid lists parse in order with their expiries", arguments: validLists)
    func parses(_ text: String, _ expiries: [Int64?]) throws {
        let secrets = try SigningSecretList.parse(text)
        #expect(secrets.map(\.expiresAt) == expiries)
    }

    @Test("the secrets keep their exact bytes, newest first")
    func secretBytes() throws {
        let secrets = try SigningSecretList.parse(" demo_signing_secret_123 , demo_old_secret_456@1700043200, sécret-🔑")
        #expect(
            secrets.map(\.keyBytes) == [
                Array("demo_signing_secret_123".utf8), Array("demo_old_secret_456".utf8), Array("sécret-🔑".utf8),
            ])
    }

    @Test("a parsed list drives the verifier, rotation included")
    func parsedListVerifies() throws {
        let secrets = try SigningSecretList.parse("\(Reference.secret), \(Reference.oldSecret)@2023-11-15T10:13:20Z")
        let verifier = WebhookSignatureVerifier(secrets: secrets, now: { Reference.timestamp })
        let header = "1700000000, \(Reference.oldSecretSignature)"
        #expect(try verifier.verify(header: header, body: Reference.body).secretIndex == 1)
    }

    static let invalidLists: [(String, SigningSecretListError)] = [
        ("", SigningSecretListError(.noSecrets, entry: nil)),
        ("  \n ", SigningSecretListError(.noSecrets, entry: nil)),
        ("\(secret),,b", SigningSecretListError(.emptyEntry, entry: 2)),
        ("\(secret),", SigningSecretListError(.emptyEntry, entry: 2)),
        (",\(secret)", SigningSecretListError(.emptyEntry, entry: 1)),
        ("@1700043200", SigningSecretListError(.emptySecret, entry: 1)),
        ("b, @1700043200", SigningSecretListError(.emptySecret, entry: 2)),
        ("whsec_SUPER SECRET_token", SigningSecretListError(.invalidCharacterInSecret, entry: 1)),
        ("b,whsec_SUPER\u{7}SECRET", SigningSecretListError(.invalidCharacterInSecret, entry: 2)),
        ("b,whsec_SUPER\u{a0}SECRET", SigningSecretListError(.invalidCharacterInSecret, entry: 2)),
        ("\(secret)@", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@tomorrow", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@SUPERSECRET", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("whsec_SUPER@SECRET@1700043200", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@-5", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@17000432000000", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15T10:13:20", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15 10:13:20Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-02-29T00:00:00Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@1900-02-29T00:00:00Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-13-01T00:00:00Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15T24:00:00Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15T10:60:00Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15T10:13:20.Z", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15T10:13:20+0200", SigningSecretListError(.malformedExpiry, entry: 1)),
        ("\(secret)@2023-11-15T10:13:20Zjunk", SigningSecretListError(.malformedExpiry, entry: 1)),
    ]

    @Test("malformed lists throw an error that names the entry and never quotes it", arguments: invalidLists)
    func rejects(_ text: String, _ expected: SigningSecretListError) {
        do {
            let secrets = try SigningSecretList.parse(text)
            Issue.record("parsed \(secrets.count) secrets from a malformed list")
        } catch {
            #expect(error == expected)
            let message = String(describing: error) + String(reflecting: error)
            #expect(!message.contains("SUPER"))
            #expect(!message.contains("SECRET"))
            #expect(!message.contains("tomorrow"))
            #expect(message.contains("signing secret list"))
            if let entry = expected.entry { #expect(message.contains("entry \(entry)")) }
        }
    }
}
