import HTTP1
import Sockets

/// The one header a trusted proxy writes the client's address into; the operator names it (`client-address-header`)
/// because reading a second header would let a client forge whichever one the proxy does not overwrite.
public enum ClientAddressHeader: String, Sendable, CaseIterable {
    case xForwardedFor = "X-Forwarded-For"
    case forwarded = "Forwarded"
    case xRealIP = "X-Real-IP"
}

/// Who really sent a request when a proxy sits in front. The named header is believed only when the TCP peer is a
/// configured trusted proxy, and then it is walked from the right: each hop that is a trusted proxy vouches for the
/// entry to its left, and the first entry that is not a trusted proxy is the client. An entry that cannot be
/// parsed (`unknown`, garbage, an obfuscated `Forwarded` node) was written by an untrusted party, so the walk ends
/// there with an unknown client (nil), which no allowlist accepts; believing what lies left of it would let a
/// client choose its own address.
struct ClientAddressResolver: Sendable {
    let trustedProxies: [CIDRBlock]
    let header: ClientAddressHeader

    init(trustedProxies: [CIDRBlock], header: ClientAddressHeader = .xForwardedFor) {
        self.trustedProxies = trustedProxies
        self.header = header
    }

    func clientAddress(of request: HTTPRequest) -> IPAddress? {
        guard let peerText = request.remoteAddress?.host, let peer = IPAddress(peerText) else { return nil }
        guard isTrusted(peer) else { return peer }
        // Several lines of one header are one list in order (RFC 9110 §5.3).
        let entries = request.headers.values(header.rawValue).flatMap { $0.split(separator: ",") }
        var client = peer
        for entry in entries.reversed() {
            guard let address = address(of: entry) else { return nil }
            client = address
            if !isTrusted(address) { return address }
        }
        return client
    }

    /// One list entry's address: `IP`, `IP:port`, `[v6]` or `[v6]:port`; in `Forwarded`, the `for=` parameter of
    /// the element, possibly quoted. Nil for anything else.
    private func address(of entry: Substring) -> IPAddress? {
        var node = entry.trimmingCharacters(in: " \t")
        if header == .forwarded {
            let pairs = node.split(separator: ";").map { $0.split(separator: "=", maxSplits: 1) }
            let forValues = pairs.filter { $0.count == 2 && $0[0].trimmingCharacters(in: " \t").lowercased() == "for" }
            guard forValues.count == 1 else { return nil }
            node = forValues[0][1].trimmingCharacters(in: " \t")
            if node.count >= 2, node.hasPrefix("\""), node.hasSuffix("\"") { node = String(node.dropFirst().dropLast()) }
        }
        if node.hasPrefix("[") {
            guard let close = node.firstIndex(of: "]") else { return nil }
            let rest = node[node.index(after: close)...]
            guard rest.isEmpty || (rest.first == ":" && Self.isPort(rest.dropFirst())) else { return nil }
            return IPAddress(node[node.index(after: node.startIndex)..<close])
        }
        if node.filter({ $0 == ":" }).count == 1, let colon = node.firstIndex(of: ":") {
            guard Self.isPort(node[node.index(after: colon)...]) else { return nil }
            return IPAddress(node[..<colon])
        }
        return IPAddress(node)
    }

    private static func isPort(_ text: Substring) -> Bool {
        (1...5).contains(text.count) && text.allSatisfy { $0.isASCII && $0.isNumber }
    }

    private func isTrusted(_ address: IPAddress) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self).trimmingCharacters(in: set)
    }
}
