/* SPDX-License-Identifier: MIT */
/*
 * tdx_abi.h - the architectural interface of the TDX module, as the host
 * (KVM) and the guest see it: leaf numbers, completion status codes, operand
 * ids, operand encodings, S-EPT public states, PAMT page types, TD_PARAMS and
 * TD-exit encodings.  Values follow the TDX module 1.5 ABI
 * (intel/tdx-module, branch tdx_1.5: include/auto_gen/tdx_error_codes_defs.h,
 * include/tdx_api_defs.h).  See ../shared/reference/module-abi.md.
 */
#ifndef TDXSIM_TDX_ABI_H
#define TDXSIM_TDX_ABI_H

#include <assert.h>
#include <stdint.h>

#define BIT64(n) (1ull << (n))
#define GENMASK64(hi, lo) ((~0ull >> (63 - (hi))) & ~((1ull << (lo)) - 1))

/* ---------------------------------------------------------------------------
 * SEAMCALL leaves (RAX bits 15:0; version in bits 23:16)
 */
enum tdh_leaf {
	TDH_VP_ENTER = 0,
	TDH_MNG_ADDCX = 1,
	TDH_MEM_PAGE_ADD = 2,
	TDH_MEM_SEPT_ADD = 3,
	TDH_VP_ADDCX = 4,
	TDH_MEM_PAGE_RELOCATE = 5,
	TDH_MEM_PAGE_AUG = 6,
	TDH_MEM_RANGE_BLOCK = 7,
	TDH_MNG_KEY_CONFIG = 8,
	TDH_MNG_CREATE = 9,
	TDH_VP_CREATE = 10,
	TDH_MNG_RD = 11,
	TDH_MEM_PAGE_DEMOTE = 15,
	TDH_MR_EXTEND = 16,
	TDH_MR_FINALIZE = 17,
	TDH_VP_FLUSH = 18,
	TDH_MNG_VPFLUSHDONE = 19,
	TDH_MNG_KEY_FREEID = 20,
	TDH_MNG_INIT = 21,
	TDH_VP_INIT = 22,
	TDH_MEM_PAGE_PROMOTE = 23,
	TDH_MEM_SEPT_RD = 25,
	TDH_VP_RD = 26,
	TDH_PHYMEM_PAGE_RECLAIM = 28,
	TDH_MEM_PAGE_REMOVE = 29,
	TDH_MEM_SEPT_REMOVE = 30,
	TDH_MEM_TRACK = 38,
	TDH_MEM_RANGE_UNBLOCK = 39,
	TDH_PHYMEM_CACHE_WB = 40,
	TDH_PHYMEM_PAGE_WBINVD = 41,
	TDH_PHYMEM_PAMT_ADD = 58,
	TDH_PHYMEM_PAMT_REMOVE = 59,
	TDH_NR_LEAVES = 128,
};

/* TDCALL leaves (guest side). */
enum tdg_leaf {
	TDG_VP_VMCALL = 0,
	TDG_VP_INFO = 1,
	TDG_VP_VEINFO_GET = 3,
	TDG_MEM_PAGE_ACCEPT = 6,
	TDG_VM_RD = 7,
	TDG_VM_WR = 8,
	TDG_MEM_PAGE_ATTR_RD = 23,
	TDG_MEM_PAGE_ATTR_WR = 24,
};

/* ---------------------------------------------------------------------------
 * Completion status (RAX out).  Bit 63 error, 62 non-recoverable, 61 fatal,
 * 47:40 class, 39:32 details, 31:0 operand id.  status = code | operand id.
 */
