/*
 * fs_int.h - internals shared by the files of fs/ (not a public API).
 */
#ifndef TOPICFS_FS_INT_H
#define TOPICFS_FS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "fs.h"

/* Render the status text into a new buffer (*out, owned by the caller,
 * free(3)).  0 or -errno. */
int fsv_status_render(struct store *st, struct fsv_counters *ctr,
                      const char *data_dir, int64_t start_ms,
                      char **out, size_t *out_len);

/* Log one line ("topicfs: ..." on stderr, or syslog once daemonised). */
void fsv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TOPICFS_FS_INT_H */
