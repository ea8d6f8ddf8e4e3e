import Customers
import FuzzSupport
import JSON

/// libFuzzer's entry point: the input is a webhook body. Decoding ends in an event or a named field error; an
/// event carries everything the rules rely on (the store must never meet a half-valid event inside a group commit).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEvent(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = inputBytes(data, size)
    guard let json = try? JSONValue.parse(input) else { return 0 }
    let event: CustomerEvent
    do {
        event = try CustomerEvent(json: json)
    } catch {
        invariant(!error.field.isEmpty && !error.reason.isEmpty, "an error that names no field")
        return 0
    }
    invariant(!event.id.isEmpty && event.id.utf8.count <= 255, "event id of \(event.id.utf8.count) bytes")
    invariant(!event.type.isEmpty, "empty event type")
    switch event.kind {
    case .customerSnapshot:
        guard let customer = event.customer else {
            invariant(false, "\(event.type) without a customer")
            return 0
        }
        invariant(event.customerID == customer.id, "customerID differs from data.object.id")
        invariant(!customer.id.isEmpty && customer.id.utf8.count <= Customer.maxStoredIdLength, "customer id length")
        // The stored bytes are what customer.get serves: they must be the object, and valid JSON.
        let stored = try? JSONValue.parse(customer.encoded)
        invariant(stored == .object(customer.object), "stored bytes differ from the customer object")
        if case .array(let sources)? = customer.object["sources"] {
            for source in sources {
                invariant(source["clientSecret"] == nil, "a source's clientSecret was kept")
            }
        }
    case .unhandled:
        invariant(event.customer == nil, "an unhandled type carries a customer")
    case .customerDeleted, .sourceAttached, .sourceDetached, .taxIdentifierAttached, .otherCustomerEvent:
        invariant(event.customerID?.isEmpty == false, "\(event.type) without a customer id")
        invariant(event.customer == nil, "\(event.type) carries a customer")
    }
    return 0
}
