import Testing
@testable import WebhookSignature

/// One row of Fixtures/vectors.tsv, produced by Fixtures/generate.sh with the openssl CLI and Python's hmac.
struct FixtureVector: Sendable, CustomTestStringConvertible {
    let name: String
    let secret: String
    let timestampElement: String
    let bodyFile: String
    let hmacHex: String
    let signature: String
    var testDescription: String { name }

    static func load() throws -> [FixtureVector] {
        let lines = try Fixtures.text("vectors.tsv").split(separator: "\n").filter { !$0.hasPrefix("#") }
        try #require(lines.first == "name\tsecret\ttimestamp_element\tbody_file\thmac_sha256_hex\tsignature_base64")
        return try lines.dropFirst().map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            try #require(fields.count == 6, "bad fixture row: \(line)")
            return FixtureVector(
                name: fields[0], secret: fields[1], timestampElement: fields[2], bodyFile: fields[3],
                hmacHex: fields[4],
                signature: fields[5])
        }
    }
}

@Suite("Independently generated vectors (Fixtures/vectors.tsv)")
struct FixtureVectorTests {
    @Test("the committed fixture has the expected cases")
    func inventory() throws {
        let vectors = try FixtureVector.load()
        #expect(vectors.count >= 10)
        let names = Set(vectors.map(\.name))
        for required in [
            "reference-example", "empty-body", "binary-body", "utf8-body", "large-64k-body", "non-ascii-secret",
        ] {
            #expect(names.contains(required))
        }
        let large = try #require(vectors.first { $0.name == "large-64k-body" })
        #expect(try Fixtures.bytes("bodies/" + large.bodyFile).count == 65_536)
        #expect(try Fixtures.bytes("bodies/empty.bin").isEmpty)
        #expect(try Fixtures.bytes("bodies/reference-343.json") == Reference.body)
    }

    @Test("HMAC, Base64, signer and verifier all agree with openssl and Python", arguments: try FixtureVector.load())
    func vector(_ vector: FixtureVector) throws {
        let body = try Fixtures.bytes("bodies/" + vector.bodyFile)
        let code = HMACSHA256.authenticationCode(
            key: Array(vector.secret.utf8), message: Array(vector.timestampElement.utf8), Array(".".utf8), body)
        #expect(hexString(code) == vector.hmacHex)
        #expect(Base64.encode(code) == vector.signature)
        #expect(Base64.decode(vector.signature) == code)
        #expect(
            WebhookSigner.signature(secret: vector.secret, timestampElement: vector.timestampElement, body: body)
                == vector.signature)

        let digits =
            vector.timestampElement.hasPrefix("t=")
            ? String(vector.timestampElement.dropFirst(2)) : vector.timestampElement
        let raw = try #require(Int64(digits))
        let seconds = raw > 1_000_000_000_000 ? raw / 1000 : raw
        let verifier = WebhookSignatureVerifier(
            secrets: [SigningSecret("unrelated"), SigningSecret(vector.secret)], now: { seconds + 5 })
        let verified = try verifier.verify(header: "\(vector.timestampElement), \(vector.signature)", body: body)
        #expect(verified == VerifiedSignature(timestamp: seconds, secretIndex: 1))

        if !body.isEmpty {
            var tampered = body
            tampered[tampered.count / 2] ^= 0x01
            #expect(throws: WebhookSignatureRejection.signatureMismatch) {
                try verifier.verify(header: "\(vector.timestampElement), \(vector.signature)", body: tampered)
            }
        }
    }
}
