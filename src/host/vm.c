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
	struct kvm *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->plat = *p;
	k->m = tdx_module_create(&c);
	if (!k->m) {
		free(k);
		return NULL;
	}
	k->pm = tdx_module_physmem(k->m);
	/* the host allocates from the (default) TDMR: everything above 1 GiB */
	if (hostmem_init(&k->hm, k->pm->tdmr[0].base, k->pm->tdmr[0].size, p->fragmentation,
			 p->seed)) {
		tdx_module_destroy(k->m);
		free(k);
		return NULL;
	}
	k->next_hkid = 1;
	return k;
}

void kvm_destroy(struct kvm *k)
{
	if (!k)
		return;
	hostmem_destroy(&k->hm);
	tdx_module_destroy(k->m);
	free(k);
}

struct tdx_module *kvm_module(struct kvm *k) { return k->m; }
struct hostmem *kvm_hostmem(struct kvm *k) { return &k->hm; }

int kvm_tdx_capabilities(struct kvm *k, struct kvm_tdx_capabilities *caps)
{
	if (!caps)
		return -EFAULT;
	memset(caps, 0, sizeof(*caps));
	caps->supported_attrs = TD_ATTR_SEPT_VE_DISABLE;	/* all upstream KVM offers */
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
static const char *const build_names[] = {
	[BUILD_POPULATE] = "populate", [BUILD_PREMAP] = "premap",
};
static const char *const busy_names[] = {
	[BUSY_KICK_RETRY] = "kick-retry", [BUSY_RETRY_N] = "retry-n",
};
static const char *const level_names[] = { [MAP_LEVEL_4K] = "4k" };

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
		/* huge-page variants come with the next issue */
		if ((i = PARSE_NAME(val, level_names)) < 0)
			return i;
		p->max_level = (enum kvm_map_level)i;
	} else {
		return -EINVAL;
	}
	return 0;
}

void kvm_policy_describe(const struct kvm_policy *p, char *buf, unsigned len)
{
	char n[32] = "";
	if (p->busy == BUSY_RETRY_N)
		snprintf(n, sizeof(n), " retry_n=%d", p->retry_n);
	snprintf(buf, len, "build=%s busy=%s%s local_retry=%s slot_break=%s level=%s",
		 build_names[p->build], busy_names[p->busy], n, p->local_retry ? "on" : "off",
		 p->local_retry_slot_break ? "on" : "off", level_names[p->max_level]);
}

/* ---- helpers ---- */

void vm_kill(struct kvm_vm *vm, const char *fmt, ...)
{
	if (vm->dead)
		return;
	vm->dead = true;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->why, sizeof(vm->why), fmt, ap);
	va_end(ap);
}

uint64_t vm_alloc_page(struct kvm_vm *vm)
{
	uint64_t p = hostmem_alloc_4k(vm->hm);
	if (!p) {
		fprintf(stderr, "tdxsim: host memory exhausted\n");
		abort();
	}
	return p;
}

/*
 * The part [*lo, *hi) of gfns [gfn, gfn + n) that slot @s covers; false if
 * none.  Attributes live in the slots, so a range far larger than the
 * guest's memory costs only what the slots hold.
 */
static bool slot_clip(const struct kvm_memslot *s, uint64_t gfn, uint64_t n, uint64_t *lo,
		      uint64_t *hi)
{
	if (!s->used || gfn >= s->base_gfn + s->npages || s->base_gfn >= gfn + n)
		return false;
	*lo = gfn > s->base_gfn ? gfn : s->base_gfn;
	*hi = gfn + n < s->base_gfn + s->npages ? gfn + n : s->base_gfn + s->npages;
	return true;
}

static void set_private(struct kvm_memslot *s, uint64_t lo, uint64_t hi, bool private)
{
	for (uint64_t i = lo - s->base_gfn; i < hi - s->base_gfn; i++)
		if (private)
			s->private_bits[i / 64] |= 1ull << (i % 64);
		else
			s->private_bits[i / 64] &= ~(1ull << (i % 64));
}

