import JSON
import Testing

@Suite("JSONObject")
struct ObjectTests {
    @Test("assigning to an existing key replaces the value in place")
    func replaceKeepsPosition() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = "two"
        #expect(object.keys == ["a", "b", "c"])
        #expect(object["b"] == "two")
    }

    @Test("assigning to a new key appends it")
    func newKeyAppends() {
        var object: JSONObject = ["z": 1]
        object["a"] = 2
        #expect(object.keys == ["z", "a"])
    }

    @Test("assigning nil removes the member and leaves the rest in order")
    func nilRemoves() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = nil
        #expect(object.keys == ["a", "c"])
        object["missing"] = nil
        #expect(object.keys == ["a", "c"])
        #expect(object.removeValue(forKey: "a") == 1)
        #expect(object.removeValue(forKey: "a") == nil)
        #expect(object.keys == ["c"])
    }

    @Test("assigning JSON null stores a null member rather than removing")
    func explicitNull() {
        var object = JSONObject()
        object["gone"] = JSONValue.null
        #expect(object.contains(key: "gone"))
        #expect(object["gone"] == .null)
    }

    @Test("lookups answer nil for absent keys and contains reports presence")
    func lookups() {
        let object: JSONObject = ["id": "cus_1"]
        #expect(object["id"] == "cus_1")
        #expect(object["nope"] == nil)
        #expect(object.contains(key: "id"))
        #expect(!object.contains(key: "nope"))
        #expect(object.index(forKey: "id") == 0)
    }

    @Test("repeated keys in the initializer keep the first position and the last value")
    func initWithDuplicates() {
        let object = JSONObject([("a", 1), ("b", 2), ("a", 3)])
        #expect(object.keys == ["a", "b"])
        #expect(object["a"] == 3)
    }

    @Test("iteration yields key-value tuples in order")
    func iteration() {
        let object: JSONObject = ["x": 1, "y": 2]
        var seen: [String] = []
        for (key, value) in object {
            seen.append("\(key)=\(value)")
        }
        #expect(seen == ["x=1", "y=2"])
        #expect(object.count == 2)
        #expect(!object.isEmpty)
        #expect(JSONObject().isEmpty)
        #expect(object[1].key == "y")
        #expect(object.values == [1, 2])
    }

    @Test("equality is order-sensitive, matching the encoded bytes")
    func orderSensitiveEquality() {
        let ab: JSONObject = ["a": 1, "b": 2]
        let ba: JSONObject = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab == JSONObject([("a", 1), ("b", 2)]))
    }

    @Test("unknown fields survive a parse, edit and re-encode")
    func unknownFieldsSurvive() throws {
        let parsed = try JSONValue.parse(#"{"id":"c1","x_future":{"deep":[1.10]},"email":"a@b"}"#)
        var object = try #require(parsed.objectValue)
        object["email"] = "new@b"
        #expect(text(JSONValue.object(object).encoded()) == #"{"id":"c1","x_future":{"deep":[1.10]},"email":"new@b"}"#)
    }
}
