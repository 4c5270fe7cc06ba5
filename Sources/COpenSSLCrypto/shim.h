// libcrypto (OpenSSL 3) for HybridSyncCrypto: HMAC, digests and constant-time compare.
// Only HybridSyncCrypto imports this module.
#ifndef HS_CRYPTO_SHIM_H
#define HS_CRYPTO_SHIM_H

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

/// EVP_PKEY_RSA / EVP_PKEY_EC are aliases of NIDs; named here so Swift sees plain ints.
static inline int hs_pkey_rsa(void) { return EVP_PKEY_RSA; }
static inline int hs_pkey_ec(void) { return EVP_PKEY_EC; }

#endif