/* QEMU's answer to a memory fault or MapGPA: convert, discarding private memory. */
static int default_memory_fault(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool private,
				void *ctx)
{
	(void)ctx;
	if (!vm_slot_of(vm, gpa >> 12)) {
		vm_kill(vm, "no memslot for GPA %#" PRIx64, gpa);
		return -EFAULT;
	}
	return kvm_set_memory_attributes(vm, gpa, size, private);
}

static uint64_t default_map_gpa(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool shared,
				void *ctx)
{
	(void)ctx;
	int r = kvm_set_memory_attributes(vm, gpa, size, !shared);
	return r ? TDVMCALL_STATUS_INVALID_OPERAND : TDVMCALL_STATUS_SUCCESS;
}

void kvm_set_vmm_ops(struct kvm_vm *vm, const struct kvm_vmm_ops *ops)
{
	vm->vmm = *ops;
	if (!vm->vmm.memory_fault)
		vm->vmm.memory_fault = default_memory_fault;
	if (!vm->vmm.map_gpa)
		vm->vmm.map_gpa = default_map_gpa;
}

/* ---- VM creation ---- */

struct kvm_vm *kvm_create_vm(struct kvm *k, const struct kvm_policy *pol)
{
	struct kvm_policy def;
	if (!pol) {
		kvm_policy_default(&def);
		pol = &def;
	}
	if (pol->busy == BUSY_RETRY_N && pol->retry_n < 1)
		return NULL;
	struct kvm_vm *vm = calloc(1, sizeof(*vm));
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

static int seamcall_err(struct kvm_vm *vm, const char *leaf, uint64_t st)
{
	snprintf(vm->why, sizeof(vm->why), "%s: %s (%#" PRIx64 ")", leaf, tdx_status_name(st), st);
	return tdx_status_code(st) == TDX_OPERAND_BUSY ? -EBUSY : -EIO;
}

/* Add @n control pages to @owner with @addcx (MNG.ADDCX or VP.ADDCX). */
static int add_cx_pages(struct kvm_vm *vm,
			uint64_t (*addcx)(struct tdx_module *, struct tdx_regs *, uint64_t, uint64_t),
			uint64_t owner, uint64_t *pages, int n, int *added, const char *leaf)
{
	struct tdx_regs out;
	for (int i = 0; i < n; i++) {
		pages[i] = vm_alloc_page(vm);
		uint64_t st = addcx(vm->m, &out, pages[i], owner);
		if (st) {
			hostmem_free_4k(vm->hm, pages[i]);
			return seamcall_err(vm, leaf, st);
		}
		(*added)++;
	}
	return 0;
}

int kvm_tdx_init_vm(struct kvm_vm *vm, struct kvm_tdx_init_vm *init)
{
	struct tdx_regs out;
	struct kvm_tdx_capabilities caps;
	int r = 0;
	if (!init)
		return -EFAULT;
	seam_mutex_lock(&vm->lock);
	if (vm->state != VM_NEW || vm->nvcpus) {
		r = -EINVAL;
		goto out;
	}
	kvm_tdx_capabilities(vm->k, &caps);
	if ((init->attributes & ~caps.supported_attrs) ||
	    (init->xfam & ~caps.supported_xfam) || init->nent < 0 ||
	    init->nent > KVM_TDX_MAX_CPUID) {
		r = -EINVAL;
		goto out;
	}
	/* GPAW and EPT levels from the guest MAXPHYADDR of CPUID 0x80000008 */
	struct kvm_cpuid_entry *e = NULL;
	for (int i = 0; i < init->nent; i++)
		if (init->entries[i].function == 0x80000008 && init->entries[i].index == 0)
			e = &init->entries[i];
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
	vm->levels = guest_maxpa == 52 ? 5 : 4;
	uint16_t max_vcpus = init->max_vcpus ? init->max_vcpus : KVM_MAX_VCPUS;
	if (max_vcpus > KVM_MAX_VCPUS) {
		r = -EINVAL;
		goto out;
	}

	/* TDH.MNG.CREATE, KEY.CONFIG, ADDCX x6, MNG.INIT */
	uint64_t st = TDX_HKID_NOT_FREE;
	vm->tdr = vm_alloc_page(vm);
	uint16_t hkid = 0;
	for (unsigned tries = 0; tries < vm->k->plat.nr_hkids; tries++) {
		hkid = vm->k->next_hkid;
		vm->k->next_hkid = (uint16_t)(hkid % vm->k->plat.nr_hkids + 1);
		st = tdh_mng_create(vm->m, &out, vm->tdr, hkid);
		if (st != TDX_HKID_NOT_FREE)
			break;
	}
	if (st) {
		hostmem_free_4k(vm->hm, vm->tdr);
		vm->tdr = 0;
		r = st == TDX_HKID_NOT_FREE ? -EBUSY : seamcall_err(vm, "TDH.MNG.CREATE", st);
		goto out;
	}
	vm->hkid = hkid;
	vm->state = VM_TD_CREATED;
	st = tdh_mng_key_config(vm->m, &out, vm->tdr);
	if (st) {
		r = seamcall_err(vm, "TDH.MNG.KEY.CONFIG", st);
		goto out;
	}
	r = add_cx_pages(vm, tdh_mng_addcx, vm->tdr, vm->tdcx, TDX_TDCS_PAGES, &vm->ntdcx,
			 "TDH.MNG.ADDCX");
	if (r)
		goto out;
	struct td_params p;
	memset(&p, 0, sizeof(p));
	p.attributes = init->attributes;
	p.xfam = init->xfam ? init->xfam : TDX_XFAM_FIXED1;
	p.max_vcpus = max_vcpus;
	p.eptp_controls = EPTP_MT_WB | ((uint64_t)(vm->levels - 1) << EPTP_PWL_SHIFT);
	p.config_flags = vm->levels == 5 ? TD_CONFIG_GPAW : 0;
	p.tsc_frequency = 100;
	uint64_t params = vm_alloc_page(vm);
	physmem_write(vm->pm, params, &p, sizeof(p));
	st = tdh_mng_init(vm->m, &out, vm->tdr, params);
	physmem_zero_page(vm->pm, params);
	hostmem_free_4k(vm->hm, params);
	if (st) {
		r = tdx_status_code(st) == TDX_OPERAND_INVALID ? -EINVAL
							       : seamcall_err(vm, "TDH.MNG.INIT", st);
		goto out;
	}
	vm->td = tdx_td_by_tdr(vm->m, vm->tdr);
	vm->shared_bit = tdx_td_shared_bit(vm->td);
	vm->max_vcpus = max_vcpus;
	mmu_init(&vm->mirror, vm->levels - 1, true, vm->tdcx[TDX_TDCS_SEPT_ROOT_IDX]);
	mmu_init(&vm->direct, vm->levels - 1, false, 0);
	vm->state = VM_TD_INITIALIZED;
out:
	seam_mutex_unlock(&vm->lock);
	return r;
}

/* ---- vCPUs ---- */

int kvm_create_vcpu(struct kvm_vm *vm)
{
	int r;
	seam_mutex_lock(&vm->lock);
	if (vm->nvcpus >= KVM_MAX_VCPUS || (vm->state >= VM_TD_INITIALIZED &&
					    vm->nvcpus >= vm->max_vcpus)) {
		r = -EINVAL;
		goto out;
	}
	struct kvm_vcpu *v = calloc(1, sizeof(*v));
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
	struct tdx_regs out;
	int r = 0;
	seam_mutex_lock(&vm->lock);
	if (id < 0 || id >= vm->nvcpus) {
		r = -ENOENT;
		goto out;
	}
	struct kvm_vcpu *v = vm->vcpus[id];
	if (vm->state != VM_TD_INITIALIZED || v->initialized) {
		r = -EINVAL;	/* before INIT_VM, after FINALIZE, or twice */
		goto out;
	}
	v->tdvpr = vm_alloc_page(vm);
	uint64_t st = tdh_vp_create(vm->m, &out, v->tdvpr, vm->tdr);
	if (st) {
		hostmem_free_4k(vm->hm, v->tdvpr);
		v->tdvpr = 0;
		r = seamcall_err(vm, "TDH.VP.CREATE", st);
		goto out;
	}
	r = add_cx_pages(vm, tdh_vp_addcx, v->tdvpr, v->tdcx, TDX_TDVPS_PAGES - 1, &v->ntdcx,
			 "TDH.VP.ADDCX");
	if (r)
		goto out;
	st = tdh_vp_init(vm->m, &out, v->tdvpr, 0);
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

/* ---- memory slots, attributes, guest_memfd ---- */

static void slot_release(struct kvm_vm *vm, struct kvm_memslot *s)
{
	gmem_release(vm->k, &s->gmem);
	if (s->shared) {
		for (uint64_t c = 0; c < (s->npages + 511) / 512; c++) {
			if (!s->shared[c])
				continue;
			for (int i = 0; i < 512; i++)
				if (s->shared[c][i]) {
					physmem_zero_page(vm->pm, s->shared[c][i]);
					hostmem_free_4k(vm->hm, s->shared[c][i]);
				}
			free(s->shared[c]);
		}
	}
	free(s->shared);
	free(s->private_bits);
	memset(s, 0, sizeof(*s));
}

int kvm_set_memory_region(struct kvm_vm *vm, int slot, uint64_t gpa, uint64_t size)
{
	if (slot < 0 || slot >= KVM_MAX_MEMSLOTS)
		return -EINVAL;
	if ((gpa | size) & (SZ_4K - 1) || gpa + size < gpa || (size >> 12) > KVM_MEM_MAX_NR_PAGES)
		return -EINVAL;
	int r = 0;
	seam_mutex_lock(&vm->slots_lock);
	struct kvm_memslot *s = &vm->slots[slot];
	if (size == 0) {
		/* delete: invalidate, wait for every fault using it, zap, free */
		if (!s->used) {
			r = -EINVAL;
			goto out;
		}
		s->deleting = true;
		seam_write_lock(&vm->srcu);	/* synchronize_srcu() */
		seam_write_unlock(&vm->srcu);
		if (vm->state >= VM_TD_INITIALIZED) {
			seam_write_lock(&vm->mmu_lock);
			mmu_zap_private(vm, s->base_gfn, s->npages);
			mmu_zap_shared(vm, s->base_gfn, s->npages);
			seam_write_unlock(&vm->mmu_lock);
		}
		slot_release(vm, s);
		goto out;
	}
	if (s->used) {
		r = -EINVAL;	/* a guest_memfd slot cannot be moved or resized, only deleted */
		goto out;
	}
	if (vm->levels && ((gpa + size - 1) >> (vm->levels == 5 ? 52 : 48))) {
		r = -EINVAL;
		goto out;
	}
	if (vm->shared_bit && ((gpa | (gpa + size - 1)) & vm->shared_bit)) {
		r = -EINVAL;	/* slots are in the private half; the shared alias is implied */
		goto out;
	}
	uint64_t base = gpa >> 12, n = size >> 12;
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		struct kvm_memslot *o = &vm->slots[i];
		if (o->used && base < o->base_gfn + o->npages && o->base_gfn < base + n) {
			r = -EEXIST;
			goto out;
		}
	}
	memset(s, 0, sizeof(*s));
	s->base_gfn = base;
	s->npages = n;
	s->private_bits = calloc((n + 63) / 64, sizeof(uint64_t));
	s->shared = calloc((n + 511) / 512, sizeof(uint64_t *));
	if (!s->private_bits || !s->shared || gmem_init(&s->gmem, n, true)) {
		slot_release(vm, s);
		r = -ENOMEM;
		goto out;
	}
	/* a new slot starts private, as QEMU sets it for a TD */
	memset(s->private_bits, 0xff, (n + 63) / 64 * sizeof(uint64_t));
	s->used = true;
out:
	seam_mutex_unlock(&vm->slots_lock);
	return r;
}

int kvm_set_memory_attributes(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool private)
{
	if ((gpa | size) & (SZ_4K - 1) || size == 0 || gpa + size < gpa ||
	    (vm->shared_bit && (gpa & vm->shared_bit)))
		return -EINVAL;
	seam_mutex_lock(&vm->slots_lock);
	uint64_t gfn = gpa >> 12, n = size >> 12;
	vm->st.conversions++;
	/* the zap runs before the attributes change, under the exclusive lock */
	if (vm->state >= VM_TD_INITIALIZED) {
		seam_write_lock(&vm->mmu_lock);
		if (private)
			mmu_zap_shared(vm, gfn, n);
		else
			mmu_zap_private(vm, gfn, n);
	}
	uint64_t lo, hi;
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++)
		if (slot_clip(&vm->slots[i], gfn, n, &lo, &hi))
			set_private(&vm->slots[i], lo, hi, private);
	if (vm->state >= VM_TD_INITIALIZED) {
		vm->invalidate_seq++;
		seam_write_unlock(&vm->mmu_lock);
	}
	/* private contents are discarded on conversion to shared */
	if (!private)
		for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
			struct kvm_memslot *s = &vm->slots[i];
			if (!slot_clip(s, gfn, n, &lo, &hi))
				continue;
			seam_write_lock(&s->gmem.invalidate_lock);
			gmem_free_range(vm->k, &s->gmem, lo - s->base_gfn, hi - lo);
			seam_write_unlock(&s->gmem.invalidate_lock);
		}
	seam_mutex_unlock(&vm->slots_lock);
	return 0;
}

