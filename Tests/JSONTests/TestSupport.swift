import JSON

/// The error a document is refused with, or nil when it parses.
func refusal(_ bytes: [UInt8], limits: JSONLimits = .init()) -> JSONParseError? {
    do throws(JSONParseError) {
        _ = try JSONValue.parse(bytes, limits: limits)
        return nil
    } catch {
        return error
    }
}

func refusal(_ text: String, limits: JSONLimits = .init()) -> JSONParseError? {
    refusal(Array(text.utf8), limits: limits)
}

/// Parses and re-encodes, returning the encoded text.
func reencode(_ text: String, limits: JSONLimits = .init()) throws -> String {
    String(decoding: try JSONValue.parse(text, limits: limits).encoded(), as: UTF8.self)
}

func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// Deterministic generator so failures reproduce (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A straightforward byte-at-a-time escaper used as the reference for the optimised one.
func referenceEscaped(_ s: String) -> [UInt8] {
    var out: [UInt8] = [0x22]
    let hex = Array("0123456789abcdef".utf8)
    for byte in s.utf8 {
        switch byte {
        case 0x22: out += [0x5C, 0x22]
        case 0x5C: out += [0x5C, 0x5C]
        case 0x0A: out += [0x5C, UInt8(ascii: "n")]
        case 0x0D: out += [0x5C, UInt8(ascii: "r")]
        case 0x09: out += [0x5C, UInt8(ascii: "t")]
        case 0x08: out += [0x5C, UInt8(ascii: "b")]
        case 0x0C: out += [0x5C, UInt8(ascii: "f")]
        case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        default: out.append(byte)
        }
    }
    out.append(0x22)
    return out
}

/// Random trees with awkward strings and numbers, for round-trip properties.
func randomValue(_ rng: inout SeededGenerator, depth: Int = 0) -> JSONValue {
    let pick = depth > 4 ? Int.random(in: 0..<4, using: &rng) : Int.random(in: 0..<6, using: &rng)
    switch pick {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &rng))
    case 2:
        let numbers = ["0", "-0", "1.50", "1e400", "-12.5E-3", "9007199254740993", "3.141592653589793", "1E+2"]
        if Bool.random(using: &rng), let literal = numbers.randomElement(using: &rng),
           let number = JSONNumber(literal: literal) {
            return .number(number)
        }
        return .number(JSONNumber(Int.random(in: -1_000_000...1_000_000, using: &rng)))
    case 3: return .string(randomString(&rng))
    case 4:
        return .array((0..<Int.random(in: 0..<6, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
    default:
        var object = JSONObject()
        for _ in 0..<Int.random(in: 0..<6, using: &rng) {
            object[randomString(&rng)] = randomValue(&rng, depth: depth + 1)
        }
        return .object(object)
    }
}

func randomString(_ rng: inout SeededGenerator) -> String {
    let pieces = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "😀",
                  "\u{2028}", "abcdefgh", "\u{FFFF}"]
    var s = ""
    for _ in 0..<Int.random(in: 0..<24, using: &rng) {
        s += pieces.randomElement(using: &rng) ?? ""
    }
    return s
}
