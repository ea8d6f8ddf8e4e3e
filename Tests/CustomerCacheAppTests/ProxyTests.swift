@testable import CustomerCacheApp
import HTTP1
import HTTPTestClient
import Sockets
import Testing

@Suite("Client address behind a proxy")
struct ProxyTests {
    func request(peer: String, headers: [(String, String)]) throws -> HTTPRequest {
        HTTPRequest(method: "POST", target: "/", headers: HTTPHeaders(headers), remoteAddress: try SocketAddress(host: peer, port: 1))
    }

    let resolver = ClientAddressResolver(trustedProxies: [CIDRBlock("10.0.0.0/8"), CIDRBlock("::1")].compactMap { $0 })

    @Test("X-Forwarded-For is ignored from an untrusted peer")
    func untrusted() throws {
        let address = resolver.clientAddress(of: try request(peer: "203.0.113.9", headers: [("X-Forwarded-For", "54.204.214.106")]))
        #expect(address?.description == "203.0.113.9")
    }

    @Test("from a trusted proxy, the rightmost untrusted hop wins, so a spoofed left part is ignored")
    func trustedChain() throws {
        let address = resolver.clientAddress(of: try request(peer: "10.1.2.3", headers: [("X-Forwarded-For", "1.2.3.4, 54.204.214.106, 10.9.9.9")]))
        #expect(address?.description == "54.204.214.106")
    }

