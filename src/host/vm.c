/* SPDX-License-Identifier: MIT */
/*
 * vm.c - TD lifecycle through KVM-style ioctls, memslots, memory attributes
 * and teardown.  Errors are negative errno values, as from KVM.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "../engine/simheap.h"

/* ---- platform ---- */

void kvm_platform_default(struct kvm_platform *p)
{
	memset(p, 0, sizeof(*p));
	p->ept_5level = true;
	p->max_pa = 52;
	p->mem_bytes = 16 * SZ_1G;
	p->fragmentation = 0.0;
	p->seed = 1;
	p->nr_hkids = 64;
}

struct kvm *kvm_create(const struct kvm_platform *p)
{
	struct tdx_module_config c;
	tdx_module_default_config(&c);
	c.phys_size = p->mem_bytes;
	c.max_pa = p->max_pa;
	c.ept_5level = p->ept_5level;
	c.nr_hkids = p->nr_hkids;
	if (p->hp_timeout_ns)
		c.hp_timeout_ns = p->hp_timeout_ns;
	c.dynamic_pamt = p->dynamic_pamt;
	c.enhanced_demote_interruptibility = p->enhanced_demote;
	c.nonblocking_resize = p->nonblocking_resize;
	c.sept_explicit_demotion = p->explicit_demotion;
	struct kvm *k = sim_calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->plat = *p;
	k->m = tdx_module_create(&c);
	if (!k->m) {
		sim_free(k);
		return NULL;
	}
	k->pm = tdx_module_physmem(k->m);
	/* the host allocates from the (default) TDMR: everything above 1 GiB */
	if (hostmem_init(&k->hm, k->pm->tdmr[0].base, k->pm->tdmr[0].size, p->fragmentation,
			 p->seed)) {
		tdx_module_destroy(k->m);
		sim_free(k);
		return NULL;
	}
	k->next_hkid = 1;
	if (dpamt_host_init(k)) {
		kvm_destroy(k);
		return NULL;
	}
	return k;
}

void kvm_destroy(struct kvm *k)
{
	if (!k)
		return;
	dpamt_host_fini(k);
	hostmem_destroy(&k->hm);
	tdx_module_destroy(k->m);
	sim_free(k);
}

struct tdx_module *kvm_module(struct kvm *k) { return k->m; }
struct hostmem *kvm_hostmem(struct kvm *k) { return &k->hm; }

int kvm_tdx_capabilities(struct kvm *k, struct kvm_tdx_capabilities *caps)
{
	if (!caps)
		return -EFAULT;
	memset(caps, 0, sizeof(*caps));
	caps->supported_attrs = TD_ATTR_SEPT_VE_DISABLE;	/* all upstream KVM offers */
	/* seed 000's proposal, where the module advertises it */
	if (tdx_module_features0(k->m) & TDX_FEATURES0_SEPT_EXPLICIT_DEMOTION)
		caps->supported_attrs |= TD_ATTR_SEPT_EXPLICIT_DEMOTION;
	caps->supported_xfam = TDX_XFAM_FIXED0;
	caps->max_vcpus_per_td = KVM_MAX_VCPUS;
	caps->gpaw_52 = k->plat.ept_5level && k->plat.max_pa >= 49;
	return 0;
}

/* ---- policies ---- */

void kvm_policy_default(struct kvm_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->build = BUILD_POPULATE;
	p->busy = BUSY_KICK_RETRY;
	p->retry_n = 16;
	p->local_retry = true;
	p->local_retry_slot_break = true;
	p->max_level = MAP_LEVEL_4K;
	p->folio = FOLIO_4K;
	p->dpamt_demote_locked = true;
	p->livelock_exits = KVM_LIVELOCK_EXITS;
	p->inhibit_check = true;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Variant names, indexed by their enum: one table for parsing and describing. */
static const char *const build_names[BUILD_NR] = {
	[BUILD_POPULATE] = "populate", [BUILD_PREFAULT] = "prefault",
};
static const char *const busy_names[BUSY_NR] = {
	[BUSY_KICK_RETRY] = "kick-retry", [BUSY_RETRY_N] = "retry-n",
};
static const char *const level_names[MAP_LEVEL_NR] = {
	[MAP_LEVEL_4K] = "4k", [MAP_LEVEL_HUGE_RFC1] = "huge-rfc1", [MAP_LEVEL_HUGE_V5] = "huge-v5",
	[MAP_LEVEL_HUGE_NBR] = "huge-nbr", [MAP_LEVEL_EXPLICIT] = "explicit-demotion",
};
static const char *const folio_names[FOLIO_NR] = { [FOLIO_4K] = "4k", [FOLIO_2M] = "2m" };
static const char *const teardown_names[TEARDOWN_NR] = {
	[TEARDOWN_ZAP] = "zap", [TEARDOWN_TERMINATE] = "terminate",
};
static const struct {
	const char *name, *help;
} inject_names[INJECT_NR] = {
	[INJECT_NO_SLOT_BREAK] = { "no-slot-break", "local retry does not give up on a memslot "
				   "being deleted (the deadlock fixed in 6.18)" },
	[INJECT_REMOVE_NO_TRACK] = { "remove-no-track", "PAGE.REMOVE right after BLOCK: no TRACK, "
				     "no kick" },
	[INJECT_TRACK_NO_KICK] = { "track-no-kick", "TRACK, but the vCPUs are not kicked out "
				   "before PAGE.REMOVE" },
	[INJECT_FROZEN_LEAK] = { "frozen-leak", "a SEAMCALL that failed under the freeze "
				 "protocol leaves the mirror SPTE frozen" },
	[INJECT_ZAP_WHOLE_2M] = { "zap-whole-2m", "a conversion or punch of part of a 2M leaf "
				  "zaps the whole leaf instead of splitting it" },
	[INJECT_BUSY_GIVE_UP] = { "busy-give-up", "a BUSY under the exclusive mmu_lock is not "
				  "retried (the VM dies)" },
	[INJECT_STALE_PFN] = { "stale-pfn", "a fault maps its pfn without rechecking the "
			       "invalidation sequence" },
	[INJECT_KICK_NO_STOP] = { "kick-no-stop", "kick-retry kicks the vCPUs without first "
				  "stopping them from entering" },
	[INJECT_IGNORED_SPLIT] = { "ignored-split", "huge-v5 ignores the split a 4K fault needs "
				   "inside a 2M leaf, as RFC v1 did" },
};

const char *kvm_inject_name(enum kvm_inject b)
{
	return (unsigned)b < INJECT_NR ? inject_names[b].name : "?";
}

const char *kvm_inject_help(enum kvm_inject b)
{
	return (unsigned)b < INJECT_NR ? inject_names[b].help : "?";
}

/* "none", or names separated by commas: *@out the set.  -EINVAL for any unknown name. */
static int parse_inject(const char *v, uint32_t *out)
{
	uint32_t set = 0;
	if (!strcmp(v, "none")) {
		*out = 0;
		return 0;
	}
	for (const char *p = v;;) {
		size_t len = strcspn(p, ",");
		int b = -1;
		for (int i = 0; i < INJECT_NR && b < 0; i++)
			if (strlen(inject_names[i].name) == len && !strncmp(p, inject_names[i].name, len))
				b = i;
		if (b < 0)
			return -EINVAL;		/* unknown, or an empty name */
		set |= KVM_INJECT(b);
		if (!p[len])
			break;
		p += len + 1;
	}
	*out = set;
	return 0;
}

const char *kvm_vm_notice(const struct kvm_vm *vm)
{
	return vm->notice;
}

const char *kvm_policy_level_name(enum kvm_map_level l)
{
	return (unsigned)l < MAP_LEVEL_NR ? level_names[l] : "?";
}

const char *kvm_policy_teardown_name(enum kvm_teardown t)
{
	return (unsigned)t < TEARDOWN_NR ? teardown_names[t] : "?";
}

/* The index of @v in @names[@n], or -EINVAL. */
static int parse_name(const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(v, names[i]))
			return i;
	return -EINVAL;
}

#define PARSE_NAME(v, names) parse_name((v), (names), (int)(sizeof(names) / sizeof((names)[0])))

int kvm_policy_set(struct kvm_policy *p, const char *key, const char *val)
{
	int i;
	if (!strcmp(key, "build")) {
		if ((i = PARSE_NAME(val, build_names)) < 0)
			return i;
		p->build = (enum kvm_build_flow)i;
	} else if (!strcmp(key, "busy")) {
		if ((i = PARSE_NAME(val, busy_names)) < 0)
			return i;
		p->busy = (enum kvm_busy_policy)i;
	} else if (!strcmp(key, "retry_n")) {
		char *end;
		long n = strtol(val, &end, 10);
		if (*end || end == val || n < 1 || n > 1000000)
			return -EINVAL;
		p->retry_n = (int)n;
	} else if (!strcmp(key, "local_retry")) {
		return parse_bool(val, &p->local_retry);
	} else if (!strcmp(key, "slot_break")) {
		return parse_bool(val, &p->local_retry_slot_break);
	} else if (!strcmp(key, "level")) {
		if ((i = PARSE_NAME(val, level_names)) < 0)
			return i;
		p->max_level = (enum kvm_map_level)i;
	} else if (!strcmp(key, "folio")) {
		if ((i = PARSE_NAME(val, folio_names)) < 0)
			return i;
		p->folio = (enum kvm_folio)i;
	} else if (!strcmp(key, "promote")) {
		return parse_bool(val, &p->promote);
	} else if (!strcmp(key, "dpamt")) {
		return parse_bool(val, &p->dpamt);
	} else if (!strcmp(key, "dpamt_demote_locked")) {
		return parse_bool(val, &p->dpamt_demote_locked);
	} else if (!strcmp(key, "livelock_exits")) {
		char *end;
		long n = strtol(val, &end, 10);
		if (*end || end == val || n < 0 || n > 100000000)
			return -EINVAL;
		p->livelock_exits = (uint32_t)n;
	} else if (!strcmp(key, "inject")) {
		return parse_inject(val, &p->inject);
	} else if (!strcmp(key, "inhibit_check")) {
		return parse_bool(val, &p->inhibit_check);
	} else if (!strcmp(key, "teardown")) {
		if ((i = PARSE_NAME(val, teardown_names)) < 0)
			return i;
		p->teardown = (enum kvm_teardown)i;
	} else {
		return -EINVAL;
	}
	return 0;
}

