/* SPDX-License-Identifier: MIT */
/*
 * simheap.c - see simheap.h.
 *
 * The region: one anonymous mapping reserved at simheap_begin() (virtual
 * only, MAP_NORESERVE; pages are real once touched).  Its first bytes hold
 * the allocator state (struct region_hdr: the bump offset and one free list
 * per size class), so saving the used part saves the allocator too.  A
 * block of class k is 16 << k bytes of payload behind a 16-byte header
 * (class, offset of the payload from the block's start); a free block keeps
 * the next free block of its class in its first word.  The simulator runs
 * on one thread (explore's jobs are processes), so there is no locking.
 *
 * A request the region cannot hold (more than the reservation) falls back
 * to libc and marks the session overflowed: the region no longer holds the
 * whole world, so it cannot be saved (simheap_save() fails) until a save
 * after everything outside it was freed again.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "simheap.h"

#if defined(__SANITIZE_ADDRESS__)
#define SIMHEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMHEAP_ASAN 1
#endif
#endif

#define REGION_BYTES (4ull << 30)
#define NCLASS 40
#define HDR 16u

struct region_hdr {
	size_t top;			/* bytes of the region in use */
	void *free[NCLASS];		/* free blocks by class */
};

struct blk_hdr {
	uint32_t cls;
	uint32_t back;			/* payload - block start */
	uint64_t unused;
};

static char *base;
static size_t reserved;
static size_t outside;			/* live libc blocks made during the session */

static inline bool in_region(const void *p)
{
	return base && (const char *)p >= base && (const char *)p < base + reserved;
}

static inline int class_of(size_t n)
{
	if (n <= 16)
		return 0;
	return 64 - __builtin_clzll((unsigned long long)(n - 1)) - 4;
}

static void *region_alloc(size_t n, size_t align)
{
	size_t need = n + (align > HDR ? align : 0);
	if (need < n)
		return NULL;
	int k = class_of(need);
	if (k >= NCLASS)
		return NULL;
	struct region_hdr *h = (struct region_hdr *)base;
	char *b = h->free[k];
	if (b) {
		h->free[k] = *(void **)b;
	} else {
		size_t sz = ((size_t)16 << k) + HDR;
		if (sz > reserved - h->top)
			return NULL;
		b = base + h->top;
		h->top += sz;
	}
	char *p = b + HDR;
	if (align > HDR)
		p = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	struct blk_hdr *bh = (struct blk_hdr *)(p - HDR);
	bh->cls = (uint32_t)k;
	bh->back = (uint32_t)(p - b);
	return p;
}

/* Payload bytes a region block offers from @p to its end. */
static size_t region_capacity(const void *p)
{
	const struct blk_hdr *bh = (const struct blk_hdr *)((const char *)p - HDR);
	return ((size_t)16 << bh->cls) + HDR - bh->back;
}

static void region_free(void *p)
{
	struct blk_hdr *bh = (struct blk_hdr *)((char *)p - HDR);
	char *b = (char *)p - bh->back;
	struct region_hdr *h = (struct region_hdr *)base;
	unsigned k = bh->cls;
	*(void **)b = h->free[k];
	h->free[k] = b;
}

/* The region could not take it: libc's, and the session cannot be saved now. */
static void *outside_alloc(void *p)
{
	if (p)
		outside++;
	return p;
}

void *sim_malloc(size_t n)
{
	if (__builtin_expect(!base, 1))
		return malloc(n);
	void *p = region_alloc(n, 0);
	return p ? p : outside_alloc(malloc(n));
}

void *sim_calloc(size_t n, size_t size)
{
	if (__builtin_expect(!base, 1))
		return calloc(n, size);
	size_t t;
	if (__builtin_mul_overflow(n, size, &t))
		return NULL;
	void *p = region_alloc(t, 0);
	if (!p)
		return outside_alloc(calloc(n, size));
	return memset(p, 0, t);	/* a reused block, or one a restore left dirty */
}

void *sim_aligned_alloc(size_t align, size_t n)
{
	if (__builtin_expect(!base, 1))
		return aligned_alloc(align, (n + align - 1) & ~(align - 1));
	void *p = align <= 4096 ? region_alloc(n, align) : NULL;
	return p ? p : outside_alloc(aligned_alloc(align, (n + align - 1) & ~(align - 1)));
}

void sim_free(void *p)
{
	if (!p)
		return;
	if (in_region(p)) {
		region_free(p);
		return;
	}
	if (base && outside)
		outside--;	/* one the region could not take */
	free(p);
}

void *sim_realloc(void *p, size_t n)
{
	if (!p)
		return sim_malloc(n);
	if (!in_region(p))
		return realloc(p, n);	/* libc's stays libc's */
	size_t cap = region_capacity(p);
	if (n <= cap)
		return p;
	void *q = sim_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, cap);
	region_free(p);
	return q;
}

bool simheap_begin(void)
{
#ifdef SIMHEAP_ASAN
	return false;	/* keep the world in the heap ASan watches */
#else
	if (base)
		return true;
	void *m = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return false;
	base = m;
	reserved = REGION_BYTES;
	outside = 0;
	struct region_hdr *h = (struct region_hdr *)base;
	memset(h, 0, sizeof(*h));
	h->top = (sizeof(*h) + 63) & ~(size_t)63;
	return true;
#endif
}

void simheap_end(void)
{
	if (!base)
		return;
	munmap(base, reserved);
	base = NULL;
	reserved = 0;
	outside = 0;
}

bool simheap_active(void)
{
	return base != NULL;
}

size_t simheap_used(void)
{
	return base ? ((struct region_hdr *)base)->top : 0;
}

int simheap_save(struct simheap_snap *s)
{
	if (!base || outside)
		return -1;
	size_t len = simheap_used();
	if (len > s->len) {
		void *d = realloc(s->data, len);
		if (!d)
			return -1;
		s->data = d;
	}
	memcpy(s->data, base, len);
	s->len = len;
	return 0;
}

void simheap_restore(const struct simheap_snap *s)
{
	memcpy(base, s->data, s->len);
}

void simheap_snap_free(struct simheap_snap *s)
{
	free(s->data);
	s->data = NULL;
	s->len = 0;
}
