/* SPDX-License-Identifier: MIT */
/*
 * simheap.h - the simulated world's heap, which can be saved and restored.
 *
 * Module and host code allocate through sim_malloc() and friends.  Outside
 * a heap session they are libc's functions.  Inside one (simheap_begin()),
 * they carve blocks out of one reserved region at a fixed address, whose
 * allocator state lives in the region itself; so a copy of the region's
 * used part is a snapshot of everything the world allocated, and copying it
 * back restores the world exactly, every pointer still valid.  That is how
 * `tdxsim explore` resets a TD between runs without rebuilding it
 * (sc_run.c): build once, save, then for each run: run, tear down, restore.
 *
 * The region only grows between restores; freed blocks go to per-size
 * free lists (power-of-two classes).  Under AddressSanitizer sessions are
 * refused (simheap_begin() returns false): the world then lives in libc's
 * heap, where ASan checks every access, and runs rebuild it.
 */
#ifndef TDXSIM_SIMHEAP_H
#define TDXSIM_SIMHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *sim_malloc(size_t n);
void *sim_calloc(size_t n, size_t size);
void *sim_realloc(void *p, size_t n);
void *sim_aligned_alloc(size_t align, size_t n);	/* align: a power of two <= 4096 */
void sim_free(void *p);

/*
 * Start a session: from now on sim_* allocations come from the region.
 * false when the region cannot be had (or under ASan): nothing changes.
 */
bool simheap_begin(void);
/* End it: the region is released; pointers into it die with it. */
void simheap_end(void);
/* Is a session on? */
bool simheap_active(void);

/* A saved copy of the region's used part. */
struct simheap_snap {
	void *data;
	size_t len;
};
/* Save the region now (replacing what @s held).  0 or -1 (no memory). */
int simheap_save(struct simheap_snap *s);
/* Put the region back as it was when @s was saved. */
void simheap_restore(const struct simheap_snap *s);
void simheap_snap_free(struct simheap_snap *s);
/* Bytes of the region in use (its allocator's high-water mark). */
size_t simheap_used(void);

#endif
