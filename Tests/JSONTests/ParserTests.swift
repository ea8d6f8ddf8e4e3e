import JSON
import Testing

@Suite("Parsing")
struct ParserTests {
    @Test("every kind of value parses into the matching case")
    func allKinds() throws {
        let value = try JSONValue.parse(#"{"n":null,"t":true,"f":false,"i":-12,"s":"hi","a":[1,"x"],"o":{"k":"v"}}"#)
        #expect(value["n"]?.isNull == true)
        #expect(value["t"]?.boolValue == true)
        #expect(value["f"]?.boolValue == false)
        #expect(value["i"]?.int64Value == -12)
        #expect(value["s"]?.stringValue == "hi")
        #expect(value["a"]?.arrayValue == [1, "x"])
        #expect(value["o"]?.objectValue == ["k": "v"])
    }

    @Test("scalars are accepted as the whole document")
    func topLevelScalars() throws {
        #expect(try JSONValue.parse("null") == .null)
        #expect(try JSONValue.parse(" true ") == .bool(true))
        #expect(try JSONValue.parse("-1.5e3").numberValue?.literal == "-1.5e3")
        #expect(try JSONValue.parse(#""x""#) == "x")
    }

    @Test("object members keep the order they were written in")
    func keyOrder() throws {
        let value = try JSONValue.parse(#"{"zeta":1,"alpha":2,"mid":3,"beta":4}"#)
        #expect(value.objectValue?.keys == ["zeta", "alpha", "mid", "beta"])
        #expect(try reencode(#"{ "zeta" : 1 , "alpha":2,"mid":3,"beta":4 }"#) == #"{"zeta":1,"alpha":2,"mid":3,"beta":4}"#)
    }

    @Test("escapes decode to the characters they name")
    func escapes() throws {
        let value = try JSONValue.parse(#""\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00""#)
        #expect(value.stringValue == "\"\\/\u{8}\u{C}\n\r\tAé€😀")
    }

    @Test("an escaped NUL becomes a NUL character and survives a round trip")
    func escapedNul() throws {
        let value = try JSONValue.parse(#""a\u0000b""#)
        #expect(value.stringValue == "a\u{0}b")
        #expect(text(value.encoded()) == #""a\u0000b""#)
    }

    @Test("raw UTF-8 in strings passes through unchanged")
    func rawUTF8() throws {
        let original = "Grüße, 東京, 😀, \u{10FFFF}"
        let value = try JSONValue.parse(Array(("\"" + original + "\"").utf8))
        #expect(value.stringValue == original)
        #expect(value.encoded() == Array(("\"" + original + "\"").utf8))
    }

    @Test("String, byte array and raw buffer inputs parse identically")
    func inputKinds() throws {
        let source = #"{"a":[1,2,{"b":"c"}]}"#
        let fromString = try JSONValue.parse(source)
        let fromBytes = try JSONValue.parse(Array(source.utf8))
        let bytes = Array(source.utf8)
        let fromBuffer = try bytes.withUnsafeBytes { raw in try JSONValue.parse(raw) }
        #expect(fromString == fromBytes)
        #expect(fromBytes == fromBuffer)
    }

    @Test("offsets are relative to the buffer handed in, even when it is a slice")
    func sliceOffsets() throws {
        let bytes = Array("xxxx[1,]".utf8)
        let error = bytes.withUnsafeBytes { raw -> JSONParseError? in
            do throws(JSONParseError) {
                _ = try JSONValue.parse(UnsafeRawBufferPointer(rebasing: raw[4...]))
                return nil
            } catch {
                return error
            }
        }
        #expect(error == JSONParseError(.unexpectedByte, offset: 3))
    }

    @Test("an empty raw buffer is an unexpected end, not a crash")
    func emptyBuffer() {
        let error: JSONParseError? = {
            do throws(JSONParseError) {
                _ = try JSONValue.parse(UnsafeRawBufferPointer(start: nil, count: 0))
                return nil
            } catch {
                return error
            }
        }()
        #expect(error == JSONParseError(.unexpectedEnd, offset: 0))
    }

    @Test("strings with escapes at every position around the 8-byte scan boundary decode correctly")
    func scanBoundaries() throws {
        for length in 0..<40 {
            for position in 0...length {
                var plain = String(repeating: "a", count: length)
                plain.insert("\n", at: plain.index(plain.startIndex, offsetBy: position))
                let encoded = text(referenceEscaped(plain))
                #expect(try JSONValue.parse(encoded).stringValue == plain, "length \(length) position \(position)")
                // The same string as an object key, followed by more input.
                let object = try JSONValue.parse("{\(encoded):1,\"z\":2}")
                #expect(object.objectValue?.keys == [plain, "z"])
            }
        }
    }

    @Test("non-ASCII characters at every position around the 8-byte scan boundary are validated and kept")
    func utf8Boundaries() throws {
        for length in 0..<20 {
            for scalar in ["é", "€", "😀"] {
                for position in 0...length {
                    var plain = String(repeating: "b", count: length)
                    plain.insert(contentsOf: scalar, at: plain.index(plain.startIndex, offsetBy: position))
                    #expect(try JSONValue.parse("[\"\(plain)\"]")[0]?.stringValue == plain)
                }
            }
        }
    }

    @Test("large documents with many members and elements parse completely")
    func largeDocument() throws {
        var source = "["
        for index in 0..<5_000 {
            if index > 0 { source += "," }
            source += #"{"id":\#(index),"name":"customer \#(index)","tags":["a","b"],"active":true}"#
        }
        source += "]"
        let value = try JSONValue.parse(source)
        #expect(value.arrayValue?.count == 5_000)
        #expect(value[4_999]?["name"]?.stringValue == "customer 4999")
        #expect(text(value.encoded()) == source)
    }

    @Test("an object with thousands of distinct keys parses in order")
    func manyKeys() throws {
        let keys = (0..<3_000).map { "key\($0)" }
        let source = "{" + keys.map { "\"\($0)\":0" }.joined(separator: ",") + "}"
        let value = try JSONValue.parse(source)
        #expect(value.objectValue?.keys == keys)
    }
}
