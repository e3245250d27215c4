/* SPDX-License-Identifier: MIT */
/*
 * gmem.c - guest_memfd: private memory by file offset, in 4K or 2M folios.
 *
 * A 2M-aligned 2M stretch of the file is backed by one 2M folio or by up to
 * 512 4K folios.  A 2M folio is used when the file allows it and the host
 * allocator still has a whole 2M block (fragmentation decides); freeing
 * part of a 2M folio splits it first.  Callers zap mappings before freeing
 * (punch hole: zap under the exclusive mmu_lock, then free).  The file is
 * sparse (a directory per GiB), so every operation costs what is
 * populated, not what the file spans.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "../engine/simheap.h"

int gmem_init(struct gmem *g, uint64_t npages, bool allow_huge)
{
	memset(g, 0, sizeof(*g));
	g->npages = npages;
	g->ndirs = (npages + (1ull << GMEM_DIR_SHIFT) - 1) >> GMEM_DIR_SHIFT;
	g->dirs = sim_calloc(g->ndirs ? g->ndirs : 1, sizeof(*g->dirs));
	if (!g->dirs)
		return -ENOMEM;
	/* a 2M folio must fit the file */
	g->allow_huge = allow_huge;
	g->invalidate_lock = (seam_rwlock_t)SEAM_RWLOCK_INIT("gmem_invalidate", SEAM_LOCK_GMEM);
	g->used = true;
	return 0;
}

/* The chunk of page @index, allocating its directory; NULL if out of memory. */
static struct gmem_chunk *chunk_of(struct gmem *g, uint64_t index)
{
	struct gmem_chunk **d = &g->dirs[index >> GMEM_DIR_SHIFT];
	if (!*d) {
		*d = sim_calloc(GMEM_DIR_CHUNKS, sizeof(**d));
		if (!*d)
			return NULL;
		g->ndirs_used++;
	}
	return &(*d)[(index >> 9) & (GMEM_DIR_CHUNKS - 1)];
}

/* gmem_get_pfn() when no folio was found inline: look again, allocate. */
uint64_t gmem_get_pfn_slow(struct kvm *k, struct gmem *g, uint64_t index, bool alloc,
			   int *order)
{
	if (index >= g->npages)
		return 0;
	if (order)
		*order = 0;
	if (!g->dirs[index >> GMEM_DIR_SHIFT] && !alloc)
		return 0;
	struct gmem_chunk *c = chunk_of(g, index);
	if (!c)
		return 0;
	if (c->huge) {
		if (order)
			*order = 9;
		return c->huge + (index % 512) * SZ_4K;
	}
	if (c->small && c->small[index % 512])
		return c->small[index % 512];
	if (!alloc)
		return 0;
	bool whole_chunk_fits = (index / 512 + 1) * 512 <= g->npages;
	if (g->allow_huge && !c->small && whole_chunk_fits) {
		uint64_t hpa = hostmem_alloc_2m(&k->hm);
		if (hpa) {
			c->huge = hpa;
			g->folios_2m++;
			if (order)
				*order = 9;
			return hpa + (index % 512) * SZ_4K;
		}
	}
	if (!c->small) {
		c->small = sim_calloc(512, sizeof(uint64_t));
		if (!c->small)
			return 0;
		g->nsmall++;
	}
	uint64_t hpa = hostmem_alloc_4k(&k->hm);
	if (!hpa)
		return 0;
	c->small[index % 512] = hpa;
	g->folios_4k++;
	return hpa;
}

/* A 2M folio becomes 512 4K folios; false if the array cannot be had. */
static bool split_huge(struct kvm *k, struct gmem *g, struct gmem_chunk *c)
{
	uint64_t *small = sim_calloc(512, sizeof(uint64_t));
	if (!small)
		return false;
	hostmem_split_2m(&k->hm, c->huge);
	for (int i = 0; i < 512; i++)
		small[i] = c->huge + (uint64_t)i * SZ_4K;
	c->small = small;
	c->huge = 0;
	g->nsmall++;
	g->folios_2m--;
	g->folios_4k += 512;
	return true;
}