int kvm_policy_check(const struct kvm_policy *p)
{
	if ((unsigned)p->build >= BUILD_NR || (unsigned)p->busy >= BUSY_NR ||
	    (unsigned)p->max_level >= MAP_LEVEL_NR || (unsigned)p->folio >= FOLIO_NR ||
	    (unsigned)p->teardown >= TEARDOWN_NR ||
	    p->retry_n < 1 || p->retry_n > 1000000 || p->livelock_exits > 100000000 ||
	    (p->inject >> INJECT_NR))
		return -EINVAL;
	return 0;
}

void kvm_policy_describe(const struct kvm_policy *p, char *buf, unsigned len)
{
	if (kvm_policy_check(p)) {
		snprintf(buf, len, "(invalid policy)");
		return;
	}
	char n[32] = "";
	if (p->busy == BUSY_RETRY_N)
		snprintf(n, sizeof(n), " retry_n=%d", p->retry_n);
	char ll[32] = "";
	if (p->livelock_exits != KVM_LIVELOCK_EXITS)
		snprintf(ll, sizeof(ll), p->livelock_exits ? " livelock_exits=%u" : " livelock_exits=off",
			 p->livelock_exits);
	/* injections only when there are some: a real host has none */
	char inj[256] = "";
	for (int i = 0, l = 0; i < INJECT_NR; i++)
		if (p->inject & KVM_INJECT(i))
			l += snprintf(inj + l, sizeof(inj) - (size_t)l, "%s%s", l ? "," : " inject=",
				      inject_names[i].name);
	snprintf(buf, len, "build=%s busy=%s%s local_retry=%s slot_break=%s level=%s folio=%s"
		 " promote=%s dpamt=%s%s%s%s%s%s",
		 build_names[p->build], busy_names[p->busy], n, p->local_retry ? "on" : "off",
		 p->local_retry_slot_break ? "on" : "off", level_names[p->max_level],
		 folio_names[p->folio], p->promote ? "on" : "off", p->dpamt ? "on" : "off",
		 p->dpamt && !p->dpamt_demote_locked ? " dpamt_demote_locked=off" : "",
		 p->inhibit_check ? "" : " inhibit_check=off",
		 /* the default (mainline's zap) is not named: descriptions stay as they were */
		 p->teardown != TEARDOWN_ZAP ? " teardown=terminate" : "", ll, inj);
}

/* ---- helpers ---- */

/* ---- the guest-inhibit set (kvm_internal.h) ---- */

static uint32_t gfnset_slot(uint64_t key, uint32_t cap)
{
	return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

bool gfnset_has(const struct gfnset *set, uint64_t gfn)
{
	if (!set->n)
		return false;
	uint64_t key = (gfn >> 9) + 1;
	for (uint32_t i = gfnset_slot(key, set->cap);; i = (i + 1) & (set->cap - 1)) {
		if (set->keys[i] == key)
			return true;
		if (!set->keys[i])
			return false;
	}
}

int gfnset_add(struct gfnset *set, uint64_t gfn)
{
	if (gfnset_has(set, gfn))
		return 1;
	if ((set->n + 1) * 2 > set->cap) {
		uint32_t cap = set->cap ? set->cap * 2 : 64;
		uint64_t *keys = sim_calloc(cap, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		for (uint32_t j = 0; j < set->cap; j++) {
			uint64_t k = set->keys[j];
			if (!k)
				continue;
			uint32_t i = gfnset_slot(k, cap);
			while (keys[i])
				i = (i + 1) & (cap - 1);
			keys[i] = k;
		}
		sim_free(set->keys);
		set->keys = keys;
		set->cap = cap;
	}
	uint64_t key = (gfn >> 9) + 1;
	uint32_t i = gfnset_slot(key, set->cap);
	while (set->keys[i])
		i = (i + 1) & (set->cap - 1);
	set->keys[i] = key;
	set->n++;
	return 0;
}

void gfnset_free(struct gfnset *set)
{
	sim_free(set->keys);
	memset(set, 0, sizeof(*set));
}

void vm_kill(struct kvm_vm *vm, const char *fmt, ...)
{
	if (vm->dead)
		return;
	vm->dead = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->why, sizeof(vm->why), fmt, ap);
	va_end(ap);
	tdx_request_exit_all(vm);	/* kvm_vm_dead(): KVM_REQ_VM_DEAD to every vCPU */
}

uint64_t vm_alloc_page(struct kvm_vm *vm)
{
	return hostmem_alloc_4k(vm->hm);
}

/* Give back a page the module never saw (or that it released), zeroed. */
static void vm_free_page(struct kvm_vm *vm, uint64_t hpa)
{
	physmem_zero_page(vm->pm, hpa);
	hostmem_free_4k(vm->hm, hpa);
}

void vm_clear_private(struct kvm_vm *vm, uint64_t hpa, uint64_t n)
{
	seam_charge(SEAM_COST_CLEAR_4K, n);
	for (uint64_t i = 0; i < n; i++)
		physmem_zero_page(vm->pm, hpa + i * SZ_4K);
}

static int seamcall_err(struct kvm_vm *vm, const char *leaf, uint64_t st)
{
	snprintf(vm->why, sizeof(vm->why), "%s: %s (%#" PRIx64 ")", leaf, tdx_status_name(st), st);
	return tdx_status_code(st) == TDX_OPERAND_BUSY ? -EBUSY : -EIO;
}

/* ---- memory attributes: private ranges ---- */

bool vm_gfn_private_slow(struct kvm_vm *vm, uint64_t gfn)
{
	uint32_t lo = 0, hi = vm->npriv;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (gfn < vm->priv[mid].start) {
			hi = mid;
		} else if (gfn >= vm->priv[mid].end) {
			lo = mid + 1;
		} else {
			vm->priv_hint = mid;
			return true;
		}
	}
	return false;
}

