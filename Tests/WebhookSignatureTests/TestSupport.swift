import Foundation
import Testing

/// The worked example of reference §6.3 (docs: /work/shared/reference/digital-river-customers.md).
enum Reference {
    static let secret = "demo_signing_secret_123"
    static let oldSecret = "demo_old_secret_456"
    static let timestamp: Int64 = 1_700_000_000
    static let body = Array(
        #"{"id":"3f1c9d2e-5b7a-4c1e-9f00-0000000000a1","type":"customer.updated","data":{"object":{"id":"cust-0001","email":"jane@example.com","enabled":true,"requestToBeForgotten":true,"liveMode":false},"previousAttributes":{"requestToBeForgotten":false}},"liveMode":false,"createdTime":"2023-11-14T22:13:19.123456Z","digitalriverVersion":"2021-12-13"}"#
            .utf8)
    static let hmacHex = "fdec237c77843678f89af9414aafe0769a282582b1f2c7be354abf276f7f22c9"
    static let signature = "/ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk="
    static let header = "1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk="
    static let oldSecretSignature = "4AS8qHvnI+5GxZhaYcg2KK0c/2Voi5qBrYdQvb2AVxc="
    static let tPrefixSignature = "5WYNTmYLJ4vaOhvvgk40f1C+TZWQzUerEXeH9If+wxI="
    static let rotationHeader =
        "1700000000, /ewjfHeENnj4mvlBSq/gdpooJYKx8se+NUq/J29/Isk=, 4AS8qHvnI+5GxZhaYcg2KK0c/2Voi5qBrYdQvb2AVxc="
}

/// Committed fixtures, found next to this file (no resource bundle needed).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures")

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(relativePath)))
    }

    static func text(_ relativePath: String) throws -> String {
        try #require(String(bytes: try bytes(relativePath), encoding: .utf8))
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { index in
        UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) ?? 0
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
