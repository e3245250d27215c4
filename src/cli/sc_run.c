/* SPDX-License-Identifier: MIT */
/*
 * sc_run.c - running a scenario: build the host and the TD it describes,
 * run every vCPU's program and the VMM's actions as engine tasks, classify
 * the outcome, collect the counters, tear down and check that nothing is
 * left.  Also the built-in guest programs and the guest-step interpreter.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/simheap.h"
#include "../guest/linux.h"
#include "../host/hostmem.h"
#include "../module/physmem.h"
#include "../guest/tdvf_fw.h"
#include "scenario.h"
#include "tdhob.h"
#include "tdvf.h"

/* What every task of one run shares. */
struct sc_world {
	const struct scenario *sc;
	struct kvm *k;
	struct kvm_vm *vm;
	struct engine *e;
	int nvcpus;
	uint64_t done;			/* vCPU tasks finished */
	int rc[SC_MAX_VCPUS];		/* kvm_vcpu_run's result */
	int fd[KVM_MAX_MEMSLOTS];	/* the guest_memfd made for each memslot */
	struct kvm_vm_stats setup;	/* the VM's counters after setup: runs count from there */
	/* linux-lazy: 4 MiB blocks accepted (1) or being accepted (2), by index */
	uint8_t *lazy;
	uint64_t lazy_base, lazy_blocks;
	bool action_done[SC_MAX_ACTIONS];	/* the VMM finished it */
	/* the linux program: its boot profile and what its vCPUs share */
	bool linux;
	struct linux_cfg lx_cfg;
	struct linux_td lx;
	struct guest_shadow *shadow;	/* checking mode: what the guests wrote */
	/* the firmware program over a TD HOB (tdvf_fw.h): its mailbox, each vCPU's rank */
	struct tdvf_fw *fw;
	int fw_rank[SC_MAX_VCPUS];	/* -1: the vCPU does not run it */
	int fw_n;
	uint64_t hob_gpa, hob_size;	/* the TD HOB the host wrote (0: none) */
};

struct sc_ctx {
	struct sc_world *w;
	int vcpu;
};

static uint64_t param(const struct sc_vcpu *v, const char *key, uint64_t def)
{
	for (int i = 0; i < v->nparams; i++)
		if (!strcmp(v->params[i].key, key))
			return v->params[i].val;
	return def;
}

/* The first private guest_memfd memslot: the default range of a program. */
static void default_range(const struct scenario *sc, uint64_t *gpa, uint64_t *size)
{
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++)
		if (sc->slots[i].used && sc->slots[i].gmem && sc->slots[i].private) {
			*gpa = sc->slots[i].gpa;
			*size = sc->slots[i].size;
			return;
		}
	*gpa = *size = 0;
}

static void range_of(struct sc_ctx *c, uint64_t *gpa, uint64_t *size)
{
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	uint64_t g, s;
	default_range(c->w->sc, &g, &s);
	*gpa = param(v, "gpa", g);
	*size = param(v, "size", param(v, "pages", s / 4096) * 4096);
}

static bool accepted(uint64_t st)
{
	return st == TDX_SUCCESS || tdx_status_code(st) == TDX_PAGE_ALREADY_ACCEPTED;
}

/*
 * Accept [gpa, gpa + size) as TDVF and Linux do: 2M where aligned (4K
 * pages one by one where the host mapped 4K: PAGE_SIZE_MISMATCH), 4K at
 * the unaligned ends.
 */
static void accept_range(struct gvcpu *g, uint64_t gpa, uint64_t size)
{
	uint64_t end = gpa + size;
	while (gpa < end) {
		if (!(gpa & (SZ_2M - 1)) && end - gpa >= SZ_2M) {
			uint64_t st = guest_accept(g, gpa, 1);
			if (accepted(st)) {
				gpa += SZ_2M;
				continue;
			}
			if (tdx_status_code(st) != TDX_PAGE_SIZE_MISMATCH)
				gvcpu_kill(g, "guest panic: accept 2M at %#" PRIx64 ": %s", gpa,
					   tdx_status_name(st));
			for (uint64_t p = 0; p < 512; p++) {
				st = guest_accept(g, gpa + p * SZ_4K, 0);
				if (!accepted(st))
					gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64 ": %s",
						   (uint64_t)(gpa + p * SZ_4K), tdx_status_name(st));
			}
			gpa += SZ_2M;
			continue;
		}
		uint64_t st = guest_accept(g, gpa, 0);
		if (!accepted(st))
			gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64 ": %s", gpa,
				   tdx_status_name(st));
		gpa += SZ_4K;
	}
}

/* ---- built-in programs ---- */

static bool has_param(const struct sc_vcpu *v, const char *key)
{
	for (int i = 0; i < v->nparams; i++)
		if (!strcmp(v->params[i].key, key))
			return true;
	return false;
}

/* firmware with gpa, size or pages accepts that range alone, as it did before the TD HOB */
static bool firmware_over_hob(const struct sc_vcpu *v)
{
	return v && v->used && v->prog && !strcmp(v->prog->name, "firmware") &&
	       !has_param(v, "gpa") && !has_param(v, "size") && !has_param(v, "pages");
}

/* A vCPU whose program starts with the firmware over the TD HOB: it has a rank. */
static bool runs_firmware(const struct sc_vcpu *v)
{
	return firmware_over_hob(v) || (v && v->prog && !strcmp(v->prog->name, "linux"));
}

/*
 * TDVF: the TD HOB the host wrote (its GPA in the boot parameter) says
 * what to accept, and the vCPUs running firmware share it (tdvf_fw.c);
 * with gpa/size/pages, that range alone by this vCPU.
 */
static void prog_firmware(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	struct sc_world *w = c->w;
	const struct sc_vcpu *v = sc_vcpu_of(w->sc, c->vcpu);
	if (!firmware_over_hob(v)) {
		uint64_t gpa, size;
		range_of(c, &gpa, &size);
		accept_range(g, gpa, size);
		return;
	}
	struct tdvf_fw_cfg cfg = {
		.hob_size = w->hob_size,
		.accept_end = param(v, "accept_end", 0),
		.chunk = param(v, "chunk", 0),
	};
	tdvf_fw_run(g, w->fw, w->fw_rank[c->vcpu], w->fw_n, &cfg);
}

static void prog_linux_eager(struct gvcpu *g, void *arg)
{
	uint64_t gpa, size;
	range_of(arg, &gpa, &size);
	accept_range(g, gpa, size);
	/* the kernel then uses its memory */
	for (uint64_t a = gpa; a < gpa + size; a += SZ_2M)
		guest_write64(g, a, a);
}

/* The Linux boot profile (src/guest/linux.c) on every vCPU of the TD. */
static void prog_linux(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	linux_run(g, &c->w->lx, c->w->fw_rank[c->vcpu]);
}

static void ve_accept(struct gvcpu *g, const struct tdx_ve_info *ve);