/* The first range that ends after @gfn (npriv if none). */
static uint32_t attr_first_after(const struct kvm_vm *vm, uint64_t gfn)
{
	uint32_t lo = 0, hi = vm->npriv;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (vm->priv[mid].end <= gfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool vm_range_private(const struct kvm_vm *vm, uint64_t start, uint64_t end)
{
	uint32_t i = attr_first_after(vm, start);
	return i < vm->npriv && vm->priv[i].start <= start && vm->priv[i].end >= end;
}

/* Is any GFN of [start, end) private? */
static bool attr_any_private(const struct kvm_vm *vm, uint64_t start, uint64_t end)
{
	uint32_t i = attr_first_after(vm, start);
	return i < vm->npriv && vm->priv[i].start < end;
}

/*
 * Make room for the ranges after setting [start, end): at most one more
 * than today.  Done before anything changes, so -ENOMEM changes nothing.
 */
static int attr_reserve(struct kvm_vm *vm)
{
	if (vm->npriv + 1 <= vm->priv_cap)
		return 0;
	uint32_t cap = vm->priv_cap ? vm->priv_cap * 2 : 8;
	struct attr_range *p = sim_realloc(vm->priv, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	vm->priv = p;
	vm->priv_cap = cap;
	return 0;
}

/* Set [start, end) private or shared (room reserved by attr_reserve). */
static void attr_set(struct kvm_vm *vm, uint64_t start, uint64_t end, bool private)
{
	/* ranges [i, j) touch or overlap [start, end) */
	uint32_t i = attr_first_after(vm, start ? start - 1 : 0), j = i;
	while (j < vm->npriv && vm->priv[j].start <= end)
		j++;
	struct attr_range keep[2];
	int nkeep = 0;
	if (private) {
		uint64_t lo = start, hi = end;
		if (i < j && vm->priv[i].start < lo)
			lo = vm->priv[i].start;
		if (i < j && vm->priv[j - 1].end > hi)
			hi = vm->priv[j - 1].end;
		keep[nkeep++] = (struct attr_range){ lo, hi };
	} else {
		if (i < j && vm->priv[i].start < start)
			keep[nkeep++] = (struct attr_range){ vm->priv[i].start, start };
		if (i < j && vm->priv[j - 1].end > end)
			keep[nkeep++] = (struct attr_range){ end, vm->priv[j - 1].end };
	}
	uint32_t tail = vm->npriv - j;
	memmove(&vm->priv[i + (uint32_t)nkeep], &vm->priv[j], tail * sizeof(*vm->priv));
	memcpy(&vm->priv[i], keep, (size_t)nkeep * sizeof(*keep));
	vm->npriv = i + (uint32_t)nkeep + tail;
	vm->priv_hint = 0;
}

/* ---- the default VMM (QEMU) ---- */

static int default_memory_fault(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t size,
				bool private, void *ctx)
{
	(void)ctx;
	(void)vcpu;
	if (!vm_slot_of(vm, gpa >> 12)) {
		vm_kill(vm, "no memslot for GPA %#" PRIx64, gpa);
		return -EFAULT;
	}
	return kvm_vmm_convert(vm, gpa, size, private);
}

static uint64_t default_map_gpa_range(struct kvm_vm *vm, int vcpu, uint64_t gpa, uint64_t npages,
				      bool private, void *ctx)
{
	(void)ctx;
	(void)vcpu;
	return (uint64_t)(int64_t)kvm_vmm_convert(vm, gpa, npages * SZ_4K, private);
}

static int default_internal_error(struct kvm_vm *vm, int vcpu, uint64_t ret, void *ctx)
{
	(void)ctx;
	/* QEMU: "KVM internal error", vm_stop(RUN_STATE_INTERNAL_ERROR) */
	vm_kill(vm, "KVM_EXIT_INTERNAL_ERROR on vCPU %d: unexpected TD exit %s (%#" PRIx64 ")",
		vcpu, tdx_status_name(ret), ret);
	return -1;
}

void kvm_set_vmm_ops(struct kvm_vm *vm, const struct kvm_vmm_ops *ops)
{
	vm->vmm = *ops;
	if (!vm->vmm.memory_fault)
		vm->vmm.memory_fault = default_memory_fault;
	if (!vm->vmm.map_gpa_range)
		vm->vmm.map_gpa_range = default_map_gpa_range;
	if (!vm->vmm.internal_error)
		vm->vmm.internal_error = default_internal_error;
}

/* ---- VM creation ---- */

struct kvm_vm *kvm_create_vm(struct kvm *k, const struct kvm_policy *pol)
{
	struct kvm_policy def;
	if (!pol) {
		kvm_policy_default(&def);
		pol = &def;
	}
	if (!k || kvm_policy_check(pol))
		return NULL;
	/* Dynamic PAMT on the host needs the module to run with it */
	if (pol->dpamt && !tdx_module_dynamic_pamt(k->m))
		return NULL;
	struct kvm_vm *vm = sim_calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->k = k;
	vm->m = k->m;
	vm->pm = k->pm;
	vm->hm = &k->hm;
	vm->pol = *pol;
	vm->lock = (seam_mutex_t)SEAM_MUTEX_INIT("kvm->lock", SEAM_LOCK_VM);
	vm->slots_lock = (seam_mutex_t)SEAM_MUTEX_INIT("slots_lock", SEAM_LOCK_SLOTS);
	vm->srcu = (seam_rwlock_t)SEAM_RWLOCK_INIT("kvm->srcu", SEAM_LOCK_SRCU);
	vm->mmu_lock = (seam_rwlock_t)SEAM_RWLOCK_INIT("mmu_lock", SEAM_LOCK_MMU);
	struct kvm_vmm_ops none = { 0 };
	kvm_set_vmm_ops(vm, &none);
	return vm;
}

void kvm_tdx_init_vm_default(struct kvm_tdx_init_vm *init, unsigned maxphyaddr)
{
	memset(init, 0, sizeof(*init));
	init->attributes = TD_ATTR_SEPT_VE_DISABLE;
	init->xfam = TDX_XFAM_FIXED1;
	init->nent = 1;
	init->entries[0] = (struct kvm_cpuid_entry){
		.function = 0x80000008,
		.eax = (maxphyaddr << 16) | 46,	/* guest MAXPHYADDR, host MAXPHYADDR */
	};
}

/* Does a used memslot reach @limit_gpa or above? */
static bool slot_at_or_above(const struct kvm_vm *vm, uint64_t limit_gpa)
{
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct kvm_memslot *s = &vm->slots[i];
		if (s->used && s->base_gfn + s->npages > limit_gpa >> 12)
			return true;
	}
	return false;
}

/*
 * Undo a failed INIT_VM past TDH.MNG.CREATE (KVM's __tdx_td_init error
 * path): flush, write back, free the HKID, reclaim the control pages the
 * module took and the TDR, free the rest.  The VM is as new again.
 */
static void init_vm_undo(struct kvm_vm *vm, uint64_t *pages, int npages)
{
	struct tdx_regs out;
	uint64_t st = tdh_mng_vpflushdone(vm->m, &out, vm->tdr);
	if (!st) {
		st = tdh_phymem_cache_wb(vm->m, &out, TDX_CACHEWB_START);
		while (st == TDX_INTERRUPTED_RESUMABLE)
			st = tdh_phymem_cache_wb(vm->m, &out, TDX_CACHEWB_RESUME);
		st = tdh_mng_key_freeid(vm->m, &out, vm->tdr);
	}
	if (st) {
		/* as KVM: "HKID is leaked"; the TD stays for teardown, which
		 * reclaims what the module took; the rest goes back now */
		dpamt_put_pages(vm, &pages[1 + vm->ntdcx], TDX_TDCS_PAGES - vm->ntdcx);
		for (int i = 1 + vm->ntdcx; i < npages; i++)
			vm_free_page(vm, pages[i]);
		vm_kill(vm, "undoing INIT_VM: %s", tdx_status_name(st));
		return;
	}
	for (int i = 0; i < vm->ntdcx; i++)
		if (tdh_phymem_page_reclaim(vm->m, &out, vm->tdcx[i]) == TDX_SUCCESS) {
			dpamt_put(vm, vm->tdcx[i]);
			vm_free_page(vm, vm->tdcx[i]);
		}
	dpamt_put_pages(vm, &pages[1 + vm->ntdcx], TDX_TDCS_PAGES - vm->ntdcx);
	for (int i = 1 + vm->ntdcx; i < npages; i++)	/* TDCX pages not added, params */
		vm_free_page(vm, pages[i]);
	if (tdh_phymem_page_reclaim(vm->m, &out, vm->tdr) == TDX_SUCCESS) {
		tdh_phymem_page_wbinvd(vm->m, &out, vm->tdr);
		dpamt_put(vm, vm->tdr);
		vm_free_page(vm, vm->tdr);
	}
	vm->tdr = 0;
	vm->ntdcx = 0;
	vm->hkid = 0;
	vm->state = VM_NEW;
}

int kvm_tdx_init_vm(struct kvm_vm *vm, const struct kvm_tdx_init_vm *user)
{
	struct tdx_regs out;
	struct kvm_tdx_capabilities caps;
	struct kvm_tdx_init_vm init;
	int r = 0;
	if (vm->dead)
		return -EIO;
	if (!user)
		return -EFAULT;
	/* slots_lock: no memslot may appear between the check and shared_bit */
	seam_mutex_lock(&vm->lock);
	seam_mutex_lock(&vm->slots_lock);
	if (vm->nvcpus) {
		r = -EBUSY;	/* kvm->created_vcpus (vCPUs exist only after INIT_VM) */
		goto out;
	}
	if (vm->state != VM_NEW) {
		r = -EINVAL;
		goto out;
	}
	if (user->nent > KVM_TDX_MAX_CPUID) {
		r = -E2BIG;
		goto out;
	}
	init = *user;	/* memdup_user(): the caller's struct stays as it was */
	kvm_tdx_capabilities(vm->k, &caps);
	if ((init.attributes & ~caps.supported_attrs) || (init.xfam & ~caps.supported_xfam) ||
	    init.nent < 0) {
		r = -EINVAL;
		goto out;
	}
	/* GPAW and EPT levels from the guest MAXPHYADDR of the first CPUID 0x80000008 */
	struct kvm_cpuid_entry *e = NULL;
	for (int i = 0; i < init.nent && !e; i++)
		if (init.entries[i].function == 0x80000008 && init.entries[i].index == 0)
			e = &init.entries[i];
	if (!e) {
		r = -EINVAL;
		goto out;
	}
	unsigned guest_maxpa = (e->eax >> 16) & 0xff;
	if (guest_maxpa != 48 && !(guest_maxpa == 52 && caps.gpaw_52)) {
		r = -EINVAL;
		goto out;
	}
	e->eax &= ~0x00ff0000u;	/* consumed: the module reports the native value */
	int levels = guest_maxpa == 52 ? 5 : 4;
	uint16_t max_vcpus = init.max_vcpus ? init.max_vcpus : KVM_MAX_VCPUS;
	if (max_vcpus > KVM_MAX_VCPUS) {
		r = -EINVAL;
		goto out;
	}
	/*
	 * A memslot made before INIT_VM that reaches the shared bit would
	 * alias shared GPAs (KVM refuses such slots once the bit is known,
	 * kvm_is_gfn_alias(); we refuse INIT_VM rather than map through it).
	 */
	if (slot_at_or_above(vm, levels == 5 ? BIT64(51) : BIT64(47))) {
		r = -EINVAL;
		goto out;
	}

	/* every page first, as KVM does: -ENOMEM before any SEAMCALL */
	uint64_t pages[1 + TDX_TDCS_PAGES + 1];
	int npages = 0;
	for (; npages < (int)(sizeof(pages) / sizeof(pages[0])); npages++)
		if (!(pages[npages] = vm_alloc_page(vm)))
			break;
	if (npages < (int)(sizeof(pages) / sizeof(pages[0]))) {
		while (npages--)
			vm_free_page(vm, pages[npages]);
		r = -ENOMEM;
		goto out;
	}
	uint64_t tdr = pages[0], params = pages[1 + TDX_TDCS_PAGES];
	/* Dynamic PAMT: the TDR's and TDCS pages' ranges get their pairs first */
	int pr = dpamt_get_pages(vm, pages, 1 + TDX_TDCS_PAGES);
	if (pr) {
		while (npages--)
			vm_free_page(vm, pages[npages]);
		r = pr;
		goto out;
	}

	/* TDH.MNG.CREATE, KEY.CONFIG, ADDCX x6, MNG.INIT */
	uint64_t st = TDX_HKID_NOT_FREE;
	uint16_t hkid = 0;
	for (unsigned tries = 0; tries < vm->k->plat.nr_hkids; tries++) {
		hkid = vm->k->next_hkid;
		vm->k->next_hkid = (uint16_t)(hkid % vm->k->plat.nr_hkids + 1);
		st = tdh_mng_create(vm->m, &out, tdr, hkid);
		if (st != TDX_HKID_NOT_FREE)
			break;
	}
	if (st) {
		dpamt_put_pages(vm, pages, 1 + TDX_TDCS_PAGES);
		for (int i = 0; i < npages; i++)
			vm_free_page(vm, pages[i]);
		r = st == TDX_HKID_NOT_FREE ? -EBUSY : seamcall_err(vm, "TDH.MNG.CREATE", st);
		goto out;
	}
	vm->tdr = tdr;
	vm->hkid = hkid;
	vm->state = VM_TD_CREATED;
	/* from here on a failure is undone (init_vm_undo) */
	st = tdh_mng_key_config(vm->m, &out, vm->tdr);
	if (st) {
		r = seamcall_err(vm, "TDH.MNG.KEY.CONFIG", st);
		goto undo;
	}
	for (int i = 0; i < TDX_TDCS_PAGES; i++) {
		st = tdh_mng_addcx(vm->m, &out, pages[1 + i], vm->tdr);
		if (st) {
			r = seamcall_err(vm, "TDH.MNG.ADDCX", st);
			goto undo;
		}
		vm->tdcx[vm->ntdcx++] = pages[1 + i];
	}
	struct td_params p;
	memset(&p, 0, sizeof(p));
	p.attributes = init.attributes;
	p.xfam = init.xfam ? init.xfam : TDX_XFAM_FIXED1;
	p.max_vcpus = max_vcpus;
	p.eptp_controls = EPTP_MT_WB | ((uint64_t)(levels - 1) << EPTP_PWL_SHIFT);
	p.config_flags = levels == 5 ? TD_CONFIG_GPAW : 0;
	p.tsc_frequency = 100;
	physmem_write(vm->pm, params, &p, sizeof(p));
	st = tdh_mng_init(vm->m, &out, vm->tdr, params);
	if (st) {
		r = tdx_status_code(st) == TDX_OPERAND_INVALID ? -EINVAL
							       : seamcall_err(vm, "TDH.MNG.INIT", st);
		goto undo;
	}
	vm_free_page(vm, params);
	struct tdx_td *td = tdx_td_by_tdr(vm->m, vm->tdr);
	if (mmu_init(&vm->mirror, levels - 1, true, vm->tdcx[TDX_TDCS_SEPT_ROOT_IDX]) ||
	    mmu_init(&vm->direct, levels - 1, false, 0)) {
		/* the simulator's own memory: the TD exists, teardown reclaims it */
		vm_kill(vm, "out of simulator memory for the page-table roots");
		r = -ENOMEM;
		goto out;
	}
	vm->td = td;
	vm->levels = levels;
	vm->shared_bit = tdx_td_shared_bit(td);
	vm->max_vcpus = max_vcpus;
	vm->state = VM_TD_INITIALIZED;
	goto out;
undo:
	init_vm_undo(vm, pages, npages);
out:
	seam_mutex_unlock(&vm->slots_lock);
	seam_mutex_unlock(&vm->lock);
	return r;
}

/* ---- vCPUs ---- */

int kvm_create_vcpu(struct kvm_vm *vm)
{
	int r;
	seam_mutex_lock(&vm->lock);
	if (vm->dead) {
		r = -EIO;
		goto out;
	}
	if (vm->state != VM_TD_INITIALIZED) {
		r = -EIO;	/* tdx_vcpu_create: only between INIT_VM and FINALIZE */
		goto out;
	}
	if (vm->nvcpus >= vm->max_vcpus) {
		r = -EINVAL;
		goto out;
	}
	struct kvm_vcpu *v = sim_calloc(1, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	v->vm = vm;
	v->id = vm->nvcpus;
	vm->vcpus[vm->nvcpus++] = v;
	r = v->id;
out:
	seam_mutex_unlock(&vm->lock);
	return r;
}

int kvm_tdx_init_vcpu(struct kvm_vm *vm, int id)
{
	return kvm_tdx_init_vcpu_data(vm, id, 0);
}

int kvm_tdx_init_vcpu_data(struct kvm_vm *vm, int id, uint64_t data)
{
	struct tdx_regs out;
	int r = 0;
	seam_mutex_lock(&vm->lock);
	if (vm->dead) {
		r = -EIO;
		goto out;
	}
	if (id < 0 || id >= vm->nvcpus) {
		r = -ENOENT;
		goto out;
	}
	struct kvm_vcpu *v = vm->vcpus[id];
	if (vm->state != VM_TD_INITIALIZED || v->initialized || v->tdvpr) {
		r = -EINVAL;	/* after FINALIZE, twice, or after a failed VP.CREATE */
		goto out;
	}
	/* every page first (tdx_td_vcpu_init): -ENOMEM before any SEAMCALL */
	uint64_t pages[TDX_TDVPS_PAGES];
	int n = 0;
	for (; n < TDX_TDVPS_PAGES; n++)
		if (!(pages[n] = vm_alloc_page(vm)))
			break;
	if (n < TDX_TDVPS_PAGES) {
		while (n--)
			vm_free_page(vm, pages[n]);
		r = -ENOMEM;
		goto out;
	}
	/* Dynamic PAMT: the TDVPR's and TDCX pages' ranges get their pairs first */
	r = dpamt_get_pages(vm, pages, TDX_TDVPS_PAGES);
	if (r) {
		for (int i = 0; i < TDX_TDVPS_PAGES; i++)
			vm_free_page(vm, pages[i]);
		goto out;
	}
	uint64_t st = tdh_vp_create(vm->m, &out, pages[0], vm->tdr);
	if (st) {
		dpamt_put_pages(vm, pages, TDX_TDVPS_PAGES);
		for (int i = 0; i < TDX_TDVPS_PAGES; i++)
			vm_free_page(vm, pages[i]);
		r = seamcall_err(vm, "TDH.VP.CREATE", st);
		goto out;
	}
	v->tdvpr = pages[0];
	for (int i = 1; i < TDX_TDVPS_PAGES; i++) {
		st = tdh_vp_addcx(vm->m, &out, pages[i], v->tdvpr);
		if (st) {
			/* pages added are reclaimed at teardown; the rest are freed */
			dpamt_put_pages(vm, &pages[i], TDX_TDVPS_PAGES - i);
			for (int j = i; j < TDX_TDVPS_PAGES; j++)
				vm_free_page(vm, pages[j]);
			r = seamcall_err(vm, "TDH.VP.ADDCX", st);
			goto out;
		}
		v->tdcx[v->ntdcx++] = pages[i];
	}
	st = tdh_vp_init(vm->m, &out, v->tdvpr, data);
	if (st) {
		r = seamcall_err(vm, "TDH.VP.INIT", st);
		goto out;
	}
	v->initialized = true;
	v->ops = (struct gvcpu_host){
		.handle_exit = tdx_handle_exit,
		.vmcall = tdx_vmcall,
		.shared_hpa = tdx_shared_hpa,
		.before_enter = tdx_before_enter,
		.ctx = v,
	};
	gvcpu_init(&v->g, vm->m, v->tdvpr, id, &v->ops);
out:
	seam_mutex_unlock(&vm->lock);
	return r;
}

/* The initialized vCPU @id for a vCPU ioctl, or NULL. */
static struct kvm_vcpu *ready_vcpu(struct kvm_vm *vm, int id)
{
	if (id < 0 || id >= vm->nvcpus || !vm->vcpus[id]->initialized)
		return NULL;
	return vm->vcpus[id];
}

/* ---- shared backing (the VMM's memory behind a memslot) ---- */

static int shmap_init(struct shmap *m, uint64_t npages)
{
	memset(m, 0, sizeof(*m));
	m->ndirs = (npages + (1ull << GMEM_DIR_SHIFT) - 1) >> GMEM_DIR_SHIFT;
	m->dirs = sim_calloc(m->ndirs ? m->ndirs : 1, sizeof(*m->dirs));
	return m->dirs ? 0 : -ENOMEM;
}

uint64_t vm_shared_backing(struct kvm_vm *vm, struct kvm_memslot *s, uint64_t gfn, bool alloc)
{
	struct shmap *m = &s->shared;
	uint64_t i = gfn - s->base_gfn;
	uint64_t hpa = shmap_get(m, i);
	if (hpa || !alloc)
		return hpa;
	uint64_t ***d = &m->dirs[i >> GMEM_DIR_SHIFT];
	if (!*d) {
		if (!(*d = sim_calloc(512, sizeof(**d))))
			return 0;
		m->ndirs_used++;
	}
	uint64_t **l = &(*d)[(i >> 9) & 511];
	if (!*l) {
		if (!(*l = sim_calloc(512, sizeof(**l))))
			return 0;
		m->nleaves++;
	}
	if (!(hpa = vm_alloc_page(vm)))
		return 0;
	(*l)[i & 511] = hpa;
	m->npages++;
	return hpa;
}

/* Free the shared pages of slot pages [lo, hi): cost follows what exists. */
static void shmap_free_range(struct kvm_vm *vm, struct shmap *m, uint64_t lo, uint64_t hi)
{
	for (uint64_t di = lo >> GMEM_DIR_SHIFT; lo < hi && di <= (hi - 1) >> GMEM_DIR_SHIFT; di++) {
		uint64_t **d = m->dirs[di];
		if (!d)
			continue;
		for (unsigned li = 0; li < 512; li++) {
			uint64_t first = (di << GMEM_DIR_SHIFT) | ((uint64_t)li << 9);
			uint64_t *l = d[li];
			if (!l || first + 512 <= lo || first >= hi)
				continue;
			for (unsigned p = 0; p < 512; p++) {
				if (!l[p] || first + p < lo || first + p >= hi)
					continue;
				vm_free_page(vm, l[p]);
				l[p] = 0;
				m->npages--;
			}
		}
	}
}

static void shmap_release(struct kvm_vm *vm, struct shmap *m)
{
	if (!m->dirs)
		return;
	shmap_free_range(vm, m, 0, m->ndirs << GMEM_DIR_SHIFT);
	for (uint64_t di = 0; di < m->ndirs; di++) {
		if (!m->dirs[di])
			continue;
		for (unsigned li = 0; li < 512; li++)
			sim_free(m->dirs[di][li]);
		sim_free(m->dirs[di]);
	}
	sim_free(m->dirs);
	memset(m, 0, sizeof(*m));
}

/* ---- guest_memfd ---- */

static struct gmem *gmem_of_fd(struct kvm_vm *vm, int fd)
{
	if (fd < 0 || fd >= KVM_MAX_GMEMS || !vm->gmems[fd].used)
		return NULL;
	return &vm->gmems[fd];
}

int kvm_create_guest_memfd(struct kvm_vm *vm, uint64_t size, uint64_t flags)
{
	if (vm->dead)
		return -EIO;
	if (flags || size == 0 || (size & (SZ_4K - 1)) || (int64_t)size < 0)
		return -EINVAL;
	/* the directory is 8 bytes per GiB of file, allocated here and walked at free */
	if (size > KVM_GMEM_MAX_SIZE)
		return -EFBIG;
	int r = -EMFILE;
	seam_mutex_lock(&vm->lock);
	if (vm->dead) {
		r = -EIO;
		goto out;
	}
	for (int fd = 0; fd < KVM_MAX_GMEMS; fd++) {
		if (vm->gmems[fd].used)
			continue;
		r = gmem_init(&vm->gmems[fd], size >> 12, vm->pol.folio == FOLIO_2M) ? -ENOMEM : fd;
		break;
	}
out:
	seam_mutex_unlock(&vm->lock);
	return r;
}

/*
 * Does a TD still hold the page at @hpa?  The PAMT says so (the module's
 * ownership, what KVM's page reference stands for): a page a dead VM
 * could not remove stays with the file until teardown reclaims it,
 * whatever happened to the memslot that mapped it.
 */
static bool gmem_page_held(void *ctx, uint64_t hpa)
{
	struct kvm_vm *vm = ctx;
	return tdx_hpa_owner(vm->m, hpa) != NULL;
}

/* Free file pages [first, first + n), keeping what a TD still holds. */
static void gmem_discard(struct kvm_vm *vm, struct gmem *g, uint64_t first, uint64_t n)
{
	gmem_free_range(vm->k, g, first, n, gmem_page_held, vm);
}

int kvm_gmem_punch_hole(struct kvm_vm *vm, int fd, uint64_t offset, uint64_t len)
{
	struct gmem *g = gmem_of_fd(vm, fd);
	if (!g)
		return -EBADF;
	if ((int64_t)offset < 0 || len == 0 || (int64_t)len < 0)
		return -EINVAL;
	if (offset + len < offset || (int64_t)(offset + len) < 0)
		return -EFBIG;
	if ((offset | len) & (SZ_4K - 1))
		return -EINVAL;
	uint64_t first = offset >> 12, n = len >> 12;
	if (first >= g->npages)
		return 0;
	if (n > g->npages - first)
		n = g->npages - first;
	/* the S-EPT pages for splitting the ends, before any lock (-ENOMEM: nothing done) */
	if (vm->huge && tdx_split_cache_topup(vm, SPLIT_CACHE_PAGES))
		return -ENOMEM;
	/* zap every binding's part of the range first, then free */
	seam_write_lock(&g->invalidate_lock);
	if (vm->state >= VM_TD_INITIALIZED) {
		mmu_write_lock(vm);
		for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
			struct kvm_memslot *s = &vm->slots[i];
			if (!s->used || s->gmem != g)
				continue;
			uint64_t lo = first > s->gmem_pgoff ? first : s->gmem_pgoff;
			uint64_t hi = first + n < s->gmem_pgoff + s->npages ? first + n
									    : s->gmem_pgoff + s->npages;
			if (lo < hi) {
				/* a 2M leaf across an end is split, not zapped whole */
				uint64_t gfn = s->base_gfn + (lo - s->gmem_pgoff);
				mmu_split_ends(vm, gfn, hi - lo);
				mmu_zap_private(vm, gfn, hi - lo);
			}
		}
		seam_write_unlock(&vm->mmu_lock);
	}
	gmem_discard(vm, g, first, n);
	seam_write_unlock(&g->invalidate_lock);
	return 0;
}

/* ---- memory slots ---- */

static void slot_release(struct kvm_vm *vm, struct kvm_memslot *s)
{
	shmap_release(vm, &s->shared);
	memset(s, 0, sizeof(*s));
}

static int delete_slot(struct kvm_vm *vm, struct kvm_memslot *s)
{
	if (!s->used)
		return -EINVAL;
	/* invalidate, wait for every fault using it, zap, unbind */
	s->deleting = true;
	seam_write_lock(&vm->srcu);	/* synchronize_srcu() */
	seam_write_unlock(&vm->srcu);
	if (vm->state >= VM_TD_INITIALIZED) {
		mmu_write_lock(vm);
		mmu_zap_private(vm, s->base_gfn, s->npages);
		mmu_zap_shared(vm, s->base_gfn, s->npages);
		seam_write_unlock(&vm->mmu_lock);
	}
	slot_release(vm, s);
	return 0;
}

/* Is [base, base + n) free of every slot but @self? */
static bool range_free(struct kvm_vm *vm, const struct kvm_memslot *self, uint64_t base, uint64_t n)
{
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		struct kvm_memslot *o = &vm->slots[i];
		if (o != self && o->used && base < o->base_gfn + o->npages && o->base_gfn < base + n)
			return false;
	}
	return true;
}

/*
 * A used slot set again (__kvm_set_memory_region): a guest_memfd slot is
 * immutable (-EINVAL), a shared-only one may be set unchanged (0) or moved
 * to another GPA (KVM_MR_MOVE: its mappings go, its memory moves with it);
 * a new size or flags is -EINVAL.
 */
static int change_slot(struct kvm_vm *vm, struct kvm_memslot *s,
		       const struct kvm_userspace_memory_region2 *r)
{
	uint64_t base = r->guest_phys_addr >> 12, n = r->memory_size >> 12;
	if (s->gmem || (r->flags & KVM_MEM_GUEST_MEMFD) || n != s->npages || r->flags != s->flags)
		return -EINVAL;
	if (base == s->base_gfn)
		return 0;
	uint64_t limit = vm->shared_bit ? vm->shared_bit : BIT64(vm->k->plat.max_pa);
	if (r->guest_phys_addr + r->memory_size > limit)
		return -EINVAL;
	if (!range_free(vm, s, base, n))
		return -EEXIST;
	s->deleting = true;
	seam_write_lock(&vm->srcu);	/* synchronize_srcu(): no fault uses the old range */
	seam_write_unlock(&vm->srcu);
	if (vm->state >= VM_TD_INITIALIZED) {
		mmu_write_lock(vm);
		mmu_zap_shared(vm, s->base_gfn, s->npages);
		seam_write_unlock(&vm->mmu_lock);
	}
	s->base_gfn = base;
	s->deleting = false;
	return 0;
}

int kvm_set_user_memory_region2(struct kvm_vm *vm, const struct kvm_userspace_memory_region2 *r)
{
	if (vm->dead)
		return -EIO;
	if (!r)
		return -EFAULT;
	if (r->slot >= KVM_MAX_MEMSLOTS || (r->flags & ~KVM_MEM_GUEST_MEMFD))
		return -EINVAL;
	uint64_t gpa = r->guest_phys_addr, size = r->memory_size;
	bool has_gmem = r->flags & KVM_MEM_GUEST_MEMFD;
	if ((gpa | size) & (SZ_4K - 1) || gpa + size < gpa || (size >> 12) > KVM_MEM_MAX_NR_PAGES)
		return -EINVAL;
	if (has_gmem && ((r->guest_memfd_offset & (SZ_4K - 1)) ||
			 r->guest_memfd_offset + size < r->guest_memfd_offset))
		return -EINVAL;
	int ret = 0;
	seam_mutex_lock(&vm->slots_lock);
	struct kvm_memslot *s = &vm->slots[r->slot];
	if (vm->dead) {
		ret = -EIO;
		goto out;
	}
	if (size == 0) {
		ret = delete_slot(vm, s);
		goto out;
	}
	if (s->used) {
		ret = change_slot(vm, s, r);
		goto out;
	}
	/* kvm_arch_prepare_memory_region: below the host MAX_PA, no shared-bit alias */
	uint64_t limit = vm->shared_bit ? vm->shared_bit : BIT64(vm->k->plat.max_pa);
	if (gpa + size > limit) {
		ret = -EINVAL;
		goto out;
	}
	uint64_t base = gpa >> 12, n = size >> 12;
	if (!range_free(vm, NULL, base, n)) {
		ret = -EEXIST;
		goto out;
	}
	struct gmem *g = NULL;
	uint64_t pgoff = r->guest_memfd_offset >> 12;
	if (has_gmem) {
		/* kvm_gmem_bind() */
		g = gmem_of_fd(vm, r->guest_memfd);
		if (!g) {
			ret = -EBADF;
			goto out;
		}
		if (pgoff > g->npages || n > g->npages - pgoff) {
			ret = -EINVAL;
			goto out;
		}
		for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
			struct kvm_memslot *o = &vm->slots[i];
			if (o->used && o->gmem == g && pgoff < o->gmem_pgoff + o->npages &&
			    o->gmem_pgoff < pgoff + n) {
				ret = -EINVAL;	/* the file range is bound already */
				goto out;
			}
		}
	}
	memset(s, 0, sizeof(*s));
	if (shmap_init(&s->shared, n)) {
		slot_release(vm, s);
		ret = -ENOMEM;
		goto out;
	}
	s->base_gfn = base;
	s->npages = n;
	s->flags = r->flags;
	s->gmem = g;
	s->gmem_pgoff = pgoff;
	s->used = true;
out:
	seam_mutex_unlock(&vm->slots_lock);
	return ret;
}

