import HTTP1
import Sockets

/// Who really sent a request when a proxy sits in front: `X-Forwarded-For` / `Forwarded` are believed only when the
/// TCP peer is a configured trusted proxy, and then the rightmost address that is not itself a trusted proxy wins
/// (the left part of the chain is whatever the client claimed, so it is never trusted).
struct ClientAddressResolver: Sendable {
    let trustedProxies: [CIDRBlock]

    func clientAddress(of request: HTTPRequest) -> IPAddress? {
        guard let peerText = request.remoteAddress?.host, let peer = IPAddress(peerText) else { return nil }
        guard isTrusted(peer) else { return peer }
        var chain: [IPAddress] = []
        for value in request.headers.values("Forwarded") {
            for element in value.split(separator: ",") {
                for pair in element.split(separator: ";") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, parts[0].trimmingCharacters(in: " ").lowercased() == "for" else { continue }
                    var node = parts[1].trimmingCharacters(in: " \"")
                    if node.hasPrefix("["), let close = node.firstIndex(of: "]") {
                        node = String(node[node.index(after: node.startIndex)..<close])
                    } else if node.filter({ $0 == ":" }).count == 1, let colon = node.firstIndex(of: ":") {
                        node = String(node[..<colon])
                    }
                    if let address = IPAddress(node) { chain.append(address) }
                }
            }
        }
        if chain.isEmpty {
            for value in request.headers.values("X-Forwarded-For") {
                for part in value.split(separator: ",") {
                    if let address = IPAddress(part.trimmingCharacters(in: " ")) { chain.append(address) }
                }
            }
        }
        for address in chain.reversed() where !isTrusted(address) { return address }
        return chain.first ?? peer
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
