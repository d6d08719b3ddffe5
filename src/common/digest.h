/*
 * digest: SHA-256 through OpenSSL's EVP interface, in one call or streamed.
 */
#ifndef VEO_DIGEST_H
#define VEO_DIGEST_H

#include <stddef.h>

#define SHA256_HEX_LEN 64

/* Writes the lower-case hex SHA-256 of data into hex (65 bytes). 0 or -1. */
int sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

/* Streaming: an opaque context owned by the caller, freed by sha256_free(). */
struct sha256_stream;
struct sha256_stream *sha256_new(void);
int sha256_update(struct sha256_stream *s, const void *data, size_t len);
/* Writes the hex digest; the stream may not be updated afterwards. */
int sha256_final_hex(struct sha256_stream *s, char hex[SHA256_HEX_LEN + 1]);
void sha256_free(struct sha256_stream *s);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void hex_encode(const unsigned char *in, size_t len, char *out);

#endif
