/// Why a document was refused, with the byte offset where parsing stopped so callers can report it precisely.
///
/// Offsets are 0-based into the input bytes. Each code points at:
/// - `unexpectedEnd`: the input length (the input ran out inside a value).
/// - `unexpectedByte`: the byte that cannot appear there.
/// - `invalidNumber`: the byte that broke the number grammar (`[01]` → 2, `[-]` → 2).
/// - `invalidEscape`: the backslash that starts the bad escape.
/// - `invalidUnicode`: the backslash of the `\u` escape holding the unpaired surrogate.
/// - `invalidUTF8`: the first byte of the ill-formed sequence.
/// - `controlCharacterInString`: the raw control byte.
/// - `depthLimitExceeded`: the `[` or `{` that would exceed `maxDepth`.
/// - `stringTooLong`: the opening quote of the string or key.
/// - `documentTooLarge`: `maxBytes`, the first byte past the limit.
/// - `duplicateKey`: the opening quote of the repeated key.
/// - `trailingData`: the first non-whitespace byte after the top-level value.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable machine-readable reasons; raw values are safe to log and to return to clients.
    public enum Code: String, Sendable, Hashable {
        case unexpectedEnd, unexpectedByte, invalidNumber, invalidEscape, invalidUnicode, invalidUTF8
        case controlCharacterInString, depthLimitExceeded, stringTooLong, documentTooLarge, duplicateKey
        case trailingData
    }

    public let code: Code
    public let offset: Int

    public init(_ code: Code, offset: Int) {
        self.code = code
        self.offset = offset
    }

    public var description: String { "JSON \(code.rawValue) at byte \(offset)" }
}