/* Does @held claim any page of the 2M folio at @hpa? */
static bool folio_held(uint64_t hpa, bool (*held)(void *, uint64_t), void *ctx)
{
	for (uint64_t i = 0; i < 512; i++)
		if (held(ctx, hpa + i * SZ_4K))
			return true;
	return false;
}

/* Back to the allocator, zeroed: the next user (any VM) must not see it. */
static void free_4k(struct kvm *k, uint64_t hpa)
{
	physmem_zero_page(k->pm, hpa);
	hostmem_free_4k(&k->hm, hpa);
}

/* Free the folios of chunk @c (file pages from @first) that lie in [lo, hi). */
static void free_in_chunk(struct kvm *k, struct gmem *g, struct gmem_chunk *c, uint64_t first,
			  uint64_t lo, uint64_t hi, bool (*held)(void *, uint64_t), void *ctx)
{
	if (c->huge) {
		bool whole = lo == first && hi == first + 512;
		if (whole && !(held && folio_held(c->huge, held, ctx))) {
			for (uint64_t i = 0; i < 512; i++)
				physmem_zero_page(k->pm, c->huge + i * SZ_4K);
			hostmem_free_2m(&k->hm, c->huge);
			c->huge = 0;
			g->folios_2m--;
			return;
		}
		if (!split_huge(k, g, c))
			return;		/* the simulator is out of memory: keep the folio */
	}
	if (!c->small)
		return;
	for (uint64_t i = lo; i < hi; i++) {
		uint64_t *p = &c->small[i - first];
		if (!*p || (held && held(ctx, *p)))
			continue;
		free_4k(k, *p);
		*p = 0;
		g->folios_4k--;
	}
}

void gmem_free_range(struct kvm *k, struct gmem *g, uint64_t index, uint64_t n,
		     bool (*held)(void *ctx, uint64_t hpa), void *ctx)
{
	uint64_t end = n > g->npages - index || index > g->npages ? g->npages : index + n;
	if (index >= end)
		return;
	for (uint64_t di = index >> GMEM_DIR_SHIFT; di <= (end - 1) >> GMEM_DIR_SHIFT; di++) {
		struct gmem_chunk *d = g->dirs[di];
		if (!d)
			continue;
		uint64_t dlo = di << GMEM_DIR_SHIFT, dhi = dlo + (1ull << GMEM_DIR_SHIFT);
		unsigned c0 = (unsigned)(((index > dlo ? index : dlo) - dlo) >> 9);
		unsigned c1 = (unsigned)(((end < dhi ? end : dhi) - 1 - dlo) >> 9);
		for (unsigned ci = c0; ci <= c1; ci++) {
			uint64_t first = dlo | ((uint64_t)ci << 9);
			uint64_t lo = first > index ? first : index;
			uint64_t hi = first + 512 < end ? first + 512 : end;
			if (lo >= hi || (!d[ci].huge && !d[ci].small))
				continue;
			free_in_chunk(k, g, &d[ci], first, lo, hi, held, ctx);
		}
	}
}

void gmem_release(struct kvm *k, struct gmem *g)
{
	if (!g->dirs)
		return;
	gmem_free_range(k, g, 0, g->npages, NULL, NULL);
	for (uint64_t di = 0; di < g->ndirs; di++) {
		if (!g->dirs[di])
			continue;
		for (unsigned ci = 0; ci < GMEM_DIR_CHUNKS; ci++)
			sim_free(g->dirs[di][ci].small);
		sim_free(g->dirs[di]);
	}
	sim_free(g->dirs);
	memset(g, 0, sizeof(*g));
}

uint64_t gmem_resident_bytes(const struct gmem *g)
{
	return g->ndirs * sizeof(*g->dirs) +
	       g->ndirs_used * GMEM_DIR_CHUNKS * sizeof(struct gmem_chunk) +
	       g->nsmall * 512 * sizeof(uint64_t);
}
