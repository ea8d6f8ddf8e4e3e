/// RFC 3986 percent-decoding, the one decoder of the package: route parameters here, the emulator's query strings.
public enum PercentDecoding {
    /// Decodes `%XX` escapes (`+` stays `+`: that is form encoding, not RFC 3986); nil for a malformed escape or
    /// bytes that are not UTF-8, so a caller can refuse the input instead of guessing.
    public static func decode(_ text: Substring) -> String? {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
