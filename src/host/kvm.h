/* SPDX-License-Identifier: MIT */
/*
 * kvm.h - a KVM-style host for TDX guests over the software TDX module.
 *
 * The API mirrors KVM's ioctls (KVM_TDX_CAPABILITIES, KVM_TDX_INIT_VM,
 * KVM_TDX_INIT_VCPU, KVM_TDX_INIT_MEM_REGION, KVM_TDX_FINALIZE_VM,
 * KVM_PRE_FAULT_MEMORY, KVM_SET_MEMORY_ATTRIBUTES, KVM_SET_USER_MEMORY_REGION2
 * with guest_memfd, fallocate(PUNCH_HOLE) on guest_memfd, KVM_RUN) and
 * returns 0 or a negative errno as they do.  Design variants ("policies",
 * ../shared/reference/kvm-tdx.md) are chosen per VM at run time.
 */
#ifndef TDXSIM_KVM_H
#define TDXSIM_KVM_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "../guest/guest.h"

/* ---- the simulated platform ---- */
struct kvm_platform {
	bool ept_5level;	/* the CPU supports 5-level EPT */
	unsigned max_pa;	/* host MAX_PA, 32..52 */
	uint64_t mem_bytes;	/* host physical memory (the first GiB is not TDMR) */
	double fragmentation;	/* fraction of 2M blocks with a pinned 4K page */
	uint64_t seed;		/* where fragmentation lands */
	unsigned nr_hkids;
};
void kvm_platform_default(struct kvm_platform *p);

/* ---- design variants ---- */
enum kvm_build_flow {
	BUILD_POPULATE = 0,	/* mainline: INIT_MEM_REGION maps and PAGE.ADDs */
	BUILD_PREMAP,		/* 6.16 (seed 004): pre-fault first, INIT_MEM_REGION adds */
};
enum kvm_busy_policy {
	BUSY_KICK_RETRY = 0,	/* mainline: stop entries, kick vCPUs, retry once */
	BUSY_RETRY_N,		/* out of tree: retry a BUSY SEAMCALL up to N times */
};
enum kvm_map_level {
	MAP_LEVEL_4K = 0,	/* mainline: the vendor limit is always 4K */
};

struct kvm_policy {
	enum kvm_build_flow build;
	enum kvm_busy_policy busy;
	int retry_n;			/* BUSY_RETRY_N: attempts (>= 1) */
	bool local_retry;		/* EPT violations retried inside the host */
	bool local_retry_slot_break;	/* ... but not for a memslot being deleted (6.18) */
	enum kvm_map_level max_level;
};
void kvm_policy_default(struct kvm_policy *p);
/* Set one variant by name ("build", "busy", "retry_n", "local_retry",
 * "slot_break", "level"); 0 or -EINVAL. */
int kvm_policy_set(struct kvm_policy *p, const char *key, const char *val);
/* A one-line description of @p, e.g. "build=populate busy=kick-retry ...". */
void kvm_policy_describe(const struct kvm_policy *p, char *buf, unsigned len);

struct kvm;
struct kvm_vm;

/* A host: the module, its TDMR memory and the host page allocator. */
struct kvm *kvm_create(const struct kvm_platform *p);
void kvm_destroy(struct kvm *k);
struct tdx_module *kvm_module(struct kvm *k);
struct hostmem *kvm_hostmem(struct kvm *k);

/* KVM_TDX_CAPABILITIES */
struct kvm_tdx_capabilities {
	uint64_t supported_attrs;
	uint64_t supported_xfam;
	unsigned max_vcpus_per_td;
	bool gpaw_52;			/* 52-bit guest physical addresses (5-level) */
};
int kvm_tdx_capabilities(struct kvm *k, struct kvm_tdx_capabilities *caps);

/* KVM_CREATE_VM(KVM_X86_TDX_VM) with its design variants */
struct kvm_vm *kvm_create_vm(struct kvm *k, const struct kvm_policy *pol);
/* Tear down in KVM's order (remove leaves, flush, free key, reclaim); frees @vm. */
int kvm_destroy_vm(struct kvm_vm *vm);
/*
 * After a run that was abandoned with vCPUs still inside the TD (a
 * deadlock or livelock outcome), the TD cannot be torn down: free only the
 * host's own memory, then destroy the whole struct kvm.
 */
void kvm_vm_free_abandoned(struct kvm_vm *vm);

/* KVM_TDX_INIT_VM */
struct kvm_cpuid_entry {
	uint32_t function, index;
	uint32_t eax, ebx, ecx, edx;
};
#define KVM_TDX_MAX_CPUID 32
struct kvm_tdx_init_vm {
	uint64_t attributes;
	uint64_t xfam;
	uint16_t max_vcpus;		/* 0: 64 */
	int nent;
	struct kvm_cpuid_entry entries[KVM_TDX_MAX_CPUID];
};
/*
 * Guest MAXPHYADDR comes from CPUID 0x80000008 EAX[23:16]: 48 (4-level,
 * GPAW 0) or 52 (5-level, GPAW 1, needs 5-level EPT); anything else or a
 * missing entry is -EINVAL.  The field is consumed: zeroed in @init.
 */