int kvm_gmem_punch_hole(struct kvm_vm *vm, int slot, uint64_t offset, uint64_t len)
{
	if (slot < 0 || slot >= KVM_MAX_MEMSLOTS || (offset | len) & (SZ_4K - 1) || len == 0 ||
	    offset + len < offset || (int64_t)offset < 0)
		return -EINVAL;
	struct kvm_memslot *s = &vm->slots[slot];
	if (!s->used)
		return -EBADF;
	uint64_t first = offset >> 12, n = len >> 12;
	if (first >= s->npages)
		return 0;
	if (first + n > s->npages)
		n = s->npages - first;
	/* zap first under the exclusive lock, then free */
	seam_write_lock(&s->gmem.invalidate_lock);
	if (vm->state >= VM_TD_INITIALIZED) {
		seam_write_lock(&vm->mmu_lock);
		mmu_zap_private(vm, s->base_gfn + first, n);
		seam_write_unlock(&vm->mmu_lock);
	}
	gmem_free_range(vm->k, &s->gmem, first, n);
	seam_write_unlock(&s->gmem.invalidate_lock);
	return 0;
}

/* ---- build: INIT_MEM_REGION, FINALIZE, PRE_FAULT ---- */

static uint64_t busy_loop(uint64_t (*fn)(struct tdx_module *, struct tdx_regs *, uint64_t, uint64_t),
			  struct kvm_vm *vm, uint64_t a, uint64_t b)
{
	struct tdx_regs out;
	uint64_t st;
	for (int i = 0; i < 1000; i++) {
		st = fn(vm->m, &out, a, b);
		if (tdx_status_code(st) != TDX_OPERAND_BUSY)
			return st;
		seam_yield();
	}
	return st;
}

