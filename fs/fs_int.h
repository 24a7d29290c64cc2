/*
 * fs_int.h - internals shared by the files of fs/ (not a public API).
 */
#ifndef TOPICFS_FS_INT_H
#define TOPICFS_FS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "fs.h"

/* Render the status text into a new buffer (*out, owned by the caller,
 * free(3)).  0 or -errno. */
int fsv_status_render(struct store *st, struct fsv_counters *ctr,
                      const char *data_dir, int64_t start_ms,
                      char **out, size_t *out_len);

/* ============================ groups.c ==================================
 * The shell side of consumer groups: the state of a <p>@group=NAME view
 * (struct fsg_reader) and the .groups directory.  Thread-safe. */

struct fsg;             /* one per struct fsv: the open group readers */
struct fsg_reader;      /* one per open @group= view */

struct fsg *fsg_new(void);
void fsg_free(struct fsg *g);

/* Open a group reader of (group, topic, partition): takes the shell
 * reader (groups_reader_acquire: -EBUSY when another reader or Kafka
 * members hold it; a reader of ours that was just closed and whose
 * release is still on its way is waited for, up to a second) and fetches
 * the committed offset: *start gets it, or -1 when the group has none.
 * part must stay valid until fsg_reader_close. */
int fsg_reader_open(struct fsg *g, struct store *st, const char *group,
                    const char *topic, int32_t partition, struct part *part,
                    int64_t *start, struct fsg_reader **out);
/* A new read request at stream position pos, after a read that ended at
 * prev_end (-1: none yet): what the earlier reads returned before
 * min(prev_end, pos) is consumed. */
void fsg_reader_advance(struct fsg_reader *r, int64_t prev_end, int64_t pos);
/* Commit what is consumed if the last commit is FSG_COMMIT_INTERVAL_MS
 * old (or at once with force).  0, or the commit's error (logged,
 * rate-limited; what was not committed stays pending). */
int fsg_reader_commit(struct fsg_reader *r, bool force);
/* close(2) of a descriptor (FUSE flush): commit now; the release may
 * follow. */
int fsg_reader_flush(struct fsg_reader *r);
/* The final release: commit, give the shell reader back, free. */
void fsg_reader_close(struct fsg_reader *r);

/* .groups: the encoded names of every group (those whose encoding does
 * not fit a file name are left out), malloc'd. */
int fsg_dir_names(struct store *st, char ***names, size_t *n);
/* The id of the group a .groups entry names: 0, -ENOENT (bad encoding or
 * no such group; with must_exist false only a bad encoding fails, as
 * -EINVAL). */
int fsg_name_to_id(struct store *st, const char *name, char *id, size_t idlen,
                   bool must_exist);
struct fso_caller;
/* The text of a group file (rendered at open).  who (NULL: no filter, the
 * mount without allow_other) sees only the rows of topics it may read. */
int fsg_render(struct store *st, const char *id, const struct fso_caller *who,
               char **out, size_t *len);
/* A write to a group file: reset lines, all or nothing.  (Group files are
 * the daemon user's, 0644: with allow_other the kernel lets no one else
 * write them.) */
int fsg_reset(struct fsg *g, struct store *st, const char *id, const char *data,
              size_t len);
/* rm .groups/NAME */
int fsg_delete(struct fsg *g, struct store *st, const char *name);
/* .status: "key value" lines, and the per-group table. */
void fsg_status_counters(FILE *f, struct store *st);
void fsg_status_table(FILE *f, struct store *st);

/* The JSON form of a group view (<p>@group=NAME.json) commits by offset:
 * every record below offset was wholly returned by the reader's earlier
 * reads (records.c, fsr_view_consumed).  Never moves back. */
void fsg_reader_advance_offset(struct fsg_reader *r, int64_t offset);

/* ============================ records.c =================================
 * Records through the mount (issue 17): the record view <p>@<spec>.json
 * and the writable <topic>/@keyed and <topic>/@json.  Each object belongs
 * to one handle and is used under its lock (fs.c h->lock). */

struct fsr_view;        /* the JSON rendering state of one open view */
struct fsr_writer;      /* one open @keyed or @json */
enum fsr_form { FSR_KEYED, FSR_JSON };

int fsr_view_new(const char *topic, int32_t partition, struct fsr_view **out);
void fsr_view_free(struct fsr_view *v);
/* Resolve the view's first offset from spec (FSV_FROM_GROUP already made
 * an offset or earliest).  0 with fsr_view_started() true, or 0 and not
 * started (a future offset or time: wait), or -errno. */
