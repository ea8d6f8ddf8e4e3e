import Foundation
import HTTP1
import JSONRPC
import Logging

/// `POST /rpc` on the internal listener: HTTP concerns only (content type, bearer token), then the JSON-RPC engine.
/// HTTP status is 200 for every JSON-RPC response (empty when only notifications were sent), 401 for a missing or
/// wrong token (no method runs), 415 for a body declared as anything but JSON.
final class RPCEndpoint: Sendable {
    private let server: JSONRPCServer
    private let tokens: CallerTokens
    private let executor: HandlerExecutor

    init(server: JSONRPCServer, tokens: CallerTokens, executor: HandlerExecutor) {
        self.server = server
        self.tokens = tokens
        self.executor = executor
    }

    func handle(_ request: HTTPRequest, _ sink: HTTPResponseSink) {
        guard request.headers.withValueBytes(.contentType, Self.isJSON) else {
            sink.send(.error(.unsupportedMediaType, code: "unsupported_media_type", message: "send Content-Type: application/json (or application/json-rpc, application/jsonrequest)"))
            return
        }
        guard let context = callerContext(request) else {
            sink.send(.error(.unauthorized, code: "unauthorized", message: "a valid bearer token is required",
                             headers: HTTPHeaders([("WWW-Authenticate", #"Bearer realm="customer-cache""#)])))
            return
        }
        switch server.handleImmediately(body: request.body, context: context) {
        case .response(let body):
            sink.send(Self.response(body))
        case .needsAsync(let pending):
            // The body was parsed once, above; only the calls still open run here.
            let server = self.server
            Task(executorPreference: executor) {
                sink.send(Self.response(await server.respond(to: pending)))
            }
        }
    }

    /// The one place a caller is resolved: without configured tokens every request is anonymous and may call every
    /// method; with them, the bearer token names the caller and its grant, which the JSON-RPC server applies to each
    /// call (the method table says which methods need a grant). Nil: a missing or wrong token (401, no method runs).
    func callerContext(_ request: HTTPRequest) -> JSONRPCContext? {
        guard !tokens.isEmpty else { return JSONRPCContext() }
        guard let caller = tokens.caller(forAuthorization: request.headers[.authorization]) else { return nil }
        return JSONRPCContext(caller: caller.name, grantedMethods: caller.methods)
    }

    /// What a call of a method outside the caller's grant is answered.
    @Sendable static func denied(_ method: String) -> JSONRPCError {
        RPCErrorCode.unauthorized.error([("method", .string(method))])
    }

    /// Only notifications were sent: JSON-RPC returns nothing, so the answer is 200 with an empty body and no
    /// Content-Type. Not 204: jsonrpclib-pelix and jsonrpc-requests raise a transport error on it, and all four
    /// clients we test with accept an empty 200.
    static func response(_ body: [UInt8]?) -> HTTPResponse {
        guard let body else { return HTTPResponse(status: .ok) }
        return .json(.ok, body)
    }

    /// True for the JSON types JSON-RPC clients send: `application/json`, `application/json-rpc` and
    /// `application/jsonrequest` (the JSON-RPC-over-HTTP drafts), any case, optionally followed by parameters such as
    /// `; charset=utf-8`, and for no Content-Type at all (tinyrpc's HTTP transport sends none). Everything else, in
    /// particular `text/plain`, form and multipart types, is refused: a browser may POST those cross-site without a
    /// CORS preflight, so refusing them keeps a web page from driving the internal mesh through a user's browser.
    /// Byte-level on purpose: this runs for every call, and Foundation's character-set trimming cost more than the lookup.
    static func isJSON(_ contentType: String?) -> Bool {
        guard var contentType else { return true }
        return contentType.withUTF8 { isJSON(UnsafeRawBufferPointer($0)) }
    }

    /// The same over the header's bytes, as the request holds them (no string is built per call).
    static func isJSON(_ contentType: UnsafeRawBufferPointer?) -> Bool {
        guard let bytes = contentType else { return true }
        var index = 0
        guard matchesCaseInsensitively(Self.jsonType, bytes, &index) else { return false }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            index += 1
            guard matchesCaseInsensitively(Self.rpcSuffix, bytes, &index) else { return false }
        } else if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "r") {
            index += 1
            guard matchesCaseInsensitively(Self.requestSuffix, bytes, &index) else { return false }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ";") { return true }
            if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") { return false }
            index += 1
        }
        return true
    }

    private static let jsonType: StaticString = "application/json"
    private static let rpcSuffix: StaticString = "rpc"
    private static let requestSuffix: StaticString = "equest"

    /// Consumes `expected`'s bytes from `index`, true when they equal `expected` (lowercase ASCII) ignoring letter case.
    private static func matchesCaseInsensitively(_ expected: StaticString, _ bytes: UnsafeRawBufferPointer, _ index: inout Int) -> Bool {
        let count = expected.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let wanted = expected.utf8Start
        for offset in 0..<count {
            let byte = bytes[index + offset]
            let letter = wanted[offset]
            let isLetter = letter >= UInt8(ascii: "a") && letter <= UInt8(ascii: "z")
            guard isLetter ? byte | 0x20 == letter : byte == letter else { return false }
        }
        index += count
        return true
    }
}