/* ---- memory attributes ---- */

int kvm_set_memory_attributes(struct kvm_vm *vm, uint64_t gpa, uint64_t size, uint64_t attributes)
{
	if (vm->dead)
		return -EIO;
	/* nothing at or above the shared bit: those GFNs are aliases */
	if ((gpa | size) & (SZ_4K - 1) || size == 0 || gpa + size < gpa ||
	    (attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE) ||
	    (vm->shared_bit && gpa + size > vm->shared_bit))
		return -EINVAL;
	bool private = attributes & KVM_MEMORY_ATTRIBUTE_PRIVATE;
	uint64_t start = gpa >> 12, end = (gpa + size - 1) / SZ_4K + 1;
	int r = 0;
	seam_mutex_lock(&vm->slots_lock);
	if (vm->dead) {
		r = -EIO;
		goto out;
	}
	/* nothing to do if the whole range has the attributes already */
	if (private ? vm_range_private(vm, start, end) : !attr_any_private(vm, start, end))
		goto out;
	r = attr_reserve(vm);
	if (r)
		goto out;
	/* to shared: the 2M leaves across the ends are split; their pages first */
	if (!private && vm->huge && tdx_split_cache_topup(vm, 2)) {
		r = -ENOMEM;
		goto out;
	}
	vm->st.conversions++;
	/* the old kind's mappings go first, under the exclusive lock */
	if (vm->state >= VM_TD_INITIALIZED) {
		mmu_write_lock(vm);
		if (private) {
			mmu_zap_shared(vm, start, end - start);
		} else {
			mmu_split_ends(vm, start, end - start);
			mmu_zap_private(vm, start, end - start);
		}
	}
	attr_set(vm, start, end, private);
	if (vm->state >= VM_TD_INITIALIZED) {
		vm->invalidate_seq++;
		seam_write_unlock(&vm->mmu_lock);
	}
out:
	seam_mutex_unlock(&vm->slots_lock);
	return r;
}

