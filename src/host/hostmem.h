/* SPDX-License-Identifier: MIT */
/*
 * hostmem.h - the host's physical page allocator: 4K pages and 2M-aligned
 * 2M blocks from the TDMR memory of the simulated machine.
 *
 * Memory is managed in 2M blocks.  A block is whole (free as a 2M block),
 * split (a 512-bit bitmap of free 4K pages), or allocated as one 2M block.
 * Fragmentation is a platform knob: a fraction of the blocks get one 4K
 * page pinned by "the rest of the system" at start, so those blocks can
 * never be handed out whole and huge folios are scarce.
 *
 * Allocation and freeing contain no seam operation: under the engine they
 * are atomic with respect to other tasks.
 */
#ifndef TDXSIM_HOSTMEM_H
#define TDXSIM_HOSTMEM_H

#include <stdbool.h>
#include <stdint.h>

struct hostmem {
	uint64_t base;		/* first byte managed (2M aligned) */
	uint64_t nblocks;	/* 2M blocks managed */
	uint16_t *nfree;	/* per block: free 4K pages (512 = whole and unsplit) */
	uint64_t **bits;	/* per block: free bitmap once split, else NULL */
	uint8_t *pinned;	/* per block: holds a page pinned by fragmentation */
	uint32_t *whole;	/* stack of whole free blocks */
	uint64_t nwhole;
	uint32_t *partial;	/* stack of split blocks that may have free pages */
	uint64_t npartial;
	uint8_t *in_partial;	/* per block: on the partial stack */
	/* accounting, in 4K pages */
	uint64_t total;		/* pages managed, pinned ones excluded */
	uint64_t allocated;	/* pages handed out and not freed */
	uint64_t peak;
	/*
	 * Fault injection: allocations succeed while allocated + the request
	 * stays within limit (pages); UINT64_MAX (the default) is no limit.
	 * Tests use it to exhaust host memory at every allocation in turn.
	 */
	uint64_t limit;
};

/*
 * Manage [@base, @base + @size) (2M aligned).  @fragmentation in [0, 1]: the
 * fraction of 2M blocks that get a pinned page; @seed spreads them.
 * 0, or -1 with a message.
 */
int hostmem_init(struct hostmem *h, uint64_t base, uint64_t size, double fragmentation,
		 uint64_t seed);
void hostmem_destroy(struct hostmem *h);

/* A free 4K page's HPA, or 0 when memory is exhausted. */
uint64_t hostmem_alloc_4k(struct hostmem *h);
/* A free 2M-aligned 2M block's HPA, or 0 when none is whole. */
uint64_t hostmem_alloc_2m(struct hostmem *h);
void hostmem_free_4k(struct hostmem *h, uint64_t hpa);
void hostmem_free_2m(struct hostmem *h, uint64_t hpa);
/* Turn an allocated 2M block into 512 allocated 4K pages (a folio split). */
void hostmem_split_2m(struct hostmem *h, uint64_t hpa);
/* Is the 4K page at @hpa allocated? */
bool hostmem_is_allocated(const struct hostmem *h, uint64_t hpa);
/* Let allocations succeed only while at most @pages are allocated (UINT64_MAX: no limit). */
void hostmem_set_limit(struct hostmem *h, uint64_t pages);
/* Whole free 2M blocks left (how many huge folios could still be made). */
uint64_t hostmem_free_2m_blocks(const struct hostmem *h);

#endif