/* Map (populate) or add (premap) one page of initial memory. */
static int init_one_page(struct kvm_vm *vm, uint64_t gfn, uint64_t source, bool measure)
{
	struct kvm_memslot *s = vm_slot_of(vm, gfn);
	if (!s || s->deleting || !vm_gfn_private(s, gfn))
		return -EINVAL;
	int r;
	if (vm->pol.build == BUILD_PREMAP) {
		/* the page must have been pre-faulted: add it where the mirror says */
		seam_write_lock(&vm->mmu_lock);
		uint64_t *leaf = mmu_leaf(&vm->mirror, gfn);
		uint64_t spte = leaf ? *leaf : 0;
		uint64_t hpa = gmem_get_pfn(vm->k, &s->gmem, gfn - s->base_gfn, false, NULL);
		if (!(spte & SPTE_PREMAP) || (spte & SPTE_HPA_MASK) != hpa || !hpa) {
			seam_write_unlock(&vm->mmu_lock);
			return -EINVAL;
		}
		struct tdx_regs out;
		uint64_t st = tdh_mem_page_add(vm->m, &out, tdx_gpa_info(gfn << 12, 0), vm->tdr, hpa,
					       source);
		if (st) {
			seam_write_unlock(&vm->mmu_lock);
			return seamcall_err(vm, "TDH.MEM.PAGE.ADD", st);
		}
		*leaf = spte & ~SPTE_PREMAP;
		vm->nr_premapped--;
		vm->st.page_adds++;
		seam_write_unlock(&vm->mmu_lock);
	} else {
		seam_read_lock(&vm->srcu);
		seam_read_lock(&s->gmem.invalidate_lock);
		uint64_t hpa = gmem_get_pfn(vm->k, &s->gmem, gfn - s->base_gfn, true, NULL);
		do {
			seam_read_lock(&vm->mmu_lock);
			r = hpa ? mmu_map_private(vm, gfn, 0, hpa, source, false) : RET_PF_ERR;
			seam_read_unlock(&vm->mmu_lock);
		} while (r == RET_PF_RETRY && !vm->dead);
		seam_read_unlock(&s->gmem.invalidate_lock);
		seam_read_unlock(&vm->srcu);
		if (r == RET_PF_SPURIOUS)
			return -EEXIST;	/* already added */
		if (r != RET_PF_CONTINUE)
			return -EIO;
	}
	if (measure)
		for (uint64_t off = 0; off < SZ_4K; off += 256) {
			uint64_t st = busy_loop(tdh_mr_extend, vm, (gfn << 12) + off, vm->tdr);
			if (st)
				return seamcall_err(vm, "TDH.MR.EXTEND", st);
		}
	return 0;
}