/* ---- promotion (policy "promote") ---- */

/* Is the 2M range at @gfn (aligned) backed by the one 2M folio at @hpa? */
static bool range_is_folio(struct kvm_vm *vm, uint64_t gfn, uint64_t hpa)
{
	struct kvm_memslot *s = vm_slot_of(vm, gfn);
	if (!s || !s->gmem || !mmu_huge_fits(vm, s, gfn))
		return false;
	int order = 0;
	uint64_t pfn = gmem_get_pfn(vm->k, s->gmem, gfn - s->base_gfn + s->gmem_pgoff, false, &order);
	return order >= 9 && pfn == hpa;
}

int kvm_vm_promote(struct kvm_vm *vm)
{
	if (vm->dead)
		return -EIO;
	if (!vm->pol.promote || !vm->huge)
		return -EOPNOTSUPP;
	seam_read_lock(&vm->srcu);
	mmu_write_lock(vm);
	int r = mmu_promote_all(vm, range_is_folio);
	seam_write_unlock(&vm->mmu_lock);
	seam_read_unlock(&vm->srcu);
	return vm->dead ? -EIO : r;
}

/* ---- build: INIT_MEM_REGION, FINALIZE, PRE_FAULT ---- */

/* The 16 MR.EXTENDs of 256 bytes that measure the page at @gfn. */
static int extend_page(struct kvm_vm *vm, uint64_t gfn)
{
	struct tdx_regs out;
	for (uint64_t off = 0; off < SZ_4K; off += 256) {
		uint64_t st = tdh_mr_extend(vm->m, &out, (gfn << 12) + off, vm->tdr);
		if (st) {
			seamcall_err(vm, "TDH.MR.EXTEND", st);
			return -EIO;
		}
	}
	return 0;
}

