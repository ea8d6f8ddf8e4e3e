import JSON
import Testing

@Suite("Literals and accessors")
struct LiteralTests {
    @Test("each literal kind builds the matching case")
    func literalKinds() {
        #expect(JSONValue(nilLiteral: ()) == .null)
        let flag: JSONValue = true
        #expect(flag == .bool(true))
        let integer: JSONValue = 42
        #expect(integer == .number(JSONNumber(42)))
        let float: JSONValue = 2.5
        #expect(float.numberValue?.literal == "2.5")
        let string: JSONValue = "s"
        #expect(string == .string("s"))
        let array: JSONValue = [1, "a", nil]
        #expect(array == .array([.number(JSONNumber(1)), .string("a"), .null]))
        let number: JSONNumber = 7
        #expect(number.literal == "7")
        let fractional: JSONNumber = 0.25
        #expect(fractional.literal == "0.25")
    }

    @Test("dictionary literals keep the written order")
    func dictionaryOrder() {
        let value: JSONValue = ["zulu": 1, "alpha": 2, "mike": 3]
        #expect(value.objectValue?.keys == ["zulu", "alpha", "mike"])
    }

    @Test("accessors answer nil when the case differs")
    func accessorsMismatch() {
        let value: JSONValue = "text"
        #expect(value.stringValue == "text")
        #expect(value.boolValue == nil)
        #expect(value.numberValue == nil)
        #expect(value.arrayValue == nil)
        #expect(value.objectValue == nil)
        #expect(value.int64Value == nil)
        #expect(value.doubleValue == nil)
        #expect(!value.isNull)
        #expect(JSONValue.null.isNull)
    }

    @Test("subscripts answer nil on the wrong case, absent keys and out-of-range indices")
    func subscripts() {
        let value: JSONValue = ["list": [10, 20], "name": "n"]
        #expect(value["name"] == "n")
        #expect(value["missing"] == nil)
        #expect(value["list"]?[1] == 20)
        #expect(value["list"]?[2] == nil)
        #expect(value["list"]?[-1] == nil)
        #expect(value["name"]?["x"] == nil)
        #expect(value[0] == nil)
    }

    @Test("numeric accessors read through to the number")
    func numericAccessors() throws {
        let value = try JSONValue.parse(#"{"n":-3,"d":0.5}"#)
        #expect(value["n"]?.int64Value == -3)
        #expect(value["n"]?.intValue == -3)
        #expect(value["d"]?.doubleValue == 0.5)
        #expect(value["d"]?.int64Value == nil)
    }

    @Test("values are usable as set members and dictionary keys")
    func hashable() {
        let values: Set<JSONValue> = [1, "1", [1], ["1": 1], nil, true, 1]
        #expect(values.count == 6)
    }
}
