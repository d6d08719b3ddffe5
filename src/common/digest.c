#include "digest.h"

#include <stdlib.h>

#include <openssl/evp.h>

struct sha256_stream {
	EVP_MD_CTX *ctx;
};

void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int
sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		return -1;
	hex_encode(md, mdlen, hex);
	return 0;
}

struct sha256_stream *
sha256_new(void)
{
	struct sha256_stream *s = malloc(sizeof *s);

	if (s == NULL)
		return NULL;
	s->ctx = EVP_MD_CTX_new();
	if (s->ctx == NULL || !EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL)) {
		sha256_free(s);
		return NULL;
	}
	return s;
}

int
sha256_update(struct sha256_stream *s, const void *data, size_t len)
{
	return EVP_DigestUpdate(s->ctx, data, len) ? 0 : -1;
}

int
sha256_final_hex(struct sha256_stream *s, char hex[SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_DigestFinal_ex(s->ctx, md, &mdlen))
		return -1;
	hex_encode(md, mdlen, hex);
	return 0;
}

void
sha256_free(struct sha256_stream *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->ctx);
	free(s);
}