/*
 * Map (populate) or add (prefault) one page of initial memory, and measure
 * it.  Populate holds the guest_memfd invalidate lock across PAGE.ADD and
 * the extends, as kvm_gmem_populate() holds the file's invalidate lock
 * around its post-populate callback: no punch can come in between.
 */
static int init_one_page(struct kvm_vm *vm, uint64_t gfn, uint64_t source, bool measure)
{
	struct kvm_memslot *s = vm_slot_of(vm, gfn);
	if (!s || s->deleting || !s->gmem || !vm_gfn_private(vm, gfn) ||
	    tdx_td_op_state(vm->td) != OP_STATE_INITIALIZED)
		return -EINVAL;
	uint64_t index = gfn - s->base_gfn + s->gmem_pgoff;
	int r;
	if (dpamt_vcpu_topup(vm))	/* before mmu_lock: pairs for the page and its tables */
		return -ENOMEM;
	if (vm->pol.build == BUILD_PREFAULT) {
		/* the page must have been pre-faulted: add it where the mirror says */
		struct tdx_regs out;
		mmu_write_lock(vm);
		uint64_t *leaf = mmu_leaf(&vm->mirror, gfn);
		uint64_t spte = leaf ? *leaf : 0;
		uint64_t hpa = gmem_get_pfn(vm->k, s->gmem, index, false, NULL);
		if (!(spte & SPTE_PREMAP) || (spte & SPTE_HPA_MASK) != hpa || !hpa) {
			seam_write_unlock(&vm->mmu_lock);
			return -EINVAL;
		}
		if ((r = dpamt_get(vm, hpa, dpamt_fault_cache(vm)))) {
			seam_write_unlock(&vm->mmu_lock);
			return r;
		}
		uint64_t st = tdh_mem_page_add(vm->m, &out, tdx_gpa_info(gfn << 12, 0), vm->tdr, hpa,
					       source);
		if (st) {
			dpamt_put(vm, hpa);
			seam_write_unlock(&vm->mmu_lock);
			return seamcall_err(vm, "TDH.MEM.PAGE.ADD", st);
		}
		*leaf = spte & ~SPTE_PREMAP;
		vm->nr_premapped--;
		vm->st.page_adds++;
		seam_write_unlock(&vm->mmu_lock);
		return measure ? extend_page(vm, gfn) : 0;
	}
	struct gmem *g = s->gmem;
	seam_read_lock(&vm->srcu);
	seam_read_lock(&g->invalidate_lock);
	uint64_t hpa = gmem_get_pfn(vm->k, g, index, true, NULL);
	do {
		seam_read_lock(&vm->mmu_lock);
		r = hpa ? mmu_map_private(vm, gfn, 0, hpa, source, false) : RET_PF_NOMEM;
		seam_read_unlock(&vm->mmu_lock);
	} while (r == RET_PF_RETRY && !vm->dead);
	r = r == RET_PF_CONTINUE ? 0
	    : r == RET_PF_SPURIOUS ? -EEXIST	/* already added */
	    : r == RET_PF_NOMEM ? -ENOMEM : -EIO;
	if (!r && measure)
		r = extend_page(vm, gfn);
	seam_read_unlock(&g->invalidate_lock);
	seam_read_unlock(&vm->srcu);
	return r;
}

int kvm_tdx_init_mem_region(struct kvm_vm *vm, int vcpu, uint32_t flags,
			    struct kvm_tdx_init_mem_region *reg)
{
	if (vm->dead)
		return -EIO;
	if (!reg)
		return -EFAULT;
	struct kvm_vcpu *v = ready_vcpu(vm, vcpu);
	if (!v)
		return -EINVAL;
	if (flags & ~KVM_TDX_MEASURE_MEMORY_REGION)
		return -EINVAL;
	uint64_t gpa = reg->gpa, n = reg->nr_pages;
	if (((uintptr_t)reg->source & (SZ_4K - 1)) || (gpa & (SZ_4K - 1)) || n == 0 ||
	    n > (1ull << 40) || gpa + n * SZ_4K <= gpa || ((gpa | (gpa + n * SZ_4K - 1)) & vm->shared_bit))
		return -EINVAL;
	int r = 0;
	seam_mutex_lock(&vm->slots_lock);
	/* under slots_lock, so FINALIZE cannot come in between (it takes it too) */
	if (vm->state != VM_TD_INITIALIZED) {
		seam_mutex_unlock(&vm->slots_lock);
		return vm->dead ? -EIO : -EINVAL;
	}
	struct kvm_vcpu *prev = dpamt_vcpu_load(v);
	/* one shared page stands for the user buffer */
	uint64_t source = vm_alloc_page(vm);
	if (!source)
		r = -ENOMEM;
	while (!r && reg->nr_pages) {
		if (!reg->source) {
			r = -EFAULT;	/* the user page cannot be pinned */
			break;
		}
		physmem_write(vm->pm, source, reg->source, SZ_4K);
		r = init_one_page(vm, reg->gpa >> 12, source, flags & KVM_TDX_MEASURE_MEMORY_REGION);
		if (r)
			break;
		reg->source = (const uint8_t *)reg->source + SZ_4K;
		reg->gpa += SZ_4K;
		reg->nr_pages--;
	}
	if (source)
		vm_free_page(vm, source);
	dpamt_vcpu_unload(v, prev);
	seam_mutex_unlock(&vm->slots_lock);
	return r;
}

/*
 * Once the TD runs: may this design map 2M, with this module?  huge-v5,
 * huge-nbr and explicit-demotion need enhanced demote interruptibility
 * (huge-pages.md section 6: retrying INTERRUPTED_RESTARTABLE forever is a
 * denial of service) and otherwise map 4K, saying so once (vm->notice);
 * huge-rfc1 predates that check.  huge-nbr splits under the shared lock
 * only where the module offers the proposed non-blocking resize.
 */
static void huge_decide(struct kvm_vm *vm)
{
	uint64_t f = tdx_module_features0(vm->m);
	enum kvm_map_level l = vm->pol.max_level;
	vm->huge = l != MAP_LEVEL_4K;
	if (l != MAP_LEVEL_4K && l != MAP_LEVEL_HUGE_RFC1 &&
	    !(f & TDX_FEATURES0_ENHANCED_DEMOTE_INTERRUPTIBILITY)) {
		vm->huge = false;
		snprintf(vm->notice, sizeof(vm->notice),
			 "level=%s: the TDX module lacks enhanced demote interruptibility "
			 "(TDX_FEATURES0 bit 51): private memory is mapped 4K", level_names[l]);
	}
	vm->shared_split = vm->huge && l == MAP_LEVEL_HUGE_NBR &&
			   (f & TDX_FEATURES0_NONBLOCKING_RESIZE);
	if (vm->huge && l == MAP_LEVEL_HUGE_NBR && !vm->shared_split)
		snprintf(vm->notice, sizeof(vm->notice),
			 "level=huge-nbr: the TDX module has no non-blocking resize: "
			 "faults do not split (as huge-v5)");
}

int kvm_tdx_finalize_vm(struct kvm_vm *vm)
{
	struct tdx_regs out;
	int r = 0;
	/* slots_lock too: no INIT_MEM_REGION may be half done (tdx_td_finalize) */
	seam_mutex_lock(&vm->lock);
	seam_mutex_lock(&vm->slots_lock);
	if (vm->dead) {
		r = -EIO;
		goto out;
	}
	if (vm->state != VM_TD_INITIALIZED || vm->nr_premapped) {
		r = -EINVAL;	/* pre-faulted pages never added: seed 004's check */
		goto out;
	}
	uint64_t st = tdh_mr_finalize(vm->m, &out, vm->tdr);
	if (tdx_status_code(st) == TDX_OPERAND_BUSY) {
		r = -EBUSY;
		goto out;
	}
	if (st) {
		/* KVM_BUG_ON: the VM is dead */
		vm_kill(vm, "TDH.MR.FINALIZE: %s (%#" PRIx64 ")", tdx_status_name(st), st);
		r = -EIO;
		goto out;
	}
	vm->state = VM_FINALIZED;
	huge_decide(vm);
out:
	seam_mutex_unlock(&vm->slots_lock);
	seam_mutex_unlock(&vm->lock);
	return r;
}

/*
 * One page of a pre-fault, as a vCPU fault would map it (srcu read held):
 * 0, or -errno as kvm_tdp_map_page() reports it.
 */
