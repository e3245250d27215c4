/* SPDX-License-Identifier: MIT */
/*
 * bringup.h - the smallest host that can drive the module: a page allocator
 * over one TDMR and the SEAMCALL sequence that creates a TD and its vCPUs
 * the way KVM does (MNG.CREATE, KEY.CONFIG, ADDCX x6, MNG.INIT, VP.CREATE,
 * VP.ADDCX x5, VP.INIT).  The demo, the tests and the benchmarks use it; the
 * full KVM-style host MMU lives beside it in src/host/.
 */
#ifndef TDXSIM_HOST_BRINGUP_H
#define TDXSIM_HOST_BRINGUP_H

#include <stdbool.h>
#include <stdint.h>

#include "../module/physmem.h"
#include "../module/tdx_module.h"

#define BRINGUP_MAX_VCPUS 64

struct bringup_opts {
	int levels;		/* 4 or 5 */
	bool gpaw;		/* CONFIG_FLAGS.GPAW (needs 5 levels) */
	bool sept_ve_disable;	/* ATTRIBUTES.SEPT_VE_DISABLE */
	bool flexible_pending_ve;
	uint64_t extra_attributes;	/* more ATTRIBUTES bits (e.g. the proposed
					 * SEPT_EXPLICIT_DEMOTION) */
	int nvcpus;		/* VP.CREATE'd and VP.INIT'd */
	uint16_t max_vcpus;	/* 0: nvcpus */
	uint16_t hkid;		/* 0: 1 */
};

struct bringup {
	struct tdx_module *m;
	struct physmem *pm;
	uint64_t next;		/* bump pointer for 4K pages */
	uint64_t next2m;	/* bump pointer (downwards) for 2M pages */
	uint64_t base, end;	/* the TDMR being allocated from */
	uint64_t shared_page;	/* a non-TD page for TD_PARAMS / sources */
	uint64_t tdr;
	uint64_t tdcx[TDX_TDCS_PAGES];
	uint64_t tdvpr[BRINGUP_MAX_VCPUS];
	struct tdx_td *td;
	struct tdx_vcpu *vcpu[BRINGUP_MAX_VCPUS];
	int nvcpus;
	uint64_t last_status;	/* status of the call that failed */
	const char *last_leaf;	/* its name */
};

void bringup_default_opts(struct bringup_opts *o);
/* Set up over module @m, allocating pages from its first TDMR. */
void bringup_init(struct bringup *b, struct tdx_module *m);
uint64_t bringup_page(struct bringup *b);	/* a fresh 4K page */
uint64_t bringup_page_2m(struct bringup *b);	/* a fresh 2M-aligned 2M page */
/* Create, configure and initialize a TD with its vCPUs.  0 or -1. */
int bringup_td(struct bringup *b, const struct bringup_opts *o);
/*
 * SEPT.ADD (with ALLOW_EXISTING) every missing S-EPT page on the path to a
 * leaf at @level for @gpa.  0, or -1 with last_status set.
 */
int bringup_sept_path(struct bringup *b, uint64_t gpa, int level);
/* Fill a TD_PARAMS for @o. */
void bringup_td_params(const struct bringup_opts *o, struct td_params *p);

#endif
