import JSON
import Testing

/// One JSONTestSuite-style document: `y_` must parse, `n_` must be refused with `code`.
struct GrammarCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let code: JSONParseError.Code?

    init(_ name: String, _ text: String, _ code: JSONParseError.Code? = nil) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.code = code
    }

    init(_ name: String, bytes: [UInt8], _ code: JSONParseError.Code? = nil) {
        self.name = name
        self.bytes = bytes
        self.code = code
    }

    var testDescription: String { name }
}

let acceptedCases: [GrammarCase] = [
    GrammarCase("y_array_empty", "[]"),
    GrammarCase("y_object_empty", "{}"),
    GrammarCase("y_array_nested_empty", "[[]]"),
    GrammarCase("y_array_of_empties", "[[],{},[[]]]"),
    GrammarCase("y_structure_whitespace_all_four_kinds", " \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n"),
    GrammarCase("y_object_whitespace_around_colon", "{ \"a\" : 1 , \"b\" :2}"),
    GrammarCase("y_string_top_level", #""abc""#),
    GrammarCase("y_number_top_level", "123"),
    GrammarCase("y_number_top_level_with_space", " 42 "),
    GrammarCase("y_literal_null", "null"),
    GrammarCase("y_literal_true", "true"),
    GrammarCase("y_literal_false", "false"),
    GrammarCase("y_number_zero", "[0]"),
    GrammarCase("y_number_negative_zero", "[-0]"),
    GrammarCase("y_number_negative_zero_fraction_exponent", "[-0.0e-0]"),
    GrammarCase("y_number_capital_e_plus", "[1E+2]"),
    GrammarCase("y_number_exponent_minus", "[1e-2]"),
    GrammarCase("y_number_fraction", "[0.5]"),
    GrammarCase("y_number_negative_exponent_fraction", "[-1.25e-10]"),
    GrammarCase("y_number_exponent_leading_zeros", "[1e007]"),
    GrammarCase("y_number_huge_exponent", "[1e400]"),
    GrammarCase("y_number_very_long_integer", "[123456789012345678901234567890123456789]"),
    GrammarCase("y_array_mixed", #"[1,"a",null,true,false,{"k":[]}]"#),
    GrammarCase("y_object_nested", #"{"a":{"b":[null,true,false]}}"#),
    GrammarCase("y_object_empty_key", #"{"":0}"#),
    GrammarCase("y_object_same_key_in_sibling_objects", #"[{"a":1},{"a":2}]"#),
    GrammarCase("y_object_same_key_in_child", #"{"a":{"a":1}}"#),
    GrammarCase("y_string_escaped_nul", #"["\u0000"]"#),
    GrammarCase("y_string_surrogate_pair", #"["\ud83d\ude00"]"#),
    GrammarCase("y_string_surrogate_pair_uppercase_hex", #"["\uD83D\uDE00"]"#),
    GrammarCase("y_string_max_scalar_as_pair", #"["\uDBFF\uDFFF"]"#),
    GrammarCase("y_string_all_simple_escapes", #"["\"\\\/\b\f\n\r\t"]"#),
    GrammarCase("y_string_unicode_escape_bmp", #"["\u00e9\u20AC"]"#),
    GrammarCase("y_string_noncharacter_escape", #"["\uFFFF"]"#),
    GrammarCase("y_string_raw_two_byte", "[\"é\"]"),
    GrammarCase("y_string_raw_three_byte", "[\"€\"]"),
    GrammarCase("y_string_raw_four_byte", "[\"😀\"]"),
    GrammarCase("y_string_raw_u_ffff", bytes: [0x5B, 0x22, 0xEF, 0xBF, 0xBF, 0x22, 0x5D]),
    GrammarCase("y_string_raw_u_10ffff", bytes: [0x5B, 0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22, 0x5D]),
    GrammarCase("y_string_raw_del", bytes: [0x5B, 0x22, 0x7F, 0x22, 0x5D]),
    GrammarCase("y_string_raw_line_separator", "[\"\u{2028}\"]"),
    GrammarCase("y_string_escaped_slash_and_raw_slash", #"["\/ /"]"#),
    GrammarCase("y_string_empty", #"[""]"#),
    GrammarCase("y_string_long_plain_then_escape", #"["abcdefghijklmnopqrstuvwxyz\n"]"#),
]

let refusedCases: [GrammarCase] = [
    GrammarCase("n_structure_empty_input", "", .unexpectedEnd),
    GrammarCase("n_structure_whitespace_only", " \n\t ", .unexpectedEnd),
    GrammarCase("n_array_trailing_comma", "[1,]", .unexpectedByte),
    GrammarCase("n_object_trailing_comma", #"{"a":1,}"#, .unexpectedByte),
    GrammarCase("n_array_leading_comma", "[,1]", .unexpectedByte),
    GrammarCase("n_array_double_comma", "[1,,2]", .unexpectedByte),
    GrammarCase("n_array_missing_comma", "[1 2]", .unexpectedByte),
    GrammarCase("n_array_unclosed", "[", .unexpectedEnd),
    GrammarCase("n_array_unclosed_after_value", #"["a""#, .unexpectedEnd),
    GrammarCase("n_array_closed_by_brace", "[1}", .unexpectedByte),
    GrammarCase("n_object_closed_by_bracket", #"{"a":1]"#, .unexpectedByte),
    GrammarCase("n_object_missing_colon", #"{"a" 1}"#, .unexpectedByte),
    GrammarCase("n_object_missing_value", #"{"a":}"#, .unexpectedByte),
    GrammarCase("n_object_key_without_value", #"{"a"}"#, .unexpectedByte),
    GrammarCase("n_object_unquoted_key", "{a:1}", .unexpectedByte),
    GrammarCase("n_object_numeric_key", "{1:1}", .unexpectedByte),
    GrammarCase("n_object_single_quoted_key", "{'a':1}", .unexpectedByte),
    GrammarCase("n_object_missing_comma", #"{"a":1 "b":2}"#, .unexpectedByte),
    GrammarCase("n_object_duplicate_key", #"{"a":1,"a":2}"#, .duplicateKey),
    GrammarCase("n_object_duplicate_key_via_escape", #"{"a":1,"\u0061":2}"#, .duplicateKey),
    GrammarCase("n_number_leading_zero", "[01]", .invalidNumber),
    GrammarCase("n_number_negative_leading_zero", "[-01]", .invalidNumber),
    GrammarCase("n_number_minus_alone", "[-]", .invalidNumber),
    GrammarCase("n_number_double_minus", "[--1]", .invalidNumber),
    GrammarCase("n_number_plus_sign", "[+1]", .unexpectedByte),
    GrammarCase("n_number_leading_dot", "[.5]", .unexpectedByte),
    GrammarCase("n_number_trailing_dot", "[1.]", .invalidNumber),
    GrammarCase("n_number_dot_then_exponent", "[1.e5]", .invalidNumber),
    GrammarCase("n_number_exponent_without_digits", "[1e]", .invalidNumber),
    GrammarCase("n_number_exponent_sign_without_digits", "[1e+]", .invalidNumber),
    GrammarCase("n_number_two_dots", "[1.5.3]", .unexpectedByte),
    GrammarCase("n_number_hex", "[0x10]", .unexpectedByte),
    GrammarCase("n_number_nan", "[NaN]", .unexpectedByte),
    GrammarCase("n_number_infinity", "[Infinity]", .unexpectedByte),
    GrammarCase("n_number_minus_infinity", "[-Infinity]", .invalidNumber),
    GrammarCase("n_number_top_level_trailing_letter", "1x", .trailingData),
    GrammarCase("n_literal_truncated_true", "tru", .unexpectedEnd),
    GrammarCase("n_literal_misspelled_true", "trux", .unexpectedByte),
    GrammarCase("n_literal_truncated_null", "[nul]", .unexpectedByte),
    GrammarCase("n_literal_capitalised", "[True]", .unexpectedByte),
    GrammarCase("n_literal_with_trailing_letters", "[truey]", .unexpectedByte),
    GrammarCase("n_structure_bom", bytes: [0xEF, 0xBB, 0xBF, 0x5B, 0x5D], .unexpectedByte),
    GrammarCase("n_structure_form_feed_is_not_whitespace", bytes: [0x0C, 0x5B, 0x5D], .unexpectedByte),
    GrammarCase("n_structure_nbsp_is_not_whitespace", bytes: [0xC2, 0xA0, 0x5B, 0x5D], .unexpectedByte),
    GrammarCase("n_structure_block_comment", "/* c */ []", .unexpectedByte),
    GrammarCase("n_structure_line_comment_after", "[] // c", .trailingData),
    GrammarCase("n_structure_two_values", "[1] [2]", .trailingData),
    GrammarCase("n_structure_extra_close", "[1]]", .trailingData),
    GrammarCase("n_structure_two_objects", "{}{}", .trailingData),
    GrammarCase("n_structure_trailing_nul", bytes: [0x5B, 0x5D, 0x00], .trailingData),
    GrammarCase("n_string_single_quotes", "['a']", .unexpectedByte),
    GrammarCase("n_string_unterminated", #"["abc"#, .unexpectedEnd),
    GrammarCase("n_string_raw_tab", "[\"a\tb\"]", .controlCharacterInString),
    GrammarCase("n_string_raw_newline", "[\"a\nb\"]", .controlCharacterInString),
    GrammarCase("n_string_raw_nul", bytes: [0x5B, 0x22, 0x00, 0x22, 0x5D], .controlCharacterInString),
    GrammarCase("n_string_raw_unit_separator", bytes: [0x5B, 0x22, 0x1F, 0x22, 0x5D], .controlCharacterInString),
    GrammarCase("n_string_lone_high_surrogate", #"["\ud800"]"#, .invalidUnicode),
    GrammarCase("n_string_lone_low_surrogate", #"["\udc00"]"#, .invalidUnicode),
    GrammarCase("n_string_high_surrogate_then_bmp_escape", #"["\ud800\u0041"]"#, .invalidUnicode),
    GrammarCase("n_string_high_surrogate_then_text", #"["\ud800abc"]"#, .invalidUnicode),
    GrammarCase("n_string_high_surrogate_then_other_escape", #"["\ud800\n"]"#, .invalidUnicode),
    GrammarCase("n_string_two_high_surrogates", #"["\ud800\ud800"]"#, .invalidUnicode),
    GrammarCase("n_string_unknown_escape", #"["\x"]"#, .invalidEscape),
    GrammarCase("n_string_escaped_single_quote", #"["\'"]"#, .invalidEscape),
    GrammarCase("n_string_uppercase_u_escape", #"["\U0041"]"#, .invalidEscape),
    GrammarCase("n_string_bad_hex_digit", #"["\u12G4"]"#, .invalidEscape),
    GrammarCase("n_string_short_unicode_escape", #"["\u00"]"#, .invalidEscape),
    GrammarCase("n_string_backslash_at_end", #""\"#, .unexpectedEnd),
    GrammarCase("n_string_overlong_nul", bytes: [0x5B, 0x22, 0xC0, 0x80, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_overlong_slash", bytes: [0x5B, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_overlong_four_byte", bytes: [0x5B, 0x22, 0xF0, 0x8F, 0xBF, 0xBF, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_utf8_encoded_surrogate", bytes: [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_above_u_10ffff", bytes: [0x5B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_f5_lead", bytes: [0x5B, 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_lone_continuation", bytes: [0x5B, 0x22, 0x80, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_missing_continuation", bytes: [0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_ff_byte", bytes: [0x5B, 0x22, 0xFF, 0x22, 0x5D], .invalidUTF8),
    GrammarCase("n_string_truncated_sequence_at_end", bytes: [0x22, 0xE2, 0x82], .unexpectedEnd),
]

@Suite("RFC 8259 conformance")
struct ConformanceTests {
    @Test("documents the grammar allows are accepted and re-encode to an equal value", arguments: acceptedCases)
    func accepted(_ testCase: GrammarCase) throws {
        let value = try JSONValue.parse(testCase.bytes)
        let again = try JSONValue.parse(value.encoded())
        #expect(again == value)
    }

    @Test("documents outside the grammar are refused with the expected code", arguments: refusedCases)
    func refused(_ testCase: GrammarCase) {
        let error = refusal(testCase.bytes)
        #expect(error?.code == testCase.code)
    }

    @Test("the case tables are large enough to cover the grammar")
    func tableSize() {
        #expect(acceptedCases.count + refusedCases.count >= 60)
    }
}
