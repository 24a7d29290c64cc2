/*
 * murmur2.h - Kafka's default partitioner for keyed records: the 32-bit
 * MurmurHash2 of the Java client (org.apache.kafka.common.utils.Utils.murmur2,
 * seed 0x9747b28c, the same as librdkafka's rd_murmur2 behind its
 * "murmur2" and "murmur2_random" partitioners), and the partition it picks:
 *
 *     partition = (murmur2(key) & 0x7fffffff) % num_partitions
 *
 * (Utils.toPositive, then the modulo), so a Kafka producer and topicfs
 * agree on where a key lives.  A null key has no hash: the caller spreads
 * keyless records itself (Kafka's sticky partitioner).  An empty key is a
 * key: it hashes like any other (to 0x106e08d9).
 *
 * Pure functions, thread-safe, no allocation.
 */
#ifndef TOPICFS_MURMUR2_H
#define TOPICFS_MURMUR2_H

#include <stddef.h>
#include <stdint.h>

#define TFS_MURMUR2_SEED 0x9747b28cu

/* The hash of key[0..len) as an unsigned 32-bit value (the Java int's bits:
 * (int32_t)tfs_murmur2(...) is what Utils.murmur2 returns).  key may be
 * NULL when len is 0. */
uint32_t tfs_murmur2(const void *key, size_t len);

/* The partition Kafka's default partitioner picks for this key among
 * num_partitions (> 0): 0 .. num_partitions - 1.  -1 when num_partitions
 * <= 0. */
int32_t tfs_murmur2_partition(const void *key, size_t len,
                              int32_t num_partitions);

#endif /* TOPICFS_MURMUR2_H */
