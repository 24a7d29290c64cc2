/*
 * crc32c.c - CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
 *
 * DESIGN
 *
 * CRC-32C is the reflected CRC with polynomial 0x1EDC6F41 (0x82F63B78
 * bit-reversed), initial value 0xFFFFFFFF and final XOR 0xFFFFFFFF.  The
 * public crc32c(crc, buf, len) follows zlib's crc32() convention: start with
 * crc = 0, and crc32c(crc32c(0, a), b) == crc32c(0, a || b).  The pre and
 * post inversion therefore happen inside each call.  Check value:
 * crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * Two implementations compute the same function:
 *
 *   crc32c_hw()  the SSE4.2 CRC32 instruction, 8 bytes per step
 *                (_mm_crc32_u64), compiled with a target attribute so the
 *                rest of the program needs no -msse4.2.  The instruction
 *                has a latency of 3 cycles but a throughput of 1, so long
 *                buffers run as three interleaved streams over adjacent
 *                blocks (8 KiB, then 256 bytes), which are then joined:
 *                the CRC register is linear over GF(2), so the state after
 *                A || B is shift_|B|(state after A) ^ (state of B from 0),
 *                where shift_n advances a state over n zero bytes.  shift_n
 *                for the two block sizes is a 4 x 256 table each (the images
 *                of the 32 basis states, combined per byte), built once with
 *                the instruction itself.  About 3x the single-stream speed,
 *                which matters: every batch is CRC'd on append, on every
 *                read that decodes it, and by every consumer.
 *   crc32c_sw()  portable slicing-by-8: eight 256-entry tables, one 64-bit
 *                word per step, built once (pthread_once) on first use.
 *                Byte order independent: words are assembled little-endian
 *                from bytes, never loaded through a cast pointer.
 *
 * crc32c() picks the hardware path when __builtin_cpu_supports("sse4.2")
 * says so; the choice is made once and cached.  Both paths are exported
 * through batch_internal.h so the unit test can check they agree.
 *
 * Thread-safety: every function is thread-safe (the tables are written
 * once under pthread_once and only read after).
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <pthread.h>

#include "storage.h"
#include "batch_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_HAVE_X86 1
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* ============================ portable path ============================== */

static uint32_t crc32c_table[8][256];   /* written once under crc32c_once */
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_build_tables(void)
{
	for (uint32_t byte = 0; byte < 256; byte++) {
		uint32_t crc = byte;
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ ((crc & 1) ? CRC32C_POLY_REFLECTED : 0);
		crc32c_table[0][byte] = crc;
	}
	for (uint32_t byte = 0; byte < 256; byte++) {
		uint32_t crc = crc32c_table[0][byte];
		for (int k = 1; k < 8; k++) {
			crc = (crc >> 8) ^ crc32c_table[0][crc & 0xff];
			crc32c_table[k][byte] = crc;
		}
	}
}

