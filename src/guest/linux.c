/* SPDX-License-Identifier: MIT */
/*
 * linux.c - the Linux TD boot profile (linux.h).
 *
 * Memory: the RAM ranges as the TD_HOB describes them.  The firmware
 * accepts what lies below fw_accept_end (everything when eager); the rest
 * is unaccepted memory, kept as ranges that shrink from both ends: the
 * page allocator takes 4 MiB blocks from the bottom (the zone's list of
 * unaccepted MAX_ORDER pages, in address order), memblock takes its early
 * allocations from the top (top-down, accepting what it hands out).
 *
 * Concurrency: vCPUs switch only at scheduling points (the guest API), so
 * taking a block is one step; its acceptance then runs in parallel with
 * other vCPUs' (Linux's accepting_list serialises only overlapping ranges).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../engine/engine.h"
#include "../module/physmem.h"
#include "linux.h"

int linux_cfg_check(const struct linux_cfg *c, char *err, size_t len)
{
	if (c->nram < 1 || c->nram > LX_MAX_RAM) {
		snprintf(err, len, "linux: %d RAM ranges (1..%d private memslots)", c->nram,
			 LX_MAX_RAM);
		return -1;
	}
	for (int i = 0; i < c->nram; i++) {
		const struct linux_ram *r = &c->ram[i];
		if ((r->gpa | r->size) & (LX_UNIT - 1) || !r->size ||
		    (i && r->gpa < c->ram[i - 1].gpa + c->ram[i - 1].size)) {
			snprintf(err, len, "linux: RAM range %#" PRIx64 "+%#" PRIx64 " is not 2M "
				 "aligned, empty or out of order", r->gpa, r->size);
			return -1;
		}
	}
	if (c->nvcpus < 1) {
		snprintf(err, len, "linux: no vCPU");
		return -1;
	}
	if (c->dma_reaccepts + c->dma_mixed && c->dma_pages < 2) {
		snprintf(err, len, "linux: dma_pages must be at least 2 (one stays shared for "
			 "dma_mixed)");
		return -1;
	}
	if (c->dma_reaccepts + c->dma_mixed &&
	    (c->dma_units < 1 || c->dma_units > LX_MAX_DMA_UNITS)) {
		snprintf(err, len, "linux: dma_units must be 1..%d", LX_MAX_DMA_UNITS);
		return -1;
	}
	if (c->dma_pages > 512 || c->early_4k > 512) {
		snprintf(err, len, "linux: dma_pages and early_4k are pages of one 2M unit (<= 512)");
		return -1;
	}
	return 0;
}

void linux_td_init(struct linux_td *td, const struct linux_cfg *cfg)
{
	memset(td, 0, sizeof(*td));
	td->cfg = cfg;
	for (int i = 0; i < cfg->nram; i++) {
		const struct linux_ram *r = &cfg->ram[i];
		td->ram_bytes += r->size;
		uint64_t end = r->gpa + r->size;
		uint64_t lo = cfg->eager ? end : r->gpa > cfg->fw_accept_end ? r->gpa
						: cfg->fw_accept_end < end ? cfg->fw_accept_end : end;
		lo = (lo + LX_UNIT - 1) & ~(LX_UNIT - 1);
		if (lo < end) {
			td->u[td->nu].lo = lo;
			td->u[td->nu++].hi = end;
		}
		/* what the firmware accepted is free memory for the kernel */
		td->pool += (lo < end ? lo : end) - r->gpa;
	}
	td->touch = cfg->ram[0].gpa;
}

static bool have_unaccepted(struct linux_td *td)
{
	for (int i = 0; i < td->nu; i++)
		if (td->u[i].lo < td->u[i].hi)
			return true;
	return false;
}

/* This vCPU's charges so far (NULL without the engine's task_charges). */
static const uint64_t *my_charges(void)
{
	struct engine *e = engine_current();
	return e ? engine_task_charges(e, engine_task_id()) : NULL;
}

