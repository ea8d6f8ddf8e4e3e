import FuzzSupport
import HTTP1

/// What a connection would see from one input: the requests in order, and whether the parser refused the rest.
private struct Outcome: Equatable {
    var requests: [String] = []
    var failed = false
}

private let limits = HTTPLimits()

/// Feeds `input` the way `EventLoop` does: the unconsumed bytes are kept and offered again with whatever arrives
/// next; `splits` are the byte offsets at which new bytes "arrive".
private func run(_ input: [UInt8], splits: [Int]) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var outcome = Outcome()
    var buffered: [UInt8] = []
    var fed = 0
    for end in splits + [input.count] where end > fed {
        buffered.append(contentsOf: input[fed..<end])
        fed = end
        while true {
            let (event, consumed) = buffered.withUnsafeBytes { parser.parse($0) }
            invariant(consumed >= 0 && consumed <= buffered.count, "consumed \(consumed) of \(buffered.count) bytes")
            buffered.removeFirst(consumed)
            switch event {
            case .needMore, .expectsContinue:
                break
            case .request(let request):
                check(request)
                outcome.requests.append("\(request.method) \(request.target) \(request.version) body=\(request.body)")
                // A request with nothing left to read: the loop waits for more bytes.
                if buffered.isEmpty { break }
                continue
            case .failure(let error):
                invariant((400...599).contains(Int(error.status.code)), "failure status \(error.status.code)")
                outcome.failed = true
                return outcome
            }
            break
        }
    }
    return outcome
}

/// Properties every accepted request must have, whatever the bytes were (RFC 9112 framing, our limits).
private func check(_ request: HTTPRequest) {
    let lengths = request.headers.values("Content-Length")
    let codings = request.headers.values("Transfer-Encoding")
    invariant(lengths.isEmpty || codings.isEmpty, "accepted Content-Length and Transfer-Encoding together")
    invariant(request.version == .http1_0 || request.version == .http1_1, "accepted \(request.version)")
    if request.version == .http1_1 {
        invariant(request.headers.values("Host").count == 1, "HTTP/1.1 request without exactly one Host")
    }
    invariant(request.body.count <= limits.maxBodyBytes, "body of \(request.body.count) bytes over the limit")
    if codings.isEmpty, let length = lengths.first, !length.contains(",") {
        invariant(Int(length.trimmingCharacters()) == request.body.count, "body length differs from Content-Length")
    }
    invariant(request.target.utf8.count <= limits.maxRequestLineBytes, "request line over the limit")
    for field in request.headers {
        invariant(!field.name.isEmpty && !field.name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x3A }),
                  "header name with a separator byte")
        invariant(!field.value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }),
                  "header value with a control byte")
    }
}

extension String {
    fileprivate func trimmingCharacters() -> Substring {
        var slice = Substring(self)
        while slice.first == " " || slice.first == "\t" { slice.removeFirst() }
        while slice.last == " " || slice.last == "\t" { slice.removeLast() }
        return slice
    }
}

/// libFuzzer's entry point: the input is a byte stream on one connection. The same stream delivered whole,
/// byte by byte near the start, and split at an input-chosen point must yield the same requests (a parser that
/// depends on how TCP segments the stream is a smuggling risk).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = inputBytes(data, size)
    let whole = run(input, splits: [])
    let splitPoint = input.isEmpty ? 0 : Int(input[0]) * input.count / 256
    let split = run(input, splits: [splitPoint])
    invariant(split == whole, "split at \(splitPoint) gave \(split), whole gave \(whole)")
    let trickle = run(input, splits: Array(stride(from: 1, to: min(input.count, 64), by: 1)))
    invariant(trickle == whole, "byte-by-byte gave \(trickle), whole gave \(whole)")
    return 0
}
