/* SPDX-License-Identifier: MIT */
/*
 * fuzz_seamcall - the module's raw register ABI under libFuzzer.
 *
 * Each input sets up a module with one TD (bringup: MNG.CREATE through
 * VP.INIT) in a configuration its first byte picks, then runs a sequence of
 * operations decoded from the rest: SEAMCALLs through tdx_seamcall() with
 * each register drawn from the pages the harness knows (the TD's TDR,
 * TDCS and TDVPR pages, a pool of free 4K and 2M pages, the shared page),
 * from GPAs in and around the TD's range, from borderline values or raw
 * bytes; and guest-side TDCALLs (ACCEPT, ATTR.RD/WR, VP.INFO, VM.RD/WR,
 * VEINFO.GET, private accesses, TD exits) on the vCPUs that are inside the
 * TD.  After every operation the invariants hold (fuzz_check()); at the end
 * the module tears every TD down and nothing may be left in the PAMT.
 * A status the module returns for garbage is fine.  Format: docs/fuzzing.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../src/host/bringup.h"
#include "../../src/module/internal.h"

#define NPOOL4K	64	/* free 4K pages the fuzzer can name */
#define NPOOL2M	8	/* free 2M pages */
#define MAX_OPS	256

struct h {
	struct tdx_module *m;
	struct bringup b;
	struct bringup_opts o;
	uint64_t pool4k[NPOOL4K];
	uint64_t pool2m[NPOOL2M];
	uint64_t params2;	/* a second shared page for fuzzed TD_PARAMS */
	struct fin in;
};

/* Operand kinds: what a register holds. */
enum kind {
	K_TDR,		/* the TD's TDR (a handle: bit 0 sometimes set) */
	K_TDVPR,	/* one of the TD's TDVPRs */
	K_TDCX,		/* one of its TDCS pages */
	K_PAGE4K,	/* a pool page */
	K_PAGE2M,	/* a pool 2M page */
	K_SHARED,	/* the shared page (outside the TDMR) */
	K_GPA,		/* a GPA + level operand */
	K_SMALL,	/* 0..15 */
	K_BORDER,	/* a borderline value */
	K_RAW,		/* 8 bytes of input */
	K_NULLPA,	/* TDX_NULL_PA */
	K_NKINDS
};

/* The shared bit of @v's TD (of the bringup TD's width without a vCPU). */
static uint64_t shared_bit(struct h *h, struct tdx_vcpu *v)
{
	if (v)
		return tdx_td_shared_bit(v->td);
	return h->o.gpaw ? 1ull << 51 : 1ull << 47;
}

static uint64_t border(struct h *h, uint8_t x)
{
	struct physmem *pm = &h->m->pm;
	uint64_t tdmr_end = pm->tdmr[0].base + pm->tdmr[0].size;
	switch (x % 16) {
	case 0: return 0;
	case 1: return ~0ull;
	case 2: return 1ull << pm->max_pa;
	case 3: return (1ull << pm->max_pa) - SZ_4K;
	case 4: return pm->size;
	case 5: return pm->size - SZ_4K;
	case 6: return tdmr_end - SZ_4K;
	case 7: return tdmr_end;
	case 8: return pm->tdmr[0].base - SZ_4K;
	case 9: return pm->tdmr[0].base;
	case 10: return h->pool4k[0] + 0x800;
	case 11: return h->b.tdr + 1;
	case 12: return h->b.tdr | (1ull << 51);
	case 13: return SZ_1G * 2;
	case 14: return 1ull << 63;
	default: return h->pool2m[0] + SZ_4K;
	}
}

/* A GPA + level operand: mostly well formed and near the TD's memory. */
static uint64_t gpa_info(struct h *h, uint8_t sel)
{
	uint64_t x = fin_u16(&h->in);
	switch (sel % 10) {
	case 0: case 1: case 2: return tdx_gpa_info((x % 1024) * SZ_4K, 0);
	case 3: case 4: return tdx_gpa_info((x % 8) * SZ_2M, 1);
	case 5: return tdx_gpa_info((x % 4) * SZ_1G, 2);
	case 6: return tdx_gpa_info((x % 2) << 39, 3 + (int)(x >> 15));
	case 7: return tdx_gpa_info((x % 1024) * SZ_4K, 0) | shared_bit(h, NULL);
	case 8: return ((x % 1024) * SZ_4K) | ((x >> 10) & 0x3f);	/* odd levels, reserved bits */
	default: return fin_u64(&h->in);
	}
}

