import Foundation
import HTTP1
import JSONRPC
import Logging

/// `POST /rpc` on the internal listener: HTTP concerns only (content type, bearer token), then the JSON-RPC engine.
/// HTTP status is 200 for every JSON-RPC response, 204 when only notifications were sent, 401 for a missing or
/// wrong token (no method runs), 415 for a body that is not declared `application/json`.
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
        guard Self.isJSON(request.headers["Content-Type"]) else {
            sink.send(.error(.unsupportedMediaType, code: "unsupported_media_type", message: "send Content-Type: application/json"))
            return
        }
        var context = JSONRPCContext()
        if !tokens.isEmpty {
            guard let caller = tokens.caller(forAuthorization: request.headers["Authorization"]) else {
                sink.send(.error(.unauthorized, code: "unauthorized", message: "a valid bearer token is required",
                                 headers: HTTPHeaders([("WWW-Authenticate", #"Bearer realm="customer-cache""#)])))
                return
            }
            context.caller = caller.name
        }
        switch server.handleImmediately(body: request.body, context: context) {
        case .response(let body):
            sink.send(Self.response(body))
        case .needsAsync:
            let server = self.server
            let body = request.body
            Task(executorPreference: executor) {
                sink.send(Self.response(await server.handle(body: body, context: context)))
            }
        }
    }

    static func response(_ body: [UInt8]?) -> HTTPResponse {
        guard let body else { return HTTPResponse(status: .noContent) }
        return .json(.ok, body)
    }

    /// `application/json`, any case, optionally followed by parameters such as `; charset=utf-8`. Byte-level on
    /// purpose: this runs for every call, and Foundation's character-set trimming cost more than the lookup.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let expected = Array("application/json".utf8)
        var bytes = contentType.utf8.makeIterator()
        for wanted in expected {
            guard let byte = bytes.next() else { return false }
            let isLetter = wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z")
            guard isLetter ? byte | 0x20 == wanted : byte == wanted else { return false }
        }
        while let byte = bytes.next() {
            if byte == UInt8(ascii: ";") { return true }
            if byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") { return false }
        }
        return true
    }
}
