/* SPDX-License-Identifier: MIT */
/*
 * gmem.c - guest_memfd: private memory by file offset, in 4K or 2M folios.
 *
 * A 2M-aligned 2M stretch of the file is backed by one 2M folio or by up to
 * 512 4K folios.  A 2M folio is used when the file allows it and the host
 * allocator still has a whole 2M block (fragmentation decides); freeing
 * part of a 2M folio splits it first.  Callers zap mappings before freeing
 * (punch hole: zap under the exclusive mmu_lock, then free).
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"

int gmem_init(struct gmem *g, uint64_t npages, bool allow_huge)
{
	memset(g, 0, sizeof(*g));
	g->npages = npages;
	g->nchunks = (npages + 511) / 512;
	g->chunks = calloc(g->nchunks ? g->nchunks : 1, sizeof(*g->chunks));
	if (!g->chunks)
		return -ENOMEM;
	/* a 2M folio must fit the file */
	g->allow_huge = allow_huge;
	g->invalidate_lock = (seam_rwlock_t)SEAM_RWLOCK_INIT("gmem_invalidate", SEAM_LOCK_GMEM);
	return 0;
}

/* gmem_get_pfn() when no folio was found inline: look again, allocate. */
uint64_t gmem_get_pfn_slow(struct kvm *k, struct gmem *g, uint64_t index, bool alloc,
			   int *order)
{
	if (index >= g->npages)
		return 0;
	struct gmem_chunk *c = &g->chunks[index / 512];
	if (c->huge) {
		if (order)
			*order = 9;
		return c->huge + (index % 512) * SZ_4K;
	}
	if (order)
		*order = 0;
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
		c->small = calloc(512, sizeof(uint64_t));
		if (!c->small)
			return 0;
	}
	uint64_t hpa = hostmem_alloc_4k(&k->hm);
	if (!hpa)
		return 0;
	c->small[index % 512] = hpa;
	g->folios_4k++;
	return hpa;
}

static void split_huge(struct kvm *k, struct gmem *g, struct gmem_chunk *c)
{
	uint64_t *small = calloc(512, sizeof(uint64_t));
	if (!small)
		abort();
	hostmem_split_2m(&k->hm, c->huge);
	for (int i = 0; i < 512; i++)
		small[i] = c->huge + (uint64_t)i * SZ_4K;
	c->small = small;
	c->huge = 0;
	g->folios_2m--;
	g->folios_4k += 512;
}

void gmem_free_range(struct kvm *k, struct gmem *g, uint64_t index, uint64_t n)
{
	uint64_t end = index + n > g->npages ? g->npages : index + n;
	for (uint64_t i = index; i < end;) {
		struct gmem_chunk *c = &g->chunks[i / 512];
		uint64_t cstart = i & ~511ull, cend = cstart + 512;
		if (c->huge) {
			if (i == cstart && end >= cend) {
				hostmem_free_2m(&k->hm, c->huge);
				c->huge = 0;
				g->folios_2m--;
				i = cend;
				continue;
			}
			split_huge(k, g, c);
		}
		if (c->small && c->small[i % 512]) {
			hostmem_free_4k(&k->hm, c->small[i % 512]);
			c->small[i % 512] = 0;
			g->folios_4k--;
		}
		i++;
	}
}

void gmem_release(struct kvm *k, struct gmem *g)
{
	if (!g->chunks)
		return;
	gmem_free_range(k, g, 0, g->npages);
	for (uint64_t c = 0; c < g->nchunks; c++)
		free(g->chunks[c].small);
	free(g->chunks);
	g->chunks = NULL;
}

uint64_t gmem_resident_bytes(const struct gmem *g)
{
	uint64_t n = g->nchunks * sizeof(struct gmem_chunk);
	for (uint64_t c = 0; c < g->nchunks; c++)
		if (g->chunks[c].small)
			n += 512 * sizeof(uint64_t);
	return n;
}