static uint64_t operand(struct h *h, enum kind k)
{
	uint8_t s = fin_u8(&h->in);
	/* the top bit of the selector replaces the leaf's usual kind by another */
	if (s & 0x80)
		k = (enum kind)((s >> 3) % K_NKINDS);
	switch (k) {
	case K_TDR: return h->b.tdr | (s & 0x40 ? TDR_HANDLE_ALLOW_EXISTING : 0);
	case K_TDVPR: return h->b.tdvpr[s % (unsigned)h->b.nvcpus];
	case K_TDCX: return h->b.tdcx[s % TDX_TDCS_PAGES];
	case K_PAGE4K: return h->pool4k[s % NPOOL4K];
	case K_PAGE2M: return h->pool2m[s % NPOOL2M];
	case K_SHARED: return s & 1 ? h->params2 : h->b.shared_page;
	case K_GPA: return gpa_info(h, s);
	case K_SMALL: return s & 15;
	case K_BORDER: return border(h, s);
	case K_NULLPA: return TDX_NULL_PA;
	default: return fin_u64(&h->in);
	}
}

/* The usual shape of each leaf's input registers (RCX, RDX, R8, R9, R12, R13). */
static const struct shape {
	unsigned leaf;
	uint8_t k[6];
} shapes[] = {
	{ TDH_VP_ENTER, { K_TDVPR } },
	{ TDH_MNG_ADDCX, { K_PAGE4K, K_TDR } },
	{ TDH_MEM_PAGE_ADD, { K_GPA, K_TDR, K_PAGE4K, K_SHARED } },
	{ TDH_MEM_SEPT_ADD, { K_GPA, K_TDR, K_PAGE4K, K_NULLPA } },
	{ TDH_VP_ADDCX, { K_PAGE4K, K_TDVPR } },
	{ TDH_MEM_PAGE_RELOCATE, { K_GPA, K_TDR, K_PAGE4K } },
	{ TDH_MEM_PAGE_AUG, { K_GPA, K_TDR, K_PAGE4K } },
	{ TDH_MEM_PAGE_AUG, { K_GPA, K_TDR, K_PAGE2M } },
	{ TDH_MEM_RANGE_BLOCK, { K_GPA, K_TDR } },
	{ TDH_MNG_KEY_CONFIG, { K_TDR } },
	{ TDH_MNG_CREATE, { K_PAGE4K, K_SMALL } },
	{ TDH_VP_CREATE, { K_PAGE4K, K_TDR } },
	{ TDH_MEM_PAGE_DEMOTE, { K_GPA, K_TDR, K_PAGE4K, K_RAW, K_PAGE4K, K_PAGE4K } },
	{ TDH_MR_EXTEND, { K_GPA, K_TDR } },
	{ TDH_MR_FINALIZE, { K_TDR } },
	{ TDH_VP_FLUSH, { K_TDVPR } },
	{ TDH_MNG_VPFLUSHDONE, { K_TDR } },
	{ TDH_MNG_KEY_FREEID, { K_TDR } },
	{ TDH_MNG_INIT, { K_TDR, K_SHARED } },
	{ TDH_VP_INIT, { K_TDVPR, K_SMALL } },
	{ TDH_MEM_PAGE_PROMOTE, { K_GPA, K_TDR, K_NULLPA, K_NULLPA } },
	{ TDH_MEM_SEPT_RD, { K_GPA, K_TDR } },
	{ TDH_PHYMEM_PAGE_RECLAIM, { K_PAGE4K } },
	{ TDH_MEM_PAGE_REMOVE, { K_GPA, K_TDR } },
	{ TDH_MEM_SEPT_REMOVE, { K_GPA, K_TDR } },
	{ TDH_MEM_TRACK, { K_TDR } },
	{ TDH_MEM_RANGE_UNBLOCK, { K_GPA, K_TDR } },
	{ TDH_PHYMEM_CACHE_WB, { K_SMALL } },
	{ TDH_PHYMEM_PAGE_WBINVD, { K_PAGE4K } },
	{ TDH_PHYMEM_PAMT_ADD, { K_PAGE2M, K_PAGE4K, K_PAGE4K } },
	{ TDH_PHYMEM_PAMT_REMOVE, { K_PAGE2M } },
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static void op_seamcall(struct h *h, uint8_t op)
{
	const struct shape *sh = &shapes[op % NSHAPES];
	uint8_t flags = fin_u8(&h->in);
	struct tdx_regs r = { 0 };
	/* version 1 now and then (SEPT.ADD, SEPT.REMOVE, PROMOTE take it), rarely garbage */
	r.rax = sh->leaf | (uint64_t)(flags & 1) << 16;
	if ((flags & 0xf0) == 0xf0)
		r.rax = fin_u64(&h->in) & (flags & 8 ? 0xffffffull : ~0ull);
	r.rcx = operand(h, sh->k[0]);
	r.rdx = operand(h, sh->k[1]);
	r.r8 = operand(h, sh->k[2]);
	r.r9 = operand(h, sh->k[3]);
	r.r10 = r.r11 = sh->k[3] == K_NULLPA ? TDX_NULL_PA : 0;
	if (sh->leaf == TDH_MEM_PAGE_DEMOTE) {
		r.r12 = operand(h, sh->k[4]);
		r.r13 = operand(h, sh->k[5]);
	}
	/* a level-1 range for PAMT.ADD/REMOVE */
	if (sh->leaf == TDH_PHYMEM_PAMT_ADD || sh->leaf == TDH_PHYMEM_PAMT_REMOVE)
		r.rcx |= flags & 2 ? 0 : 1;
	snprintf(fuzz_last_call, sizeof(fuzz_last_call),
		 "SEAMCALL %#" PRIx64 " (%s) RCX %#" PRIx64 " RDX %#" PRIx64 " R8 %#" PRIx64,
		 r.rax, tdx_leaf_name(sh->leaf), r.rcx, r.rdx, r.r8);
	tdx_seamcall(h->m, &r);
}

/*
 * The @sel-th vCPU of any TD of the module (only those inside their TD when
 * @in_td), or NULL.  Looked up afresh for every operation: a TD the fuzzer
 * tore down is gone, and one it created has vCPUs too.
 */
static struct tdx_vcpu *pick_vcpu(struct h *h, uint8_t sel, bool in_td)
{
	unsigned n = 0, want;
	for (int pass = 0; pass < 2; pass++) {
		want = pass ? sel % n : ~0u;
		unsigned i = 0;
		for (uint32_t t = 0; t < h->m->ntds; t++) {
			struct tdx_td *td = h->m->tds[t];
			for (uint32_t j = 0; td && j < td->nvcpus; j++) {
				struct tdx_vcpu *v = td->vcpus[j];
				if (!v || (in_td && !v->in_td))
					continue;
				if (i++ == want)
					return v;
			}
		}
		n = i;
		if (!n)
			return NULL;
	}
	return NULL;
}

enum { T_ACCEPT, T_ATTR_RD, T_ATTR_WR, T_VP_INFO, T_VM_RD, T_VM_WR, T_VEINFO, T_ACCESS,
       T_EXIT, T_INTR, T_RIP, T_HOST_INTR, T_PARAMS, T_NOPS };

static void op_guest(struct h *h, uint8_t op)
{
	uint8_t sel = fin_u8(&h->in);
	struct tdx_vcpu *v = pick_vcpu(h, sel, true), *any = pick_vcpu(h, sel, false);
	uint64_t st, rcx, rdx, x;
	struct tdx_regs out;
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "guest op %u on vCPU %#" PRIx64,
		 op % T_NOPS, v ? v->tdvpr : 0);
	switch (op % T_NOPS) {
	case T_ACCEPT:
		if (v)
			tdg_mem_page_accept(v, gpa_info(h, fin_u8(&h->in)), &st);
		break;
	case T_ATTR_RD:
		if (v)
			tdg_mem_page_attr_rd(v, gpa_info(h, fin_u8(&h->in)), &st, &rcx, &rdx);
		break;
	case T_ATTR_WR:
		x = gpa_info(h, fin_u8(&h->in));
		if (v)
			tdg_mem_page_attr_wr(v, x, fin_u16(&h->in), fin_u16(&h->in), &st, &rcx, &rdx);
		break;
	case T_VP_INFO:
		if (v)
			tdg_vp_info(v, &out);
		break;
	case T_VM_RD:
		x = fin_u8(&h->in) & 1 ? fin_u64(&h->in) : fin_u8(&h->in);
		if (v)
			tdg_vm_rd(v, fin_u8(&h->in) & 3, x, &rcx);
		break;
	case T_VM_WR:
		x = fin_u8(&h->in) & 1 ? fin_u64(&h->in) : fin_u8(&h->in);
		if (v)
			tdg_vm_wr(v, 0, x, fin_u64(&h->in), fin_u64(&h->in), &rcx);
		break;
	case T_VEINFO:
		if (v)
			tdg_vp_veinfo_get(v, &out);
		break;
	case T_ACCESS:
		/* a private GPA: the CPU sends shared ones to the host's EPT */
		x = (gpa_info(h, fin_u8(&h->in)) & ~0xfffull) | (sel & 0xff8);
		if (v)
			tdx_guest_access(v, x & (shared_bit(h, v) - 1), 1u << (sel % 3), &rcx);
		break;
	case T_EXIT:
		if (v)
			tdx_td_exit(v, sel & 1 ? EXIT_REASON_TDCALL : EXIT_REASON_EXTERNAL_INTERRUPT,
				    0, 0);
		break;
	case T_INTR:
		if (any)
			tdx_vcpu_set_interrupt_pending(any, sel & 0x80);
		break;
	case T_RIP:
		if (any)
			tdx_vcpu_set_rip(any, fin_u8(&h->in));
		break;
	case T_HOST_INTR:
		tdx_module_post_host_interrupt(h->m, 0, sel & 1);
		break;
	default: {
		/* TD_PARAMS for another MNG.INIT: the bringup's, a few fields garbled */
		struct td_params p;
		bringup_td_params(&h->o, &p);
		uint8_t which = fin_u8(&h->in);
		x = fin_u64(&h->in);
		if (which & 1) p.attributes ^= x;
		if (which & 2) p.xfam ^= x;
		if (which & 4) p.eptp_controls ^= x;
		if (which & 8) p.config_flags ^= x;
		if (which & 16) p.max_vcpus = (uint16_t)x;
		if (which & 32) p.tsc_frequency = (uint16_t)x;
		if (which & 64) p.num_l2_vms = (uint8_t)x;
		if (which & 128) p.cpuid_config[x % 12][(x >> 8) % 4] = (uint32_t)(x >> 16);
		physmem_write(&h->m->pm, h->params2, &p, sizeof(p));
		break;
	}
	}
}

