/*
 * invariants.h - run-time checks of the log engine's locking rules
 * (engine.h: the LOCK ORDER, the writer token, the field guards).
 *
 * ON when TOPICFS_INVARIANTS is defined: the top-level CMakeLists.txt
 * defines it for Debug builds and for the TOPICFS_SANITIZE, TOPICFS_TSAN
 * and TOPICFS_FUZZ builds.  OFF otherwise (RelWithDebInfo, Release): every
 * INV_* macro is empty and lock_rank/unlock_rank are pthread_mutex_lock /
 * pthread_mutex_unlock, so release code is what it was.
 *
 * What is checked when ON (a violation prints the check and aborts):
 *
 *   LOCK ORDER.  Every engine mutex has a rank (enum inv_rank, in the
 *   order of engine.h).  Each thread keeps the set of engine mutexes it
 *   holds (inv_thread, __thread).  lock_rank(m, r) aborts when the thread
 *   already holds a mutex of rank >= r: a later lock is never held while
 *   an earlier one is taken, and two mutexes of one rank (two partitions'
 *   part.lock, say) are never held together, since no order among them is
 *   defined.  unlock_rank aborts when the thread does not hold m.  A
 *   pthread_cond_wait keeps the mutex in the set: it holds it again when
 *   the wait returns.
 *
 *   WRITER TOKEN.  The thread that takes part.writing is recorded in
 *   part.writer_tid (written under part.qlock, read atomically) and cleared
 *   when it gives it back; INV_WRITER(p) asserts the calling thread holds
 *   p's token.  Taking a token needs no engine mutex of a later rank than
 *   store.mu held, and no other token (one per thread: two would have no
 *   order).  A partition being created or loaded (part_create_files,
 *   part_load: not shared yet) counts as the token holder's on the loading
 *   thread (INV_LOAD_BEGIN/END).
 *
 *   GUARDED FIELDS.  INV_LOCKED(m): this thread holds m.  INV_P_READ(p):
 *   part.lock or the writer token is held (the P fields of engine.h: only
 *   the token holder changes them, so it may read them without the lock).
 *   INV_P_WRITE(p): the token AND part.lock are held (or p is loading).
 */
#ifndef TOPICFS_INVARIANTS_H
#define TOPICFS_INVARIANTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Lock ranks, outermost first, as in engine.h's LOCK ORDER.  The writer
 * token and store.hook_lock are not mutexes tracked in the held set; their
 * ranks are used to check what is held when the token is taken and when
 * the append hook is called. */
enum inv_rank {
	RANK_STORE_MU = 1,      /* store.mu */
	RANK_WRITER = 2,        /* the part writer token (part.writing) */
	RANK_HOOK_LOCK = 3,     /* store.hook_lock (read-held around the hook) */
	RANK_PART_QLOCK = 4,    /* part.qlock */
	RANK_PART_LOCK = 5,     /* part.lock */
	RANK_SEG_MAP_MU = 6,    /* seg.map_mu */
	RANK_PART_CACHE_MU = 7, /* part.cache_mu */
	RANK_TOPIC_CFG_MU = 8,  /* topic.cfg_mu */
	RANK_SEG_LRU_MU = 9,    /* seg_lru.mu (segment.c), a leaf */
	RANK_GROUPS_MU = 10,    /* groups.mu (groups.c): nothing is taken under
	                           it, and it is taken with nothing held (checked
	                           with INV_RANK_FREE(RANK_STORE_MU)) */
};

#ifdef TOPICFS_INVARIANTS

#include <stdio.h>
#include <stdlib.h>

#define INV_MAX_HELD 8

struct part;

/* What one thread holds (defined in segment.c). */
struct inv_thread {
	const pthread_mutex_t *held[INV_MAX_HELD];
	unsigned char rank[INV_MAX_HELD];
	int nheld;
	int tokens;                   /* writer tokens held */
	const struct part *loading;   /* partition being created or loaded */
};
extern __thread struct inv_thread inv_thread;

static inline void inv_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "topicfs: invariant violated at %s:%d: %s (held ranks:",
	        file, line, what);
	for (int i = 0; i < inv_thread.nheld; i++)
		fprintf(stderr, " %d", inv_thread.rank[i]);
	fprintf(stderr, ", writer tokens: %d)\n", inv_thread.tokens);
	abort();
}