#define LAZY_BLOCK (4ull << 20)

/*
 * Linux's unaccepted memory: a 4 MiB block is accepted by the first vCPU
 * that allocates from it; another vCPU wanting the same block waits for
 * it (accept_memory() serializes on the block).
 */
static void prog_linux_lazy(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	struct sc_world *w = c->w;
	const struct sc_vcpu *v = sc_vcpu_of(w->sc, c->vcpu);
	uint64_t gpa, size;
	range_of(c, &gpa, &size);
	uint64_t touches = param(v, "touches", 64);
	if (!w->sc->sept_ve_disable)
		guest_set_ve_handler(g, ve_accept);	/* Linux with #VE for pending pages */
	for (uint64_t t = 0; t < touches; t++) {
		uint64_t page = gpa + (engine_rand() % (size / SZ_4K)) * SZ_4K;
		uint64_t b = (page - w->lazy_base) / LAZY_BLOCK;
		while (b < w->lazy_blocks && w->lazy[b] == 2)
			guest_relax(g);	/* another vCPU is accepting it */
		if (b < w->lazy_blocks && !w->lazy[b]) {
			w->lazy[b] = 2;
			uint64_t start = w->lazy_base + b * LAZY_BLOCK;
			uint64_t len = start + LAZY_BLOCK > gpa + size ? gpa + size - start : LAZY_BLOCK;
			accept_range(g, start, len);
			w->lazy[b] = 1;
		}
		guest_write64(g, page, page);
	}
}

static void ve_accept(struct gvcpu *g, const struct tdx_ve_info *ve)
{
	uint64_t st = guest_accept(g, ve->gpa & ~0xfffull, 0);
	if (!accepted(st))
		gvcpu_kill(g, "guest panic: #VE accept at %#" PRIx64 ": %s", ve->gpa,
			   tdx_status_name(st));
}

/* Seed 001's rare case: touch memory before accepting it; #VE accepts at 4K. */
static void prog_ve_before_accept(struct gvcpu *g, void *arg)
{
	uint64_t gpa, size;
	range_of(arg, &gpa, &size);
	guest_set_ve_handler(g, ve_accept);
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
		guest_write64(g, a, a ^ 0x5eed);
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
		if (guest_read64(g, a) != (a ^ 0x5eed))
			engine_fail("ve-before-accept: data at %#" PRIx64 " lost", a);
}

/* Every 4K page of [gpa, gpa + size) written, then read back: the memory is usable. */
static void write_read_back(struct gvcpu *g, const char *prog, uint64_t gpa, uint64_t size)
{
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
		guest_write64(g, a, a ^ 0x5eed);
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
		if (guest_read64(g, a) != (a ^ 0x5eed))
			engine_fail("%s: data at %#" PRIx64 " lost", prog, a);
}

/* 4K ACCEPTs of [lo, hi); an ACCEPT that fails is a guest panic. */
static void accept_4k(struct gvcpu *g, uint64_t lo, uint64_t hi)
{
	for (uint64_t a = lo; a < hi; a += SZ_4K) {
		uint64_t st = guest_accept(g, a, 0);
		if (!accepted(st))
			gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64 ": %s", a,
				   tdx_status_name(st));
	}
}

/*
 * The demotion TDVMCALL of seed 000 for the 2M range of @gpa.  A host that
 * refuses leaves the guest no way to use that range at 4K (a 4K ACCEPT
 * inside a 2M mapping is not a demotion request under that design), so the
 * guest panics rather than loop; RETRY is asked again.
 */
static void request_demote(struct gvcpu *g, uint64_t gpa)
{
	for (;;) {
		uint64_t st = guest_request_demote(g, gpa);
		if (st == TDVMCALL_STATUS_SUCCESS)
			return;
		if (st != TDVMCALL_STATUS_RETRY)
			gvcpu_kill(g, "guest panic: the host refused to demote %#" PRIx64
				   " (TDVMCALL status %#" PRIx64 ")", gpa, st);
		guest_relax(g);
	}
}

/*
 * Seed 000's aware guest.  TDG.VP.INFO (RDX: the TD attributes) tells it
 * whether the TD has SEPT_EXPLICIT_DEMOTION.  With it, an exit without
 * level info may be mapped 2M, so the guest accepts before any access, and
 * a 2M range it uses only in part (all of them with level = 4k) is first
 * demoted on request, then accepted 4K page by 4K page.  A whole 2M range
 * (level = 2m, the default) is accepted at 2M.  Without the attribute it
 * accepts the same way and asks for nothing: the host maps 4K there.
 */
static void prog_explicit_demotion(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	uint64_t gpa, size;
	range_of(c, &gpa, &size);
	bool huge = param(v, "level", 1);
	struct tdx_regs info;
	uint64_t st = guest_vp_info(g, &info);
	if (st != TDX_SUCCESS)
		gvcpu_kill(g, "guest panic: TDG.VP.INFO: %s", tdx_status_name(st));
	bool explicit = info.rdx & TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	uint64_t end = gpa + size;
	for (uint64_t chunk = gpa & ~(SZ_2M - 1); chunk < end; chunk += SZ_2M) {
		uint64_t lo = chunk > gpa ? chunk : gpa;
		uint64_t hi = chunk + SZ_2M < end ? chunk + SZ_2M : end;
		if (huge && lo == chunk && hi == chunk + SZ_2M) {
			accept_range(g, chunk, SZ_2M);
			continue;
		}
		if (explicit)
			request_demote(g, chunk);
		accept_4k(g, lo, hi);
	}
	write_read_back(g, "explicit-demotion-guest", gpa, size);
}

/*
 * The 1.5 module's own demotion request: a 4K TDG.MEM.PAGE.ATTR.WR with no
 * attribute change over a 2M leaf exits to the host with extended-info
 * type 5 and runs again once the host has demoted.  level = 2m first
 * accepts each whole 2M range at 2M (as TDVF does), so that there is a 2M
 * leaf to demote; 4k (the default) asks before anything is mapped.  Then
 * the 4K ACCEPTs (PAGE_ALREADY_ACCEPTED after a demotion of accepted
 * memory) and the data check.
 */
static void prog_attr_wr_demote(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	uint64_t gpa, size;
	range_of(c, &gpa, &size);
	bool huge_first = param(v, "level", 0);
	uint64_t end = gpa + size;
	for (uint64_t chunk = gpa & ~(SZ_2M - 1); chunk < end; chunk += SZ_2M) {
		uint64_t lo = chunk > gpa ? chunk : gpa;
		uint64_t hi = chunk + SZ_2M < end ? chunk + SZ_2M : end;
		if (huge_first && lo == chunk && hi == chunk + SZ_2M)
			accept_range(g, chunk, SZ_2M);
		uint64_t st = guest_attr_wr(g, lo, 0);
		if (st != TDX_SUCCESS)
			gvcpu_kill(g, "guest panic: ATTR.WR 4K at %#" PRIx64 ": %s", lo,
				   tdx_status_name(st));
		accept_4k(g, lo, hi);
	}
	write_read_back(g, "attr-wr-demote", gpa, size);
}

