/* SPDX-License-Identifier: MIT */
/* hostmem.c - see hostmem.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostmem.h"
#include "../engine/simheap.h"

#define PAGES_PER_BLOCK 512u
#define BLOCK_SHIFT 21

static void *zalloc(size_t n, size_t sz)
{
	void *p = sim_calloc(n ? n : 1, sz);
	if (!p) {
		fprintf(stderr, "tdxsim: out of memory\n");
		abort();
	}
	return p;
}

static void make_bits(struct hostmem *h, uint64_t b, bool all_free)
{
	h->bits[b] = zalloc(PAGES_PER_BLOCK / 64, sizeof(uint64_t));
	if (all_free)
		memset(h->bits[b], 0xff, PAGES_PER_BLOCK / 8);
}

static void push_partial(struct hostmem *h, uint64_t b)
{
	if (!h->in_partial[b]) {
		h->in_partial[b] = 1;
		h->partial[h->npartial++] = (uint32_t)b;
	}
}

int hostmem_init(struct hostmem *h, uint64_t base, uint64_t size, double fragmentation,
		 uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	if ((base | size) & ((1ull << BLOCK_SHIFT) - 1) || size == 0) {
		fprintf(stderr, "tdxsim: host memory %#llx+%#llx is not 2M aligned\n",
			(unsigned long long)base, (unsigned long long)size);
		return -1;
	}
	if (!(fragmentation >= 0.0 && fragmentation <= 1.0)) {
		fprintf(stderr, "tdxsim: fragmentation %g is not in [0, 1]\n", fragmentation);
		return -1;
	}
	h->base = base;
	h->limit = UINT64_MAX;
	h->nblocks = size >> BLOCK_SHIFT;
	if (h->nblocks > UINT32_MAX) {
		fprintf(stderr, "tdxsim: host memory too large\n");
		return -1;
	}
	h->nfree = zalloc(h->nblocks, sizeof(*h->nfree));
	h->bits = zalloc(h->nblocks, sizeof(*h->bits));
	h->pinned = zalloc(h->nblocks, 1);
	h->in_partial = zalloc(h->nblocks, 1);
	h->whole = zalloc(h->nblocks, sizeof(*h->whole));
	h->partial = zalloc(h->nblocks, sizeof(*h->partial));
	uint64_t x = seed | 1;
	/* highest block at the bottom of the stack: allocation goes upwards from base */
	for (uint64_t i = h->nblocks; i-- > 0;) {
		h->nfree[i] = PAGES_PER_BLOCK;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if ((double)(x >> 11) / (double)(1ull << 53) < fragmentation) {
			/* pin one page, somewhere in the block */
			make_bits(h, i, true);
			unsigned p = (unsigned)(x % PAGES_PER_BLOCK);
			h->bits[i][p / 64] &= ~(1ull << (p % 64));
			h->nfree[i] = PAGES_PER_BLOCK - 1;
			h->pinned[i] = 1;
			h->total += PAGES_PER_BLOCK - 1;
			continue;
		}
		h->whole[h->nwhole++] = (uint32_t)i;
		h->total += PAGES_PER_BLOCK;
	}
	for (uint64_t i = h->nblocks; i-- > 0;)
		if (h->pinned[i])
			push_partial(h, i);
	return 0;
}

void hostmem_destroy(struct hostmem *h)
{
	if (h->bits)
		for (uint64_t i = 0; i < h->nblocks; i++)
			sim_free(h->bits[i]);
	sim_free(h->bits);
	sim_free(h->nfree);
	sim_free(h->pinned);
	sim_free(h->in_partial);
	sim_free(h->whole);
	sim_free(h->partial);
	memset(h, 0, sizeof(*h));
}

static void account(struct hostmem *h, int64_t pages)
{
	h->allocated += (uint64_t)pages;
	if (h->allocated > h->peak)
		h->peak = h->allocated;
}

void hostmem_set_limit(struct hostmem *h, uint64_t pages)
{
	h->limit = pages;
}

