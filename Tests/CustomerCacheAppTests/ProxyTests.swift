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

    @Test("RFC 7239 Forwarded is understood, with ports and IPv6 brackets")
    func forwarded() throws {
        let v4 = resolver.clientAddress(of: try request(peer: "::1", headers: [("Forwarded", #"for=192.0.2.60:4711;proto=https"#)]))
        #expect(v4?.description == "192.0.2.60")
        let v6 = resolver.clientAddress(of: try request(peer: "::1", headers: [("Forwarded", #"for="[2001:db8:cafe::17]:4711""#)]))
        #expect(v6?.description == "2001:db8:cafe::17")
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
