import FuzzSupport
import JSON

/// The service's limits are smaller; these let the fuzzer reach deep nesting and long strings within its input size.
private let limits = JSONLimits(maxDepth: 64, maxStringBytes: 1 << 20, maxBytes: 1 << 20)

/// libFuzzer's entry point: any bytes as a JSON document. A document that parses must survive the writer:
/// writing it, parsing that and writing again gives the same tree and the same bytes, of the announced length.
/// A refusal must point inside the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = inputBytes(data, size)
    let value: JSONValue
    do {
        value = try JSONValue.parse(input, limits: limits)
    } catch {
        invariant(error.offset >= 0 && error.offset <= input.count, "error offset \(error.offset) of \(input.count)")
        return 0
    }
    let written = value.encoded()
    invariant(written.count == value.encodedCount, "encodedCount \(value.encodedCount), wrote \(written.count)")
    let reparsed: JSONValue
    do {
        reparsed = try JSONValue.parse(written, limits: limits)
    } catch {
        invariant(false, "the writer's output does not parse: \(error)")
        return 0
    }
    invariant(reparsed == value, "round trip changed the tree")
    invariant(reparsed.encoded() == written, "writing the round-tripped tree changed the bytes")
    var appended: [UInt8] = [0x5B]
    value.encode(into: &appended)
    invariant(appended.dropFirst().elementsEqual(written), "encode(into:) differs from encoded()")
    return 0
}