#define TDX_SUCCESS			0x0000000000000000ull
#define TDX_NON_RECOVERABLE_VCPU	0x4000000100000000ull
#define TDX_NON_RECOVERABLE_TD		0x6000000200000000ull
#define TDX_INTERRUPTED_RESUMABLE	0x8000000300000000ull
#define TDX_INTERRUPTED_RESTARTABLE	0x8000000400000000ull
#define TDX_OPERAND_INVALID		0xC000010000000000ull
#define TDX_OPERAND_ADDR_RANGE_ERROR	0xC000010100000000ull
#define TDX_OPERAND_BUSY		0x8000020000000000ull
#define TDX_PREVIOUS_TLB_EPOCH_BUSY	0x8000020100000000ull
#define TDX_OPERAND_BUSY_HOST_PRIORITY	0x8000020400000000ull
#define TDX_HOST_PRIORITY_BUSY_TIMEOUT	0x9000020500000000ull
#define TDX_PAGE_METADATA_INCORRECT	0xC000030000000000ull
#define TDX_PAGE_NOT_OWNED_BY_TD	0xC000030200000000ull
/* Dynamic PAMT (include/auto_gen_2_0/tdx_error_codes_defs.h of the 2025 build) */
#define TDX_PAGE_NOT_FREE		0xC000030300000000ull
#define TDX_HPA_RANGE_NOT_FREE		0xC000030400000000ull
#define TDX_NO_PAMT_PAGE_PAIR		0xC000030500000000ull
#define TDX_PAMT_PAGE_NOT_EMPTY		0xC000030600000000ull
#define TDX_MISSING_PAMT_PAGE_PAIR	0x8000030800000000ull
#define TDX_TD_ASSOCIATED_PAGES_EXIST	0xC000040000000000ull
#define TDX_TD_FATAL			0xE000060400000000ull
#define TDX_TDCS_NOT_ALLOCATED		0xC000060600000000ull
#define TDX_LIFECYCLE_STATE_INCORRECT	0xC000060700000000ull
#define TDX_OP_STATE_INCORRECT		0xC000060800000000ull
#define TDX_NO_VCPUS			0xC000060900000000ull
#define TDX_TDCX_NUM_INCORRECT		0xC000061000000000ull
#define TDX_VCPU_STATE_INCORRECT	0xC000070000000000ull
#define TDX_VCPU_ASSOCIATED		0x8000070100000000ull
#define TDX_VCPU_NOT_ASSOCIATED		0x8000070200000000ull
#define TDX_NO_VALID_VE_INFO		0xC000070400000000ull
#define TDX_MAX_VCPUS_EXCEEDED		0xC000070500000000ull
#define TDX_TD_KEYS_NOT_CONFIGURED	0x8000081000000000ull
#define TDX_KEY_STATE_INCORRECT		0xC000081100000000ull
#define TDX_KEY_CONFIGURED		0x0000081500000000ull
#define TDX_WBCACHE_NOT_COMPLETE	0x8000081700000000ull
#define TDX_HKID_NOT_FREE		0xC000082000000000ull
#define TDX_NO_HKID_READY_TO_WBCACHE	0x0000082100000000ull
#define TDX_WBCACHE_RESUME_ERROR	0xC000082300000000ull
#define TDX_FLUSHVP_NOT_DONE		0x8000082400000000ull
#define TDX_EPT_WALK_FAILED		0xC0000B0000000000ull
#define TDX_EPT_ENTRY_NOT_PRESENT	0xC0000B0300000000ull
#define TDX_GPA_RANGE_NOT_BLOCKED	0xC0000B0600000000ull
#define TDX_GPA_RANGE_ALREADY_BLOCKED	0x00000B0700000000ull
#define TDX_TLB_TRACKING_NOT_DONE	0xC0000B0800000000ull
#define TDX_EPT_INVALID_PROMOTE_CONDITIONS 0xC0000B0900000000ull
#define TDX_PAGE_ALREADY_ACCEPTED	0x00000B0A00000000ull
#define TDX_PAGE_SIZE_MISMATCH		0xC0000B0B00000000ull
#define TDX_EPT_ENTRY_STATE_INCORRECT	0xC0000B0D00000000ull
#define TDX_EPT_PAGE_NOT_FREE		0xC0000B0E00000000ull
#define TDX_METADATA_FIELD_ID_INCORRECT	0xC0000C0000000000ull
#define TDX_METADATA_FIELD_NOT_WRITABLE	0xC0000C0100000000ull
#define TDX_METADATA_FIELD_NOT_READABLE	0xC0000C0200000000ull
#define TDX_METADATA_FIELD_VALUE_NOT_VALID 0xC0000C0300000000ull