/* Seed 001: vCPUs accepting one range at different levels. */
static void prog_accept_race(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	uint64_t gpa, size;
	range_of(c, &gpa, &size);
	if (param(v, "level", 0))
		accept_range(g, gpa, size);
	else
		for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
			if (!accepted(guest_accept(g, a, 0)))
				gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64, a);
	/* every page is usable afterwards: each vCPU writes its own word */
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
		guest_write64(g, a + 8 * (uint64_t)c->vcpu, a + (uint64_t)c->vcpu);
	for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
		if (guest_read64(g, a + 8 * (uint64_t)c->vcpu) != a + (uint64_t)c->vcpu)
			engine_fail("accept-race: vcpu%d's word at %#" PRIx64 " lost", c->vcpu, a);
}

/* Private -> shared -> private, rounds times, with data checks. */
static void prog_convert_pingpong(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	uint64_t gpa, size;
	range_of(c, &gpa, &size);
	uint64_t rounds = param(v, "rounds", 4);
	for (uint64_t r = 0; r < rounds; r++) {
		for (uint64_t a = gpa; a < gpa + size; a += SZ_4K) {
			if (!accepted(guest_accept(g, a, 0)))
				gvcpu_kill(g, "guest panic: accept 4K at %#" PRIx64, a);
			if (guest_read64(g, a) != 0)
				engine_fail("convert-pingpong: a re-accepted page at %#" PRIx64
					    " is not zero", a);
			guest_write64(g, a, a + r);
		}
		if (guest_map_gpa(g, gpa, size, true) != TDVMCALL_STATUS_SUCCESS)
			engine_fail("convert-pingpong: MapGPA to shared failed");
		for (uint64_t a = gpa; a < gpa + size; a += SZ_4K)
			guest_write64(g, guest_shared(g, a), r);
		if (guest_map_gpa(g, gpa, size, false) != TDVMCALL_STATUS_SUCCESS)
			engine_fail("convert-pingpong: MapGPA to private failed");
	}
}

/* ---- guest steps ---- */

static bool fired(struct sc_world *w, const struct sc_vmm_action *a);

/* Has the VMM finished every action whose trigger has fired? */
static bool vmm_caught_up(struct sc_world *w)
{
	for (int i = 0; i < w->sc->nactions; i++)
		if (!w->action_done[i] && fired(w, &w->sc->actions[i]))
			return false;
	return true;
}

static void prog_steps(struct gvcpu *g, void *arg)
{
	struct sc_ctx *c = arg;
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	uint64_t left[SC_MAX_STEPS];	/* iterations left, per repeat */
	if (!c->w->sc->sept_ve_disable)
		guest_set_ve_handler(g, ve_accept);	/* a #VE for a pending page accepts it */
	for (int pc = 0; pc < v->nsteps; pc++) {
		const struct sc_step *s = &v->steps[pc];
		uint64_t gpa = s->shared && s->op != OP_MAPGPA ? guest_shared(g, s->gpa) : s->gpa;
		switch (s->op) {
		case OP_ACCEPT:
			engine_trace(guest_accept(g, gpa, s->level));
			break;
		case OP_READ:
			engine_trace(guest_read64(g, gpa));
			break;
		case OP_WRITE:
			guest_write64(g, gpa, s->val);
			break;
		case OP_CHECK: {
			uint64_t got = guest_read64(g, gpa);
			if (got != s->val)
				engine_fail("vcpu%d line %d: check %#" PRIx64 ": read %#" PRIx64
					    ", want %#" PRIx64, c->vcpu, s->line, s->gpa, got, s->val);
			break;
		}
		case OP_MAPGPA: {
			uint64_t st = guest_map_gpa(g, s->gpa, s->val, s->shared);
			if (st != TDVMCALL_STATUS_SUCCESS)
				engine_fail("vcpu%d line %d: mapgpa returned %#" PRIx64, c->vcpu,
					    s->line, st);
			break;
		}
		case OP_DEMOTE:
			engine_trace(guest_request_demote(g, s->gpa));
			break;
		case OP_ATTR_WR:
			engine_trace(guest_attr_wr(g, s->gpa, s->level));
			break;
		case OP_WAIT_VMM:
			/* a pause loop: the vCPU stays in the TD and answers kicks */
			while (!vmm_caught_up(c->w))
				guest_relax(g);
			break;
		case OP_REPEAT:
			left[pc] = s->val;
			break;
		case OP_END:
			if (--left[s->match])
				pc = s->match;
			break;
		}
	}
}

static const char *const p_range[] = { "gpa", "size", "pages", NULL };
static const char *const p_firmware[] = { "gpa", "size", "pages", "accept_end", "chunk", NULL };
static const char *const p_lazy[] = { "gpa", "size", "pages", "touches", NULL };
static const char *const p_level[] = { "gpa", "size", "pages", "level", NULL };
static const char *const p_pingpong[] = { "gpa", "size", "pages", "rounds", NULL };
static const char *const p_linux[] = { "accept", "fw_accept_end", "wmark_accept",
				       "early_allocs", "ap_allocs", "boot_mem", "early_4k",
				       "dma_reaccepts", "dma_mixed", "dma_pages", "dma_units", "until",
				       NULL };

const struct sc_program sc_programs[] = {
	{ "firmware", "TDVF: reads the TD HOB the host wrote and, with the other vCPUs running "
		      "firmware (vCPU 0 the BSP, APs in HLT between mailbox commands), accepts "
		      "its unaccepted RAM below 'accept_end' (default: all) as OVMF does; "
		      "'chunk' (default 32M) is what an AP takes at a time; with gpa/size/pages "
		      "it accepts that range alone, 2M where aligned, then 4K", p_firmware, false,
	  prog_firmware },
	{ "linux", "a Linux boot on every vCPU: OVMF accepts RAM below fw_accept_end (accept = "
		   "eager: all), the kernel boots on vCPU 0 (memmap, early allocations, DMA "
		   "conversions, SMP bring-up; before watermarks each allocation accepts 4 MiB "
		   "unless wmark_accept = off), then every vCPU allocates boot_mem / vCPUs "
		   "(docs/calibration.md)", p_linux, false, prog_linux },
	{ "linux-eager", "accepts all of its range at boot (2M, falling back to 4K), then "
			 "uses it", p_range, false, prog_linux_eager },
	{ "linux-lazy", "unaccepted memory: allocates 'touches' random pages, accepting the "
			"4 MiB block of each on first use; vCPUs share the blocks", p_lazy, false,
	  prog_linux_lazy },
	{ "ve-before-accept", "touches pages before accepting them; its #VE handler accepts "
			      "at 4K (seed 001's rare case; needs sept_ve_disable = off)", p_range,
	  true, prog_ve_before_accept },
	{ "accept-race", "accepts its range at 'level' (4k or 2m) while other vCPUs may "
			 "accept it at another level, then checks every page is usable", p_level,
	  false, prog_accept_race },
	/* seed 000's gap is the same guest code as ve-before-accept; only the TD
	 * differs (it has SEPT_EXPLICIT_DEMOTION), so the name is an alias */
	{ "kexec-unaware-guest", "ve-before-accept under seed 000's name: a kernel (after "
				 "kexec) that does not know SEPT_EXPLICIT_DEMOTION touches pages "
				 "before accepting them; #VE accepts at 4K", p_range, true,
	  prog_ve_before_accept },
	{ "explicit-demotion-guest", "seed 000's aware guest: reads SEPT_EXPLICIT_DEMOTION in "
				     "TDG.VP.INFO; accepts before access, whole 2M ranges at 2M "
				     "('level' 2m), the rest at 4K after a demotion TDVMCALL",
	  p_level, false, prog_explicit_demotion },
	{ "attr-wr-demote", "asks for demotion with a 4K ATTR.WR over each 2M range (after "
			    "accepting it at 2M with 'level' 2m; default 4k: before), accepts "
			    "at 4K, writes and reads back", p_level, false, prog_attr_wr_demote },
	{ "convert-pingpong", "accepts, converts to shared and back 'rounds' times, checking "
			      "private pages come back zeroed", p_pingpong, false,
	  prog_convert_pingpong },
	{ NULL, NULL, NULL, false, NULL },
};

