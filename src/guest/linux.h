/* SPDX-License-Identifier: MIT */
/*
 * linux.h - a Linux TD guest: firmware, early boot on vCPU 0, SMP bring-up,
 * then allocation from every vCPU, with eager or lazy (unaccepted memory)
 * acceptance.
 *
 * The model is a boot profile: what a Linux TD does to private memory
 * between reset and login, in the order it does it, with the kernel's own
 * work charged as guest compute (fw_boot, kernel_boot, memmap_4k, buddy_4k,
 * ap_bringup in the cost table).  Which parts come from the kernel's code
 * and which from a published trace is said per field below and in
 * docs/calibration.md.
 */
#ifndef TDXSIM_LINUX_H
#define TDXSIM_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include "guest.h"
#include "tdvf_fw.h"

#define LX_MAX_RAM	8
#define LX_BLOCK	(4ull << 20)	/* MAX_ORDER: what the page allocator accepts */
#define LX_UNIT		(2ull << 20)	/* EFI_UNACCEPTED_UNIT_SIZE: the bitmap's unit */
#define LX_MAX_DMA_UNITS 64

struct linux_ram {
	uint64_t gpa, size;
};

struct linux_cfg {
	struct linux_ram ram[LX_MAX_RAM];	/* private RAM, sorted, 2M aligned */
	int nram;
	int nvcpus;
	/* firmware (OVMF): what it accepts before the kernel runs */
	bool eager;		/* accept = eager: all RAM (no unaccepted memory) */
	uint64_t fw_accept_end;	/* lazy: OVMF's PcdAcceptMemoryEndAddress */
	/* the kernel (mm/page_alloc.c, drivers/firmware/efi/unaccepted_memory.c) */
	bool wmark_accept;	/* before watermarks every allocation accepts a
				 * 4 MiB block (cond_accept_memory; off: dstack's
				 * 0009 fix, accept only when short) */
	uint64_t early_allocs;	/* allocations on vCPU 0 before smp_init */
	uint64_t ap_allocs;	/* allocations per AP brought up (trace input) */
	uint64_t boot_mem;	/* bytes allocated between init and login, spread
				 * over the vCPUs */
	bool until_init;	/* until = init: the boot ends when init runs */
	bool ve;		/* the TD takes #VE for pending pages (sept_ve_disable
				 * off): the kernel touches a new block first and
				 * its #VE handler accepts it */
	/* from the published trace (Yan Zhao, 2025-07: 4 GB TD boot) */
	uint64_t early_4k;	/* pages of one 2M unit the early kernel accepts
				 * one at a time */
	uint64_t dma_reaccepts;	/* DMA buffer pages re-accepted (at 4K) after a
				 * shared -> private conversion, the rest of their
				 * 2M range private */
	uint64_t dma_mixed;	/* ... while another page of the range is shared */
	uint64_t dma_pages;	/* the hot pages per unit those conversions cycle over */
	uint64_t dma_units;	/* the 2M units the DMA buffers lie in */
};

enum linux_mark {
	LX_FW_DONE,		/* the firmware handed over to the kernel */
	LX_SMP_DONE,		/* every AP is up */
	LX_INIT,		/* the kernel runs init */
	LX_LOGIN,		/* boot_mem allocated: a login prompt */
	LX_NMARKS
};

/* What the vCPUs share: the kernel's memory state and the boot's progress. */
struct linux_td {
	const struct linux_cfg *cfg;
	/* the firmware phase: the TDVF mailbox all vCPUs share, the TD HOB's size */
	struct tdvf_fw *fw;
	uint64_t hob_size;
	uint64_t ram_bytes;
	/* unaccepted memory after the firmware: ranges [lo, hi) that shrink
	 * from the bottom (the page allocator's 4 MiB blocks, in address
	 * order) and from the top (memblock, top-down) */
	struct {
		uint64_t lo, hi;
	} u[LX_MAX_RAM];
	int nu;
	uint64_t pool;			/* accepted bytes free in the page allocator */
	uint64_t touch;			/* an accepted page allocations write to */
	bool accepting;			/* a vCPU is accepting a block */
	bool wmarks;			/* watermarks are set (postcore initcall) */
	int online;			/* APs brought up */
	int woken;			/* APs told to allocate their share */
	int done;			/* APs finished their share */
	bool stop;			/* until = init: the APs stop too */
	uint64_t mark_ns[LX_NMARKS];
	/* per-fault cost at the start and end of SMP bring-up: the mean time
	 * of one 4K ACCEPT (exit, fault, AUG, entry) within a block */
	uint64_t fault_ns_first, fault_ns_last;
	/* ... and what one such ACCEPT was charged, by cost kind (with the
	 * engine's task_charges; else zero): the calibration's linear model */
	double fault_first_charges[SEAM_COST_NR], fault_last_charges[SEAM_COST_NR];
	uint64_t blocks_accepted, accepts_4k, accepts_2m;
	uint64_t ve_blocks;		/* blocks accepted from the #VE handler */
};

/* Check @cfg; 0 or -1 with a message in @err. */
int linux_cfg_check(const struct linux_cfg *cfg, char *err, size_t len);
/* Set up the shared state (no allocation): call once before the vCPUs run. */
void linux_td_init(struct linux_td *td, const struct linux_cfg *cfg);
/*
 * The guest program body for vCPU @g->index (rank @rank of the firmware's
 * vCPUs): the firmware (tdvf_fw_run over the TD HOB, with td->fw), then
 * vCPU 0 boots the kernel and the others are its APs.
 */
void linux_run(struct gvcpu *g, struct linux_td *td, int rank);

#endif
