import HTTP1
import Testing

@Suite("Percent-decoding (route parameters, the emulator's queries)")
struct PercentDecodingTests {
    @Test("escapes decode in either hex case, UTF-8 included; plus stays plus")
    func decodes() {
        #expect(PercentDecoding.decode("a%2Fb%20c") == "a/b c")
        #expect(PercentDecoding.decode("%c3%BC") == "ü")
        #expect(PercentDecoding.decode("a+b@x") == "a+b@x")
        #expect(PercentDecoding.decode("plain") == "plain")
        #expect(PercentDecoding.decode("") == "")
    }

    @Test("a malformed escape or bytes that are not UTF-8 are refused, not guessed", arguments: ["%", "%2", "%zz", "a%2g", "%C3", "%FF"])
    func refuses(_ text: String) {
        #expect(PercentDecoding.decode(Substring(text)) == nil)
    }
}