/* Accept [gpa, gpa + size) and free it to the page allocator. */
static void lx_accept(struct gvcpu *g, struct linux_td *td, uint64_t gpa, uint64_t size,
		      bool one_by_one)
{
	uint64_t n4 = 0, n2 = 0;
	uint64_t t0 = seam_now_ns();
	uint64_t before[SEAM_COST_NR];
	const uint64_t *ch = my_charges();
	if (ch)
		memcpy(before, ch, sizeof(before));
	if (one_by_one) {
		for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
			guest_accept_range(g, a, SZ_4K, &n4, &n2);
	} else {
		guest_accept_range(g, gpa, size, &n4, &n2);
	}
	/*
	 * The per-fault cost where the host maps 4K (every ACCEPT an exit):
	 * the first such block of the boot, and the last one before the
	 * watermarks (the end of SMP bring-up), with what it was charged.
	 */
	bool first = !td->fault_ns_first, last = !td->wmarks;
	if (n4 >= 512 && !n2 && (first || last)) {
		uint64_t per = (seam_now_ns() - t0) / n4;
		double *dst[2] = { first ? td->fault_first_charges : NULL,
				   last ? td->fault_last_charges : NULL };
		if (first)
			td->fault_ns_first = per;
		if (last)
			td->fault_ns_last = per;
		for (int d = 0; d < 2 && ch; d++)
			for (int k = 0; dst[d] && k < SEAM_COST_NR; k++)
				dst[d][k] = (double)(ch[k] - before[k]) / (double)n4;
	}
	td->accepts_4k += n4;
	td->accepts_2m += n2;
	guest_compute(g, SEAM_COST_BUDDY_4K, size / SZ_4K);
	td->pool += size;
	td->touch = gpa;
}

/* A block waiting for its #VE, per vCPU (the handler gets only the vCPU). */
struct lx_ve_ctx {
	struct linux_td *td;
	uint64_t gpa, len;
};
static struct lx_ve_ctx lx_ve[256];

static void lx_ve_handler(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	struct lx_ve_ctx *v = &lx_ve[g->index];
	if (!v->td || ve->gpa < v->gpa || ve->gpa >= v->gpa + v->len)
		gvcpu_kill(g, "guest panic: unexpected #VE at GPA %#" PRIx64, ve->gpa);
	struct linux_td *td = v->td;
	v->td = NULL;
	td->ve_blocks++;
	lx_accept(g, td, v->gpa, v->len, false);
}

/*
 * The page allocator takes the next unaccepted 4 MiB block (try_to_accept_
 * memory_one()).  false when none is left.
 */
static bool take_block(struct gvcpu *g, struct linux_td *td, bool first_unit_4k)
{
	for (int i = 0; i < td->nu; i++) {
		__typeof__(&td->u[0]) u = &td->u[i];
		if (u->lo >= u->hi)
			continue;
		uint64_t gpa = u->lo;
		uint64_t len = u->hi - gpa < LX_BLOCK ? u->hi - gpa : LX_BLOCK;
		u->lo += len;
		td->blocks_accepted++;
		if (td->cfg->ve && !first_unit_4k) {
			/* Linux with #VE for pending pages: the first touch of the
			 * block raises one, and the handler accepts the block */
			struct lx_ve_ctx *v = &lx_ve[g->index];
			*v = (struct lx_ve_ctx){ td, gpa, len };
			guest_write64(g, gpa, len);
			if (v->td)
				gvcpu_kill(g, "guest panic: no #VE for the pending block at %#" PRIx64,
					   gpa);
			return true;
		}
		if (first_unit_4k) {
			lx_accept(g, td, gpa, LX_UNIT, true);
			if (len > LX_UNIT)
				lx_accept(g, td, gpa + LX_UNIT, len - LX_UNIT, false);
		} else {
			lx_accept(g, td, gpa, len, false);
		}
		return true;
	}
	return false;
}

/* An allocation of @bytes from the page allocator; it writes its first word. */
static void lx_alloc(struct gvcpu *g, struct linux_td *td, uint64_t bytes)
{
	const struct linux_cfg *c = td->cfg;
	/* before watermarks, cond_accept_memory() accepts a block every time */
	if (!td->wmarks && c->wmark_accept)
		take_block(g, td, false);
	while (td->pool < bytes)
		if (!take_block(g, td, false))
			gvcpu_kill(g, "guest panic: out of memory allocating %" PRIu64 " bytes",
				   bytes);
	td->pool -= bytes;
	guest_write64(g, td->touch, bytes);
}