static int pre_fault_one(struct kvm_vm *vm, uint64_t gfn, bool prefault_flow)
{
	for (;;) {
		if (vm->dead)
			return -EIO;
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		if (!s)
			return -ENOENT;		/* RET_PF_EMULATE: MMIO */
		if (s->deleting)
			return -EAGAIN;
		uint64_t seq = seam_load64(&vm->invalidate_seq);
		int pf;
		if (vm_gfn_private(vm, gfn)) {
			if (!s->gmem)
				return -EFAULT;	/* a memory-fault exit */
			if (dpamt_vcpu_topup(vm))	/* before mmu_lock */
				return -ENOMEM;
			seam_read_lock(&s->gmem->invalidate_lock);
			int order = 0;
			uint64_t hpa = gmem_get_pfn(vm->k, s->gmem, gfn - s->base_gfn + s->gmem_pgoff,
						    true, &order);
			seam_read_lock(&vm->mmu_lock);
			/* as a fault without level information would map it (under the lock) */
			int level = mmu_max_level(vm, s, gfn, TDX_LEVEL_2M, false, order);
			pf = !hpa ? RET_PF_NOMEM
			     : seq != seam_load64(&vm->invalidate_seq) ? RET_PF_RETRY
			     : mmu_map_private(vm, gfn, level, hpa, 0, prefault_flow);
			seam_read_unlock(&vm->mmu_lock);
			seam_read_unlock(&s->gmem->invalidate_lock);
		} else {
			uint64_t hpa = vm_shared_backing(vm, s, gfn, true);
			seam_read_lock(&vm->mmu_lock);
			pf = !hpa ? RET_PF_NOMEM
			     : seq != seam_load64(&vm->invalidate_seq) ? RET_PF_RETRY
			     : mmu_map_shared(vm, gfn, hpa);
			seam_read_unlock(&vm->mmu_lock);
		}
		switch (pf) {
		case RET_PF_CONTINUE:
		case RET_PF_SPURIOUS:
			return 0;
		case RET_PF_RETRY:
			seam_yield();
			continue;
		case RET_PF_NOMEM:
			return -ENOMEM;
		default:
			return -EIO;
		}
	}
}

int kvm_pre_fault_memory(struct kvm_vm *vm, int vcpu, struct kvm_pre_fault_memory *r)
{
	if (vm->dead)
		return -EIO;
	if (!r)
		return -EFAULT;
	struct kvm_vcpu *v = ready_vcpu(vm, vcpu);
	if (!v)
		return -EINVAL;
	if (r->flags || (r->gpa | r->size) & (SZ_4K - 1) || r->gpa + r->size <= r->gpa)
		return -EINVAL;
	bool prefault_flow = vm->pol.build == BUILD_PREFAULT && vm->state == VM_TD_INITIALIZED;
	if (vm->state != VM_FINALIZED && !prefault_flow)
		return -EOPNOTSUPP;	/* pre_fault_allowed is set at FINALIZE */
	uint64_t full = r->size;
	int ret = 0;
	struct kvm_vcpu *prev = dpamt_vcpu_load(v);
	seam_read_lock(&vm->srcu);
	while (r->size) {
		if (r->gpa & vm->shared_bit) {
			ret = -EINVAL;	/* kvm_is_gfn_alias() */
			break;
		}
		ret = pre_fault_one(vm, r->gpa >> 12, prefault_flow);
		if (ret)
			break;
		r->gpa += SZ_4K;
		r->size -= SZ_4K;
	}
	seam_read_unlock(&vm->srcu);
	dpamt_vcpu_unload(v, prev);
	/* success once at least one page was mapped */
	return r->size == full ? ret : 0;
}

/* ---- running ---- */

int kvm_vcpu_run(struct kvm_vm *vm, int id, void (*prog)(struct gvcpu *g, void *arg), void *arg)
{
	if (vm->dead)
		return -EIO;
	if (!prog)
		return -EINVAL;
	struct kvm_vcpu *v = ready_vcpu(vm, id);
	if (!v || vm->state != VM_FINALIZED)
		return -EINVAL;
	if (v->running)
		return -EBUSY;
	v->running = true;
	vm->nrunning++;
	struct kvm_vcpu *prev = dpamt_vcpu_load(v);
	int rc = gvcpu_run(&v->g, prog, arg);
	dpamt_vcpu_unload(v, prev);
	vm->nrunning--;
	v->running = false;
	return rc ? -EIO : 0;
}

struct gvcpu *kvm_vcpu_guest(struct kvm_vm *vm, int id)
{
	struct kvm_vcpu *v = ready_vcpu(vm, id);
	return v ? &v->g : NULL;
}

int kvm_vcpu_post_interrupt(struct kvm_vm *vm, int id)
{
	if (vm->dead)
		return -EIO;
	struct kvm_vcpu *v = ready_vcpu(vm, id);
	if (!v)
		return -EINVAL;
	v->irq_pending = true;
	tdx_vcpu_wake(v);	/* an interrupt ends HLT */
	return 0;
}

/* ---- what the VMM does ---- */

int kvm_vmm_add_private_ram(struct kvm_vm *vm, int slot, uint64_t gpa, uint64_t size)
{
	int fd = kvm_create_guest_memfd(vm, size, 0);
	if (fd < 0)
		return fd;
	struct kvm_userspace_memory_region2 r = {
		.slot = (uint32_t)slot, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = gpa,
		.memory_size = size, .guest_memfd = fd,
	};
	int e = kvm_set_user_memory_region2(vm, &r);
	if (!e)
		e = kvm_set_memory_attributes(vm, gpa, size, KVM_MEMORY_ATTRIBUTE_PRIVATE);
	return e ? e : fd;
}

int kvm_vmm_convert(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool private)
{
	if ((gpa | size) & (SZ_4K - 1) || size == 0 || gpa + size < gpa)
		return -EINVAL;
	/* every page must be RAM, and guest_memfd RAM to become private */
	for (uint64_t gfn = gpa >> 12; gfn < (gpa + size) >> 12;) {
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		if (!s || (private && !s->gmem))
			return -EINVAL;
		gfn = s->base_gfn + s->npages;
	}
	int r = kvm_set_memory_attributes(vm, gpa, size, private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
	if (r)
		return r;
	if (private)
		return kvm_vmm_discard_shared(vm, gpa, size);
	/* ram_block_discard_guest_memfd_range(): punch what each slot binds */
	for (uint64_t gfn = gpa >> 12; gfn < (gpa + size) >> 12;) {
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		if (!s)
			return -EINVAL;	/* deleted meanwhile: nothing of it to discard */
		uint64_t end = s->base_gfn + s->npages < (gpa + size) >> 12 ? s->base_gfn + s->npages
									     : (gpa + size) >> 12;
		if (s->gmem) {
			int fd = (int)(s->gmem - vm->gmems);
			r = kvm_gmem_punch_hole(vm, fd, (gfn - s->base_gfn + s->gmem_pgoff) << 12,
						(end - gfn) << 12);
			if (r)
				return r;
		}
		gfn = end;
	}
	return 0;
}

int kvm_vmm_discard_shared(struct kvm_vm *vm, uint64_t gpa, uint64_t size)
{
	if ((gpa | size) & (SZ_4K - 1) || size == 0 || gpa + size < gpa)
		return -EINVAL;
	gpa &= ~vm->shared_bit;
	uint64_t start = gpa >> 12, end = (gpa + size) >> 12;
	seam_mutex_lock(&vm->slots_lock);
	/*
	 * The MMU notifier: the shared mappings go, then the pages, both under
	 * the exclusive mmu_lock: a fault that looked the page up before the
	 * zap finds invalidate_seq changed once it gets the lock, and one after
	 * it finds no page (freeing has no scheduling point inside).
	 */
	bool locked = vm->state >= VM_TD_INITIALIZED;
	if (locked) {
		mmu_write_lock(vm);
		mmu_zap_shared(vm, start, end - start);
	}
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		struct kvm_memslot *s = &vm->slots[i];
		if (!s->used || start >= s->base_gfn + s->npages || s->base_gfn >= end)
			continue;
		uint64_t lo = start > s->base_gfn ? start - s->base_gfn : 0;
		uint64_t hi = end < s->base_gfn + s->npages ? end - s->base_gfn : s->npages;
		shmap_free_range(vm, &s->shared, lo, hi);
	}
	if (locked)
		seam_write_unlock(&vm->mmu_lock);
	seam_mutex_unlock(&vm->slots_lock);
	return 0;
}