/* ---- tasks ---- */

static void vcpu_task(void *arg)
{
	struct sc_ctx *c = arg;
	const struct sc_vcpu *v = sc_vcpu_of(c->w->sc, c->vcpu);
	c->w->rc[c->vcpu] = kvm_vcpu_run(c->w->vm, c->vcpu, v->prog ? v->prog->fn : prog_steps, c);
	c->w->done++;
}

static bool fired(struct sc_world *w, const struct sc_vmm_action *a)
{
	switch (a->trigger) {
	case TR_START:
		return true;
	case TR_VCPU_STEP: {
		struct gvcpu *g = kvm_vcpu_guest(w->vm, a->vcpu);
		return g && g->rip >= a->when;
	}
	default:
		return engine_elapsed_ns(w->e) >= a->when;
	}
}

static int do_action(struct sc_world *w, const struct sc_vmm_action *a)
{
	struct kvm_vm *vm = w->vm;
	switch (a->act) {
	case ACT_CONVERT:
		return kvm_vmm_convert(vm, a->gpa, a->size, a->private);
	case ACT_ATTR:
		return kvm_set_memory_attributes(vm, a->gpa, a->size,
						 a->private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
	case ACT_PUNCH: {
		/* the guest_memfd behind the GPA, bound at offset 0 */
		for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
			const struct sc_memslot *m = &w->sc->slots[i];
			if (m->used && a->gpa - m->gpa < m->size)
				return kvm_gmem_punch_hole(vm, w->fd[i], a->gpa - m->gpa, a->size);
		}
		return -EINVAL;
	}
	case ACT_DELETE: {
		struct kvm_userspace_memory_region2 r = { .slot = (uint32_t)a->slot };
		return kvm_set_user_memory_region2(vm, &r);
	}
	case ACT_PREFAULT: {
		struct kvm_pre_fault_memory r = { a->gpa, a->size, 0 };
		return kvm_pre_fault_memory(vm, 0, &r);
	}
	case ACT_CHURN:
		/* invalidations: every flip bumps the VM's invalidation sequence */
		for (int n = 0; n < a->slot; n++) {
			int r = kvm_set_memory_attributes(vm, a->gpa, a->size,
							  n & 1 ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
			if (r)
				return r;
			seam_yield();
		}
		return 0;
	default:
		return kvm_vcpu_post_interrupt(vm, a->slot);
	}
}

/* The VMM: each action once its trigger fired, in file order per trigger. */
static void vmm_task(void *arg)
{
	struct sc_world *w = arg;
	const struct scenario *sc = w->sc;
	bool ran[SC_MAX_ACTIONS] = { false };
	int left = sc->nactions;
	/* an action whose trigger fired runs even if the vCPUs finished first:
	 * the VMM was only slow (a scheduler such as PCT may run it last) */
	while (left && (w->done < (uint64_t)w->nvcpus || !vmm_caught_up(w))) {
		for (int i = 0; i < sc->nactions; i++) {
			if (ran[i] || !fired(w, &sc->actions[i]))
				continue;
			ran[i] = true;
			left--;
			int r = do_action(w, &sc->actions[i]);
			w->action_done[i] = true;
			engine_trace((uint64_t)(int64_t)r);
			if (r && r != -EIO)	/* -EIO: the VM died; the run says why */
				engine_fail("vmm: the action of line %d failed: %s", sc->actions[i].line,
					    strerror(-r));
		}
		seam_yield();
	}
}

/* ---- building the TD ---- */

static int setup_err(struct sc_result *r, const char *what, int e)
{
	snprintf(r->message, sizeof(r->message), "setup: %s: %s", what, strerror(e < 0 ? -e : e));
	return -1;
}

/*
 * The linux program's boot profile: the TD's private RAM (the guest_memfd
 * memslots a TDVF image does not occupy) and vCPU 0's parameters.
 */
static int linux_setup(struct sc_world *w, struct sc_result *r)
{
	const struct scenario *sc = w->sc;
	const struct sc_vcpu *v0 = sc_vcpu_of(sc, 0);
	w->linux = false;
	int n = 0;
	for (int i = 0; i < w->nvcpus; i++) {
		const struct sc_vcpu *v = sc_vcpu_of(sc, i);
		n += v && v->prog && v->prog->fn == prog_linux;
	}
	if (!n)
		return 0;
	if (n != w->nvcpus || w->fw_rank[0] != 0) {
		snprintf(r->message, sizeof(r->message), "setup: linux runs on every vCPU of the TD "
			 "(%d of %d here): give it as [vcpus] program = linux", n, w->nvcpus);
		return -1;
	}
	w->linux = true;
	struct linux_cfg *c = &w->lx_cfg;
	memset(c, 0, sizeof(*c));
	/* the RAM the TD HOB lists (sc_ram): every private guest_memfd memslot */
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct sc_memslot *m = &sc->slots[i];
		if (!m->used || !m->gmem || !m->private)
			continue;
		if (c->nram == LX_MAX_RAM) {
			snprintf(r->message, sizeof(r->message), "setup: linux: more than %d RAM "
				 "memslots", LX_MAX_RAM);
			return -1;
		}
		int j = c->nram++;
		while (j && c->ram[j - 1].gpa > m->gpa) {	/* sorted by GPA */
			c->ram[j] = c->ram[j - 1];
			j--;
		}
		c->ram[j] = (struct linux_ram){ m->gpa, m->size };
	}
	c->nvcpus = w->nvcpus;
	c->eager = param(v0, "accept", 0);
	c->fw_accept_end = param(v0, "fw_accept_end", 4ull << 30);
	c->wmark_accept = param(v0, "wmark_accept", 1);
	c->early_allocs = param(v0, "early_allocs", 16);
	c->ap_allocs = param(v0, "ap_allocs", 2);
	c->boot_mem = param(v0, "boot_mem", 64ull << 20);
	c->early_4k = param(v0, "early_4k", 0);
	c->dma_reaccepts = param(v0, "dma_reaccepts", 0);
	c->dma_mixed = param(v0, "dma_mixed", 0);
	c->dma_pages = param(v0, "dma_pages", 8);
	c->dma_units = param(v0, "dma_units", 1);
	c->until_init = param(v0, "until", 0);
	c->ve = !sc->sept_ve_disable;	/* Linux with #VE for pending pages */
	char err[160];
	if (linux_cfg_check(c, err, sizeof(err))) {
		snprintf(r->message, sizeof(r->message), "setup: %s", err);
		return -1;
	}
	linux_td_init(&w->lx, c);
	w->lx.fw = w->fw;
	w->lx.hob_size = w->hob_size;
	return 0;
}