#define TDX_STATUS_ERROR		BIT64(63)
#define TDX_STATUS_CODE_MASK		0xFFFFFFFF00000000ull
#define TDX_STATUS_OPERAND_MASK		0x00000000FFFFFFFFull

static inline uint64_t tdx_status_code(uint64_t status)
{
	return status & TDX_STATUS_CODE_MASK;
}

static inline uint32_t tdx_status_operand(uint64_t status)
{
	return (uint32_t)(status & TDX_STATUS_OPERAND_MASK);
}

static inline int tdx_status_is_error(uint64_t status)
{
	return (status & TDX_STATUS_ERROR) != 0;
}

/* Operand ids (status bits 31:0). */
enum tdx_operand_id {
	OPND_RAX = 0,
	OPND_RCX = 1,
	OPND_RDX = 2,
	OPND_R8 = 8,
	OPND_R9 = 9,
	OPND_R12 = 12,		/* DEMOTE: the first page of the PAMT pair */
	OPND_R13 = 13,		/* DEMOTE: the second page of the PAMT pair */
	OPND_ATTRIBUTES = 64,
	OPND_XFAM = 65,
	OPND_EXEC_CONTROLS = 66,
	OPND_EPTP_CONTROLS = 67,
	OPND_MAX_VCPUS = 68,
	OPND_CPUID_CONFIG = 69,
	OPND_TSC_FREQUENCY = 70,
	OPND_NUM_L2_VMS = 71,
	OPND_ARCH_CAPS_CONFIG = 72,
	OPND_TDR = 0x80,
	OPND_TDCX = 0x81,
	OPND_TDVPR = 0x82,
	OPND_TDCS = 0x90,
	OPND_SEPT_TREE = 0x92,
	OPND_SEPT_ENTRY = 0x93,
	OPND_TD_EPOCH = 0xA9,
	OPND_OP_STATE = 0xAC,
	OPND_KOT = 0xBA,
	OPND_WBCACHE = 0xBC,
};

/* ---------------------------------------------------------------------------
 * Levels and the GPA+level operand (RCX of most memory leaves)
 */
enum tdx_level {
	TDX_LEVEL_4K = 0,	/* entry in a PT: maps 4K */
	TDX_LEVEL_2M = 1,	/* entry in a PD: maps 2M or points to a PT */
	TDX_LEVEL_1G = 2,	/* entry in a PDPT */
	TDX_LEVEL_PML4 = 3,
	TDX_LEVEL_PML5 = 4,
};

#define TDX_PAGE_SHIFT		12
#define TDX_PAGE_SIZE		4096ull
#define TDX_ENTRIES_PER_PAGE	512

/* Bytes mapped by one entry at @level. */
static inline uint64_t tdx_level_size(int level)
{
	return TDX_PAGE_SIZE << (9 * level);
}

#define GPA_INFO_LEVEL_MASK	GENMASK64(2, 0)
#define GPA_INFO_RSVD0_MASK	GENMASK64(11, 3)
#define GPA_INFO_GPA_MASK	GENMASK64(51, 12)
#define GPA_INFO_RSVD1_MASK	GENMASK64(63, 52)

static inline uint64_t tdx_gpa_info(uint64_t gpa, int level)
{
	return (gpa & GPA_INFO_GPA_MASK) | ((uint64_t)level & GPA_INFO_LEVEL_MASK);
}