int kvm_tdx_init_mem_region(struct kvm_vm *vm, uint64_t gpa, const void *src,
			    uint64_t nr_pages, bool measure)
{
	if (nr_pages == 0 || (gpa & (SZ_4K - 1)) || nr_pages > (1ull << 40) ||
	    gpa + nr_pages * SZ_4K < gpa)
		return -EINVAL;
	if (!src)
		return -EFAULT;		/* the user page cannot be pinned */
	int r = 0;
	seam_mutex_lock(&vm->lock);
	seam_mutex_lock(&vm->slots_lock);
	uint64_t last = gpa + nr_pages * SZ_4K - 1;
	/* the whole range is checked before anything is added */
	if (vm->state != VM_TD_INITIALIZED || ((gpa | last) & vm->shared_bit)) {
		r = -EINVAL;
		goto out;
	}
	for (uint64_t gfn = gpa >> 12; gfn <= last >> 12; gfn++) {
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		if (!s || s->deleting || !vm_gfn_private(s, gfn)) {
			r = -EINVAL;
			goto out;
		}
	}
	uint64_t source = vm_alloc_page(vm);	/* a shared page: the user buffer */
	for (uint64_t i = 0; i < nr_pages && !r; i++) {
		physmem_write(vm->pm, source, (const uint8_t *)src + i * SZ_4K, SZ_4K);
		r = init_one_page(vm, (gpa >> 12) + i, source, measure);
	}
	physmem_zero_page(vm->pm, source);
	hostmem_free_4k(vm->hm, source);
out:
	seam_mutex_unlock(&vm->slots_lock);
	seam_mutex_unlock(&vm->lock);
	return r;
}