static int setup(struct h *h, uint8_t cfgbyte)
{
	struct tdx_module_config cfg;
	tdx_module_default_config(&cfg);
	cfg.phys_size = 4 * SZ_1G;	/* TDMR [1G, 4G): small PAMT scans */
	cfg.dynamic_pamt = cfgbyte & 1;
	cfg.enhanced_demote_interruptibility = cfgbyte & 0x20;
	cfg.nonblocking_resize = cfgbyte & 0x40;
	cfg.sept_explicit_demotion = cfgbyte & 0x80;
	bringup_default_opts(&h->o);
	if ((cfgbyte & 2) && !cfg.dynamic_pamt) {
		h->o.levels = 5;
		h->o.gpaw = cfgbyte & 0x80;
		cfg.max_pa = 52;
	}
	h->o.sept_ve_disable = !(cfgbyte & 4);
	h->o.flexible_pending_ve = cfgbyte & 0x40;
	h->o.nvcpus = 1 + ((cfgbyte >> 3) & 3);
	if (cfg.sept_explicit_demotion && (cfgbyte & 0x10))
		h->o.extra_attributes = TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	h->m = tdx_module_create(&cfg);
	if (!h->m)
		fuzz_fail("tdx_module_create refused config byte %#x", cfgbyte);
	bringup_init(&h->b, h->m);
	struct tdx_regs out;
	if (cfg.dynamic_pamt) {
		/* pairs for the first two 2M ranges, where bringup and the pool take pages */
		uint64_t pairs = bringup_page_2m(&h->b);
		for (int i = 0; i < 2; i++) {
			uint64_t st = tdh_phymem_pamt_add(h->m, &out, (h->b.base + i * SZ_2M) | 1,
							  pairs + 2 * i * SZ_4K,
							  pairs + (2 * i + 1) * SZ_4K);
			if (st)
				fuzz_fail("setup: PAMT.ADD returned %#" PRIx64, st);
		}
	}
	if (bringup_td(&h->b, &h->o))
		fuzz_fail("setup: %s returned %#" PRIx64 " (%s)", h->b.last_leaf,
			  h->b.last_status, tdx_status_name(h->b.last_status));
	for (int i = 0; i < NPOOL4K; i++)
		h->pool4k[i] = bringup_page(&h->b);
	for (int i = 0; i < NPOOL2M; i++)
		h->pool2m[i] = bringup_page_2m(&h->b);
	h->params2 = h->b.shared_page - SZ_4K;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h h;
	char msg[256];
	if (size < 1)
		return 0;
	memset(&h, 0, sizeof(h));
	h.in = (struct fin){ data + 1, size - 1 };
	setup(&h, data[0]);
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "setup");
	FUZZ_CHECK(h.m, NULL, NULL);
	for (int n = 0; n < MAX_OPS && fin_left(&h.in); n++) {
		uint8_t op = fin_u8(&h.in);
		/* three SEAMCALLs for one guest-side operation */
		if (op % 4)
			op_seamcall(&h, op >> 2);
		else
			op_guest(&h, op >> 2);
		FUZZ_CHECK(h.m, NULL, NULL);
	}
	tdx_module_post_host_interrupt(h.m, 0, false);
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "teardown");
	if (fuzz_module_teardown(h.m, msg, sizeof(msg)))
		fuzz_fail("%s", msg);
	tdx_module_destroy(h.m);
	return 0;
}