/* TD handle operand (RDX): bits 51:12 TDR HPA; bit 0 ALLOW_EXISTING (SEPT.ADD). */
#define TDR_HANDLE_ALLOW_EXISTING	BIT64(0)
#define TDR_HANDLE_HPA_MASK		GENMASK64(51, 12)
/* DEMOTE's RDX bit 0: L2 SEPT add mode (no effect without L2 VMs; never refused). */
#define DEMOTE_HANDLE_L2_ADD		BIT64(0)
/* NULL_PA of the version-1 outputs (R8..R11 of SEPT.ADD, R9..R11 of PROMOTE/SEPT.REMOVE). */
#define TDX_NULL_PA			(~0ull)
/* ATTR.RD / ATTR.WR RCX out: bit 62 set when the page is PENDING. */
#define ATTR_RCX_PENDING		BIT64(62)
/* SEPT.ADD R8 out: bit 63 set when ALLOW_EXISTING found a present entry. */
#define SEPT_ADD_R8_EXISTED		BIT64(63)

/* ---------------------------------------------------------------------------
 * S-EPT public states (SEPT.RD RDX bits 15:8 and error details)
 */
enum tdx_sept_public_state {
	SEPT_PUB_FREE = 0,
	SEPT_PUB_BLOCKED = 1,
	SEPT_PUB_PENDING = 2,
	SEPT_PUB_PENDING_BLOCKED = 3,
	SEPT_PUB_MAPPED = 4,
	SEPT_PUB_REMOVED = 5,
	SEPT_PUB_BLOCKEDW = 8,
	SEPT_PUB_NL_BLOCKED = 0x81,
	SEPT_PUB_NL_MAPPED = 0x84,
};

/* Entry details (RDX out of EPT errors and SEPT.RD): level 2:0, state 15:8. */
static inline uint64_t tdx_sept_info(int level, unsigned pub_state)
{
	return ((uint64_t)level & 7) | ((uint64_t)(pub_state & 0xff) << 8);
}

/* Architectural EPT entry bits reported in RCX. */
#define EPTE_R		BIT64(0)
#define EPTE_W		BIT64(1)
#define EPTE_X		BIT64(2)
#define EPTE_MT_WB	(6ull << 3)
#define EPTE_IPAT	BIT64(6)
#define EPTE_LEAF	BIT64(7)
#define EPTE_HPA_MASK	GENMASK64(51, 12)
#define EPTE_SVE	BIT64(63)

/* ---------------------------------------------------------------------------
 * PAMT page types
 */
enum pamt_type {
	PT_NDA = 0,
	PT_RSVD = 1,
	PT_REG = 3,
	PT_TDR = 4,
	PT_TDCX = 5,
	PT_TDVPR = 6,
	PT_EPT = 8,
	PT_PAMT = 15,	/* Dynamic PAMT: a 2M range with a 4K PAMT (pamt_manager.h) */
};

/* PAMT page sizes (RECLAIM RDX out, internal lookups). */
enum pamt_size {
	PAMT_4K = 0,
	PAMT_2M = 1,
	PAMT_1G = 2,
};

/* ---------------------------------------------------------------------------
 * TD lifecycle (TDR) and operation state (TDCS)
 */
enum td_lifecycle {
	TD_HKID_ASSIGNED = 0,
	TD_KEYS_CONFIGURED = 1,
	TD_BLOCKED = 2,
	TD_TEARDOWN = 3,
};

enum td_op_state {
	OP_STATE_UNINITIALIZED = 0,
	OP_STATE_INITIALIZED = 1,
	OP_STATE_RUNNABLE = 2,
};

/* ---------------------------------------------------------------------------
 * TD_PARAMS (TDH.MNG.INIT's RDX operand: a shared page), 1024 bytes, 1024-aligned.
 */
#define TD_ATTR_DEBUG			BIT64(0)
#define TD_ATTR_SEPT_VE_DISABLE		BIT64(28)
#define TD_ATTR_MIGRATABLE		BIT64(29)
#define TD_ATTR_PKS			BIT64(30)
#define TD_ATTR_KL			BIT64(31)
#define TD_ATTR_PERFMON			BIT64(63)
/*
 * Proposed, not in any real module (seed 000): the host may map 2M without
 * level info; the guest demotes by TDVMCALL.  Bit 40 is unused in 1.5.
 */
