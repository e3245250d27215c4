/* SPDX-License-Identifier: MIT */
/*
 * tdvf_fw.h - a TDVF-like firmware as a guest program phase: it reads the
 * TD HOB the VMM wrote (hob.h) and accepts the unaccepted memory it
 * describes with OVMF's algorithm (OvmfPkg/Library/PlatformInitLib/
 * IntelTdx.c), the APs helping through a mailbox.  Another guest program
 * (a Linux model) calls tdvf_fw_run() first, on every vCPU, then goes on
 * with the memory accepted.
 *
 * The algorithm, per vCPU count n and chunk size C (PcdTdxAcceptMemory-
 * ChunkSize, 32 MiB):
 *   1. n > 1: the BSP accepts the APs' stacks, ALIGN(n * 16 KiB, 2 MiB),
 *      from the first unaccepted range at least that long (ranges before
 *      it, shorter, whole; that range only its first stack-size bytes when
 *      it is longer than C, else whole: AcceptMemoryForAPsStack).
 *   2. Every unaccepted range (HOB order) from there up to accept_end
 *      (PcdAcceptMemoryEndAddress; memory above stays unaccepted for the
 *      OS): its head up to 2 MiB alignment at 4K by the BSP; then, if what
 *      is left is at most C, all of it by the BSP (BspAcceptMemoryResource-
 *      Range: the 2M-aligned middle at 2M when more than 2 MiB is left,
 *      the rest at 4K, so an exactly-2 MiB rest goes at 4K as OVMF does);
 *      else its 2M-aligned middle in chunks of C, vCPU i taking chunks i,
 *      i + n, i + 2n ... (BspApAcceptMemoryResourceRange), the APs woken
 *      through the mailbox, and the BSP waits for them.  OVMF passes the
 *      whole rest to the APs and so never accepts an unaligned tail there;
 *      here the BSP accepts that tail at 4K afterwards.
 *   A 2M ACCEPT the host answers PAGE_SIZE_MISMATCH (it mapped 4K) is
 *   done as 512 4K ACCEPTs, as accept_range() in sc_run.c does.
 *
 * APs wait for mailbox commands in HLT (guest_halt), woken by the BSP's
 * broadcast IPI, and halt again after each command; the last AP to
 * finish a command wakes the BSP, which halts meanwhile.  A malformed HOB
 * is a guest panic on the BSP (gvcpu_kill with the reason), after it has
 * told the APs to stop.
 */
#ifndef TDXSIM_TDVF_FW_H
#define TDXSIM_TDVF_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gvcpu;

#define TDVF_FW_CHUNK		(32ull << 20)	/* PcdTdxAcceptMemoryChunkSize */
#define TDVF_FW_AP_STACK	(16ull << 10)	/* AP_STACK_SIZE */
#define TDVF_FW_HOB_MAX		(16u << 10)	/* the most of a TD_HOB the firmware reads */
#define TDVF_FW_MAX_RANGES	128		/* resource descriptors it keeps */

/* A memory resource descriptor of the HOB (hob.h). */
struct tdvf_hob_range {
	uint32_t type;		/* EFI_RESOURCE_SYSTEM_MEMORY, _MEMORY_UNACCEPTED, ... */
	uint32_t attributes;
	uint64_t start, len;
};

/*
 * Validate the HOB list in @buf (@len bytes of the TD_HOB area), as OVMF's
 * ValidateHobList() and the PI spec's rules: a PHIT first; every header's
 * Reserved 0 and HobLength non-zero, a multiple of 8 and inside the area;
 * the PHIT 56 bytes with a known boot mode and a 4K-aligned
 * EfiFreeMemoryTop; resource descriptors 48 bytes with a known type and
 * attributes; GUID, FV, FV2, FV3 and CPU HOBs of their sizes; no other
 * type; an end-of-list HOB before the area ends.  Memory descriptors
 * (system memory, unaccepted) must be 4K aligned, non-empty, below
 * @gpa_limit (the TD's shared bit) and not overlap one another.  The
 * resource descriptors go to @out (at most @max) in HOB order, their
 * number to *n.  0, or -1 with a one-line reason in @err.
 */