int kvm_tdx_finalize_vm(struct kvm_vm *vm)
{
	struct tdx_regs out;
	int r = 0;
	seam_mutex_lock(&vm->lock);
	if (vm->state != VM_TD_INITIALIZED || vm->nr_premapped) {
		r = -EINVAL;	/* premapped pages never added: seed 004's check */
		goto out;
	}
	uint64_t st = tdh_mr_finalize(vm->m, &out, vm->tdr);
	if (tdx_status_code(st) == TDX_OPERAND_BUSY) {
		r = -EBUSY;
		goto out;
	}
	if (st) {
		r = st == TDX_NO_VCPUS ? -EINVAL : seamcall_err(vm, "TDH.MR.FINALIZE", st);
		goto out;
	}
	vm->state = VM_FINALIZED;
out:
	seam_mutex_unlock(&vm->lock);
	return r;
}

int kvm_pre_fault_memory(struct kvm_vm *vm, uint64_t gpa, uint64_t size)
{
	if ((gpa | size) & (SZ_4K - 1) || size == 0 || gpa + size < gpa)
		return -EINVAL;
	bool premap = vm->pol.build == BUILD_PREMAP && vm->state == VM_TD_INITIALIZED;
	if (vm->state != VM_FINALIZED && !premap)
		return vm->state == VM_TD_INITIALIZED ? -EOPNOTSUPP : -EINVAL;
	if (gpa & vm->shared_bit)
		return -EINVAL;
	int r = 0;
	seam_read_lock(&vm->srcu);
	for (uint64_t gfn = gpa >> 12; gfn < (gpa + size) >> 12 && !r; gfn++) {
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		if (!s) {
			r = -ENOENT;
			break;
		}
		if (s->deleting) {
			r = -EAGAIN;
			break;
		}
		bool private = vm_gfn_private(s, gfn);
		for (;;) {
			uint64_t seq = seam_load64(&vm->invalidate_seq);
			int pf;
			if (private) {
				seam_read_lock(&s->gmem.invalidate_lock);
				uint64_t hpa = gmem_get_pfn(vm->k, &s->gmem, gfn - s->base_gfn, true, NULL);
				seam_read_lock(&vm->mmu_lock);
				pf = !hpa ? RET_PF_ERR
				     : seq != seam_load64(&vm->invalidate_seq) ? RET_PF_RETRY
				     : mmu_map_private(vm, gfn, 0, hpa, 0, premap);
				seam_read_unlock(&vm->mmu_lock);
				seam_read_unlock(&s->gmem.invalidate_lock);
			} else {
				/* a shared page needs no TD mapping ahead of time */
				pf = RET_PF_CONTINUE;
			}
			if (pf == RET_PF_RETRY && !vm->dead) {
				seam_yield();
				continue;
			}
			if (pf == RET_PF_ERR || vm->dead)
				r = -EIO;
			break;
		}
	}
	seam_read_unlock(&vm->srcu);
	return r;
}

