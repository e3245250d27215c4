/* SPDX-License-Identifier: MIT */
/* bringup.c - see bringup.h. */
#include <stdlib.h>
#include <string.h>

#include "bringup.h"

void bringup_default_opts(struct bringup_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->levels = 4;
	o->sept_ve_disable = true;
	o->nvcpus = 1;
}

void bringup_init(struct bringup *b, struct tdx_module *m)
{
	memset(b, 0, sizeof(*b));
	b->m = m;
	b->pm = tdx_module_physmem(m);
	b->base = b->pm->tdmr[0].base;
	b->end = b->base + b->pm->tdmr[0].size;
	b->next = b->base;
	b->next2m = b->end;
	/* the first page below the TDMR is host (shared) memory */
	b->shared_page = b->base - SZ_4K;
}

uint64_t bringup_page(struct bringup *b)
{
	if (b->next + SZ_4K > b->next2m)
		abort();	/* the test or demo asked for more than the TDMR holds */
	uint64_t p = b->next;
	b->next += SZ_4K;
	return p;
}

uint64_t bringup_page_2m(struct bringup *b)
{
	if (b->next2m - SZ_2M < b->next)
		abort();
	b->next2m -= SZ_2M;
	return b->next2m;
}

void bringup_td_params(const struct bringup_opts *o, struct td_params *p)
{
	memset(p, 0, sizeof(*p));
	p->attributes = (o->sept_ve_disable ? TD_ATTR_SEPT_VE_DISABLE : 0) | o->extra_attributes;
	p->xfam = TDX_XFAM_FIXED1;
	p->max_vcpus = o->max_vcpus ? o->max_vcpus : (uint16_t)(o->nvcpus ? o->nvcpus : 1);
	p->eptp_controls = EPTP_MT_WB | ((uint64_t)(o->levels - 1) << EPTP_PWL_SHIFT);
	p->config_flags = (o->gpaw ? TD_CONFIG_GPAW : 0) |
			  (o->flexible_pending_ve ? TD_CONFIG_FLEXIBLE_PENDING_VE : 0);
	p->tsc_frequency = 100;	/* 2.5 GHz */
}

#define CALL(leaf, expr)                                \
	do {                                            \
		uint64_t st__ = (expr);                 \
		if (st__ != TDX_SUCCESS) {              \
			b->last_status = st__;          \
			b->last_leaf = leaf;            \
			return -1;                      \
		}                                       \
	} while (0)

int bringup_td(struct bringup *b, const struct bringup_opts *o)
{
	struct tdx_regs out;
	struct td_params p;
	if (o->nvcpus < 0 || o->nvcpus > BRINGUP_MAX_VCPUS)
		return -1;
	b->tdr = bringup_page(b);
	CALL("TDH.MNG.CREATE", tdh_mng_create(b->m, &out, b->tdr, o->hkid ? o->hkid : 1));
	CALL("TDH.MNG.KEY.CONFIG", tdh_mng_key_config(b->m, &out, b->tdr));
	for (int i = 0; i < TDX_TDCS_PAGES; i++) {
		b->tdcx[i] = bringup_page(b);
		CALL("TDH.MNG.ADDCX", tdh_mng_addcx(b->m, &out, b->tdcx[i], b->tdr));
	}
	bringup_td_params(o, &p);
	physmem_write(b->pm, b->shared_page, &p, sizeof(p));
	CALL("TDH.MNG.INIT", tdh_mng_init(b->m, &out, b->tdr, b->shared_page));
	b->td = tdx_td_by_tdr(b->m, b->tdr);
	for (int v = 0; v < o->nvcpus; v++) {
		b->tdvpr[v] = bringup_page(b);
		CALL("TDH.VP.CREATE", tdh_vp_create(b->m, &out, b->tdvpr[v], b->tdr));
		for (int i = 1; i < TDX_TDVPS_PAGES; i++)
			CALL("TDH.VP.ADDCX", tdh_vp_addcx(b->m, &out, bringup_page(b), b->tdvpr[v]));
		CALL("TDH.VP.INIT", tdh_vp_init(b->m, &out, b->tdvpr[v], 0));
		b->vcpu[v] = tdx_vcpu_by_tdvpr(b->m, b->tdvpr[v]);
		b->nvcpus++;
	}
	return 0;
}

int bringup_sept_path(struct bringup *b, uint64_t gpa, int level)
{
	struct tdx_regs out;
	for (int l = tdx_td_levels(b->td) - 1; l > level; l--) {
		uint64_t page = bringup_page(b);
		uint64_t st = tdh_mem_sept_add_v1(b->m, &out, tdx_gpa_info(gpa & ~(tdx_level_size(l) - 1), l),
					       b->tdr | TDR_HANDLE_ALLOW_EXISTING, page);
		if (st != TDX_SUCCESS) {
			b->last_status = st;
			b->last_leaf = "TDH.MEM.SEPT.ADD";
			return -1;
		}
		/* an existing table left the page unused: hand it back */
		if (out.r8 != TDX_NULL_PA && (out.r8 & SEPT_ADD_R8_EXISTED) && b->next == page + SZ_4K)
			b->next = page;
	}
	return 0;
}
