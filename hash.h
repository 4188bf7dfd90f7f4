/*
 * hash.h - the hash of item keys, used to pick hash-table buckets.
 *
 * A pure function with no state: callers hash a key before taking the storage
 * lock, so the hashing cost stays outside the critical section.
 */
#ifndef HASH_H
#define HASH_H

#include <stddef.h>
#include <stdint.h>

/* 32-bit MurmurHash3 (x86_32 variant, seed 0) of key[0..len). */
uint32_t hash_key(const void *key, size_t len);

#endif /* HASH_H */