/* memblock, top-down: accept what it takes from unaccepted memory. */
static void lx_memblock(struct gvcpu *g, struct linux_td *td, uint64_t bytes)
{
	bytes = (bytes + LX_UNIT - 1) & ~(LX_UNIT - 1);
	for (int i = td->nu - 1; i >= 0 && bytes; i--) {
		__typeof__(&td->u[0]) u = &td->u[i];
		uint64_t take = u->hi - u->lo < bytes ? u->hi - u->lo : bytes;
		if (!take)
			continue;
		u->hi -= take;
		bytes -= take;
		lx_accept(g, td, u->hi, take, false);
		td->pool -= take;	/* memblock keeps it */
	}
	if (bytes) {
		if (td->pool < bytes)
			gvcpu_kill(g, "guest panic: memblock: out of memory");
		td->pool -= bytes;
	}
}

/* MapGPA of one 4K page; the host must convert it. */
static void lx_convert(struct gvcpu *g, uint64_t gpa, bool shared)
{
	uint64_t st = guest_map_gpa(g, gpa, SZ_4K, shared);
	if (st != TDVMCALL_STATUS_SUCCESS)
		gvcpu_kill(g, "guest panic: MapGPA %#" PRIx64 " to %s: status %#" PRIx64, gpa,
			   shared ? "shared" : "private", st);
}

static void lx_reaccept(struct gvcpu *g, struct linux_td *td, uint64_t gpa)
{
	lx_convert(g, gpa, true);
	lx_convert(g, gpa, false);
	uint64_t n4 = 0;
	guest_accept_range(g, gpa, SZ_4K, &n4, NULL);
	td->accepts_4k += n4;
}

/*
 * DMA buffers (set_memory_decrypted() and back, as drivers allocate and
 * free coherent buffers): dma_pages hot pages in each of dma_units 2M
 * units taken fresh from the allocator (so the host may have mapped them
 * 2M).  dma_reaccepts conversions round robin over the units with the
 * rest of each unit private, then dma_mixed while each unit's first page
 * stays shared.
 */
static void lx_dma_churn(struct gvcpu *g, struct linux_td *td)
{
	const struct linux_cfg *c = td->cfg;
	if (!c->dma_reaccepts && !c->dma_mixed)
		return;
	uint64_t unit[LX_MAX_DMA_UNITS];
	for (uint64_t u = 0; u < c->dma_units; u += 2) {
		if (!take_block(g, td, false))
			gvcpu_kill(g, "guest panic: out of memory for DMA buffers");
		uint64_t base = td->touch;	/* the block just accepted */
		unit[u] = base;
		if (u + 1 < c->dma_units)
			unit[u + 1] = base + LX_UNIT;
		td->pool -= LX_BLOCK;	/* the drivers keep it */
	}
	for (uint64_t i = 0; i < c->dma_reaccepts; i++) {
		uint64_t u = i % c->dma_units, k = (i / c->dma_units) % c->dma_pages;
		lx_reaccept(g, td, unit[u] + k * SZ_4K);
	}
	if (!c->dma_mixed)
		return;
	for (uint64_t u = 0; u < c->dma_units; u++) {
		uint64_t n = c->dma_mixed / c->dma_units + (u < c->dma_mixed % c->dma_units);
		lx_convert(g, unit[u], true);
		for (uint64_t i = 0; i < n; i++)
			lx_reaccept(g, td, unit[u] + (1 + i % (c->dma_pages - 1)) * SZ_4K);
		lx_convert(g, unit[u], false);
		uint64_t n4 = 0;
		guest_accept_range(g, unit[u], SZ_4K, &n4, NULL);
		td->accepts_4k += n4;
	}
}

/*
 * Wait for @cond in HLT: a halted vCPU costs the engine nothing and the
 * host's kicks do not wait for it.  Whoever makes @cond true wakes us
 * (guest_wake); a wakeup that came first makes the HLT return at once.
 */
#define LX_WAIT(g, cond)               \
	do {                           \
		while (!(cond))        \
			guest_halt(g); \
	} while (0)