/* The TD's RAM for its HOB: every private guest_memfd memslot, unaccepted (QEMU's E820 RAM). */
static void sc_ram(const struct scenario *sc, struct tdhob_ram *ram)
{
	tdhob_ram_init(ram);
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct sc_memslot *m = &sc->slots[i];
		if (m->used && m->gmem && m->private)
			tdhob_ram_add(ram, m->gpa, m->size, TDHOB_RAM_UNACCEPTED);
	}
}

/*
 * The TD HOB of a TD without a TDVF image, as QEMU would build it for that
 * RAM: written into its page and PAGE.ADDed, unmeasured (as TD_HOB is),
 * after the [firmware] image, which is added RAM in the HOB too.
 */
static int write_hob(struct sc_world *w, struct sc_result *r)
{
	const struct scenario *sc = w->sc;
	struct tdhob_ram ram;
	sc_ram(sc, &ram);
	if (sc->fw_pages && tdhob_ram_accept(&ram, sc->fw_gpa, sc->fw_pages * 4096) < 0)
		return setup_err(r, "the TD HOB: the [firmware] image", EINVAL);
	if (tdhob_ram_accept(&ram, w->hob_gpa, 4096))
		return setup_err(r, "the TD HOB: its page is not private RAM", EINVAL);
	tdhob_ram_sort(&ram);
	static _Alignas(4096) uint8_t page[4096];
	char err[160];
	if (tdhob_write(&ram, w->hob_gpa, page, sizeof(page), err, sizeof(err)) < 0) {
		snprintf(r->message, sizeof(r->message), "setup: the TD HOB: %s", err);
		return -1;
	}
	int e;
	if (sc->pol.build == BUILD_PREFAULT) {
		struct kvm_pre_fault_memory pf = { w->hob_gpa, 4096, 0 };
		if ((e = kvm_pre_fault_memory(w->vm, 0, &pf)) || pf.size)
			return setup_err(r, "KVM_PRE_FAULT_MEMORY (TD HOB)", e ? e : EIO);
	}
	struct kvm_tdx_init_mem_region reg = { page, w->hob_gpa, 1 };
	if ((e = kvm_tdx_init_mem_region(w->vm, 0, 0, &reg)))
		return setup_err(r, "KVM_TDX_INIT_MEM_REGION (TD HOB)", e);
	return 0;
}

static int build(struct sc_world *w, struct sc_result *r)
{
	const struct scenario *sc = w->sc;
	w->k = kvm_create(&sc->plat);
	if (!w->k) {
		/* the one configuration the module itself refuses (tdx_module_create) */
		if (sc->plat.dynamic_pamt && sc->plat.max_pa > 48) {
			snprintf(r->message, sizeof(r->message), "setup: the host: Dynamic PAMT needs "
				 "[platform] max_pa <= 48 (it is %u)", sc->plat.max_pa);
			return -1;
		}
		return setup_err(r, "the host", ENOMEM);
	}
	w->vm = kvm_create_vm(w->k, &sc->pol);
	if (!w->vm) {
		if (sc->pol.dpamt && !sc->plat.dynamic_pamt) {
			snprintf(r->message, sizeof(r->message), "setup: KVM_CREATE_VM: dpamt = on "
				 "needs the module's [platform] dynamic_pamt = on");
			return -1;
		}
		return setup_err(r, "KVM_CREATE_VM", EINVAL);
	}
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, sc->maxphyaddr);
	if (!sc->sept_ve_disable)
		init.attributes &= ~TD_ATTR_SEPT_VE_DISABLE;
	if (sc->explicit_demotion)
		init.attributes |= TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	int e = kvm_tdx_init_vm(w->vm, &init);
	if (e == -EINVAL && sc->explicit_demotion && !sc->plat.explicit_demotion) {
		/* a TD asking for an attribute KVM_TDX_CAPABILITIES does not offer:
		 * a scenario may mean exactly that, so it is an outcome, not a parse error */
		snprintf(r->message, sizeof(r->message), "setup: KVM_TDX_INIT_VM: %s (the TD "
			 "attribute SEPT_EXPLICIT_DEMOTION needs [platform] explicit_demotion = on)",
			 strerror(EINVAL));
		return -1;
	}
	if (e)
		return setup_err(r, "KVM_TDX_INIT_VM", e);
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct sc_memslot *m = &sc->slots[i];
		if (!m->used)
			continue;
		struct kvm_userspace_memory_region2 reg = { .slot = (uint32_t)i,
							    .guest_phys_addr = m->gpa,
							    .memory_size = m->size };
		if (m->gmem) {
			int fd = kvm_create_guest_memfd(w->vm, m->size, 0);
			if (fd < 0)
				return setup_err(r, "KVM_CREATE_GUEST_MEMFD", fd);
			w->fd[i] = fd;
			reg.flags = KVM_MEM_GUEST_MEMFD;
			reg.guest_memfd = fd;
		}
		if ((e = kvm_set_user_memory_region2(w->vm, &reg)))
			return setup_err(r, "KVM_SET_USER_MEMORY_REGION2", e);
		if (m->private &&
		    (e = kvm_set_memory_attributes(w->vm, m->gpa, m->size,
						   KVM_MEMORY_ATTRIBUTE_PRIVATE)))
			return setup_err(r, "KVM_SET_MEMORY_ATTRIBUTES", e);
	}
	/* the firmware program's mailbox, and where the TD HOB goes (INIT_VCPU's data) */
	for (int i = 0; i < w->nvcpus; i++)
		w->fw_rank[i] = runs_firmware(sc_vcpu_of(sc, i)) ? w->fw_n++ : -1;
	if (w->fw_n && !(w->fw = tdvf_fw_create(w->fw_n)))	/* the world's heap */
		return setup_err(r, "memory", ENOMEM);
	for (int i = 0; sc->fw_tdvf && i < sc->fw_tdvf->nsec; i++)
		if (sc->fw_tdvf->sec[i].type == TDVF_TD_HOB && !w->hob_gpa) {
			w->hob_gpa = sc->fw_tdvf->sec[i].gpa;
			w->hob_size = sc->fw_tdvf->sec[i].mem_size;
		}
	if (!sc->fw_tdvf && (w->hob_gpa = scenario_hob_gpa(sc)))
		w->hob_size = 4096;
	for (int i = 0; i < w->nvcpus; i++) {
		if ((e = kvm_create_vcpu(w->vm)) != i)
			return setup_err(r, "KVM_CREATE_VCPU", e < 0 ? e : EINVAL);
		if ((e = kvm_tdx_init_vcpu_data(w->vm, i, w->hob_gpa)))
			return setup_err(r, "KVM_TDX_INIT_VCPU", e);
	}
	if (sc->fw_tdvf) {
		char err[224];
		struct tdhob_ram ram;
		sc_ram(sc, &ram);
		if (tdvf_build_td_ram(w->k, w->vm, 0, sc->fw_tdvf, (enum tdvf_flow)sc->fw_flow, &ram,
				      err, sizeof(err))) {
			snprintf(r->message, sizeof(r->message), "setup: the firmware: %s", err);
			return -1;
		}
	}
	if (sc->fw_pages) {
		static _Alignas(4096) uint8_t page[4096];
		if (sc->pol.build == BUILD_PREFAULT && sc->fw_prefault) {
			uint64_t n = sc->fw_pages + sc->fw_prefault_extra;
			struct kvm_pre_fault_memory pf = { sc->fw_gpa, n * 4096, 0 };
			if ((e = kvm_pre_fault_memory(w->vm, 0, &pf)) || pf.size)
				return setup_err(r, "KVM_PRE_FAULT_MEMORY (firmware)", e ? e : EIO);
		}
		for (uint64_t p = 0; p < sc->fw_pages; p++) {
			for (int b = 0; b < 4096; b++)	/* a synthetic, deterministic image */
				page[b] = (uint8_t)(p * 131 + (uint64_t)b * 7 + 1);
			struct kvm_tdx_init_mem_region reg = { page, sc->fw_gpa + p * 4096, 1 };
			e = kvm_tdx_init_mem_region(w->vm, 0,
						    sc->fw_measure ? KVM_TDX_MEASURE_MEMORY_REGION : 0,
						    &reg);
			if (e)
				return setup_err(r, "KVM_TDX_INIT_MEM_REGION (firmware)", e);
		}
	}
	if (!sc->fw_tdvf && w->hob_gpa && write_hob(w, r))
		return -1;
	if ((e = kvm_tdx_finalize_vm(w->vm)))
		return setup_err(r, "KVM_TDX_FINALIZE_VM", e);
	if (linux_setup(w, r))
		return -1;
	/* linux-lazy's shared block map covers the first private slot */
	uint64_t g, s;
	default_range(sc, &g, &s);
	w->lazy_base = g;
	w->lazy_blocks = (s + LAZY_BLOCK - 1) / LAZY_BLOCK;
	w->lazy = sim_calloc(w->lazy_blocks ? w->lazy_blocks : 1, 1);	/* the world's heap */
	return w->lazy ? 0 : setup_err(r, "memory", ENOMEM);
}