/* ---- running ---- */

int kvm_vcpu_run(struct kvm_vm *vm, int id, void (*prog)(struct gvcpu *g, void *arg), void *arg)
{
	if (!prog)
		return -EINVAL;
	if (id < 0 || id >= vm->nvcpus || !vm->vcpus[id]->initialized)
		return -EINVAL;
	if (vm->state != VM_FINALIZED)
		return -EINVAL;
	struct kvm_vcpu *v = vm->vcpus[id];
	if (v->running)
		return -EBUSY;
	if (vm->dead)
		return -EIO;
	v->running = true;
	int rc = gvcpu_run(&v->g, prog, arg);
	v->running = false;
	return rc ? -EIO : 0;
}

struct gvcpu *kvm_vcpu_guest(struct kvm_vm *vm, int id)
{
	return id >= 0 && id < vm->nvcpus && vm->vcpus[id]->initialized ? &vm->vcpus[id]->g : NULL;
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
	if (!vm->mirror.root)
		return false;
	uint64_t *leaf = mmu_leaf(&vm->mirror, gpa >> 12);
	return leaf && (*leaf & SPTE_PRESENT) && *leaf != SPTE_FROZEN && !(*leaf & SPTE_PREMAP);
}

int kvm_vm_read_shared(struct kvm_vm *vm, uint64_t gpa, void *buf, uint64_t len)
{
	gpa &= ~vm->shared_bit;
	uint8_t *out = buf;
	while (len) {
		uint64_t gfn = gpa >> 12, n = SZ_4K - (gpa & 0xfff);
		if (n > len)
			n = len;
		struct kvm_memslot *s = vm_slot_of(vm, gfn);
		uint64_t i = s ? gfn - s->base_gfn : 0;
		uint64_t hpa = s && s->shared[i / 512] ? s->shared[i / 512][i % 512] : 0;
		if (!hpa)
			return -EFAULT;
		physmem_read(vm->pm, hpa + (gpa & 0xfff), out, n);
		out += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int kvm_vm_gmem_folios(const struct kvm_vm *vm, int slot, uint64_t *n2m, uint64_t *n4k)
{
	if (slot < 0 || slot >= KVM_MAX_MEMSLOTS || !vm->slots[slot].used)
		return -EINVAL;
	*n2m = vm->slots[slot].gmem.folios_2m;
	*n4k = vm->slots[slot].gmem.folios_4k;
	return 0;
}

uint64_t kvm_vm_resident_bytes(const struct kvm_vm *vm)
{
	uint64_t n = sizeof(*vm);
	n += (vm->mirror.npages + vm->direct.npages) * sizeof(struct mmu_page);
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct kvm_memslot *s = &vm->slots[i];
		if (!s->used)
			continue;
		n += gmem_resident_bytes(&s->gmem);
		n += (s->npages + 63) / 64 * sizeof(uint64_t);
		n += (s->npages + 511) / 512 * sizeof(uint64_t *);
		for (uint64_t c = 0; c < (s->npages + 511) / 512; c++)
			if (s->shared[c])
				n += 512 * sizeof(uint64_t);
	}
	return n;
}

/* ---- teardown ---- */

static void reclaim_page(struct kvm_vm *vm, uint64_t hpa)
{
	struct tdx_regs out;
	uint64_t st = tdh_phymem_page_reclaim(vm->m, &out, hpa);
	if (st != TDX_SUCCESS) {
		vm_kill(vm, "reclaiming %#" PRIx64 ": %s", hpa, tdx_status_name(st));
		return;		/* leaked to the module: the test will see it */
	}
	tdh_phymem_page_wbinvd(vm->m, &out, hpa);
	physmem_zero_page(vm->pm, hpa);
	hostmem_free_4k(vm->hm, hpa);
}

/* After the key is freed: reclaim private pages the mirror still maps. */
static void reclaim_leaves(struct kvm_vm *vm, struct mmu_page *pt)
{
	for (unsigned i = 0; i < 512; i++) {
		uint64_t s = pt->spte[i];
		if (s == SPTE_FROZEN || !(s & SPTE_PRESENT))
			continue;
		if (s & SPTE_LEAF || pt->level == 0) {
			if (!(s & SPTE_PREMAP)) {
				struct tdx_regs out;
				uint64_t hpa = s & SPTE_HPA_MASK;
				if (tdh_phymem_page_reclaim(vm->m, &out, hpa) == TDX_SUCCESS)
					tdh_phymem_page_wbinvd(vm->m, &out, hpa);
			}
			pt->spte[i] = 0;
			continue;
		}
		reclaim_leaves(vm, (struct mmu_page *)(uintptr_t)(s & ~0xfull));
	}
}

/* The host's own memory: the direct (shared) tables, the memslots, the vCPUs. */
static void free_host_side(struct kvm_vm *vm)
{
	mmu_free_tables(vm, &vm->direct, false);
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++)
		if (vm->slots[i].used)
			slot_release(vm, &vm->slots[i]);
	for (int i = 0; i < vm->nvcpus; i++)
		free(vm->vcpus[i]);
}

