import JSON
import Testing

@Suite("Numbers")
struct NumberTests {
    @Test("number literals are echoed byte for byte")
    func literalsPreserved() throws {
        let source = "[1.50,-0,1e400,1E+2,0.1,-0.0e-0,123456789012345678901234567890,1e007,9007199254740993]"
        #expect(try reencode(source) == source)
        let value = try JSONValue.parse(source)
        #expect(value[0]?.numberValue?.literal == "1.50")
        #expect(value[1]?.numberValue?.literal == "-0")
    }

    @Test("a literal beyond Double's range keeps its text and has no double value")
    func outOfRangeDouble() throws {
        let number = try #require(try JSONValue.parse("1e400").numberValue)
        #expect(number.literal == "1e400")
        #expect(number.double == nil)
        #expect(JSONNumber(literal: "-1e400")?.double == nil)
        #expect(JSONNumber(literal: "1e-400")?.double == 0)
    }

    @Test("int64 is exact for plain integer literals, including beyond 2^53")
    func int64Exactness() {
        #expect(JSONNumber(literal: "9007199254740993")?.int64 == 9_007_199_254_740_993)
        #expect(JSONNumber(literal: "9223372036854775807")?.int64 == .max)
        #expect(JSONNumber(literal: "-9223372036854775808")?.int64 == .min)
        #expect(JSONNumber(literal: "-0")?.int64 == 0)
        #expect(JSONNumber(literal: "0")?.int64 == 0)
    }

    @Test("int64 is nil when the literal overflows or is not written as an integer")
    func int64Refusals() {
        #expect(JSONNumber(literal: "9223372036854775808")?.int64 == nil)
        #expect(JSONNumber(literal: "-9223372036854775809")?.int64 == nil)
        #expect(JSONNumber(literal: "1.0")?.int64 == nil)
        #expect(JSONNumber(literal: "1e2")?.int64 == nil)
        #expect(JSONNumber(literal: "1.5")?.int64 == nil)
    }

    @Test("int narrows int64 and is nil for non-integer literals")
    func intAccessor() {
        #expect(JSONNumber(literal: "-42")?.int == -42)
        #expect(JSONNumber(literal: "4.2")?.int == nil)
        #expect(JSONValue.number(JSONNumber(7)).intValue == 7)
    }

    @Test("double parses decimal and exponent literals to the nearest value")
    func doubles() {
        #expect(JSONNumber(literal: "1.5")?.double == 1.5)
        #expect(JSONNumber(literal: "-12.5E-3")?.double == -0.0125)
        #expect(JSONNumber(literal: "9007199254740993")?.double == 9_007_199_254_740_992)
        let negativeZero = JSONNumber(literal: "-0")?.double
        #expect(negativeZero == 0)
        #expect(negativeZero?.sign == .minus)
    }

    @Test("init(literal:) accepts exactly the RFC 8259 number grammar", arguments: [
        "0", "-0", "1", "-1", "10", "0.5", "-0.5", "1e5", "1E5", "1e+5", "1e-5", "1.5e10", "123456789012345678901234567890",
    ])
    func validLiterals(_ literal: String) {
        #expect(JSONNumber(literal: literal)?.literal == literal)
    }

    @Test("init(literal:) refuses anything outside the grammar", arguments: [
        "", " 1", "1 ", "+1", "01", "-01", ".5", "1.", "1.e5", "1e", "1e+", "--1", "0x10", "NaN", "Infinity", "-Infinity",
        "1_000", "١", "1,5", "-",
    ])
    func invalidLiterals(_ literal: String) {
        #expect(JSONNumber(literal: literal) == nil)
    }

    @Test("integers become their decimal text")
    func integers() {
        #expect(JSONNumber(Int.min).literal == "-9223372036854775808")
        #expect(JSONNumber(Int64.max).literal == "9223372036854775807")
        #expect(JSONNumber(Int.min).int64 == Int64.min)
    }

    @Test("doubles become their shortest round-trip text")
    func shortestDoubles() {
        #expect(JSONNumber(0.1).literal == "0.1")
        #expect(JSONNumber(100.0).literal == "100.0")
        #expect(JSONNumber(1e21).literal == "1e+21")
        #expect(JSONNumber(-0.0).literal == "-0.0")
        #expect(JSONNumber(5e-324).literal == "5e-324")
    }

    @Test("any finite double becomes a valid literal that reads back to the same double")
    func doubleRoundTrip() throws {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<20_000 {
            let value = Double(bitPattern: rng.next())
            guard value.isFinite else { continue }
            let number = JSONNumber(value)
            let reparsed = try #require(JSONNumber(literal: number.literal), "\(number.literal)")
            #expect(reparsed.double == value)
        }
    }

    @Test("init(finite:) refuses NaN and infinities instead of trapping")
    func finiteInit() {
        #expect(JSONNumber(finite: .nan) == nil)
        #expect(JSONNumber(finite: .infinity) == nil)
        #expect(JSONNumber(finite: -.infinity) == nil)
        #expect(JSONNumber(finite: 2.5)?.literal == "2.5")
    }

    @Test("equality compares literals, so 1 and 1.0 are different numbers")
    func literalEquality() {
        #expect(JSONNumber(literal: "1.0") != JSONNumber(1))
        #expect(JSONNumber(literal: "1") == JSONNumber(1))
        #expect(Set([JSONNumber(1), JSONNumber(literal: "1")]).count == 1)
    }
}