/* The run's counters: the VM's since setup, the vCPUs', the engine's. */
static void collect(struct sc_world *w, struct sc_result *r)
{
	snprintf(r->notice, sizeof(r->notice), "%s", kvm_vm_notice(w->vm));
	const struct kvm_vm_stats *now = kvm_vm_stats(w->vm);
	struct kvm_vm_stats d;
	const uint64_t *a = (const uint64_t *)now, *b = (const uint64_t *)&w->setup;
	uint64_t *x = (uint64_t *)&d;
	for (size_t i = 0; i < sizeof(d) / sizeof(uint64_t); i++)
		x[i] = a[i] - b[i];
	const struct kvm_vm_stats *st = &d;
	uint64_t *c = r->counters;
	c[C_FAULTS] = st->faults;
	c[C_PRIVATE_MAPS] = st->private_maps;
	c[C_PAGE_ADDS] = st->page_adds;
	c[C_SEPT_ADDS] = st->sept_adds;
	c[C_SHARED_MAPS] = st->shared_maps;
	c[C_ZAPPED] = st->zapped;
	c[C_BUSY] = st->busy;
	c[C_KICKS] = st->kicks;
	c[C_RETRIES] = st->retries;
	c[C_LOCAL_RETRIES] = st->local_retries;
	c[C_MEMORY_FAULTS] = st->memory_faults;
	c[C_CONVERSIONS] = st->conversions;
	c[C_MAP_GPA_EXITS] = st->map_gpa_exits;
	c[C_INTERNAL_ERRORS] = st->internal_errors;
	c[C_MMU_WRITE_LOCKS] = st->mmu_write_locks;
	c[C_EPT_LEVELS] = (uint64_t)tdx_td_levels(kvm_vm_td(w->vm));
	c[C_MAPS_2M] = st->maps_2m;
	c[C_SPLITS_EXCLUSIVE] = st->splits_exclusive;
	c[C_SPLITS_SHARED] = st->splits_shared;
	c[C_SPLITS_IGNORED] = st->splits_ignored;
	c[C_SPLITS_REFUSED] = st->splits_refused;
	c[C_INHIBITS] = st->inhibits;
	c[C_PROMOTIONS] = st->promotions;
	c[C_DEMOTE_INTERRUPTED] = st->demote_interrupted;
	c[C_DEMOTE_REQUESTS] = st->demote_requests;
	c[C_PAMT_ADDS] = st->pamt_adds;
	c[C_PAMT_REMOVES] = st->pamt_removes;
	c[C_ACCEPTS_4K_HUGE] = st->accepts_4k_huge_possible;
	c[C_ACCEPT_WRITE_LOCKS] = st->accept_write_locks;
	if (w->linux) {
		c[C_FW_DONE_US] = w->lx.mark_ns[LX_FW_DONE] / 1000;
		c[C_INIT_US] = w->lx.mark_ns[LX_INIT] / 1000;
		c[C_LOGIN_US] = w->lx.mark_ns[LX_LOGIN] / 1000;
		c[C_FAULT_NS_FIRST] = w->lx.fault_ns_first;
		c[C_FAULT_NS_LAST] = w->lx.fault_ns_last;
		c[C_LX_BLOCKS] = w->lx.blocks_accepted;
	}
	for (unsigned l = 0; l < 64; l++)
		r->leaf_calls[l] = engine_charges(w->e, (enum seam_cost)(SEAM_COST_SEAMCALL + l));
	for (int i = 0; i < w->nvcpus; i++) {
		const struct gvcpu *g = kvm_vcpu_guest(w->vm, i);
		if (!g)
			continue;
		c[C_EXITS] += g->st.exits;
		c[C_EPT_EXITS] += g->st.ept_exits;
		c[C_ZERO_STEP] += g->st.zero_step_refusals;
		c[C_ENTER_BUSY] += g->st.enter_busy;
		c[C_VES] += g->st.ves;
		c[C_ACCEPTS] += g->st.accepts;
		c[C_ACCEPT_BUSY] += g->st.accept_busy;
		c[C_VMCALLS] += g->st.vmcalls;
	}
	c[C_VTIME_NS] = engine_elapsed_ns(w->e);
	c[C_STEPS] = engine_steps(w->e);
}

