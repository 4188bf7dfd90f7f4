/*
 * AES-GCM (NIST SP 800-38D) for short TLS records, on the CPU's AES and
 * carry-less multiply instructions.
 *
 * OpenSSL's EVP interface spends more on a 100-byte record than the cipher
 * does: every IV change, tag read and tag check goes through provider
 * parameter lists looked up by name. This is the one-shot path that
 * tls_record.c uses for records up to a few hundred bytes; longer records stay
 * on EVP, whose stitched AES+GHASH code is faster at length.
 *
 * Only 96-bit nonces and 128- or 256-bit keys; a message may not exceed
 * AES_GCM_MAX_LEN bytes. Input and output may be the same buffer or disjoint,
 * never partly overlapping.
 */
#ifndef AES_GCM_H
#define AES_GCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AES_GCM_NONCE_LEN 12
#define AES_GCM_TAG_LEN   16
#define AES_GCM_MAX_LEN   65536 /* far below GCM's own limit; records are 16 KB */

struct aes_gcm;

/* True when this CPU has what the code needs (x86-64 AES-NI and PCLMULQDQ). */
bool aes_gcm_supported(void);

/* A key schedule and GHASH table for key_len 16 or 32; NULL when unsupported. */
struct aes_gcm *aes_gcm_new(const uint8_t *key, size_t key_len);

/* Wipe and free; NULL-safe, sets *g to NULL. */
void aes_gcm_free(struct aes_gcm **g);

/* Encrypt len bytes of in to out and write the tag; false when len is too long. */
bool aes_gcm_seal(const struct aes_gcm *g, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                  uint8_t tag[AES_GCM_TAG_LEN]);

/*
 * Check the tag and only then decrypt: false (out untouched) when the tag
 * does not match or len is too long.
 */
bool aes_gcm_open(const struct aes_gcm *g, const uint8_t nonce[AES_GCM_NONCE_LEN],
                  const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                  const uint8_t tag[AES_GCM_TAG_LEN]);

#endif
