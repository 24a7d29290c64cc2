/*
 * murmur2.c - Kafka's murmur2 key hash and default partition (murmur2.h).
 *
 * THE HASH (Austin Appleby's MurmurHash2, as Kafka's Java client has it;
 * all arithmetic modulo 2^32):
 *
 *   m = 0x5bd1e995, r = 24, h = seed ^ len
 *   for each whole 4-byte block, read LITTLE-endian (whatever the CPU):
 *       k *= m; k ^= k >> r; k *= m; h *= m; h ^= k
 *   the 1-3 bytes left: h ^= b[2] << 16; h ^= b[1] << 8; h ^= b[0]; h *= m
 *       (only the bytes that exist; the multiply only if any byte is left)
 *   h ^= h >> 13; h *= m; h ^= h >> 15
 *
 * Java's int is the same bits as this uint32_t ("k >>> r" is the logical
 * shift done here); bytes are unsigned (Java masks them with 0xff).  len
 * enters the hash modulo 2^32, as Java's int length would (a key is at
 * most a record, far below 4 GiB).
 *
 * The partition: toPositive(h) = h & 0x7fffffff (not abs: abs of
 * INT32_MIN is negative), then % num_partitions.
 */
#include "murmur2.h"

#define M2_M 0x5bd1e995u
#define M2_R 24

uint32_t tfs_murmur2(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint32_t h = TFS_MURMUR2_SEED ^ (uint32_t)len;
	size_t blocks = len / 4;

	for (size_t i = 0; i < blocks; i++, p += 4) {
		uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		             (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		k *= M2_M;
		k ^= k >> M2_R;
		k *= M2_M;
		h *= M2_M;
		h ^= k;
	}
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)p[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)p[1] << 8;
		/* fall through */
	case 1:
		h ^= (uint32_t)p[0];
		h *= M2_M;
		break;
	default:
		break;
	}
	h ^= h >> 13;
	h *= M2_M;
	h ^= h >> 15;
	return h;
}

int32_t tfs_murmur2_partition(const void *key, size_t len,
                              int32_t num_partitions)
{
	if (num_partitions <= 0)
		return -1;
	return (int32_t)((tfs_murmur2(key, len) & 0x7fffffffu) %
	                 (uint32_t)num_partitions);
}
