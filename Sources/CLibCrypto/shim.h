#ifndef CLIBCRYPTO_SHIM_H
#define CLIBCRYPTO_SHIM_H

// OpenSSL libcrypto (3.x) as seen from Swift. Only WebhookSignature imports this module.
// The helpers below smooth what Swift imports awkwardly: OSSL_PARAM arrays built from
// string macros, and `unsigned char *` where Swift callers hold raw buffers.

#include <stddef.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

/// Returns a new HMAC-SHA256 context already keyed with `key` (which may be empty), or NULL
/// with the reason on the OpenSSL error queue. The context can serve as a read-only template
/// for EVP_MAC_CTX_dup, so each message skips the algorithm fetch and the key schedule.
static inline EVP_MAC_CTX *clibcrypto_hmac_sha256_new(const void *key, size_t key_length) {
    // EVP_MAC_init treats a NULL key as "keep the previous key", so an empty key needs a real pointer.
    static const unsigned char empty_key = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac == NULL) {
        return NULL;
    }
    EVP_MAC_CTX *context = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); // the context holds its own reference
    if (context == NULL) {
        return NULL;
    }
    OSSL_PARAM parameters[2];
    parameters[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)OSSL_DIGEST_NAME_SHA2_256, 0);
    parameters[1] = OSSL_PARAM_construct_end();
    const unsigned char *key_bytes = key_length > 0 ? (const unsigned char *)key : &empty_key;
    if (EVP_MAC_init(context, key_bytes, key_length, parameters) != 1) {
        EVP_MAC_CTX_free(context);
        return NULL;
    }
    return context;
}

/// EVP_MAC_update over a raw buffer.
static inline int clibcrypto_mac_update(EVP_MAC_CTX *context, const void *bytes, size_t length) {
    return EVP_MAC_update(context, (const unsigned char *)bytes, length);
}

/// EVP_MAC_final into a raw buffer of `capacity` bytes; the MAC length goes to `*length`.
static inline int clibcrypto_mac_final(EVP_MAC_CTX *context, void *output, size_t capacity, size_t *length) {
    return EVP_MAC_final(context, (unsigned char *)output, length, capacity);
}

#endif
