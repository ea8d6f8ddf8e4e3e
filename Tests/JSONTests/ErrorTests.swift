import JSON
import Testing

/// A refused document with the exact error it must produce.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    let bytes: [UInt8]
    let limits: JSONLimits
    let expected: JSONParseError
    let note: String

    init(_ text: String, _ code: JSONParseError.Code, at offset: Int, limits: JSONLimits = .init(), _ note: String) {
        self.init(bytes: Array(text.utf8), code, at: offset, limits: limits, note)
    }

    init(bytes: [UInt8], _ code: JSONParseError.Code, at offset: Int, limits: JSONLimits = .init(), _ note: String) {
        self.bytes = bytes
        self.limits = limits
        self.expected = JSONParseError(code, offset: offset)
        self.note = note
    }

    var testDescription: String { "\(expected.code.rawValue): \(note)" }
}

let errorCases: [ErrorCase] = [
    ErrorCase("", .unexpectedEnd, at: 0, "empty input"),
    ErrorCase("[1,", .unexpectedEnd, at: 3, "input ends where a value is due"),
    ErrorCase(#"{"a":"b"#, .unexpectedEnd, at: 7, "input ends inside a string"),
    ErrorCase("[1,]", .unexpectedByte, at: 3, "trailing comma points at the bracket"),
    ErrorCase("  x", .unexpectedByte, at: 2, "not a value start"),
    ErrorCase(#"{"a" 1}"#, .unexpectedByte, at: 5, "missing colon"),
    ErrorCase("[01]", .invalidNumber, at: 2, "leading zero points at the digit after it"),
    ErrorCase("[-]", .invalidNumber, at: 2, "minus without digits"),
    ErrorCase("[1.x]", .invalidNumber, at: 3, "fraction without digits"),
    ErrorCase("[1e+x]", .invalidNumber, at: 4, "exponent without digits"),
    ErrorCase(#"["ab\x"]"#, .invalidEscape, at: 4, "unknown escape points at its backslash"),
    ErrorCase(#"["\u12G4"]"#, .invalidEscape, at: 2, "bad hex digit points at the backslash"),
    ErrorCase(#"["\ud800"]"#, .invalidUnicode, at: 2, "lone high surrogate"),
    ErrorCase(#"["ok\udc00"]"#, .invalidUnicode, at: 4, "lone low surrogate"),
    ErrorCase(#"["\ud800\u0041"]"#, .invalidUnicode, at: 2, "high surrogate followed by a non-surrogate"),
    ErrorCase(bytes: [0x5B, 0x22, 0x61, 0xC0, 0x80, 0x22, 0x5D], .invalidUTF8, at: 3, "overlong sequence points at its lead byte"),
    ErrorCase(bytes: [0x5B, 0x22, 0xE2, 0x82, 0x41, 0x22, 0x5D], .invalidUTF8, at: 2, "bad third byte points at the lead byte"),
    ErrorCase("[\"a\tb\"]", .controlCharacterInString, at: 3, "raw tab"),
    ErrorCase("[[[1]]]", .depthLimitExceeded, at: 2, limits: JSONLimits(maxDepth: 2), "third bracket"),
    ErrorCase(#"[{"a":{}}]"#, .depthLimitExceeded, at: 6, limits: JSONLimits(maxDepth: 2), "empty object still counts"),
    ErrorCase(#"["abcd"]"#, .stringTooLong, at: 1, limits: JSONLimits(maxStringBytes: 3), "points at the opening quote"),
    ErrorCase(#"{"abcd":1}"#, .stringTooLong, at: 1, limits: JSONLimits(maxStringBytes: 3), "keys are limited too"),
    ErrorCase("[1,2]", .documentTooLarge, at: 4, limits: JSONLimits(maxBytes: 4), "points at the first byte past the limit"),
    ErrorCase(#"{"a":1,"a":2}"#, .duplicateKey, at: 7, "points at the repeated key's quote"),
    ErrorCase("[1] 2", .trailingData, at: 4, "second value after whitespace"),
    ErrorCase("{}}", .trailingData, at: 2, "extra closing brace"),
]

@Suite("Parse errors")
struct ErrorTests {
    @Test("each refusal reports its code and the byte offset where parsing stopped", arguments: errorCases)
    func codeAndOffset(_ testCase: ErrorCase) {
        #expect(refusal(testCase.bytes, limits: testCase.limits) == testCase.expected)
    }

    @Test("every error code is exercised by the offset table")
    func everyCodeCovered() {
        let all: [JSONParseError.Code] = [.unexpectedEnd, .unexpectedByte, .invalidNumber, .invalidEscape,
                                          .invalidUnicode, .invalidUTF8, .controlCharacterInString,
                                          .depthLimitExceeded, .stringTooLong, .documentTooLarge,
                                          .duplicateKey, .trailingData]
        let covered = Set(errorCases.map(\.expected.code))
        #expect(covered == Set(all))
    }

    @Test("the error can be caught with its concrete type from the typed-throws API")
    func typedThrows() {
        #expect(throws: JSONParseError(.unexpectedByte, offset: 3)) {
            try JSONValue.parse("[1,]")
        }
    }

    @Test("the description names the code and the offset")
    func description() {
        let error = JSONParseError(.duplicateKey, offset: 7)
        #expect(error.description == "JSON duplicateKey at byte 7")
        #expect(JSONParseError.Code.controlCharacterInString.rawValue == "controlCharacterInString")
    }

    @Test("every proper prefix of a valid document ends unexpectedly exactly at its length")
    func everyPrefixIsUnexpectedEnd() throws {
        let document = Array(#"{"id":"cus_1","n":[1.5e-3,-0,true,false,null],"s":"é€😀\n\u00e9\ud83d\ude00","o":{}}"#.utf8)
        _ = try JSONValue.parse(document)
        for length in 0..<document.count {
            let prefix = Array(document[..<length])
            #expect(refusal(prefix) == JSONParseError(.unexpectedEnd, offset: length), "prefix length \(length)")
        }
    }
}
