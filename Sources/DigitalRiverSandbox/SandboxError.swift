import HTTP1
import JSON

/// A refusal rendered exactly like Digital River's error body (reference §2):
/// `{"type": "bad_request", "errors": [{"code": "invalid_parameter", "parameter": "id", "message": "…"}]}`.
///
/// Thrown by `DigitalRiverSandbox.create/update/delete` and answered by the HTTP routes with `status`.
/// Messages are the sandbox's own text and never echo submitted values (they may be emails).
public struct SandboxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One element of `errors`.
    public struct Detail: Sendable, Hashable {
        /// Stable machine code such as `invalid_parameter`, `unknown_parameter`, `missing_parameter`, `not_found`.
        /// Nil where Digital River's own body has none (its 401 carries only a message).
        public let code: String?
        /// The offending request parameter (dotted path for nested fields, e.g. `taxCertificate.fileId`), if any.
        public let parameter: String?
        public let message: String

        public init(code: String?, parameter: String?, message: String) {
            self.code = code
            self.parameter = parameter
            self.message = message
        }
    }

    /// HTTP status code: 400, 401, 404, 409, 429 or 500.
    public let status: Int
    /// Digital River's error `type` (`bad_request`, `unauthorized`, `not_found`, `conflict`, `too_many_requests`,
    /// `internal_server_error`).
    public let type: String
    /// Never empty.
    public let errors: [Detail]

    public init(status: Int, type: String, errors: [Detail]) {
        precondition(!errors.isEmpty, "a Digital River error body has at least one error")
        self.status = status
        self.type = type
        self.errors = errors
    }

    public var description: String {
        let details = errors.map { detail in
            let code = detail.code ?? type
            return detail.parameter.map { "\(code)(\($0))" } ?? code
        }
        return "\(status) \(type): \(details.joined(separator: ", "))"
    }

    /// The response body.
    public var json: JSONObject {
        var object = JSONObject()
        object["type"] = .string(type)
        object["errors"] = .array(errors.map { detail in
            var element = JSONObject()
            if let code = detail.code { element["code"] = .string(code) }
            if let parameter = detail.parameter { element["parameter"] = .string(parameter) }
            element["message"] = .string(detail.message)
            return .object(element)
        })
        return object
    }

    // MARK: The refusals the sandbox uses

    static func badRequest(_ errors: [Detail]) -> SandboxError {
        SandboxError(status: 400, type: "bad_request", errors: errors)
    }

    static func invalid(_ parameter: String?, _ message: String) -> Detail {
        Detail(code: "invalid_parameter", parameter: parameter, message: message)
    }

    static func unknown(_ parameter: String) -> Detail {
        Detail(code: "unknown_parameter", parameter: parameter, message: "'\(parameter)' is not a known parameter.")
    }

    static func missing(_ parameter: String) -> Detail {
        Detail(code: "missing_parameter", parameter: parameter, message: "'\(parameter)' is required.")
    }

    /// Digital River names the id: `Customer '<id>' not found.` (its docs' 404 examples for other resources).
    static func customerNotFound(_ id: String, parameter: String = "id") -> SandboxError {
        SandboxError(status: 404, type: "not_found",
                     errors: [Detail(code: "not_found", parameter: parameter, message: "Customer '\(id)' not found.")])
    }

    static let unauthorized = SandboxError(status: 401, type: "unauthorized", errors: [
        // Digital River's documented 401 body: the envelope with one element holding only this message.
        Detail(code: nil, parameter: nil, message: "An authorization error has occurred."),
    ])

    static let injectedServerError = SandboxError(status: 500, type: "internal_server_error", errors: [
        Detail(code: "internal_server_error", parameter: nil, message: "Injected failure (sandbox)."),
    ])

    /// A path the sandbox has no resource for, in Digital River's error shape (its docs show no body for it).
    static let unknownPath = SandboxError(status: 404, type: "not_found", errors: [
        Detail(code: "not_found", parameter: nil, message: "The requested resource does not exist."),
    ])

    /// A method the path does not take; the server adds `Allow`.
    static func methodNotAllowed(allow: String) -> SandboxError {
        SandboxError(status: 405, type: "method_not_allowed", errors: [
            Detail(code: "method_not_allowed", parameter: nil, message: "This resource supports only \(allow)."),
        ])
    }

    static let tooManyRequests = SandboxError(status: 429, type: "too_many_requests", errors: [
        Detail(code: "too_many_requests", parameter: nil, message: "Too many requests; retry after the Retry-After delay."),
    ])
}

extension SandboxError {
    /// The HTTP response for this error, with any extra headers (e.g. `Retry-After`).
    func response(headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        .json(HTTPStatus(code: status, reason: Self.reason(status)), JSONValue.object(json).encoded(), headers: headers)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        default: "Error"
        }
    }
}
