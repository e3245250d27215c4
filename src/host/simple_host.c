/* SPDX-License-Identifier: MIT */
/* simple_host.c - see simple_host.h. */
#include <inttypes.h>
#include <stdio.h>

#include "../engine/seam.h"
#include "simple_host.h"

static struct simple_host *host_of(struct gvcpu *g)
{
	return g->host->ctx;
}

/*
 * Map @gpa at @level: S-EPT path, then PAGE.AUG.  A BUSY answer is retried
 * (after a yield) unless give_up_on_busy is set: a host call that lost an
 * S-EPT entry set its host-priority bit, which makes every guest ACCEPT
 * of that entry back off until some host call takes the entry; a host that
 * never comes back leaves the guest spinning (see tests/test_guest.c).
 */
static void map_private(struct simple_host *h, uint64_t gpa, int level)
{
	struct bringup *b = h->b;
	struct tdx_regs out;
	gpa &= ~(tdx_level_size(level) - 1);
	while (bringup_sept_path(b, gpa, level)) {
		if (tdx_status_code(b->last_status) != TDX_OPERAND_BUSY)
			return;	/* e.g. a huge leaf is there: the guest finds out itself */
		h->busy++;
		if (h->give_up_on_busy)
			return;
		seam_yield();
	}
	uint64_t hpa = level ? bringup_page_2m(b) : bringup_page(b);
	for (;;) {
		uint64_t st = tdh_mem_page_aug(b->m, &out, tdx_gpa_info(gpa, level), b->tdr, hpa);
		if (st == TDX_SUCCESS) {
			h->maps++;
			return;
		}
		if (tdx_status_code(st) != TDX_OPERAND_BUSY)
			return;	/* EPT_ENTRY_STATE_INCORRECT: another vCPU mapped it first */
		h->busy++;
		if (h->give_up_on_busy)
			return;
		seam_yield();
	}
}

int simple_host_handle_exit(struct gvcpu *g)
{
	struct simple_host *h = host_of(g);
	if (h->dead) {
		snprintf(g->why, sizeof(g->why), "%s", h->why);
		return -1;
	}
	const struct tdx_regs *x = tdx_vcpu_exit_regs(g->v);
	if (x->rax != EXIT_REASON_EPT_VIOLATION)
		return 0;	/* TDVMCALLs are answered by guest_vmcall; others re-enter */
	seam_charge(SEAM_COST_EPT_VIOLATION, 1);
	uint64_t type = x->rdx & EEQ_TYPE_MASK;
	if (type == EEQ_TYPE_PENDING_EPT_VIOLATION) {
		h->dead = true;
		snprintf(h->why, sizeof(h->why),
			 "guest access before accepting (GPA %#" PRIx64 ")", x->r8);
		snprintf(g->why, sizeof(g->why), "%s", h->why);
		return -1;
	}
	int level = type == EEQ_TYPE_ACCEPT ? (int)((x->rdx >> EEQ_ACCEPT_REQ_LEVEL_SHIFT) & 7) : 0;
	map_private(h, x->r8, level);
	return 0;
}

static uint64_t simple_vmcall(struct gvcpu *g, uint64_t fn, uint64_t a0, uint64_t a1)
{
	struct simple_host *h = host_of(g);
	return h->vmcall ? h->vmcall(g, fn, a0, a1) : TDVMCALL_STATUS_INVALID_OPERAND;
}

/* Shared GPAs live in host memory below the first TDMR, modulo its size. */
static uint64_t simple_shared_hpa(struct gvcpu *g, uint64_t gpa)
{
	struct simple_host *h = host_of(g);
	uint64_t room = h->b->base - SZ_4K;	/* the last page below is the bringup's */
	return room ? gpa % room : ~0ull;
}

void simple_host_init(struct simple_host *h, struct bringup *b)
{
	*h = (struct simple_host){ .b = b };
	h->ops = (struct gvcpu_host){
		.handle_exit = simple_host_handle_exit,
		.vmcall = simple_vmcall,
		.shared_hpa = simple_shared_hpa,
		.ctx = h,
	};
}
