import Testing
@testable import WebhookSignature

@Suite("Strict Base64")
struct Base64Tests {
    // RFC 4648 §10.
    static let rfc4648: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test("encodes and decodes the RFC 4648 test vectors")
    func rfc4648Vectors() {
        for (plain, encoded) in Self.rfc4648 {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test("round-trips every byte value and every length up to 70")
    func roundTrip() {
        let all = (0...255).map(UInt8.init)
        #expect(Base64.decode(Base64.encode(all)) == all)
        for length in 0...70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let encoded = Base64.encode(bytes)
            #expect(encoded.utf8.count == (length + 2) / 3 * 4)
            #expect(Base64.decode(encoded) == bytes)
            bytes.withUnsafeBytes { #expect(Base64.encode($0) == encoded) }
        }
    }

    @Test("uses the standard alphabet, + and /")
    func standardAlphabet() {
        #expect(Base64.encode([0xfb, 0xff, 0xbf]) == "+/+/")
        #expect(Base64.decode("+/+/") == [0xfb, 0xff, 0xbf])
    }

    @Test(
        "rejects anything a canonical encoder would not produce",
        arguments: [
            "Zg", "Zg=", "Zm9", "Z",  // length not a multiple of 4 (missing padding)
            "Zm9v ", " Zm9v", "Zm9v\n", "Zm 9v", "Zm9v\r\n",  // whitespace anywhere
            "-_-_", "Zm9v_w==",  // URL-safe alphabet
            "Zg==Zm9v", "Zm=v", "=Zm9", "Z===", "====",  // padding not at the end, or too much
            "Zh==", "Zm9=",  // non-zero bits before the padding (non-canonical)
            "Zm9vü===", "Zm9v\0\0\0\0", "Zm9v!!!!",  // not in the alphabet at all
        ])
    func rejectsMalformed(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test("the empty string decodes to no bytes")
    func empty() {
        #expect(Base64.decode("") == [])
    }

    @Test("decodes a Substring without copying it into a String first")
    func substring() {
        let header = "1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk="
        let candidate = header.split(separator: " ")[1]
        #expect(Base64.decode(candidate) == hexBytes(Reference.hmacHex))
    }
}