/*
 * Reusing a built TD (struct sc_reuse, sc_run_opts.reuse): the first run of
 * a scenario builds its world inside a simheap session and saves the heap
 * with the world's root (struct sc_world); every run then tears down what
 * it used, as always, and restores the heap, so the next run starts from
 * the world exactly as built.  Without a session (ASan, no address space,
 * a build that failed) each run builds its own world.
 */
struct sc_reuse {
	const struct scenario *sc;	/* whose world is saved */
	bool saved;
	bool refused;			/* no session to be had: build every run */
	struct sc_world w;		/* the world's root as built */
	struct simheap_snap heap;
	uint64_t reused;		/* runs that started from the saved world */
};

struct sc_reuse *sc_reuse_create(void)
{
	return calloc(1, sizeof(struct sc_reuse));
}

uint64_t sc_reuse_count(const struct sc_reuse *u)
{
	return u ? u->reused : 0;
}

void sc_reuse_free(struct sc_reuse *u)
{
	if (!u)
		return;
	/* the restored world lives in the region only: it goes with it */
	if (simheap_active())
		simheap_end();
	simheap_snap_free(&u->heap);
	free(u);
}

/* Forget a saved world (another scenario is run with the same reuse). */
static void reuse_drop(struct sc_reuse *u)
{
	if (u->saved || simheap_active())
		simheap_end();
	u->saved = false;
	u->sc = NULL;
}

/* The teardown: kvm_destroy_vm() of the run's VM. */
static void teardown_fn(void *arg)
{
	struct sc_world *w = arg;
	kvm_destroy_vm(w->vm);
}

/*
 * Tear the VM down timed in virtual time, after the run's engine is gone
 * (its schedule, hash and counters stay what they were): one piece of
 * work from clock 0 with the run's costs (engine_time_solo: what an engine
 * run of one task would measure, at the direct driver's speed; an engine
 * run doubled the time of a small explored run).  The time and the
 * SEAMCALLs go to @r.
 */
static void teardown_timed(struct sc_world *w, const struct sc_run_opts *o, struct sc_result *r)
{
	uint64_t *ch = r->teardown_charges;
	memset(ch, 0, sizeof(r->teardown_charges));
	r->teardown_ns = engine_time_solo(o->costs ? o->costs : &w->sc->costs, teardown_fn, w, ch);
	for (unsigned l = 0; l < 64; l++)
		r->teardown_calls[l] = ch[SEAM_COST_SEAMCALL + l];
	uint64_t *cn = r->counters;
	cn[C_TEARDOWN_US] = r->teardown_ns / 1000;
	cn[C_TEARDOWN_BLOCKS] = r->teardown_calls[TDH_MEM_RANGE_BLOCK];
	cn[C_TEARDOWN_TRACKS] = r->teardown_calls[TDH_MEM_TRACK];
	cn[C_TEARDOWN_REMOVES] = r->teardown_calls[TDH_MEM_PAGE_REMOVE];
	cn[C_TEARDOWN_WBINVDS] = r->teardown_calls[TDH_PHYMEM_PAGE_WBINVD];
	cn[C_TEARDOWN_RECLAIMS] = r->teardown_calls[TDH_PHYMEM_PAGE_RECLAIM];
	cn[C_TEARDOWN_KICK_VCPUS] = ch[SEAM_COST_KICK_VCPU];
}