#define TD_ATTR_SEPT_EXPLICIT_DEMOTION	BIT64(40)

/*
 * TDX_FEATURES0 bits of the two proposals (docs/design.md "Proposed
 * features"): no real module enumerates either; bits 62 and 63 are unused
 * by the 1.5 module.
 */
#define TDX_FEATURES0_SEPT_EXPLICIT_DEMOTION	BIT64(62)
#define TDX_FEATURES0_NONBLOCKING_RESIZE	BIT64(63)

/*
 * TD-scope metadata fields a guest reads and writes with TDG.VM.RD/WR
 * (include/auto_gen/tdr_tdcs_fields_lookup.c): class 17 (execution
 * controls), 8-byte elements, TD context.  The guest may write only
 * TD_CTLS bit 0, and may change it only when CONFIG_FLAGS has
 * FLEXIBLE_PENDING_VE (Linux's disable_sept_ve()).
 */
#define MD_TDCS_CONFIG_FLAGS		0x1110000300000016ull
#define MD_TDCS_TD_CTLS			0x1110000300000017ull
#define TD_CTLS_PENDING_VE_DISABLE	BIT64(0)

#define TD_CONFIG_GPAW			BIT64(0)
#define TD_CONFIG_FLEXIBLE_PENDING_VE	BIT64(1)
#define TD_CONFIG_NO_RBP_MOD		BIT64(2)

#define EPTP_MT_MASK			GENMASK64(2, 0)
#define EPTP_MT_WB			6ull
#define EPTP_PWL_SHIFT			3
#define EPTP_PWL_MASK			GENMASK64(5, 3)

struct td_params {
	uint64_t attributes;		/*   0 */
	uint64_t xfam;			/*   8 */
	uint16_t max_vcpus;		/*  16 */
	uint8_t num_l2_vms;		/*  18 */
	uint8_t msr_config_ctls;	/*  19: bit 0 IA32_ARCH_CAP */
	uint8_t reserved0[4];		/*  20 */
	uint64_t eptp_controls;		/*  24 */
	uint64_t config_flags;		/*  32 */
	uint16_t tsc_frequency;		/*  40: units of 25 MHz, 4..400 */
	uint8_t reserved1[38];		/*  42 */
	uint8_t mr_config_id[48];	/*  80 */
	uint8_t mr_owner[48];		/* 128 */
	uint8_t mr_owner_config[48];	/* 176 */
	uint64_t ia32_arch_caps_config;	/* 224 */
	uint8_t reserved2[24];		/* 232 */
	uint32_t cpuid_config[12][4];	/* 256: EAX, EBX, ECX, EDX per leaf */
	uint8_t reserved3[576];		/* 448 */
};
static_assert(sizeof(struct td_params) == 1024, "TD_PARAMS is 1024 bytes");
static_assert(__builtin_offsetof(struct td_params, eptp_controls) == 24, "EPTP_CONTROLS offset");
static_assert(__builtin_offsetof(struct td_params, config_flags) == 32, "CONFIG_FLAGS offset");
static_assert(__builtin_offsetof(struct td_params, mr_config_id) == 80, "MR_CONFIG_ID offset");
static_assert(__builtin_offsetof(struct td_params, cpuid_config) == 256, "CPUID_CONFIG offset");
static_assert(__builtin_offsetof(struct td_params, reserved3) == 448, "RESERVED3 offset");

/* ---------------------------------------------------------------------------
 * TD exits (VP.ENTER RAX out and the registers KVM reads)
 */
#define EXIT_REASON_EXTERNAL_INTERRUPT	1	/* a kick (IPI) */
#define EXIT_REASON_EPT_VIOLATION	48	/* RAX 0x30 */
#define EXIT_REASON_TDCALL		77	/* TDG.VP.VMCALL to the host */