int tdvf_hob_parse(const uint8_t *buf, size_t len, uint64_t gpa_limit,
		   struct tdvf_hob_range *out, int max, int *n, char *err, size_t errlen);

struct tdvf_fw_cfg {
	uint64_t hob;		/* the HOB's GPA; 0: the boot parameter (guest_boot_param) */
	uint64_t hob_size;	/* bytes of the TD_HOB area (0: 4096; at most TDVF_FW_HOB_MAX) */
	uint64_t accept_end;	/* PcdAcceptMemoryEndAddress: accept below it (0: everything) */
	uint64_t chunk;		/* PcdTdxAcceptMemoryChunkSize (0: TDVF_FW_CHUNK; 2M multiple) */
};

/* What one vCPU did. */
struct tdvf_fw_stats {
	uint64_t accepts_4k;	/* 4K ACCEPTs that accepted their page */
	uint64_t accepts_2m;	/* 2M ACCEPTs that accepted their 2 MiB */
	uint64_t fallbacks_2m;	/* 2M ACCEPTs answered PAGE_SIZE_MISMATCH (then 512 at 4K) */
	uint64_t already;	/* ACCEPTs answered PAGE_ALREADY_ACCEPTED: accepted twice */
	uint64_t chunks;	/* mailbox chunks it accepted */
	uint64_t commands;	/* mailbox commands it served (APs) or posted (the BSP) */
};

enum tdvf_fw_cmd {
	TDVF_FW_CMD_NONE = 0,
	TDVF_FW_CMD_ACCEPT,	/* accept your chunks of [start, end) */
	TDVF_FW_CMD_EXIT,	/* the firmware is done: return (the OS takes over) */
};

/*
 * What the vCPUs of one firmware share: the mailbox (OVMF's TD mailbox)
 * and the report.  Lives in the world's heap (sim_calloc): a run reused
 * from a saved world starts from the zeroed mailbox.
 */
struct tdvf_fw {
	int nvcpus;			/* vCPUs taking part (rank 0 is the BSP) */
	int bsp_index;			/* the BSP's vCPU index: the APs' IPI goes there */
	/* the mailbox: the BSP writes a command, then bumps seq */
	uint64_t seq;
	enum tdvf_fw_cmd cmd;
	uint64_t start, end, chunk;	/* ACCEPT: the 2M-aligned range, the chunk size */
	int done;			/* APs that finished the current command */
	bool stopped;			/* the BSP panicked: EXIT means failure */
	/* the BSP's copy of the HOB and of its resource descriptors */
	uint8_t hob[TDVF_FW_HOB_MAX];
	struct tdvf_hob_range ranges[TDVF_FW_MAX_RANGES];
	int nranges;
	struct tdvf_fw_stats st[];	/* per rank */
};

/* A mailbox for @nvcpus vCPUs (sim_calloc), or NULL; tdvf_fw_destroy() frees it. */
struct tdvf_fw *tdvf_fw_create(int nvcpus);
void tdvf_fw_destroy(struct tdvf_fw *fw);
/*
 * Run the firmware on @g, rank @vcpu of @nvcpus (rank 0, the BSP, reads
 * the HOB; it must be the vCPU that got the HOB in its boot parameter
 * unless @cfg->hob says where it is).  The BSP returns 0 once everything
 * is accepted (the APs' chunks too); an AP returns 0 when the BSP posts
 * EXIT, -1 when the BSP panicked.  A malformed HOB or an ACCEPT the module
 * refuses is a guest panic (never returns).
 */
int tdvf_fw_run(struct gvcpu *g, struct tdvf_fw *fw, int vcpu, int nvcpus,
		const struct tdvf_fw_cfg *cfg);

#endif