/* The firmware: what it accepts (all RAM when eager, else below fw_accept_end). */
static void lx_firmware(struct gvcpu *g, struct linux_td *td, int rank)
{
	const struct linux_cfg *c = td->cfg;
	struct tdvf_fw_cfg fc = {
		.hob_size = td->hob_size,
		/* 0 is "everything" to the firmware; 1 leaves all of it to the OS */
		.accept_end = c->eager ? 0 : c->fw_accept_end ? c->fw_accept_end : 1,
	};
	if (rank == 0)
		guest_compute(g, SEAM_COST_FW_BOOT, 1);
	if (!td->fw)
		gvcpu_kill(g, "guest panic: no TD HOB: the firmware has nothing to read");
	if (tdvf_fw_run(g, td->fw, rank, c->nvcpus, &fc))
		gvcpu_kill(g, "guest panic: the firmware failed on the BSP");
	for (int i = 0; rank == 0 && td->fw && i < td->fw->nvcpus; i++) {
		td->accepts_4k += td->fw->st[i].accepts_4k;
		td->accepts_2m += td->fw->st[i].accepts_2m;
	}
}

static void lx_bsp(struct gvcpu *g, struct linux_td *td)
{
	const struct linux_cfg *c = td->cfg;
	/* the firmware accepted; the rest is unaccepted memory for the kernel */
	/* the kernel: its own work to init, the memmap (64 bytes a 4K page:
	 * memblock, top-down) and its initialisation, the free pages */
	uint64_t pages = td->ram_bytes / SZ_4K;
	guest_compute(g, SEAM_COST_KERNEL_BOOT, 1);
	lx_memblock(g, td, td->ram_bytes / 64);
	guest_compute(g, SEAM_COST_BUDDY_4K, td->pool / SZ_4K);
	if (c->early_4k && have_unaccepted(td))
		take_block(g, td, true);
	for (uint64_t i = 0; i < c->early_allocs; i++)
		lx_alloc(g, td, 4 * SZ_4K);
	lx_dma_churn(g, td);
	/* smp_init(): each AP's idle task, stacks, per-CPU areas */
	for (int ap = 1; ap < c->nvcpus; ap++) {
		guest_compute(g, SEAM_COST_AP_BRINGUP, 1);
		for (uint64_t i = 0; i < c->ap_allocs; i++)
			lx_alloc(g, td, 4 * SZ_4K);
		td->online++;
	}
	td->mark_ns[LX_SMP_DONE] = seam_now_ns();
	/* page_alloc_init_late(): the memmap is initialised by every CPU at
	 * once (deferred struct page init, multithreaded), so the BSP waits
	 * for its 1/N share */
	guest_compute(g, SEAM_COST_MEMMAP_4K, (pages + (uint64_t)c->nvcpus - 1) / (uint64_t)c->nvcpus);
	td->wmarks = true;	/* init_per_zone_wmark_min(), a postcore initcall */
	td->mark_ns[LX_INIT] = seam_now_ns();
	if (c->until_init) {
		td->stop = true;
		if (c->nvcpus > 1)
			guest_wake(g, GUEST_WAKE_OTHERS);
		return;
	}
	/* init to login: every vCPU allocates its share */
	td->woken = c->nvcpus - 1;
	if (c->nvcpus > 1)
		guest_wake(g, GUEST_WAKE_OTHERS);
	lx_alloc(g, td, c->boot_mem / (uint64_t)c->nvcpus);
	LX_WAIT(g, td->done == c->nvcpus - 1);
	td->mark_ns[LX_LOGIN] = seam_now_ns();
}

static void lx_ap(struct gvcpu *g, struct linux_td *td)
{
	const struct linux_cfg *c = td->cfg;
	LX_WAIT(g, td->woken || td->stop);
	if (td->stop)
		return;
	lx_alloc(g, td, c->boot_mem / (uint64_t)c->nvcpus);
	if (++td->done == c->nvcpus - 1)
		guest_wake(g, 0);	/* the last one tells the BSP */
}

void linux_run(struct gvcpu *g, struct linux_td *td, int rank)
{
	if (td->cfg->ve)
		guest_set_ve_handler(g, lx_ve_handler);
	lx_firmware(g, td, rank);
	if (rank == 0) {
		td->mark_ns[LX_FW_DONE] = seam_now_ns();
		lx_bsp(g, td);
	} else {
		lx_ap(g, td);
	}
}