    @Test("RFC 7239 Forwarded is understood, with ports and IPv6 brackets, when it is the configured header")
    func forwarded() throws {
        let resolver = ClientAddressResolver(trustedProxies: resolver.trustedProxies, header: .forwarded)
        let v4 = resolver.clientAddress(of: try request(peer: "::1", headers: [("Forwarded", #"for=192.0.2.60:4711;proto=https"#)]))
        #expect(v4?.description == "192.0.2.60")
        let v6 = resolver.clientAddress(of: try request(peer: "::1", headers: [("Forwarded", #"for="[2001:db8:cafe::17]:4711""#)]))
        #expect(v6?.description == "2001:db8:cafe::17")
    }

    /// The attack setup of issue 10: proxy 127.0.0.2 in front, allowlist 127.0.0.5, real client 127.0.0.3.
    static func resolver(_ header: ClientAddressHeader) -> ClientAddressResolver {
        ClientAddressResolver(trustedProxies: [CIDRBlock("127.0.0.2")].compactMap { $0 }, header: header)
    }

    @Test("an entry the proxy appended that cannot be parsed ends the walk as an unknown client, never the forged entry to its left",
          arguments: ["127.0.0.5, unknown", "127.0.0.5, garbage!", "127.0.0.5, 127.0.0.3:51234x", "127.0.0.5, [::1", "127.0.0.5, "])
    func unparsableEndsWalk(_ value: String) throws {
        let address = Self.resolver(.xForwardedFor).clientAddress(of: try request(peer: "127.0.0.2", headers: [("X-Forwarded-For", value)]))
        #expect(address == nil)
    }

    @Test("IP:port and [v6]:port entries are the client, not skipped")
    func ports() throws {
        let resolver = Self.resolver(.xForwardedFor)
        let v4 = resolver.clientAddress(of: try request(peer: "127.0.0.2", headers: [("X-Forwarded-For", "127.0.0.5, 127.0.0.3:51234")]))
        #expect(v4?.description == "127.0.0.3")
        let v6 = resolver.clientAddress(of: try request(peer: "127.0.0.2", headers: [("X-Forwarded-For", "127.0.0.5, [2001:db8::3]:51234")]))
        #expect(v6?.description == "2001:db8::3")
        let bare = resolver.clientAddress(of: try request(peer: "127.0.0.2", headers: [("X-Forwarded-For", "2001:db8::4, 127.0.0.2")]))
        #expect(bare?.description == "2001:db8::4")
    }

    @Test("only the configured header is read: a client-sent Forwarded does not beat the proxy's X-Forwarded-For, and vice versa")
    func onlyNamedHeader() throws {
        let headers = [("Forwarded", "for=127.0.0.5"), ("X-Forwarded-For", "127.0.0.3")]
        #expect(Self.resolver(.xForwardedFor).clientAddress(of: try request(peer: "127.0.0.2", headers: headers))?.description == "127.0.0.3")
        let forwarded = [("Forwarded", "for=127.0.0.3"), ("X-Forwarded-For", "127.0.0.5")]
        #expect(Self.resolver(.forwarded).clientAddress(of: try request(peer: "127.0.0.2", headers: forwarded))?.description == "127.0.0.3")
        let real = [("X-Real-IP", "127.0.0.3"), ("X-Forwarded-For", "127.0.0.5")]
        #expect(Self.resolver(.xRealIP).clientAddress(of: try request(peer: "127.0.0.2", headers: real))?.description == "127.0.0.3")
    }

    @Test("several lines of the header are one list in order, walked from the right")
    func multipleLines() throws {
        let headers = [("X-Forwarded-For", "127.0.0.5"), ("X-Forwarded-For", "127.0.0.3, 127.0.0.2")]
        #expect(Self.resolver(.xForwardedFor).clientAddress(of: try request(peer: "127.0.0.2", headers: headers))?.description == "127.0.0.3")
        let forged = [("X-Forwarded-For", "127.0.0.5"), ("X-Forwarded-For", "unknown")]
        #expect(Self.resolver(.xForwardedFor).clientAddress(of: try request(peer: "127.0.0.2", headers: forged)) == nil)
    }

    @Test("Forwarded: quoted [v6]:port, an element without for= or with an obfuscated node is an unknown client")
    func forwardedForms() throws {
        let resolver = Self.resolver(.forwarded)
        let quoted = resolver.clientAddress(of: try request(peer: "127.0.0.2", headers: [("Forwarded", #"for=127.0.0.5, for="[2001:db8::3]:51234";proto=https"#)]))
        #expect(quoted?.description == "2001:db8::3")
        for value in ["for=127.0.0.5, for=unknown", "for=127.0.0.5, for=_hidden", "for=127.0.0.5, proto=https", #"for=127.0.0.5, for="[::1"#] {
            #expect(resolver.clientAddress(of: try request(peer: "127.0.0.2", headers: [("Forwarded", value)])) == nil, "\(value)")
        }
    }

    @Test("through the listener: a forged allowed address with an unparsable or port-carrying real entry gets 403, and Forwarded is ignored")
    func forgedThroughListener() throws {
        let live = try LiveService(settings: ["trusted-proxies": "127.0.0.1", "webhook-allowed-sources": "127.0.0.5"])
        defer { live.stop(); live.removeData() }
        let body = Events.event("e1", object: Events.customer("c1"))
        let header = WebhookSignatureHeader.make(body: body, clock: live.clock)
        func status(_ extra: [(String, String)]) throws -> Int {
            try #require(RawClient(live.webhook).exchange(method: "POST", path: "/webhooks/digitalriver",
                                                          headers: [("DigitalRiver-Signature", header)] + extra, body: body)).status
        }
        #expect(try status([("X-Forwarded-For", "127.0.0.5, 127.0.0.3:51234")]) == 403)
        #expect(try status([("X-Forwarded-For", "127.0.0.5, unknown")]) == 403)
        #expect(try status([("X-Forwarded-For", "127.0.0.5, garbage!")]) == 403)
        #expect(try status([("Forwarded", "for=127.0.0.5"), ("X-Forwarded-For", "127.0.0.3")]) == 403)
        #expect(try status([("X-Forwarded-For", "127.0.0.5")]) == 200)
    }

    @Test("client-address-header accepts the three names and refuses others")
    func setting() throws {
        for name in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
            let sources = try ConfigurationSources(flags: ["client-address-header": name], environment: [:], fileContents: nil)
            #expect(try AppConfiguration(sources: sources).clientAddressHeader.rawValue == name)
        }
        let bad = try ConfigurationSources(flags: ["client-address-header": "X-Client-IP"], environment: [:], fileContents: nil)
        #expect(throws: ConfigurationError.self) { try AppConfiguration(sources: bad) }
        let none = try ConfigurationSources(flags: [:], environment: [:], fileContents: nil)
        #expect(try AppConfiguration(sources: none).clientAddressHeader == .xForwardedFor)
    }

    @Test("CIDR blocks match by prefix, and IPv4-mapped IPv6 matches IPv4 blocks")
    func cidr() throws {
        let block = try #require(CIDRBlock("209.87.180.0/24"))
        #expect(block.contains(try #require(IPAddress("209.87.180.255"))))
        #expect(!block.contains(try #require(IPAddress("209.87.181.0"))))
        #expect(block.contains(try #require(IPAddress("::ffff:209.87.180.7"))))
        #expect(CIDRBlock("10.0.0.0/33") == nil)
        #expect(CIDRBlock("nonsense") == nil)
    }

    @Test("the webhook allowlist refuses other sources with 403 and accepts listed ones via a trusted proxy")
    func allowlist() throws {
        let live = try LiveService(settings: ["trusted-proxies": "127.0.0.1", "webhook-allowed-sources": "54.204.214.106/32,209.87.180.0/24"])
        defer { live.stop(); live.removeData() }
        let body = Events.event("e1", object: Events.customer("c1"))
        let header = WebhookSignatureHeader.make(body: body, clock: live.clock)
        let refused = try #require(RawClient(live.webhook).exchange(method: "POST", path: "/webhooks/digitalriver",
                                                                    headers: [("DigitalRiver-Signature", header), ("X-Forwarded-For", "198.51.100.7")], body: body))
        #expect(refused.status == 403)
        let accepted = try #require(RawClient(live.webhook).exchange(method: "POST", path: "/webhooks/digitalriver",
                                                                     headers: [("DigitalRiver-Signature", header), ("X-Forwarded-For", "209.87.180.12")], body: body))
        #expect(accepted.status == 200)
    }
}

import WebhookSignature

enum WebhookSignatureHeader {
    static func make(body: [UInt8], clock: TestClock, secret: String = LiveService.secret) -> String {
        WebhookSigner.header(secret: secret, timestamp: clock.seconds, body: body)
    }
}

@Suite("Configuration files")
struct ConfigurationFileTests {
    @Test("config and token files with Windows line endings are read line by line")
    func crlf() throws {
        let sources = try ConfigurationSources(flags: [:], environment: [:], fileContents: "rpc-listen = 127.0.0.1:9999\r\nlog-level = debug\r\n")
        #expect(sources.raw("rpc-listen") == "127.0.0.1:9999")
        #expect(sources.raw("log-level") == "debug")
        let tokens = try CallerTokens(parsing: "a tok_aaaaaaaaaaaaaaaa\r\nb tok_bbbbbbbbbbbbbbbb customer.get\r\n")
        #expect(tokens.count == 2)
        #expect(tokens.caller(forAuthorization: "Bearer tok_bbbbbbbbbbbbbbbb")?.name == "b")
    }
}