uint64_t hostmem_alloc_4k(struct hostmem *h)
{
	if (h->allocated >= h->limit)
		return 0;
	for (;;) {
		if (h->npartial == 0) {
			if (h->nwhole == 0)
				return 0;
			uint64_t b = h->whole[--h->nwhole];
			make_bits(h, b, true);
			push_partial(h, b);
		}
		uint64_t b = h->partial[h->npartial - 1];
		if (h->nfree[b] == 0 || !h->bits[b]) {
			/* stale: used up, or whole again, since it was pushed */
			h->npartial--;
			h->in_partial[b] = 0;
			continue;
		}
		uint64_t *bits = h->bits[b];
		for (unsigned w = 0; w < PAGES_PER_BLOCK / 64; w++) {
			if (!bits[w])
				continue;
			unsigned p = w * 64 + (unsigned)__builtin_ctzll(bits[w]);
			bits[w] &= bits[w] - 1;
			h->nfree[b]--;
			account(h, 1);
			return h->base + (b << BLOCK_SHIFT) + ((uint64_t)p << 12);
		}
		abort();	/* nfree said there was a free page */
	}
}

uint64_t hostmem_alloc_2m(struct hostmem *h)
{
	if (h->nwhole == 0 || h->allocated > h->limit ||
	    h->limit - h->allocated < PAGES_PER_BLOCK)
		return 0;
	uint64_t b = h->whole[--h->nwhole];
	h->nfree[b] = 0;
	account(h, PAGES_PER_BLOCK);
	return h->base + (b << BLOCK_SHIFT);
}

static uint64_t block_of(const struct hostmem *h, uint64_t hpa)
{
	uint64_t b = (hpa - h->base) >> BLOCK_SHIFT;
	if (hpa < h->base || b >= h->nblocks || (hpa & 0xfff)) {
		fprintf(stderr, "tdxsim: hostmem: bad page %#llx\n", (unsigned long long)hpa);
		abort();
	}
	return b;
}

void hostmem_free_4k(struct hostmem *h, uint64_t hpa)
{
	uint64_t b = block_of(h, hpa);
	unsigned p = (unsigned)((hpa >> 12) & (PAGES_PER_BLOCK - 1));
	if (!h->bits[b] || (h->bits[b][p / 64] >> (p % 64)) & 1) {
		fprintf(stderr, "tdxsim: hostmem: double free of %#llx\n", (unsigned long long)hpa);
		abort();
	}
	h->bits[b][p / 64] |= 1ull << (p % 64);
	h->nfree[b]++;
	account(h, -1);
	if (h->nfree[b] == PAGES_PER_BLOCK && !h->pinned[b]) {
		/* the block is whole again: back to the 2M pool */
		sim_free(h->bits[b]);
		h->bits[b] = NULL;
		h->whole[h->nwhole++] = (uint32_t)b;
		return;	/* a stale partial-stack entry is skipped when met */
	}
	push_partial(h, b);
}

void hostmem_split_2m(struct hostmem *h, uint64_t hpa)
{
	uint64_t b = block_of(h, hpa);
	if (h->bits[b] || h->nfree[b] != 0) {
		fprintf(stderr, "tdxsim: hostmem: %#llx is not an allocated 2M block\n",
			(unsigned long long)hpa);
		abort();
	}
	make_bits(h, b, false);
}

void hostmem_free_2m(struct hostmem *h, uint64_t hpa)
{
	uint64_t b = block_of(h, hpa);
	if (h->bits[b] || h->nfree[b] != 0 || (hpa & ((1ull << BLOCK_SHIFT) - 1))) {
		fprintf(stderr, "tdxsim: hostmem: %#llx is not an allocated 2M block\n",
			(unsigned long long)hpa);
		abort();
	}
	h->nfree[b] = PAGES_PER_BLOCK;
	h->whole[h->nwhole++] = (uint32_t)b;
	account(h, -(int64_t)PAGES_PER_BLOCK);
}

bool hostmem_is_allocated(const struct hostmem *h, uint64_t hpa)
{
	uint64_t b = block_of(h, hpa);
	if (!h->bits[b])
		return h->nfree[b] == 0;
	unsigned p = (unsigned)((hpa >> 12) & (PAGES_PER_BLOCK - 1));
	return !((h->bits[b][p / 64] >> (p % 64)) & 1);
}

uint64_t hostmem_free_2m_blocks(const struct hostmem *h)
{
	return h->nwhole;
}