#define INV(cond) \
	do { if (!(cond)) inv_fail(__FILE__, __LINE__, #cond); } while (0)

static inline bool inv_held(const pthread_mutex_t *m)
{
	for (int i = 0; i < inv_thread.nheld; i++)
		if (inv_thread.held[i] == m)
			return true;
	return false;
}

/* The highest rank held, 0 when none. */
static inline int inv_max_rank(void)
{
	int r = 0;
	for (int i = 0; i < inv_thread.nheld; i++)
		if (inv_thread.rank[i] > r)
			r = inv_thread.rank[i];
	return r;
}

static inline uintptr_t inv_self(void)
{
	return (uintptr_t)pthread_self();
}

static inline void lock_rank_at(pthread_mutex_t *m, int rank,
                                const char *file, int line)
{
	if (inv_max_rank() >= rank)
		inv_fail(file, line, "lock order: a mutex of this rank or a "
		         "later one is already held");
	pthread_mutex_lock(m);
	if (inv_thread.nheld == INV_MAX_HELD)
		inv_fail(file, line, "too many engine mutexes held");
	inv_thread.held[inv_thread.nheld] = m;
	inv_thread.rank[inv_thread.nheld] = (unsigned char)rank;
	inv_thread.nheld++;
}

static inline void unlock_rank_at(pthread_mutex_t *m, const char *file,
                                  int line)
{
	int i = 0;

	while (i < inv_thread.nheld && inv_thread.held[i] != m)
		i++;
	if (i == inv_thread.nheld)
		inv_fail(file, line, "unlock of a mutex this thread does not hold");
	inv_thread.nheld--;
	inv_thread.held[i] = inv_thread.held[inv_thread.nheld];
	inv_thread.rank[i] = inv_thread.rank[inv_thread.nheld];
	pthread_mutex_unlock(m);
}

/* Take / release an engine mutex of the given rank. */
#define lock_rank(m, rank) lock_rank_at((m), (rank), __FILE__, __LINE__)
#define unlock_rank(m) unlock_rank_at((m), __FILE__, __LINE__)

/* Nothing of rank >= rank is held (before taking the writer token, before
 * calling the append hook). */
#define INV_RANK_FREE(rank) INV(inv_max_rank() < (rank))
#define INV_LOCKED(m) INV(inv_held(m))

/* The writer token of p is this thread's (or p is being loaded by it). */
#define inv_writer_mine(p) \
	(__atomic_load_n(&(p)->writer_tid, __ATOMIC_RELAXED) == inv_self() || \
	 inv_thread.loading == (p))
#define INV_WRITER(p) INV(inv_writer_mine(p))
#define INV_P_READ(p) INV(inv_held(&(p)->lock) || inv_writer_mine(p))
#define INV_P_WRITE(p) \
	INV((inv_held(&(p)->lock) && inv_writer_mine(p)) || \
	    inv_thread.loading == (p))

/* p->writing was just set / is about to be cleared (part.qlock held). */
#define INV_TOKEN_TAKEN(p) do { \
	INV_LOCKED(&(p)->qlock); \
	INV(inv_thread.tokens == 0); \
	__atomic_store_n(&(p)->writer_tid, inv_self(), __ATOMIC_RELAXED); \
	inv_thread.tokens++; \
} while (0)
#define INV_TOKEN_DROPPED(p) do { \
	INV_LOCKED(&(p)->qlock); \
	INV(__atomic_load_n(&(p)->writer_tid, __ATOMIC_RELAXED) == inv_self()); \
	__atomic_store_n(&(p)->writer_tid, (uintptr_t)0, __ATOMIC_RELAXED); \
	inv_thread.tokens--; \
} while (0)

#define INV_LOAD_BEGIN(p) do { \
	INV(inv_thread.loading == NULL); \
	inv_thread.loading = (p); \
} while (0)
#define INV_LOAD_END(p) do { \
	INV(inv_thread.loading == (p)); \
	inv_thread.loading = NULL; \
} while (0)

#else /* !TOPICFS_INVARIANTS */

static inline void lock_rank(pthread_mutex_t *m, int rank)
{
	(void)rank;
	pthread_mutex_lock(m);
}

static inline void unlock_rank(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
}

#define INV(cond) ((void)0)
#define INV_RANK_FREE(rank) ((void)0)
#define INV_LOCKED(m) ((void)0)
#define INV_WRITER(p) ((void)0)
#define INV_P_READ(p) ((void)0)
#define INV_P_WRITE(p) ((void)0)
#define INV_TOKEN_TAKEN(p) ((void)0)
#define INV_TOKEN_DROPPED(p) ((void)0)
#define INV_LOAD_BEGIN(p) ((void)0)
#define INV_LOAD_END(p) ((void)0)

#endif /* TOPICFS_INVARIANTS */

#endif
