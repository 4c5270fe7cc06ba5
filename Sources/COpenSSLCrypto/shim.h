// libcrypto (OpenSSL 3) for HybridSyncCrypto: HMAC, digests and constant-time compare.
// Only HybridSyncCrypto imports this module.
#ifndef HS_CRYPTO_SHIM_H
#define HS_CRYPTO_SHIM_H

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#endif