/* VP.ENTER RCX flags (bits 51:12 are the TDVPR) */
#define VP_ENTER_HOST_RECOVERABILITY_HINT	BIT64(52)
#define VP_ENTER_RESUME_L1			BIT64(53)

/* Extended exit qualification (RDX out), type in bits 3:0. */
enum tdx_eeq_type {
	EEQ_TYPE_NONE = 0,
	EEQ_TYPE_ACCEPT = 1,
	EEQ_TYPE_GVA = 2,
	EEQ_TYPE_ATTR_WR = 5,
	EEQ_TYPE_PENDING_EPT_VIOLATION = 6,
};
#define EEQ_TYPE_MASK		GENMASK64(3, 0)
/*
 * For ACCEPT and ATTR.WR (tdaccept_vmx_eeq_info_t in tdx_api_defs.h, in
 * bits 63:32): requested level 34:32, level where the walk stopped 37:35,
 * its public state 45:38, bit 46 set if that entry is a leaf.
 */
#define EEQ_ACCEPT_REQ_LEVEL_SHIFT	32
#define EEQ_ACCEPT_ERR_LEVEL_SHIFT	35
#define EEQ_ACCEPT_ERR_STATE_SHIFT	38
#define EEQ_ACCEPT_ERR_IS_LEAF		BIT64(46)

/*
 * Exit qualification bits of an EPT violation (vmx_exit_qualification_t).
 * The TD exit reports bits 5:0 only: the module clears bits 12:7 (guest
 * linear address valid and the rest) before the exit to the host
 * (td_other_exits.c, tdx_ept_violation_exit_to_vmm); a #VE's info keeps
 * the CPU's value.
 */
#define EXITQ_READ		BIT64(0)
#define EXITQ_WRITE		BIT64(1)
#define EXITQ_FETCH		BIT64(2)
#define EXITQ_GPA_READABLE	BIT64(3)	/* the entry's R, W, X */
#define EXITQ_GPA_WRITABLE	BIT64(4)
#define EXITQ_GPA_EXECUTABLE	BIT64(5)
#define EXITQ_GLA_VALID		BIT64(7)
#define EXITQ_TD_EXIT_CLEARED	GENMASK64(12, 7)

/*
 * TDX_FEATURES0 (TDH.SYS.RD): what the module supports.  Dynamic PAMT is bit 36,
 * enhanced DEMOTE interruptibility bit 51 (huge-pages.md sections 6 and 7).
 */
#define TDX_FEATURES0_DYNAMIC_PAMT				BIT64(36)
#define TDX_FEATURES0_ENHANCED_DEMOTE_INTERRUPTIBILITY	BIT64(51)
/* TDH.SYS.CONFIG R8 bit 16: the host enables Dynamic PAMT. */
#define TDX_SYS_CONFIG_DYNAMIC_PAMT				BIT64(16)
/* Dynamic PAMT needs physical addresses of at most 48 bits (pamt_manager.h). */
#define TDX_DYNAMIC_PAMT_MAX_PA					48

/* SHA-384 digest size of MRTD. */
#define TDX_MRTD_BYTES 48

/* Host-priority timeout default (module-abi.md section 5). */
#define TDX_HP_LOCK_TIMEOUT_NS	1000000000ull

/*
 * Number of TDCS pages (TDCX) and TDVPS pages (TDVPR included), as the
 * module reports them for a TD without L2 VMs.  TDCS page 3 is the root of
 * the S-EPT.
 */
#define TDX_TDCS_PAGES		6
#define TDX_TDCS_SEPT_ROOT_IDX	3
#define TDX_TDVPS_PAGES		6

/* PHYMEM.CACHE.WB commands (RCX) */
#define TDX_CACHEWB_START	0
#define TDX_CACHEWB_RESUME	1

/* TDX_XFAM_FIXED0 / FIXED1 of the 1.5 module */
#define TDX_XFAM_FIXED0		0x6DBE7ull
#define TDX_XFAM_FIXED1		0x3ull

#endif /* TDXSIM_TDX_ABI_H */
