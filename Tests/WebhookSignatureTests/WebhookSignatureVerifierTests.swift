import Testing
@testable import WebhookSignature

@Suite("Webhook signature verification")
struct WebhookSignatureVerifierTests {
    static let now: Int64 = Reference.timestamp

    /// A verifier whose clock always reads `now`.
    static func verifier(
        _ secrets: [SigningSecret] = [SigningSecret(Reference.secret)], tolerance: Int64 = 300, now: Int64 = now
    ) -> WebhookSignatureVerifier {
        WebhookSignatureVerifier(secrets: secrets, tolerance: tolerance, now: { now })
    }

    // MARK: The reference's worked example and extra vectors (§6.3)

    @Test("the reference worked example is accepted and reports its timestamp and secret")
    func referenceExample() throws {
        #expect(
            WebhookSigner.header(secret: Reference.secret, timestamp: Reference.timestamp, body: Reference.body)
                == Reference.header)
        let verified = try Self.verifier().verify(header: Reference.header, body: Reference.body)
        #expect(verified == VerifiedSignature(timestamp: 1_700_000_000, secretIndex: 0))
    }

    @Test("the reference's old-secret vector is produced and accepted while that secret is still valid")
    func referenceOldSecret() throws {
        #expect(
            WebhookSigner.signature(secret: Reference.oldSecret, timestampElement: "1700000000", body: Reference.body)
                == Reference.oldSecretSignature)
        let verifier = Self.verifier([
            SigningSecret(Reference.secret), SigningSecret(Reference.oldSecret, expiresAt: Self.now + 43_200),
        ])
        let verified = try verifier.verify(header: "1700000000, \(Reference.oldSecretSignature)", body: Reference.body)
        #expect(verified.secretIndex == 1)
    }

    @Test("a t= timestamp element is signed verbatim, prefix included")
    func referenceTPrefix() throws {
        #expect(
            WebhookSigner.signature(secret: Reference.secret, timestampElement: "t=1700000000", body: Reference.body)
                == Reference.tPrefixSignature)
        let verified = try Self.verifier().verify(
            header: "t=1700000000, \(Reference.tPrefixSignature)", body: Reference.body)
        #expect(verified.timestamp == 1_700_000_000)
        // The unprefixed signature does not cover "t=…", so it must not verify under a t= element.
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try Self.verifier().verify(header: "t=1700000000, \(Reference.signature)", body: Reference.body)
        }
    }

    @Test("the reference's rotation header verifies with either secret configured alone or both")
    func referenceRotationHeader() throws {
        let both = Self.verifier([SigningSecret(Reference.secret), SigningSecret(Reference.oldSecret)])
        #expect(try both.verify(header: Reference.rotationHeader, body: Reference.body).secretIndex == 0)
        let newOnly = Self.verifier([SigningSecret(Reference.secret)])
        #expect(try newOnly.verify(header: Reference.rotationHeader, body: Reference.body).secretIndex == 0)
        let oldOnly = Self.verifier([SigningSecret(Reference.oldSecret)])
        #expect(try oldOnly.verify(header: Reference.rotationHeader, body: Reference.body).secretIndex == 0)
        let neither = Self.verifier([SigningSecret("some_other_secret")])
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try neither.verify(header: Reference.rotationHeader, body: Reference.body)
        }
    }

    // MARK: Tampering and secrets

    @Test("a body changed in any single byte is rejected as signatureMismatch")
    func tamperedBody() {
        let verifier = Self.verifier()
        for position in [0, 1, 100, Reference.body.count - 1] {
            var body = Reference.body
            body[position] ^= 0x01
            #expect(throws: WebhookSignatureRejection.signatureMismatch) {
                try verifier.verify(header: Reference.header, body: body)
            }
        }
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try verifier.verify(header: Reference.header, body: Reference.body + [0x20])
        }
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try verifier.verify(header: Reference.header, body: Array(Reference.body.dropLast()))
        }
    }

    @Test("a changed timestamp is rejected as signatureMismatch, even within the tolerance")
    func tamperedTimestamp() {
        let verifier = Self.verifier()
        for element in ["1700000001", "1699999999", "01700000000", "1700000000000"] {
            #expect(throws: WebhookSignatureRejection.signatureMismatch) {
                try verifier.verify(header: "\(element), \(Reference.signature)", body: Reference.body)
            }
        }
    }

    @Test("a signature made with another secret is rejected as signatureMismatch")
    func wrongSecret() {
        let header = WebhookSigner.header(
            secret: "not_the_configured_secret", timestamp: Self.now, body: Reference.body)
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try Self.verifier().verify(header: header, body: Reference.body)
        }
        // Secrets are case-sensitive bytes.
        let upper = WebhookSigner.header(
            secret: Reference.secret.uppercased(), timestamp: Self.now, body: Reference.body)
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try Self.verifier().verify(header: upper, body: Reference.body)
        }
    }

    @Test("after rotation the old secret is accepted until its expiry and refused from that second on")
    func rotationExpiry() throws {
        let header = WebhookSigner.header(secret: Reference.oldSecret, timestamp: Self.now, body: Reference.body)
        let rotated = { (expiresAt: Int64) in
            Self.verifier([SigningSecret(Reference.secret), SigningSecret(Reference.oldSecret, expiresAt: expiresAt)])
        }
        #expect(try rotated(Self.now + 1).verify(header: header, body: Reference.body).secretIndex == 1)
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try rotated(Self.now).verify(header: header, body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.signatureMismatch) {
            try rotated(Self.now - 3600).verify(header: header, body: Reference.body)
        }
        // The new secret keeps working whatever happened to the old one.
        #expect(try rotated(Self.now - 3600).verify(header: Reference.header, body: Reference.body).secretIndex == 0)
    }

    @Test("when every secret has expired the rejection is noActiveSecret, not a mismatch")
    func noActiveSecret() {
        let expired = Self.verifier([
            SigningSecret(Reference.secret, expiresAt: Self.now), SigningSecret(Reference.oldSecret, expiresAt: 1),
        ])
        #expect(throws: WebhookSignatureRejection.noActiveSecret) {
            try expired.verify(header: Reference.header, body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.noActiveSecret) {
            try Self.verifier([]).verify(header: Reference.header, body: Reference.body)
        }
        // A missing or malformed header is still reported as such: it is the request's fault first.
        #expect(throws: WebhookSignatureRejection.missingHeader) {
            try expired.verify(header: nil, body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.malformedHeader) {
            try expired.verify(header: "", body: Reference.body)
        }
    }

    // MARK: Freshness

    @Test("a correctly signed timestamp more than the tolerance in the past is timestampOutsideTolerance")
    func tooOld() throws {
        #expect(
            try Self.verifier(now: Self.now + 300).verify(header: Reference.header, body: Reference.body).timestamp
                == Self.now)
        #expect(throws: WebhookSignatureRejection.timestampOutsideTolerance) {
            try Self.verifier(now: Self.now + 301).verify(header: Reference.header, body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.timestampOutsideTolerance) {
            try Self.verifier(now: Self.now + 86_400 * 365).verify(header: Reference.header, body: Reference.body)
        }
    }

    @Test("a correctly signed timestamp more than the tolerance in the future is timestampOutsideTolerance")
    func tooNew() throws {
        #expect(
            try Self.verifier(now: Self.now - 300).verify(header: Reference.header, body: Reference.body).timestamp
                == Self.now)
        #expect(throws: WebhookSignatureRejection.timestampOutsideTolerance) {
            try Self.verifier(now: Self.now - 301).verify(header: Reference.header, body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.timestampOutsideTolerance) {
            try Self.verifier(now: Int64.min).verify(header: Reference.header, body: Reference.body)
        }
    }

    @Test("the tolerance is configurable, and zero demands the exact second")
    func customTolerance() throws {
        #expect(
            try Self.verifier(tolerance: 0).verify(header: Reference.header, body: Reference.body).timestamp == Self.now
        )
        #expect(throws: WebhookSignatureRejection.timestampOutsideTolerance) {
            try Self.verifier(tolerance: 0, now: Self.now + 1).verify(header: Reference.header, body: Reference.body)
        }
        #expect(
            try Self.verifier(tolerance: 3600, now: Self.now + 3600).verify(
                header: Reference.header, body: Reference.body
            ).timestamp == Self.now)
    }

    @Test("a forged header is signatureMismatch whether its timestamp is fresh or stale (HMAC is checked first)")
    func forgeryIsAlwaysMismatch() {
        let forged = Base64.encode([UInt8](repeating: 0x42, count: 32))
        for now in [Self.now, Self.now + 10_000, Self.now - 10_000] {
            #expect(throws: WebhookSignatureRejection.signatureMismatch) {
                try Self.verifier(now: now).verify(header: "1700000000, \(forged)", body: Reference.body)
            }
        }
    }

    @Test("a millisecond timestamp is accepted and reported in seconds")
    func milliseconds() throws {
        let element = "1700000000123"
        let signature = WebhookSigner.signature(
            secret: Reference.secret, timestampElement: element, body: Reference.body)
        let verified = try Self.verifier().verify(header: "\(element), \(signature)", body: Reference.body)
        #expect(verified.timestamp == 1_700_000_000)
        #expect(throws: WebhookSignatureRejection.timestampOutsideTolerance) {
            try Self.verifier(now: Self.now + 301).verify(header: "\(element), \(signature)", body: Reference.body)
        }
    }

    // MARK: Header shapes

    @Test("a candidate labelled v1= (or another short lowercase label) is accepted with the label removed")
    func labelledCandidate() throws {
        let verifier = Self.verifier()
        for label in ["v1=", "v0=", "s=", "sig1=", "v12="] {
            #expect(
                try verifier.verify(header: "1700000000, \(label)\(Reference.signature)", body: Reference.body)
                    .secretIndex == 0)
        }
        #expect(
            try verifier.verify(header: "t=1700000000,v1=\(Reference.tPrefixSignature)", body: Reference.body).timestamp
                == Self.now)
        // Only ^[a-z][a-z0-9]{0,3}= is a label; anything else stays part of the candidate and cannot match.
        for notALabel in ["V1=", "1v=", "sigs1=", "v-1=", "=", "v1==", " v1 ="] {
            #expect(throws: WebhookSignatureRejection.signatureMismatch) {
                try verifier.verify(header: "1700000000, \(notALabel)\(Reference.signature)", body: Reference.body)
            }
        }
    }

    @Test("spaces and tabs around elements are ignored; the separator may be a bare comma")
    func whitespace() throws {
        let verifier = Self.verifier()
        for header in [
            "1700000000,\(Reference.signature)", "\t1700000000\t,\t\(Reference.signature)\t",
            "  1700000000  ,   \(Reference.signature)  ", "1700000000, , \(Reference.signature),",
        ] {
            #expect(try verifier.verify(header: header, body: Reference.body).timestamp == Self.now)
        }
    }

    @Test("the matching candidate may come anywhere in the list")
    func candidateOrder() throws {
        let junk = Base64.encode([UInt8](repeating: 7, count: 32))
        let header = "1700000000, not-base64, \(junk), v1=\(junk), \(Reference.signature)"
        #expect(try Self.verifier().verify(header: header, body: Reference.body).secretIndex == 0)
    }

    static let malformedCases: [(String?, WebhookSignatureRejection.Code)] = [
        (nil, .missingHeader),
        ("", .malformedHeader),
        ("   \t ", .malformedHeader),
        (",", .malformedHeader),
        (",,,", .malformedHeader),
        (" , , ", .malformedHeader),
        ("1700000000", .malformedHeader),
        ("1700000000,", .malformedHeader),
        ("1700000000, ", .malformedHeader),
        ("1700000000 /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedHeader),
        (", /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("abc, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("t=, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("T=1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("ts=1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("-1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("+1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("1700000000.5, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("1700 000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("0x6553f100, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("１７００００００００, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("1234567890123456789, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        ("99999999999999999999999, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=", .malformedTimestamp),
        // Candidates that are not strict Base64 of 32 bytes cannot match: a mismatch, not a crash.
        ("1700000000, !!!!", .signatureMismatch),
        ("1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk", .signatureMismatch),
        ("1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk==", .signatureMismatch),
        ("1700000000, _ewjfHeENnj4mvlBSq_gdpooJYKx8se-NUq_J29_Isk=", .signatureMismatch),
        ("1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isl=", .signatureMismatch),
        (
            "1700000000, ZmRlYzIzN2M3Nzg0MzY3OGY4OWFmOTQxNGFhZmUwNzY5YTI4MjU4MmIxZjJjN2JlMzU0YWJmMjc2ZjdmMjJjOQ==",
            .signatureMismatch
        ),
        ("1700000000, fdec237c77843678f89af9414aafe0769a282582b1f2c7be354abf276f7f22c9", .signatureMismatch),
        ("1700000000, =", .signatureMismatch),
        ("1700000000, v1=", .signatureMismatch),
    ]

    @Test("each malformed header shape maps to its rejection code", arguments: malformedCases)
    func malformed(_ header: String?, _ expected: WebhookSignatureRejection.Code) {
        #expect(throws: WebhookSignatureRejection(expected)) {
            try Self.verifier().verify(header: header, body: Reference.body)
        }
    }

    @Test("a header longer than 4096 bytes is malformedHeader; exactly 4096 is still read")
    func oversizedHeader() throws {
        #expect(WebhookSignatureVerifier.maximumHeaderLength == 4096)
        let padded = Reference.header + String(repeating: " ", count: 4096 - Reference.header.utf8.count)
        #expect(padded.utf8.count == 4096)
        #expect(try Self.verifier().verify(header: padded, body: Reference.body).secretIndex == 0)
        #expect(throws: WebhookSignatureRejection.malformedHeader) {
            try Self.verifier().verify(header: padded + " ", body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.malformedHeader) {
            try Self.verifier().verify(
                header: "1700000000, " + String(repeating: "A", count: 1_000_000), body: Reference.body)
        }
    }

    @Test("more than 16 elements after the timestamp is malformedHeader; 16 is still read")
    func tooManyCandidates() throws {
        #expect(WebhookSignatureVerifier.maximumCandidateCount == 16)
        let junk = Base64.encode([UInt8](repeating: 1, count: 32))
        let sixteen = ([String](repeating: junk, count: 15) + [Reference.signature]).joined(separator: ", ")
        #expect(try Self.verifier().verify(header: "1700000000, \(sixteen)", body: Reference.body).secretIndex == 0)
        #expect(throws: WebhookSignatureRejection.malformedHeader) {
            try Self.verifier().verify(header: "1700000000, \(junk), \(sixteen)", body: Reference.body)
        }
        #expect(throws: WebhookSignatureRejection.malformedHeader) {
            try Self.verifier().verify(
                header: "1700000000, \(Reference.signature)" + String(repeating: ",", count: 16), body: Reference.body)
        }
    }

    // MARK: Bodies, concurrency, hygiene

    @Test("borrowed raw body buffers verify like arrays, including an empty body without a base address")
    func rawBodies() throws {
        let verifier = Self.verifier()
        let verified = try Reference.body.withUnsafeBytes { body throws(WebhookSignatureRejection) in
            try verifier.verify(header: Reference.header, body: body)
        }
        #expect(verified.secretIndex == 0)
        let emptyHeader = WebhookSigner.header(secret: Reference.secret, timestamp: Self.now, body: [])
        #expect(
            try verifier.verify(header: emptyHeader, body: UnsafeRawBufferPointer(start: nil, count: 0)).timestamp
                == Self.now)
        #expect(try verifier.verify(header: emptyHeader, body: []).timestamp == Self.now)
    }

    @Test("a Result can be built from the typed-throwing verify")
    func resultForm() {
        let accepted = Result { () throws(WebhookSignatureRejection) in
            try Self.verifier().verify(header: Reference.header, body: Reference.body)
        }
        #expect(accepted == .success(VerifiedSignature(timestamp: Self.now, secretIndex: 0)))
        let refused = Result { () throws(WebhookSignatureRejection) in
            try Self.verifier().verify(header: nil, body: Reference.body)
        }
        #expect(refused == .failure(.missingHeader))
    }

    @Test("one verifier shared by many concurrent tasks gives every caller the right answer")
    func concurrentVerification() async {
        let verifier = Self.verifier([SigningSecret(Reference.secret), SigningSecret(Reference.oldSecret)])
        let oldHeader = "1700000000, \(Reference.oldSecretSignature)"
        var flipped = Reference.body
        flipped[10] ^= 0x20
        let tampered = flipped
        let body = Reference.body
        let failures = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var failures = 0
                    for round in 0..<400 {
                        switch (task + round) % 3 {
                        case 0:
                            if (try? verifier.verify(header: Reference.header, body: body))?.secretIndex != 0 {
                                failures += 1
                            }
                        case 1:
                            if (try? verifier.verify(header: oldHeader, body: body))?.secretIndex != 1 { failures += 1 }
                        default:
                            do throws(WebhookSignatureRejection) {
                                _ = try verifier.verify(header: Reference.header, body: tampered)
                                failures += 1
                            } catch {
                                if error.code != .signatureMismatch { failures += 1 }
                            }
                        }
                    }
                    return failures
                }
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
    }

    @Test("a rejection's text names only its code, never the header, body or secret")
    func rejectionText() {
        for code in WebhookSignatureRejection.Code.allCases {
            let text =
                String(describing: WebhookSignatureRejection(code))
                + String(reflecting: WebhookSignatureRejection(code))
            #expect(text.contains(code.rawValue))
            #expect(!text.contains(Reference.signature))
            #expect(!text.contains(Reference.secret))
        }
        #expect(
            WebhookSignatureRejection.Code.allCases.map(\.rawValue) == [
                "missingHeader", "malformedHeader", "malformedTimestamp", "timestampOutsideTolerance",
                "signatureMismatch",
                "noActiveSecret",
            ])
    }
}
