import JSON
import Testing

@Suite("Robustness")
struct RobustnessTests {
    @Test("randomly mutated documents are either refused or parse to a value whose encoding is stable")
    func mutations() throws {
        let seed = Array(#"{"id":"cus_1","tags":["a","b\n"],"n":[1.5e3,-0,true,false,null],"s":"é\u00e9\ud83d\ude00","o":{"k":{}}}"#.utf8)
        let alphabet = Array(#"{}[]",:\-+.0123456789eEtrufalsn u"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xE2, 0xED, 0xF0, 0xFF]
        var rng = SeededGenerator(seed: 2024)
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let index = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[index] = alphabet.randomElement(using: &rng) ?? 0
                case 1: bytes.insert(alphabet.randomElement(using: &rng) ?? 0, at: index)
                default: if bytes.count > 1 { bytes.remove(at: index) }
                }
            }
            do throws(JSONParseError) {
                let value = try JSONValue.parse(bytes)
                let encoded = value.encoded()
                #expect(try JSONValue.parse(encoded) == value)
                #expect(try JSONValue.parse(encoded).encoded() == encoded)
            } catch {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
    }

    @Test("random bytes inside quotes are accepted exactly when they are valid UTF-8 text without specials")
    func utf8Differential() throws {
        var rng = SeededGenerator(seed: 99)
        let interesting: [UInt8] = [0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xA0, 0xED, 0x9F, 0xEF, 0xF0, 0x90, 0xF4, 0x8F,
                                    0xF5, 0xFF, 0x41, 0x7E]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &rng)
            let body: [UInt8] = (0..<length).map { _ in
                Bool.random(using: &rng) ? (interesting.randomElement(using: &rng) ?? 0x41) : UInt8.random(in: 0x20...0xFF, using: &rng)
            }
            let clean = !body.contains(0x22) && !body.contains(0x5C)
            guard clean else { continue }
            let expected = String(validating: body, as: UTF8.self)
            let error = refusal([0x22] + body + [0x22])
            if let expected {
                #expect(error == nil, "\(body)")
                #expect(try JSONValue.parse([0x22] + body + [0x22]).stringValue == expected)
            } else {
                #expect(error?.code == .invalidUTF8, "\(body)")
            }
        }
    }

    @Test("arbitrary byte soup never crashes the parser")
    func byteSoup() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if let error = refusal(bytes) {
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
    }
}
