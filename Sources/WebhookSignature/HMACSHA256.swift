internal import CLibCrypto

/// HMAC-SHA256 through OpenSSL's libcrypto (EVP_MAC); this file is the only place the module calls C crypto.
///
/// The public functions take Swift types only. They trap if libcrypto cannot allocate a context or has no
/// HMAC-SHA256 (a broken installation, not a bad input): no input can make them fail.
public enum HMACSHA256 {
    /// Length in bytes of every HMAC-SHA256 code.
    public static let byteCount = 32

    /// The HMAC-SHA256 of the concatenation of `parts` under `key`; the parts are fed one by one, never joined.
    public static func authenticationCode(key: [UInt8], message parts: [UInt8]...) -> [UInt8] {
        authenticationCode(key: key, messageParts: parts)
    }

    /// The HMAC-SHA256 of the concatenation of `parts` under `key`; the parts are fed one by one, never joined.
    public static func authenticationCode(key: [UInt8], messageParts parts: [[UInt8]]) -> [UInt8] {
        let keyed = key.withUnsafeBytes { Key($0) }
        var computation = Computation(from: keyed)
        for part in parts {
            part.withUnsafeBytes { computation.update($0) }
        }
        return computation.finalize()
    }

    /// The HMAC-SHA256 of the concatenation of raw `parts` under `key`, for callers that hold borrowed buffers.
    public static func authenticationCode(key: [UInt8], message parts: UnsafeRawBufferPointer...) -> [UInt8] {
        let keyed = key.withUnsafeBytes { Key($0) }
        var computation = Computation(from: keyed)
        for part in parts {
            computation.update(part)
        }
        return computation.finalize()
    }

    /// Compares two byte strings in time that depends only on their length (CRYPTO_memcmp); false when lengths differ.
    ///
    /// A length mismatch returns early: lengths of MACs are public, their contents are not.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in constantTimeEquals(a, b) } }
    }

    /// Raw-buffer form of `constantTimeEquals`, used on the verification path to avoid copies.
    static func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0, let left = a.baseAddress, let right = b.baseAddress else { return true }
        return CRYPTO_memcmp(left, right, a.count) == 0
    }
}

extension HMACSHA256 {
    /// A key absorbed once into a libcrypto context that is afterwards only ever duplicated.
    ///
    /// `@unchecked Sendable` is sound because `template` is written once in `init` and from then on only
    /// read by `EVP_MAC_CTX_dup`, which copies the keyed state without modifying its source (the only
    /// side effects are atomic reference-count increments). Each computation works on its own duplicate,
    /// so any number of threads can share one `Key`. Duplicating also skips the algorithm fetch and the
    /// two key-pad compressions that a fresh `EVP_MAC_init` would repeat for every message.
    final class Key: @unchecked Sendable {
        fileprivate let template: OpaquePointer

        init(_ key: UnsafeRawBufferPointer) {
            guard let context = clibcrypto_hmac_sha256_new(key.baseAddress, key.count) else {
                libcryptoFailure("EVP_MAC_init(HMAC, SHA2-256)")
            }
            template = context
        }

        deinit {
            EVP_MAC_CTX_free(template)
        }

        /// Writes HMAC(key, timestampElement + "." + body) to `output` (32 bytes) without joining the parts.
        func signedPayloadCode(
            timestampElement: UnsafeRawBufferPointer,
            body: UnsafeRawBufferPointer,
            into output: UnsafeMutableRawBufferPointer
        ) {
            var computation = Computation(from: self)
            computation.update(timestampElement)
            var dot = UInt8(ascii: ".")
            withUnsafeBytes(of: &dot) { computation.update($0) }
            computation.update(body)
            computation.finalize(into: output)
        }
    }

    /// One message being authenticated, on a private duplicate of a `Key`'s context; freed when it goes away.
    struct Computation: ~Copyable {
        private let context: OpaquePointer

        init(from key: Key) {
            guard let context = EVP_MAC_CTX_dup(key.template) else {
                libcryptoFailure("EVP_MAC_CTX_dup")
            }
            self.context = context
        }

        deinit {
            EVP_MAC_CTX_free(context)
        }

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            // An empty buffer may have no base address; feeding nothing is the same as not feeding.
            guard bytes.count > 0, let base = bytes.baseAddress else { return }
            guard clibcrypto_mac_update(context, base, bytes.count) == 1 else {
                libcryptoFailure("EVP_MAC_update")
            }
        }

        // Mutating rather than consuming so closures can call it; the context is freed by deinit either way.
        mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
            precondition(output.count >= HMACSHA256.byteCount, "HMAC-SHA256 output buffer too small")
            var length = 0
            guard let base = output.baseAddress,
                clibcrypto_mac_final(context, base, output.count, &length) == 1,
                length == HMACSHA256.byteCount
            else {
                libcryptoFailure("EVP_MAC_final")
            }
        }

        mutating func finalize() -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: HMACSHA256.byteCount) { buffer, initialized in
                finalize(into: UnsafeMutableRawBufferPointer(buffer))
                initialized = HMACSHA256.byteCount
            }
        }
    }
}

/// Stops the process when libcrypto itself fails (allocation failure or a missing algorithm), keeping
/// OpenSSL's packed error code so the crash report says why. No input reaches this.
private func libcryptoFailure(_ call: StaticString) -> Never {
    let code = ERR_get_error()
    fatalError("libcrypto \(call) failed (OpenSSL error 0x\(String(code, radix: 16)))")
}