int kvm_tdx_init_vm(struct kvm_vm *vm, struct kvm_tdx_init_vm *init);
/* Fill @init for a guest MAXPHYADDR of @maxphyaddr (48 or 52). */
void kvm_tdx_init_vm_default(struct kvm_tdx_init_vm *init, unsigned maxphyaddr);

/* KVM_CREATE_VCPU + KVM_TDX_INIT_VCPU; returns the vCPU id or -errno */
int kvm_create_vcpu(struct kvm_vm *vm);
int kvm_tdx_init_vcpu(struct kvm_vm *vm, int id);

/*
 * KVM_SET_USER_MEMORY_REGION2 with a guest_memfd: size 0 deletes the slot.
 * A slot holds at most KVM_MEM_MAX_NR_PAGES pages (8 TiB), as in KVM.
 */
#define KVM_MAX_MEMSLOTS 16
#define KVM_MEM_MAX_NR_PAGES ((1ull << 31) - 1)
int kvm_set_memory_region(struct kvm_vm *vm, int slot, uint64_t gpa, uint64_t size);
/* KVM_SET_MEMORY_ATTRIBUTES: private or shared (4K granularity). */
int kvm_set_memory_attributes(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool private);
/* fallocate(PUNCH_HOLE) on slot @slot's guest_memfd, by file offset. */
int kvm_gmem_punch_hole(struct kvm_vm *vm, int slot, uint64_t offset, uint64_t len);

/* KVM_TDX_INIT_MEM_REGION: @nr_pages 4K pages from @src at @gpa. */
int kvm_tdx_init_mem_region(struct kvm_vm *vm, uint64_t gpa, const void *src,
			    uint64_t nr_pages, bool measure);
/* KVM_TDX_FINALIZE_VM */
int kvm_tdx_finalize_vm(struct kvm_vm *vm);
/* KVM_PRE_FAULT_MEMORY */
int kvm_pre_fault_memory(struct kvm_vm *vm, uint64_t gpa, uint64_t size);

/* ---- running ---- */

/* Userspace (the VMM): exits KVM hands to it.  Defaults convert, as QEMU does. */
struct kvm_vmm_ops {
	/* KVM_EXIT_MEMORY_FAULT: the guest used [gpa, gpa+size) as @private
	 * against its attributes, or there is no memslot.  0 resumes. */
	int (*memory_fault)(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool private,
			    void *ctx);
	/* TDVMCALL MapGPA (KVM_EXIT_HYPERCALL): returns the TDVMCALL status */
	uint64_t (*map_gpa)(struct kvm_vm *vm, uint64_t gpa, uint64_t size, bool shared,
			    void *ctx);
	void *ctx;
};
void kvm_set_vmm_ops(struct kvm_vm *vm, const struct kvm_vmm_ops *ops);

/* KVM_RUN on the calling task: runs @prog on vCPU @id until it ends. 0 or -errno. */
int kvm_vcpu_run(struct kvm_vm *vm, int id, void (*prog)(struct gvcpu *g, void *arg),
		 void *arg);
struct gvcpu *kvm_vcpu_guest(struct kvm_vm *vm, int id);

/* ---- inspection ---- */
struct kvm_vm_stats {
	uint64_t faults;		/* EPT violations handled */
	uint64_t private_maps;		/* leaves installed by PAGE.AUG */
	uint64_t page_adds;		/* PAGE.ADDs */
	uint64_t sept_adds;
	uint64_t shared_maps;
	uint64_t zapped;		/* private leaves removed */
	uint64_t busy;			/* SEAMCALLs answered BUSY */
	uint64_t kicks;			/* vCPU kicks */
	uint64_t retries;		/* fault retries (frozen SPTE, BUSY, invalidation) */
	uint64_t local_retries;		/* ... retried inside the host */
	uint64_t memory_faults;		/* exits to the VMM for conversion */
	uint64_t conversions;
};
const struct kvm_vm_stats *kvm_vm_stats(const struct kvm_vm *vm);
struct tdx_td *kvm_vm_td(const struct kvm_vm *vm);
uint64_t kvm_vm_tdr(const struct kvm_vm *vm);
bool kvm_vm_dead(const struct kvm_vm *vm, const char **why);
/* Is private @gpa mapped in the mirror (and so in the S-EPT)? */
bool kvm_vm_private_mapped(struct kvm_vm *vm, uint64_t gpa);
/* Read/write the shared backing of @gpa (shared bit ignored), as the VMM can. */
int kvm_vm_read_shared(struct kvm_vm *vm, uint64_t gpa, void *buf, uint64_t len);
/* Live guest_memfd folios of memslot @slot (2M and 4K); -EINVAL for an unused slot. */
int kvm_vm_gmem_folios(const struct kvm_vm *vm, int slot, uint64_t *n2m, uint64_t *n4k);
/* Simulator bytes the host's structures use (mirror, gmem, attributes, backing maps). */
uint64_t kvm_vm_resident_bytes(const struct kvm_vm *vm);

#endif
