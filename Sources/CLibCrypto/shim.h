#ifndef CLIBCRYPTO_SHIM_H
#define CLIBCRYPTO_SHIM_H

// OpenSSL libcrypto (3.x) as seen from Swift. Only WebhookSignature imports this module.
// The helpers below give Swift an HMAC-SHA256 over raw buffers (`void *` where the C API wants
// `unsigned char *`) whose keyed state is two plain structs.

// SHA256_Init/Update/Final are deprecated in 3.0 in favour of EVP_Digest*, which allocates a provider context per
// copy; the HMAC below needs only copies of two fixed-size states, so it keeps the low-level calls (still in 3.x).
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <stddef.h>
#include <string.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>

/// HMAC-SHA256 key schedule (RFC 2104): SHA-256 states that have absorbed key^ipad and key^opad. Computing a
/// message's code starts from copies of these plain structs, so a code costs no allocation and no key work.
typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} clibcrypto_hmac_sha256_key;

/// Keys `schedule` with `key` (any length; longer than a block is hashed first, as RFC 2104 says).
static inline void clibcrypto_hmac_sha256_key_init(clibcrypto_hmac_sha256_key *schedule, const void *key, size_t key_length) {
    unsigned char block[SHA256_CBLOCK];
    unsigned char pad[SHA256_CBLOCK];
    memset(block, 0, sizeof block);
    if (key_length > SHA256_CBLOCK) {
        SHA256((const unsigned char *)key, key_length, block);
    } else if (key_length > 0) {
        memcpy(block, key, key_length);
    }
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&schedule->inner);
    SHA256_Update(&schedule->inner, pad, sizeof pad);
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&schedule->outer);
    SHA256_Update(&schedule->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

/// Starts a message: `state` becomes a copy of the keyed inner state.
static inline void clibcrypto_hmac_sha256_begin(const clibcrypto_hmac_sha256_key *schedule, SHA256_CTX *state) {
    *state = schedule->inner;
}

/// Feeds `length` bytes of the message.
static inline void clibcrypto_hmac_sha256_update(SHA256_CTX *state, const void *bytes, size_t length) {
    SHA256_Update(state, bytes, length);
}

/// Writes the 32-byte code to `output` and wipes `state`.
static inline void clibcrypto_hmac_sha256_final(const clibcrypto_hmac_sha256_key *schedule, SHA256_CTX *state, void *output) {
    unsigned char inner_digest[SHA256_DIGEST_LENGTH];
    SHA256_Final(inner_digest, state);
    *state = schedule->outer;
    SHA256_Update(state, inner_digest, sizeof inner_digest);
    SHA256_Final((unsigned char *)output, state);
    OPENSSL_cleanse(inner_digest, sizeof inner_digest);
    OPENSSL_cleanse(state, sizeof *state);
}

#endif
