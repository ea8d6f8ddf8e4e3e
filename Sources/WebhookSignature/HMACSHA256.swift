internal import CLibCrypto

/// HMAC-SHA256 (RFC 2104) over OpenSSL libcrypto's SHA-256; this file is the only place the module calls C crypto.
///
/// The public functions take Swift types only and cannot fail: the keyed states are plain structs, so no input
/// and no allocation inside libcrypto can make them.
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
    /// A key absorbed once into libcrypto's SHA-256 states for key^ipad and key^opad (RFC 2104).
    ///
    /// `@unchecked Sendable` is sound because `schedule` is written once in `init` and from then on only read:
    /// each computation copies the inner state into storage of its own, so any number of threads can share one
    /// `Key`. Copying two plain structs replaces the `EVP_MAC_CTX_dup`/`EVP_MAC_CTX_free` pair (a dozen
    /// allocations through the provider layer) that every webhook used to pay.
    final class Key: @unchecked Sendable {
        fileprivate let schedule: UnsafeMutablePointer<clibcrypto_hmac_sha256_key>

        init(_ key: UnsafeRawBufferPointer) {
            schedule = .allocate(capacity: 1)
            clibcrypto_hmac_sha256_key_init(schedule, key.baseAddress, key.count)
        }

        deinit {
            // The pads are as good as the key itself.
            OPENSSL_cleanse(schedule, MemoryLayout<clibcrypto_hmac_sha256_key>.size)
            schedule.deallocate()
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

    /// One message being authenticated: a private copy of a `Key`'s inner state, on the caller's stack.
    struct Computation: ~Copyable {
        private let key: Key
        private var state = SHA256_CTX()

        init(from key: Key) {
            self.key = key
            clibcrypto_hmac_sha256_begin(key.schedule, &state)
        }

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            // An empty buffer may have no base address; feeding nothing is the same as not feeding.
            guard bytes.count > 0, let base = bytes.baseAddress else { return }
            clibcrypto_hmac_sha256_update(&state, base, bytes.count)
        }

        /// Writes the code and wipes the state; mutating rather than consuming so closures can call it.
        mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
            precondition(output.count >= HMACSHA256.byteCount, "HMAC-SHA256 output buffer too small")
            clibcrypto_hmac_sha256_final(key.schedule, &state, output.baseAddress)
        }

        mutating func finalize() -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: HMACSHA256.byteCount) { buffer, initialized in
                finalize(into: UnsafeMutableRawBufferPointer(buffer))
                initialized = HMACSHA256.byteCount
            }
        }
    }
}