int kvm_destroy_vm(struct kvm_vm *vm)
{
	struct tdx_regs out;
	for (int i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i]->running)
			return -EBUSY;
	bool had_td = vm->state >= VM_TD_CREATED;
	/* 1. every private leaf is removed while the key is still live */
	if (vm->state >= VM_TD_INITIALIZED && !vm->dead) {
		seam_write_lock(&vm->mmu_lock);
		mmu_zap_private(vm, 0, 1ull << (9 * vm->levels));
		seam_write_unlock(&vm->mmu_lock);
	}
	if (had_td) {
		/* 2. flush vCPUs, block the TD, write back caches, free the key */
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
		/* 3. reclaim what is left: private pages of a dead VM, S-EPT pages */
		if (vm->mirror.root) {
			reclaim_leaves(vm, vm->mirror.root);
			mmu_free_tables(vm, &vm->mirror, true);
		}
		/* 4. control pages, the TDR last */
		for (int i = 0; i < vm->nvcpus; i++) {
			struct kvm_vcpu *v = vm->vcpus[i];
			for (int j = 0; j < v->ntdcx; j++)
				reclaim_page(vm, v->tdcx[j]);
			if (v->tdvpr)
				reclaim_page(vm, v->tdvpr);
		}
		for (int i = 0; i < vm->ntdcx; i++)
			reclaim_page(vm, vm->tdcx[i]);
		reclaim_page(vm, vm->tdr);
	}
	free_host_side(vm);
	int r = vm->dead && had_td && strstr(vm->why, "reclaim") ? -EIO : 0;
	free(vm);
	return r;
}

void kvm_vm_free_abandoned(struct kvm_vm *vm)
{
	vm->dead = true;
	mmu_free_tables(vm, &vm->mirror, false);
	free_host_side(vm);
	free(vm);
}