static inline uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	       (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	       (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&crc32c_once, crc32c_build_tables);
	while (len >= 8) {
		uint64_t word = load_le64(p) ^ c;
		c = crc32c_table[7][word & 0xff] ^
		    crc32c_table[6][(word >> 8) & 0xff] ^
		    crc32c_table[5][(word >> 16) & 0xff] ^
		    crc32c_table[4][(word >> 24) & 0xff] ^
		    crc32c_table[3][(word >> 32) & 0xff] ^
		    crc32c_table[2][(word >> 40) & 0xff] ^
		    crc32c_table[1][(word >> 48) & 0xff] ^
		    crc32c_table[0][word >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
	return ~c;
}

/* ============================ SSE4.2 path ================================ */

#ifdef CRC32C_HAVE_X86
#define CRC32C_LONG  8192       /* block of one of the three long streams */
#define CRC32C_SHORT 256        /* the same for the shorter tail */

/* shift_LONG and shift_SHORT (see the design note), written once under
 * crc32c_shift_once. */
static uint32_t crc32c_shift_long[4][256];
static uint32_t crc32c_shift_short[4][256];
static pthread_once_t crc32c_shift_once = PTHREAD_ONCE_INIT;

/* The raw register x advanced over n zero bytes. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_zeros(uint32_t x, size_t n)
{
	uint64_t c = x;
	for (; n >= 8; n -= 8)
		c = _mm_crc32_u64(c, 0);
	x = (uint32_t)c;
	for (; n > 0; n--)
		x = _mm_crc32_u8(x, 0);
	return x;
}

static void crc32c_shift_build(uint32_t tab[4][256], size_t n)
{
	uint32_t basis[32];

	for (int b = 0; b < 32; b++)
		basis[b] = crc32c_zeros(1u << b, n);
	for (int k = 0; k < 4; k++)
		for (int v = 0; v < 256; v++) {
			uint32_t r = 0;
			for (int bit = 0; bit < 8; bit++)
				if (v & (1 << bit))
					r ^= basis[8 * k + bit];
			tab[k][v] = r;
		}
}

static void crc32c_shift_init(void)
{
	crc32c_shift_build(crc32c_shift_long, CRC32C_LONG);
	crc32c_shift_build(crc32c_shift_short, CRC32C_SHORT);
}

static inline uint32_t crc32c_shift(const uint32_t tab[4][256], uint32_t c)
{
	return tab[0][c & 0xff] ^ tab[1][(c >> 8) & 0xff] ^
	       tab[2][(c >> 16) & 0xff] ^ tab[3][c >> 24];
}

#if defined(__x86_64__)
/* Three streams over the adjacent blocks of [p, p + 3 * block) joined into
 * the state c (the raw register). */
__attribute__((target("sse4.2")))
static inline uint64_t crc32c_3way(uint64_t c0, const uint8_t *p, size_t block,
                                   const uint32_t tab[4][256])
{
	uint64_t c1 = 0, c2 = 0;
	const uint8_t *end = p + block;

	do {
		uint64_t w0, w1, w2;
		memcpy(&w0, p, 8);
		memcpy(&w1, p + block, 8);
		memcpy(&w2, p + 2 * block, 8);
		c0 = _mm_crc32_u64(c0, w0);
		c1 = _mm_crc32_u64(c1, w1);
		c2 = _mm_crc32_u64(c2, w2);
		p += 8;
	} while (p < end);
	c0 = crc32c_shift(tab, (uint32_t)c0) ^ (uint32_t)c1;
	return crc32c_shift(tab, (uint32_t)c0) ^ (uint32_t)c2;
}
#endif

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	/* Align to 8 so the 64-bit loads below never straddle a line
	 * needlessly; unaligned loads are legal either way (memcpy). */
	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
#if defined(__x86_64__)
	if (len >= 3 * CRC32C_SHORT) {
		uint64_t c64 = c;
		pthread_once(&crc32c_shift_once, crc32c_shift_init);
		while (len >= 3 * CRC32C_LONG) {
			c64 = crc32c_3way(c64, p, CRC32C_LONG, crc32c_shift_long);
			p += 3 * CRC32C_LONG;
			len -= 3 * CRC32C_LONG;
		}
		while (len >= 3 * CRC32C_SHORT) {
			c64 = crc32c_3way(c64, p, CRC32C_SHORT, crc32c_shift_short);
			p += 3 * CRC32C_SHORT;
			len -= 3 * CRC32C_SHORT;
		}
		c = (uint32_t)c64;
	}
	{
		uint64_t c64 = c;
		while (len >= 8) {
			uint64_t word;
			memcpy(&word, p, 8);
			c64 = _mm_crc32_u64(c64, word);
			p += 8;
			len -= 8;
		}
		c = (uint32_t)c64;
	}
#endif
	while (len >= 4) {
		uint32_t word;
		memcpy(&word, p, 4);
		c = _mm_crc32_u32(c, word);
		p += 4;
		len -= 4;
	}
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return ~c;
}
#endif

bool crc32c_hw_available(void)
{
#ifdef CRC32C_HAVE_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2") != 0;
#else
	return false;
#endif
}

uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
#ifdef CRC32C_HAVE_X86
	if (crc32c_hw_available())
		return crc32c_sse42(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}

/* ============================ dispatch =================================== */

/* 0 = not decided yet, 1 = software, 2 = hardware.  A benign race: every
 * thread that decides computes the same answer; relaxed atomics keep the
 * compiler and the sanitizers honest. */
static int crc32c_mode;

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	int mode = __atomic_load_n(&crc32c_mode, __ATOMIC_RELAXED);

	if (mode == 0) {
		mode = crc32c_hw_available() ? 2 : 1;
		__atomic_store_n(&crc32c_mode, mode, __ATOMIC_RELAXED);
	}
#ifdef CRC32C_HAVE_X86
	if (mode == 2)
		return crc32c_sse42(crc, buf, len);
#endif
	return crc32c_sw(crc, buf, len);
}