/* The engine's check hook (checking mode): every invariant of the world. */
static int check_world(void *arg, char *msg, size_t len)
{
	struct sc_world *w = arg;
	return kvm_vm_check(w->vm, msg, len);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int scenario_run(const struct scenario *sc, const struct sc_run_opts *o, struct sc_result *r)
{
	memset(r, 0, sizeof(*r));
	double t0 = wall_now();
	struct sc_reuse *u = o->reuse;
	static struct sc_world local;
	struct sc_world *wp = &local;
	bool session = false;
	int ret = 0;
	if (u && u->saved && u->sc == sc) {
		*wp = u->w;	/* the heap already holds the world as built */
		u->reused++;
		session = true;
		goto built;
	}
	if (u && u->saved)
		reuse_drop(u);
	*wp = (struct sc_world){ .sc = sc };
	for (int i = 0; i < SC_VCPU_SECTIONS; i++)
		if (sc->vcpus[i].used)
			wp->nvcpus = i + 1;
	if (sc->nvcpus > wp->nvcpus)
		wp->nvcpus = sc->nvcpus;
	if (u && !u->refused && !o->snapshot)
		session = simheap_begin();
	if (u && !session)
		u->refused = true;
	if (build(wp, r)) {
		r->outcome = SC_SETUP_ERROR;
		r->schedule = strdup("");
		if (o->snapshot && wp->vm)
			o->snapshot(o->snapshot_arg, wp->vm, r);	/* what was built */
		goto out;
	}
	wp->setup = *kvm_vm_stats(wp->vm);
	if (session) {
		u->w = *wp;
		u->sc = sc;
		u->saved = simheap_save(&u->heap) == 0;
		if (!u->saved) {
			/* the world did not fit the region: this run goes on in the
			 * session, the next ones build their own */
			u->refused = true;
		}
	}
built:;
	struct sc_world *w = wp;
	uint64_t bound = sc->step_bound ? sc->step_bound : 1000000;
	if (o->stop_at && o->stop_at < bound)
		bound = o->stop_at;	/* the run "livelocks" there: tdxsim map tells */
	struct engine_config c = {
		.sched = o->sched, .seed = o->seed, .pct_depth = o->pct_depth ? o->pct_depth : 2,
		.replay = o->replay, .replay_lenient = o->lenient, .dfs = o->dfs,
		.step_bound = bound, .stack_size = 256 * 1024,
		.record_events = o->trace != NULL,
		.check = o->check_every ? check_world : NULL, .check_arg = w,
		.check_every = o->check_every, .task_charges = o->critical,
		.costs = o->costs ? o->costs : &sc->costs,
	};
	if (o->check_every) {
		w->shadow = guest_shadow_create();
		if (!w->shadow) {
			snprintf(r->message, sizeof(r->message), "setup: out of memory");
			ret = -1;
			goto out;
		}
		kvm_vm_set_shadow(w->vm, w->shadow);
	}
	w->e = engine_create(&c);
	if (!w->e) {
		snprintf(r->message, sizeof(r->message), "setup: the engine refused the schedule");
		ret = -1;
		goto out;
	}
	static struct sc_ctx ctx[SC_MAX_VCPUS];
	for (int i = 0; i < w->nvcpus; i++) {
		ctx[i] = (struct sc_ctx){ w, i };
		char name[16];
		snprintf(name, sizeof(name), "vcpu%d", i);
		if (sc_vcpu_of(sc, i))
			engine_spawn(w->e, name, vcpu_task, &ctx[i]);
		else
			w->done++;	/* created, nothing to run */
	}
	if (sc->nactions)
		engine_spawn(w->e, "vmm", vmm_task, w);
	enum engine_outcome eo = engine_run(w->e);
	collect(w, r);
	const char *why = "";
	bool dead = kvm_vm_dead(w->vm, &why);
	switch (eo) {
	case ENGINE_OK:
		r->outcome = dead ? SC_KILLED : SC_OK;
		for (int i = 0; i < w->nvcpus && r->outcome == SC_OK; i++)
			if (w->rc[i])
				r->outcome = SC_KILLED;
		snprintf(r->message, sizeof(r->message), "%s", dead ? why : "");
		break;
	case ENGINE_FAIL:
		r->outcome = SC_FAIL;
		break;
	case ENGINE_DEADLOCK:
		r->outcome = SC_DEADLOCK;
		break;
	case ENGINE_STEP_BOUND:
		r->outcome = SC_LIVELOCK;
		break;
	case ENGINE_LIVELOCK:
		/* detected (a vCPU without progress): the report names it */
		r->outcome = SC_LIVELOCK;
		snprintf(r->message, sizeof(r->message), "%s", engine_report(w->e));
		break;
	case ENGINE_INVARIANT:
		r->outcome = SC_INVARIANT;	/* the report names it, the address and the step */
		break;
	default:
		r->outcome = SC_REPLAY_ERROR;
		break;
	}
	if (eo != ENGINE_OK)
		snprintf(r->message, sizeof(r->message), "%s", engine_report(w->e));
	/* a vCPU that stopped on its own (a guest panic) says why */
	for (int i = 0; i < w->nvcpus && !dead; i++) {
		struct gvcpu *g = kvm_vcpu_guest(w->vm, i);
		if (w->rc[i] && g && g->why[0]) {
			size_t l = strlen(r->message);
			snprintf(r->message + l, sizeof(r->message) - l, "%svcpu%d: %s", l ? "; " : "", i,
				 g->why);
			if (r->outcome == SC_OK)
				r->outcome = SC_FAIL;
		}
	}
	if (o->critical) {
		/* the task that ends last; for the linux program vCPU 0, whose
		 * clock its marks are */
		int crit = 0;
		for (int i = 1; i < engine_ntasks(w->e) && !w->linux; i++)
			if (engine_task_clock(w->e, i) > engine_task_clock(w->e, crit))
				crit = i;
		if (w->linux) {
			memcpy(r->fault_charges[0], w->lx.fault_first_charges,
			       sizeof(r->fault_charges[0]));
			memcpy(r->fault_charges[1], w->lx.fault_last_charges,
			       sizeof(r->fault_charges[1]));
		}
		const uint64_t *ch = engine_task_charges(w->e, crit);
		snprintf(r->critical_task, sizeof(r->critical_task), "%s", engine_task_name(w->e, crit));
		r->critical_clock = engine_task_clock(w->e, crit);
		if (ch)
			memcpy(r->critical_charges, ch, sizeof(r->critical_charges));
	}
	r->hash = engine_trace_hash(w->e);
	const char *s = engine_schedule(w->e);
	r->schedule = strdup(s ? s : "");
	for (const char *q = strrchr(r->schedule, ':'); q && *++q;)
		r->nchoices += (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '{';
	if (o->trace)
		r->trace_failed = sc_trace_write(w->e, sc, o->trace) != 0;
	if (o->snapshot)
		o->snapshot(o->snapshot_arg, w->vm, r);
	engine_destroy(w->e);
	w->e = NULL;
	if (eo == ENGINE_OK) {
		teardown_timed(w, o, r);
		w->vm = NULL;
		uint64_t left = kvm_hostmem(w->k)->allocated;
		if (left && r->outcome == SC_OK) {
			r->outcome = SC_FAIL;
			snprintf(r->message, sizeof(r->message),
				 "teardown left %" PRIu64 " host pages allocated", left);
		}
	} else {
		kvm_vm_free_abandoned(w->vm);	/* vCPUs are stuck inside the TD */
		w->vm = NULL;
	}
	/* fall through: the host goes too */
	int rv;
out:
	rv = ret;
	if (wp->vm)
		kvm_destroy_vm(wp->vm);
	if (wp->k)
		kvm_destroy(wp->k);
	guest_shadow_destroy(wp->shadow);
	sim_free(wp->lazy);
	tdvf_fw_destroy(wp->fw);
	*wp = (struct sc_world){ 0 };
	if (session && u->saved)
		simheap_restore(&u->heap);	/* the world as built, for the next run */
	else if (session)
		reuse_drop(u);
	r->sim_wall_s = wall_now() - t0;
	return rv;
}

void sc_result_free(struct sc_result *r)
{
	free(r->schedule);
	r->schedule = NULL;
}

static bool cmp_ok(enum sc_cmp c, uint64_t a, uint64_t b)
{
	switch (c) {
	case CMP_EQ: return a == b;
	case CMP_NE: return a != b;
	case CMP_LT: return a < b;
	case CMP_LE: return a <= b;
	case CMP_GT: return a > b;
	default: return a >= b;
	}
}

bool scenario_expected(const struct scenario *sc, const struct sc_result *r, char *why,
		       size_t len)
{
	static const char *const cmp_names[] = { "=", "!=", "<", "<=", ">", ">=" };
	enum sc_outcome want = sc->has_expect ? sc->expect_outcome : SC_OK;
	if (!sc->expect_any_outcome && r->outcome != want) {
		snprintf(why, len, "outcome %s, expected %s", sc_outcome_name(r->outcome),
			 sc_outcome_name(want));
		return false;
	}
	if (sc->expect_message[0] && !strstr(r->message, sc->expect_message)) {
		snprintf(why, len, "message \"%s\" does not contain \"%s\"", r->message,
			 sc->expect_message);
		return false;
	}
	for (int i = 0; i < sc->nexpects; i++) {
		const struct sc_expect *e = &sc->expects[i];
		if (!cmp_ok(e->cmp, r->counters[e->counter], e->val)) {
			snprintf(why, len, "line %d: %s is %" PRIu64 ", expected %s %" PRIu64, e->line,
				 sc_counter_names[e->counter], r->counters[e->counter],
				 cmp_names[e->cmp], e->val);
			return false;
		}
	}
	why[0] = 0;
	return true;
}
