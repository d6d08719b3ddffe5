/*
 * Helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 *
 * Each harness defines LLVMFuzzerTestOneInput(); these helpers cut one
 * input into NUL-terminated fields, so that a harness can drive functions
 * that take C strings without the fuzzer having to learn a format.  A
 * harness that finds a contract broken calls abort(), which libFuzzer
 * reports as a crash with the input that caused it.
 */
#ifndef VEO_FUZZ_H
#define VEO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_MAX_FIELDS 10

/*
 * Splits data at '\n' into at most FUZZ_MAX_FIELDS fields (the last one
 * takes the rest, newlines included), each a malloc'd NUL-terminated copy
 * in f[]; missing fields are empty strings.  Embedded NUL bytes stay, so a
 * field may look shorter to strlen() than it is.  Free with fuzz_free().
 */
struct fuzz_fields {
	char *f[FUZZ_MAX_FIELDS];
	size_t len[FUZZ_MAX_FIELDS];
};

static inline void
fuzz_split(const uint8_t *data, size_t size, size_t nfields, struct fuzz_fields *out)
{
	size_t start = 0;

	for (size_t i = 0; i < FUZZ_MAX_FIELDS; i++) {
		size_t end = start;

		if (i + 1 < nfields)
			while (end < size && data[end] != '\n')
				end++;
		else if (i + 1 == nfields)
			end = size;
		if (end < start)
			end = start;
		out->len[i] = end - start;
		if ((out->f[i] = malloc(out->len[i] + 1)) == NULL)
			abort();
		if (out->len[i] > 0)
			memcpy(out->f[i], data + start, out->len[i]);
		out->f[i][out->len[i]] = '\0';
		start = end < size ? end + 1 : size;
	}
}

static inline void
fuzz_free(struct fuzz_fields *ff)
{
	for (size_t i = 0; i < FUZZ_MAX_FIELDS; i++)
		free(ff->f[i]);
}

/* A contract broken: say which, then crash so that libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond, ...) do {						\
	if (!(cond)) {								\
		fprintf(stderr, "fuzz assertion failed: %s: ", #cond);		\
		fprintf(stderr, __VA_ARGS__);					\
		fputc('\n', stderr);						\
		abort();							\
	}									\
} while (0)

#endif
