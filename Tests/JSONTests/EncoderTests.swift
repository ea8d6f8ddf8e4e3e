import JSON
import Testing

@Suite("Encoding")
struct EncoderTests {
    @Test("output is compact, in stored key order, with numbers as written")
    func compact() {
        let value: JSONValue = ["b": [1, true, nil, "x"], "a": ["c": 2.5, "d": [:]], "e": []]
        #expect(text(value.encoded()) == #"{"b":[1,true,null,"x"],"a":{"c":2.5,"d":{}},"e":[]}"#)
    }

    @Test("strings escape only quote, backslash and control characters", arguments: [
        ("plain", #""plain""#),
        ("say \"hi\"", #""say \"hi\"""#),
        ("back\\slash", #""back\\slash""#),
        ("a/b", #""a/b""#),
        ("line\nfeed\r\ttab", #""line\nfeed\r\ttab""#),
        ("\u{8}\u{C}", #""\b\f""#),
        ("\u{0}\u{1}\u{1F}", #""\u0000\u0001\u001f""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("é€😀\u{2028}", "\"é€😀\u{2028}\""),
        ("", #""""#),
    ])
    func minimalEscaping(_ input: String, _ expected: String) {
        #expect(text(JSONValue.string(input).encoded()) == expected)
    }

    @Test("every control character uses its short form or \\u00XX")
    func allControlCharacters() throws {
        for byte in UInt8(0)..<0x20 {
            let string = String(decoding: [byte], as: UTF8.self)
            let encoded = JSONValue.string(string).encoded()
            #expect(encoded == referenceEscaped(string))
            #expect(try JSONValue.parse(encoded) == .string(string))
        }
    }

    @Test("escaping matches a byte-at-a-time reference at every position around the 8-byte boundary")
    func escapingBoundaries() {
        for special in ["\"", "\\", "\n", "\u{1}", "é", "a"] {
            for length in 0..<40 {
                for position in 0...length {
                    var string = String(repeating: "x", count: length)
                    string.insert(contentsOf: special, at: string.index(string.startIndex, offsetBy: position))
                    #expect(JSONValue.string(string).encoded() == referenceEscaped(string))
                }
            }
        }
    }

    @Test("appendEscaped writes a quoted string after existing bytes")
    func appendEscaped() {
        var buffer = Array(#"{"id":"#.utf8)
        JSONValue.appendEscaped("a\"b", to: &buffer)
        #expect(text(buffer) == #"{"id":"a\"b""#)
        var viaWriter: [UInt8] = [0x20]
        JSONWriter.appendEscaped("plain/é", to: &viaWriter)
        #expect(text(viaWriter) == " \"plain/é\"")
        #expect(JSONWriter.escapedCount("a\"b\u{1}") == 2 + 1 + 2 + 1 + 6)
    }

    @Test("encode(into:) appends to what is already in the buffer")
    func encodeInto() {
        var buffer = Array("prefix:".utf8)
        JSONValue(arrayLiteral: 1, "two").encode(into: &buffer)
        #expect(text(buffer) == #"prefix:[1,"two"]"#)
    }

    @Test("encodedCount equals the length of the encoding")
    func encodedCount() {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<300 {
            let value = randomValue(&rng)
            #expect(value.encodedCount == value.encoded().count)
        }
    }

    @Test("description is the compact encoding")
    func description() {
        let value: JSONValue = ["k": [1, "v"]]
        #expect(value.description == #"{"k":[1,"v"]}"#)
        #expect("\(value)" == #"{"k":[1,"v"]}"#)
    }

    @Test("random trees survive encode then parse unchanged")
    func randomRoundTrip() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<500 {
            let value = randomValue(&rng)
            let encoded = value.encoded()
            let decoded = try JSONValue.parse(encoded, limits: JSONLimits(allowDuplicateKeys: false))
            #expect(decoded == value)
            #expect(decoded.encoded() == encoded)
        }
    }

    @Test("large strings and documents encode without truncation")
    func largeOutput() throws {
        let big = String(repeating: "0123456789\"", count: 50_000)
        let value: JSONValue = ["big": .string(big), "list": .array((0..<10_000).map { .number(JSONNumber($0)) })]
        let encoded = value.encoded()
        #expect(encoded.count == value.encodedCount)
        #expect(try JSONValue.parse(encoded) == value)
    }
}
