import Testing
@testable import WebhookSignature

/// One RFC 4231 test case (section 4), key and data as bytes.
struct RFC4231Case: Sendable, CustomTestStringConvertible {
    let number: Int
    let key: [UInt8]
    let data: [UInt8]
    let hmacSHA256: String
    var testDescription: String { "RFC 4231 test case \(number)" }

    // Case 5 is omitted: it tests truncation to 128 bits, which HMAC-SHA256 callers here never do.
    static let all: [RFC4231Case] = [
        RFC4231Case(
            number: 1, key: [UInt8](repeating: 0x0b, count: 20), data: Array("Hi There".utf8),
            hmacSHA256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        RFC4231Case(
            number: 2, key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8),
            hmacSHA256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        RFC4231Case(
            number: 3, key: [UInt8](repeating: 0xaa, count: 20), data: [UInt8](repeating: 0xdd, count: 50),
            hmacSHA256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        RFC4231Case(
            number: 4, key: Array(1...25), data: [UInt8](repeating: 0xcd, count: 50),
            hmacSHA256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        RFC4231Case(
            number: 6, key: [UInt8](repeating: 0xaa, count: 131),
            data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
            hmacSHA256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        RFC4231Case(
            number: 7, key: [UInt8](repeating: 0xaa, count: 131),
            data: Array(
                "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
                    .utf8),
            hmacSHA256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ]
}

@Suite("HMAC-SHA256 through libcrypto")
struct HMACSHA256Tests {
    @Test("matches the published RFC 4231 vectors", arguments: RFC4231Case.all)
    func rfc4231(_ vector: RFC4231Case) {
        let code = HMACSHA256.authenticationCode(key: vector.key, message: vector.data)
        #expect(code.count == HMACSHA256.byteCount)
        #expect(hexString(code) == vector.hmacSHA256)
    }

    @Test("feeding the message in parts gives the same code as feeding it whole", arguments: RFC4231Case.all)
    func parts(_ vector: RFC4231Case) {
        let whole = HMACSHA256.authenticationCode(key: vector.key, message: vector.data)
        for cut in [0, 1, vector.data.count / 2, vector.data.count] {
            let head = Array(vector.data[..<cut])
            let tail = Array(vector.data[cut...])
            #expect(HMACSHA256.authenticationCode(key: vector.key, message: head, [], tail) == whole)
            #expect(HMACSHA256.authenticationCode(key: vector.key, messageParts: [head, tail]) == whole)
            head.withUnsafeBytes { head in
                tail.withUnsafeBytes { tail in
                    #expect(HMACSHA256.authenticationCode(key: vector.key, message: head, tail) == whole)
                }
            }
        }
    }

    @Test("an empty key and an empty message are valid input")
    func emptyKeyAndMessage() {
        // Value from Python's hmac module.
        #expect(
            hexString(HMACSHA256.authenticationCode(key: [], message: []))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
        #expect(HMACSHA256.authenticationCode(key: [], messageParts: []).count == 32)
    }

    @Test("the reference example's digest is reproduced from its three signed parts")
    func referenceDigest() {
        let code = HMACSHA256.authenticationCode(
            key: Array(Reference.secret.utf8), message: Array("1700000000".utf8), Array(".".utf8), Reference.body)
        #expect(hexString(code) == Reference.hmacHex)
    }

    @Test("constant-time comparison is equality, and false when lengths differ")
    func constantTimeEquals() {
        let code = hexBytes(Reference.hmacHex)
        #expect(HMACSHA256.constantTimeEquals(code, code))
        #expect(HMACSHA256.constantTimeEquals([], []))
        var flipped = code
        flipped[31] ^= 0x01
        #expect(!HMACSHA256.constantTimeEquals(code, flipped))
        flipped = code
        flipped[0] ^= 0x80
        #expect(!HMACSHA256.constantTimeEquals(code, flipped))
        #expect(!HMACSHA256.constantTimeEquals(code, Array(code.dropLast())))
        #expect(!HMACSHA256.constantTimeEquals(code, []))
    }

    @Test("one keyed context serves many threads at once and gives the same code each time")
    func sharedKeyAcrossThreads() async {
        let key = Array(Reference.secret.utf8).withUnsafeBytes { HMACSHA256.Key($0) }
        let expected = hexBytes(Reference.hmacHex)
        let allMatch = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var ok = true
                    let element = Array("1700000000".utf8)
                    for _ in 0..<500 {
                        var code = [UInt8](repeating: 0, count: 32)
                        element.withUnsafeBytes { element in
                            Reference.body.withUnsafeBytes { body in
                                code.withUnsafeMutableBytes { code in
                                    key.signedPayloadCode(timestampElement: element, body: body, into: code)
                                }
                            }
                        }
                        ok = ok && code == expected
                    }
                    return ok
                }
            }
            return await group.allSatisfy { $0 }
        }
        #expect(allMatch)
    }
}
