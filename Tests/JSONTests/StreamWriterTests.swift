import JSON
import Testing

@Suite("JSONStreamWriter: spliced bodies")
struct StreamWriterTests {
    @Test("members, nesting, spliced values and escaping come out as the tree encoder writes them")
    func sameAsTree() throws {
        var writer = JSONStreamWriter()
        writer.beginObject()
        writer.key("customer")
        writer.encoded(Array(#"{"id":"c\"1","n":1.50}"#.utf8))
        writer.key("list")
        writer.beginArray()
        writer.int(1)
        writer.string("two\n")
        writer.null()
        writer.beginObject()
        writer.endObject()
        writer.bool(false)
        writer.endArray()
        writer.member("é\"", ["a": true])
        writer.key("empty")
        writer.beginArray()
        writer.endArray()
        writer.endObject()
        let tree: JSONValue = ["customer": ["id": "c\"1", "n": .number(try #require(JSONNumber(literal: "1.50")))],
                               "list": [1, "two\n", nil, [:], false], "é\"": ["a": true], "empty": []]
        #expect(writer.document == tree.encoded())
        #expect(try JSONValue.parse(writer.document) == tree)
    }

    @Test("a bare array of spliced values")
    func array() {
        var writer = JSONStreamWriter()
        writer.beginArray()
        for item in ["{}", "[1]", "\"x\""] { writer.encoded(Array(item.utf8)) }
        writer.endArray()
        #expect(String(decoding: writer.document, as: UTF8.self) == #"[{},[1],"x"]"#)
    }
}
