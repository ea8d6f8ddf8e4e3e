import JSON
import Testing

@Suite("Limits")
struct LimitTests {
    @Test("defaults are 64 levels, 1 MiB strings, 16 MiB documents and no duplicate keys")
    func defaults() {
        let limits = JSONLimits()
        #expect(limits.maxDepth == 64)
        #expect(limits.maxStringBytes == 1 << 20)
        #expect(limits.maxBytes == 16 << 20)
        #expect(limits.allowDuplicateKeys == false)
    }

    @Test("64 nested arrays are accepted and the 65th is refused at its bracket")
    func arrayDepthBoundary() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONValue.parse(ok)
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(refusal(tooDeep) == JSONParseError(.depthLimitExceeded, offset: 64))
    }

    @Test("objects count toward depth the same way as arrays")
    func objectDepthBoundary() throws {
        let ok = String(repeating: #"{"a":"#, count: 63) + "{}" + String(repeating: "}", count: 63)
        _ = try JSONValue.parse(ok)
        let tooDeep = String(repeating: #"{"a":"#, count: 64) + "{}" + String(repeating: "}", count: 64)
        #expect(refusal(tooDeep) == JSONParseError(.depthLimitExceeded, offset: 64 * 5))
    }

    @Test("a custom depth limit is exact, and zero allows only scalars")
    func customDepth() throws {
        _ = try JSONValue.parse("[[1]]", limits: JSONLimits(maxDepth: 2))
        #expect(refusal("[[[1]]]", limits: JSONLimits(maxDepth: 2))?.code == .depthLimitExceeded)
        _ = try JSONValue.parse("1", limits: JSONLimits(maxDepth: 0))
        #expect(refusal("[]", limits: JSONLimits(maxDepth: 0)) == JSONParseError(.depthLimitExceeded, offset: 0))
        #expect(refusal("{}", limits: JSONLimits(maxDepth: 0)) == JSONParseError(.depthLimitExceeded, offset: 0))
    }

    @Test("a million opening brackets are refused at the depth limit without touching the stack")
    func nestingBomb() {
        let bomb = [UInt8](repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(refusal(bomb) == JSONParseError(.depthLimitExceeded, offset: 64))
        let objectBomb = Array(String(repeating: #"{"a":"#, count: 200_000).utf8)
        #expect(refusal(objectBomb) == JSONParseError(.depthLimitExceeded, offset: 64 * 5))
    }

    @Test("with the depth limit lifted, a million open brackets end unexpectedly instead of overflowing the stack")
    func nestingBombWithoutLimit() {
        let bomb = [UInt8](repeating: UInt8(ascii: "["), count: 1_000_000)
        #expect(refusal(bomb, limits: JSONLimits(maxDepth: .max)) == JSONParseError(.unexpectedEnd, offset: 1_000_000))
    }

    @Test("strings exactly at the byte limit are accepted and one byte more is refused")
    func stringBoundary() throws {
        let limits = JSONLimits(maxStringBytes: 5)
        _ = try JSONValue.parse(#"["abcde"]"#, limits: limits)
        #expect(refusal(#"["abcdef"]"#, limits: limits) == JSONParseError(.stringTooLong, offset: 1))
        // Multi-byte characters count in UTF-8 bytes: "éé" is 4 bytes, "ééé" is 6.
        _ = try JSONValue.parse(#"["éé"]"#, limits: limits)
        #expect(refusal(#"["ééé"]"#, limits: limits)?.code == .stringTooLong)
    }

    @Test("the string limit applies to decoded bytes, not to escape sequences")
    func stringLimitCountsDecodedBytes() throws {
        // Twelve input bytes that decode to "éé", four UTF-8 bytes.
        _ = try JSONValue.parse(#"["\u00e9\u00e9"]"#, limits: JSONLimits(maxStringBytes: 4))
        #expect(refusal(#"["\u00e9\u00e9"]"#, limits: JSONLimits(maxStringBytes: 3)) == JSONParseError(.stringTooLong, offset: 1))
        #expect(refusal(#"{"\u0061bcd":1}"#, limits: JSONLimits(maxStringBytes: 3)) == JSONParseError(.stringTooLong, offset: 1))
    }

    @Test("documents exactly at the size limit are accepted and one byte more is refused")
    func documentBoundary() throws {
        _ = try JSONValue.parse("[1,2]", limits: JSONLimits(maxBytes: 5))
        #expect(refusal("[1,2] ", limits: JSONLimits(maxBytes: 5)) == JSONParseError(.documentTooLarge, offset: 5))
    }

    @Test("duplicate keys are refused by default and, when allowed, the last value wins in the first position")
    func duplicateKeys() throws {
        let source = #"{"a":1,"b":2,"a":3}"#
        #expect(refusal(source) == JSONParseError(.duplicateKey, offset: 13))
        let value = try JSONValue.parse(source, limits: JSONLimits(allowDuplicateKeys: true))
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == 3)
        #expect(text(value.encoded()) == #"{"a":3,"b":2}"#)
    }

    @Test("duplicates are found in large objects too, in both modes")
    func duplicateKeysInLargeObjects() throws {
        var members = (0..<100).map { "\"k\($0)\":\($0)" }
        members.append(#""k3":"last""#)
        let source = "{" + members.joined(separator: ",") + "}"
        let offset = source.utf8.count - #""k3":"last"}"#.utf8.count
        #expect(refusal(source) == JSONParseError(.duplicateKey, offset: offset))
        let value = try JSONValue.parse(source, limits: JSONLimits(allowDuplicateKeys: true))
        #expect(value.objectValue?.count == 100)
        #expect(value.objectValue?.keys[3] == "k3")
        #expect(value["k3"] == "last")
        // A later key after the duplicate still appends normally.
        let more = try JSONValue.parse(String(source.dropLast()) + #","z":0}"#, limits: JSONLimits(allowDuplicateKeys: true))
        #expect(more.objectValue?.keys.last == "z")
    }

    @Test("keys are compared on decoded bytes: escapes match, canonically equivalent spellings do not")
    func duplicateKeyIdentity() throws {
        #expect(refusal(#"{"é":1,"\u00e9":2}"#)?.code == .duplicateKey)
        // Precomposed é (U+00E9) and e + combining acute (U+0065 U+0301) are different bytes, so different keys.
        let value = try JSONValue.parse("{\"\u{E9}\":1,\"e\u{301}\":2}")
        #expect(value.objectValue?.count == 2)
    }

    @Test("keys that share long prefixes and suffixes are still told apart")
    func fingerprintCollisions() throws {
        let keys = (0..<40).map { "prefix-prefix-\($0)-suffix-suffix" } + ["aaaaaaaaa", "aaaaaaaaaa", "aaaaaaa", "aaaaaaaa"]
        let source = "{" + keys.map { "\"\($0)\":0" }.joined(separator: ",") + "}"
        #expect(try JSONValue.parse(source).objectValue?.keys == keys)
        #expect(refusal(String(source.dropLast()) + #","prefix-prefix-7-suffix-suffix":1}"#)?.code == .duplicateKey)
    }
}