int fsr_view_resolve(struct fsr_view *v, struct part *p,
                     const struct fsv_view_spec *spec,
                     const struct part_info *info);
bool fsr_view_started(const struct fsr_view *v);
/* One attempt to serve a read of size bytes at JSON position off, never
 * waiting: 0 with *nread bytes (0: end of file: a bounded view done, the
 * topic deleted), 0 with *wait (nothing yet: park), or -errno (ENODATA:
 * retention removed the record the reader was in; EIO: a corrupt batch).
 * Retention shifts and ENODATA are counted in ctr. */
int fsr_view_read(struct fsr_view *v, struct part *p, struct fsv_counters *ctr,
                  int64_t off, char *buf, size_t size, size_t *nread, bool *wait);
/* A read request at JSON position pos on a group view: the offset of the
 * first record not wholly before min(end of the previous read, pos), or
 * -1 (no read yet, or a position the view cannot place). */
int64_t fsr_view_consumed(const struct fsr_view *v, int64_t pos);

int fsr_writer_new(struct fsv *fs, enum fsr_form form, struct fsr_writer **out);
/* Gives back the held bytes of a partial line still held. */
void fsr_writer_free(struct fsr_writer *w);
/* A write(2) to @keyed or @json of topic t: see records.c.  0 (all of it
 * taken: complete lines appended, the partial held) or -errno (EMSGSIZE,
 * EINVAL, ENOENT, ENOMEM, storage errors). */
int fsr_writer_write(struct fsr_writer *w, struct topic *t, const char *data,
                     size_t len);
/* close, fsync, release: the held partial line becomes a record (a bad
 * one is dropped with a log line and its error returned); with durable
 * (fsync) or linger_ms > 0, the partitions this file appended to are
 * flushed. */
int fsr_writer_flush(struct fsr_writer *w, struct topic *t, bool durable);
const char *fsr_form_name(enum fsr_form form);

/* fs.c: the bound on held partial lines, all handles together ([fs]
 * max_held_bytes): reserve delta bytes (may be negative); false when it
 * does not fit. */
bool fsv_held_reserve(struct fsv *fs, ssize_t delta);

/* Log one line ("topicfs: ..." on stderr, or syslog once daemonised). */
void fsv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ============================== owner.c =================================
 * Owners and modes in the mount (issue 14): the rules are in owner.c's
 * design comment.  No state; thread-safe. */

struct fuse_req;
struct stat;

/* Who asks: from fuse_req_ctx; pid is kept for the supplementary groups
 * (read from /proc only when needed). */
struct fso_caller {
	uint32_t uid;
	uint32_t gid;
	uint32_t umask;
	int pid;                /* the calling thread; 0: the primary group only */
};
enum fso_object { FSO_TOPIC_DIR, FSO_PARTITION, FSO_VIEW, FSO_WRITER };

void fso_caller_get(struct fuse_req *req, struct fso_caller *out);
/* gid is the caller's primary group or one of its supplementary groups. */
bool fso_caller_in_group(const struct fso_caller *c, uint32_t gid);
/* The owner a mkdir by c with this mode stores. */
void fso_owner_for_mkdir(const struct fso_caller *c, uint32_t mode,
                         struct topic_owner *out);
/* st_uid, st_gid and st_mode (type bits included) of a topic's object. */
void fso_fill_stat(const struct topic_owner *o, enum fso_object what,
                   struct stat *st);
/* The mount root's permission bits. */
uint32_t fso_root_mode(bool allow_other);
/* Would the kernel's permission check let c read (want 4) or write (2) a
 * file with owner o's modes?  The owner class if c owns it, else the group
 * class if c is in its group, else others; uid 0 always may. */
bool fso_may(const struct fso_caller *c, const struct topic_owner *o,
             unsigned want);
/* chmod / chown of topic t's directory (to_set: FUSE_SET_ATTR_MODE, _UID,
 * _GID) by c: 0 (changed and written, or nothing to change), -EPERM (not
 * allowed), -EINVAL, -ENOENT (deleted), I/O errors (nothing changed). */
int fso_topic_setattr(struct topic *t, const struct stat *attr, int to_set,
                      const struct fso_caller *c);

#endif /* TOPICFS_FS_INT_H */