/* Copy between @buf and the shared memory at @gpa; allocates on write. */
static int shared_copy(struct kvm_vm *vm, uint64_t gpa, uint8_t *buf, uint64_t len, bool write)
{
	gpa &= ~vm->shared_bit;
	while (len) {
		uint64_t gfn = gpa >> 12, n = SZ_4K - (gpa & 0xfff);
		if (n > len)
			n = len;
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		if (!s)
			return -EFAULT;
		uint64_t hpa = vm_shared_backing(vm, s, gfn, write);
		if (!hpa && write)
			return -ENOMEM;
		if (write)
			physmem_write(vm->pm, hpa + (gpa & 0xfff), buf, n);
		else if (hpa)
			physmem_read(vm->pm, hpa + (gpa & 0xfff), buf, n);
		else
			memset(buf, 0, n);	/* untouched anonymous memory reads zero */
		buf += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int kvm_vm_read_shared(struct kvm_vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	return shared_copy(vm, gpa, buf, len, false);
}

int kvm_vm_write_shared(struct kvm_vm *vm, uint64_t gpa, const void *buf, uint64_t len)
{
	return shared_copy(vm, gpa, (uint8_t *)(uintptr_t)buf, len, true);
}

/* ---- inspection ---- */

const struct kvm_vm_stats *kvm_vm_stats(const struct kvm_vm *vm) { return &vm->st; }
struct tdx_td *kvm_vm_td(const struct kvm_vm *vm) { return vm->td; }
uint64_t kvm_vm_tdr(const struct kvm_vm *vm) { return vm->tdr; }

bool kvm_vm_dead(const struct kvm_vm *vm, const char **why)
{
	if (why)
		*why = vm->why;
	return vm->dead;
}

bool kvm_vm_private_mapped(struct kvm_vm *vm, uint64_t gpa)
{
	int level;
	uint64_t s = mmu_private_spte(vm, gpa >> 12, &level);
	return (s & SPTE_PRESENT) && s != SPTE_FROZEN && !(s & SPTE_PREMAP);
}

uint64_t kvm_vm_private_hpa(struct kvm_vm *vm, uint64_t gpa)
{
	int level;
	uint64_t s = mmu_private_spte(vm, gpa >> 12, &level);
	if (!(s & SPTE_PRESENT) || s == SPTE_FROZEN || (s & SPTE_PREMAP))
		return 0;
	/* a 2M leaf maps the page at the GPA's offset in it */
	return (s & SPTE_HPA_MASK) + (level ? (gpa & (SZ_2M - 1) & ~(SZ_4K - 1)) : 0);
}

bool kvm_vm_shared_mapped(struct kvm_vm *vm, uint64_t gpa)
{
	if (!vm->direct.root)
		return false;
	uint64_t *leaf = mmu_leaf(&vm->direct, (gpa & ~vm->shared_bit) >> 12);
	return leaf && (*leaf & SPTE_PRESENT) && *leaf != SPTE_FROZEN;
}

uint64_t kvm_vm_shared_hpa(struct kvm_vm *vm, uint64_t gpa)
{
	return kvm_vm_shared_mapped(vm, gpa)
		       ? *mmu_leaf(&vm->direct, (gpa & ~vm->shared_bit) >> 12) & SPTE_HPA_MASK
		       : 0;
}

bool kvm_vm_gpa_private(const struct kvm_vm *vm, uint64_t gpa)
{
	uint64_t gfn = gpa >> 12;
	return vm_range_private(vm, gfn, gfn + 1);
}

int kvm_vm_gmem_folios(const struct kvm_vm *vm, int fd, uint64_t *n2m, uint64_t *n4k)
{
	if (fd < 0 || fd >= KVM_MAX_GMEMS || !vm->gmems[fd].used)
		return -EBADF;
	*n2m = vm->gmems[fd].folios_2m;
	*n4k = vm->gmems[fd].folios_4k;
	return 0;
}

uint64_t kvm_vm_resident_bytes(const struct kvm_vm *vm)
{
	uint64_t n = sizeof(*vm) + vm->priv_cap * sizeof(*vm->priv);
	n += (vm->mirror.npages + vm->direct.npages) * sizeof(struct mmu_page);
	for (int i = 0; i < KVM_MAX_GMEMS; i++)
		if (vm->gmems[i].used)
			n += gmem_resident_bytes(&vm->gmems[i]);
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct shmap *m = &vm->slots[i].shared;
		if (!vm->slots[i].used)
			continue;
		n += m->ndirs * sizeof(*m->dirs) + m->ndirs_used * 512 * sizeof(uint64_t *) +
		     m->nleaves * 512 * sizeof(uint64_t);
	}
	return n;
}

/* ---- teardown ---- */

/*
 * Reclaim a control page once the key is gone.  Only the TDR needs a cache
 * write-back (tdh_phymem_page_wbinvd_tdr): it is encrypted with the
 * module's global key; TDH.PHYMEM.CACHE.WB wrote back the TD's key.
 */
static void reclaim_page(struct kvm_vm *vm, uint64_t hpa, bool is_tdr)
{
	struct tdx_regs out;
	uint64_t st = tdh_phymem_page_reclaim(vm->m, &out, hpa);
	if (st != TDX_SUCCESS) {
		vm->leaked = true;
		vm_kill(vm, "reclaiming %#" PRIx64 ": %s", hpa, tdx_status_name(st));
		return;		/* leaked to the module: the test will see it */
	}
	if (is_tdr)
		tdh_phymem_page_wbinvd(vm->m, &out, hpa);
	dpamt_put(vm, hpa);
	vm_free_page(vm, hpa);
}

/*
 * After the key is freed (TD_TEARDOWN): reclaim every private page the
 * mirror still maps, as tdx_sept_remove_private_spte() does once the HKID
 * is gone: TDH.PHYMEM.PAGE.RECLAIM and the host's clear, no BLOCK, TRACK,
 * kick, REMOVE or WBINVD.  Needs the exclusive mmu_lock.  The page itself
 * stays with its guest_memfd file, which frees it.
 */
static void reclaim_leaves(struct kvm_vm *vm, struct mmu_page *pt)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t s = pt->spte[i];
		if (s == SPTE_FROZEN || !(s & SPTE_PRESENT))
			continue;
		if (s & SPTE_LEAF || pt->level == 0) {
			if (!(s & SPTE_PREMAP)) {
				struct tdx_regs out;
				uint64_t hpa = s & SPTE_HPA_MASK, n4k = 1ull << (9 * pt->level);
				seam_charge(SEAM_COST_ZAP_4K, n4k);
				uint64_t st = tdh_phymem_page_reclaim(vm->m, &out, hpa);
				if (st == TDX_SUCCESS) {
					vm_clear_private(vm, hpa, n4k);
					if (pt->level == 0)
						dpamt_put(vm, hpa);	/* a 2M page has none */
				} else {
					vm->leaked = true;
				}
			}
			pt->spte[i] = 0;
			continue;
		}
		reclaim_leaves(vm, (struct mmu_page *)(uintptr_t)(s & ~0xfull));
	}
}

/* The host's own memory: direct tables, memslots, guest_memfd files, vCPUs. */
static void free_host_side(struct kvm_vm *vm)
{
	mmu_free_tables(vm, &vm->direct, false);
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++)
		if (vm->slots[i].used)
			slot_release(vm, &vm->slots[i]);
	for (int i = 0; i < KVM_MAX_GMEMS; i++)
		if (vm->gmems[i].used)
			gmem_release(vm->k, &vm->gmems[i]);
	for (int i = 0; i < vm->nvcpus; i++) {
		dpamt_cache_free(vm, &vm->vcpus[i]->pamt_cache);
		sim_free(vm->vcpus[i]);
	}
	sim_free(vm->priv);
	gfnset_free(&vm->inhibit);
	sim_free(vm->split_inflight);
	while (vm->nsplit_cache)
		vm_free_page(vm, vm->split_cache[--vm->nsplit_cache]);
	dpamt_cache_free(vm, &vm->pamt_cache);
}

/*
 * tdx_mmu_release_hkid(): flush every vCPU, TDH.MNG.VPFLUSHDONE (the TD is
 * blocked from here), write back the caches (TDH.PHYMEM.CACHE.WB, resumed
 * while it is interrupted), free the key (TDH.MNG.KEY.FREEID: the TD is in
 * TD_TEARDOWN).  Once per VM; nothing to do for a VM without a TD.  A
 * failure bugs the VM, as KVM_BUG_ON does ("HKID is leaked").
 */
static void release_hkid(struct kvm_vm *vm)
{
	struct tdx_regs out;
	if (vm->hkid_released || vm->state < VM_TD_CREATED)
		return;
	vm->hkid_released = true;
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->tdvpr && vm->vcpus[i]->ntdcx == TDX_TDVPS_PAGES - 1)
			tdh_vp_flush(vm->m, &out, vm->vcpus[i]->tdvpr);
	uint64_t st = tdh_mng_vpflushdone(vm->m, &out, vm->tdr);
	if (st)
		vm_kill(vm, "TDH.MNG.VPFLUSHDONE: %s", tdx_status_name(st));
	st = tdh_phymem_cache_wb(vm->m, &out, TDX_CACHEWB_START);
	while (st == TDX_INTERRUPTED_RESUMABLE)
		st = tdh_phymem_cache_wb(vm->m, &out, TDX_CACHEWB_RESUME);
	st = tdh_mng_key_freeid(vm->m, &out, vm->tdr);
	if (st)
		vm_kill(vm, "TDH.MNG.KEY.FREEID: %s", tdx_status_name(st));
}

static bool any_vcpu_running(const struct kvm_vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->running)
			return true;
	return false;
}

int kvm_tdx_terminate_vm(struct kvm_vm *vm)
{
	int r = 0;
	seam_mutex_lock(&vm->lock);	/* tdx_vm_ioctl() holds kvm->lock */
	if (vm->dead) {
		r = -EIO;	/* kvm_vm_ioctl() of a dead VM */
		goto out;
	}
	if (any_vcpu_running(vm)) {
		r = -EBUSY;	/* kvm_trylock_all_vcpus() failed: nothing changed */
		goto out;
	}
	/* kvm_vm_dead(); vm_terminated is set under the exclusive mmu_lock */
	vm_kill(vm, "terminated (KVM_TDX_TERMINATE_VM)");
	release_hkid(vm);
out:
	seam_mutex_unlock(&vm->lock);
	return r;
}

int kvm_destroy_vm(struct kvm_vm *vm)
{
	if (any_vcpu_running(vm))
		return -EBUSY;
	bool had_td = vm->state >= VM_TD_CREATED;
	/* terminate: the HKID goes first, so no leaf below needs removing */
	if (vm->pol.teardown == TEARDOWN_TERMINATE && had_td && !vm->dead)
		kvm_tdx_terminate_vm(vm);
	/* 1. zap: every private leaf is removed while the key is still live */
	if (vm->state >= VM_TD_INITIALIZED && !vm->dead) {
		mmu_write_lock(vm);
		mmu_zap_private(vm, 0, 1ull << (9 * vm->levels));
		seam_write_unlock(&vm->mmu_lock);
	}
	if (had_td) {
		/* 2. flush vCPUs, block the TD, write back caches, free the key */
		release_hkid(vm);
		/* 3. reclaim what is left: every private page after terminate, those
		 * of a VM that died before the zap, S-EPT pages */
		if (vm->mirror.root) {
			mmu_write_lock(vm);
			reclaim_leaves(vm, vm->mirror.root);
			seam_write_unlock(&vm->mmu_lock);
			mmu_free_tables(vm, &vm->mirror, true);
		}
		/* 4. control pages, the TDR last */
		for (int i = 0; i < vm->nvcpus; i++) {
			struct kvm_vcpu *v = vm->vcpus[i];
			for (int j = 0; j < v->ntdcx; j++)
				reclaim_page(vm, v->tdcx[j], false);
			if (v->tdvpr)
				reclaim_page(vm, v->tdvpr, false);
		}
		for (int i = 0; i < vm->ntdcx; i++)
			reclaim_page(vm, vm->tdcx[i], false);
		reclaim_page(vm, vm->tdr, true);
	}
	free_host_side(vm);
	int r = had_td && vm->leaked ? -EIO : 0;
	sim_free(vm);
	return r;
}

void kvm_vm_free_abandoned(struct kvm_vm *vm)
{
	vm->dead = true;
	mmu_free_tables(vm, &vm->mirror, false);
	free_host_side(vm);
	sim_free(vm);
}
