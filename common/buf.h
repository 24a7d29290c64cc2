/*
 * buf.h - a growable byte buffer (data, len, cap), the one kind used by
 * every module.  Zero-initialise it ({0}); buf_reserve() makes room for
 * `extra` more bytes past len (doubling, from 64); buf_append() copies
 * bytes to the end; buf_free() releases the storage and leaves an empty
 * buffer.  Errors: -ENOMEM, and the buffer is unchanged.  Not thread-safe:
 * a buffer belongs to one thread at a time.
 */
#ifndef TOPICFS_BUF_H
#define TOPICFS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;          /* owned, NULL when cap == 0 */
	size_t len;             /* bytes in use */
	size_t cap;             /* bytes allocated */
};

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
void buf_free(struct buf *b);

#endif /* TOPICFS_BUF_H */
