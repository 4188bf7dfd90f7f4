/*
 * hash.c - MurmurHash3 x86_32 over item keys.
 *
 * Owns nothing but the function. Depends on nothing in the project.
 * MurmurHash3 is memcached's default (`hash_algorithm murmur3`), mixes short
 * keys well and needs no table. Rejected: a 64-bit hash (the table index never
 * needs more than 32 bits, and the extra mixing costs time on short keys) and
 * SipHash (keyed against flooding, but about twice the cost; hash flooding
 * against a cache is bounded by the online expansion of the table).
 * Blocks are read with memcpy so unaligned keys are fine on every target.
 */
#include "hash.h"

#include <string.h>

#define MURMUR_C1 0xcc9e2d51u
#define MURMUR_C2 0x1b873593u

static inline uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static inline uint32_t mix_block(uint32_t k)
{
    k *= MURMUR_C1;
    k = rotl32(k, 15);
    return k * MURMUR_C2;
}

/* The final avalanche: every input bit affects every output bit. */
static inline uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

uint32_t hash_key(const void *key, size_t len)
{
    const unsigned char *p = key;
    size_t nblocks = len / 4;
    uint32_t h = 0;
    uint32_t k;

    for (size_t i = 0; i < nblocks; i++) {
        memcpy(&k, p + i * 4, 4);
        h ^= mix_block(k);
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    p += nblocks * 4;
    k = 0;
    switch (len & 3) {
    case 3:
        k = (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
        break;
    case 2:
        k = (uint32_t)p[1] << 8 | p[0];
        break;
    case 1:
        k = p[0];
        break;
    default:
        break;
    }
    if (len & 3) {
        h ^= mix_block(k);
    }
    h ^= (uint32_t)len;
    return fmix32(h);
}
