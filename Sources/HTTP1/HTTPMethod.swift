/// A request method (RFC 9110 §9). The registered methods compare by a one-byte code, so routing and the HEAD
/// check never compare strings; any other token is an extension method that keeps and compares its text.
public struct HTTPMethod: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The token exactly as sent. Methods are case-sensitive (RFC 9110 §9.1): "get" is an extension method, not GET.
    public let rawValue: String
    /// Which registered method this is; 0 for an extension method.
    @usableFromInline let code: UInt8

    @usableFromInline init(code: UInt8, rawValue: String) {
        self.code = code
        self.rawValue = rawValue
    }

    /// The method this token names; an unregistered token becomes an extension method (the parser has already
    /// checked that request-line methods are tokens).
    public init(_ token: String) {
        switch token {
        case "GET": self = .get
        case "HEAD": self = .head
        case "POST": self = .post
        case "PUT": self = .put
        case "DELETE": self = .delete
        case "PATCH": self = .patch
        case "OPTIONS": self = .options
        case "CONNECT": self = .connect
        case "TRACE": self = .trace
        default: self.init(code: 0, rawValue: token)
        }
    }

    public init(stringLiteral value: String) { self.init(value) }

    @inlinable public static var get: HTTPMethod { HTTPMethod(code: 1, rawValue: "GET") }
    @inlinable public static var head: HTTPMethod { HTTPMethod(code: 2, rawValue: "HEAD") }
    @inlinable public static var post: HTTPMethod { HTTPMethod(code: 3, rawValue: "POST") }
    @inlinable public static var put: HTTPMethod { HTTPMethod(code: 4, rawValue: "PUT") }
    @inlinable public static var delete: HTTPMethod { HTTPMethod(code: 5, rawValue: "DELETE") }
    @inlinable public static var patch: HTTPMethod { HTTPMethod(code: 6, rawValue: "PATCH") }
    @inlinable public static var options: HTTPMethod { HTTPMethod(code: 7, rawValue: "OPTIONS") }
    @inlinable public static var connect: HTTPMethod { HTTPMethod(code: 8, rawValue: "CONNECT") }
    @inlinable public static var trace: HTTPMethod { HTTPMethod(code: 9, rawValue: "TRACE") }

    public var description: String { rawValue }

    @inlinable public static func == (lhs: HTTPMethod, rhs: HTTPMethod) -> Bool {
        // A registered method's text is fixed by its code, so the code alone decides unless both are extensions.
        if lhs.code != 0 || rhs.code != 0 { return lhs.code == rhs.code }
        return lhs.rawValue == rhs.rawValue
    }

    public func hash(into hasher: inout Hasher) {
        if code != 0 { hasher.combine(code) } else { hasher.combine(rawValue) }
    }

    /// The method a request line's token spells: the registered ones are recognised by their bytes, with no
    /// `String` built (their text is a literal); only an extension method decodes its bytes.
    static func parse(_ token: UnsafeRawBufferPointer) -> HTTPMethod {
        @inline(__always) func spells(_ literal: StaticString) -> Bool {
            guard token.count == literal.utf8CodeUnitCount else { return false }
            let expected = literal.utf8Start
            for index in 0..<token.count where token[index] != expected[index] { return false }
            return true
        }
        switch token.count {
        case 3:
            if spells("GET") { return .get }
            if spells("PUT") { return .put }
        case 4:
            if spells("POST") { return .post }
            if spells("HEAD") { return .head }
        case 5:
            if spells("PATCH") { return .patch }
            if spells("TRACE") { return .trace }
        case 6: if spells("DELETE") { return .delete }
        case 7:
            if spells("OPTIONS") { return .options }
            if spells("CONNECT") { return .connect }
        default: break
        }
        return HTTPMethod(code: 0, rawValue: String(decoding: token, as: UTF8.self))
    }
}
