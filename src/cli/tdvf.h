/* SPDX-License-Identifier: MIT */
/*
 * tdvf.h - TDVF firmware images (Intel TDX Virtual Firmware design guide):
 * a parser of their TDX metadata, and a builder that loads them into a TD
 * through the KVM-style host the way QEMU does.
 *
 * Where the metadata is (checked against EDK2's OvmfPkg/ResetVector and
 * QEMU's hw/i386/pc_sysfw_ovmf.c, hw/i386/tdvf.c):
 *   - the OVMF GUIDed table ends 32 bytes before the end of the image: its
 *     footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d is at len - 48, the
 *     16-bit length of the whole table (footer included) just before it;
 *     entries are walked backwards from there, each laid out as
 *     data, u16 length (data + 18), GUID;
 *   - the entry e47a6535-984a-4798-865e-4685a7bf8ec2 holds a u32: the
 *     offset of the TDVF_DESCRIPTOR counted back from the end of the image;
 *   - TDVF_DESCRIPTOR: "TDVF", u32 Length (16 + 32 * sections), u32 Version
 *     (1), u32 NumberOfSectionEntries, then TDVF_SECTIONs of 32 bytes:
 *     u32 DataOffset, u32 RawDataSize, u64 MemoryAddress, u64
 *     MemoryDataSize, u32 Type, u32 Attributes.  All little endian.
 */
#ifndef TDXSIM_TDVF_H
#define TDXSIM_TDVF_H

#include <stddef.h>
#include <stdint.h>

/* Section types (TDVF design guide; QEMU accepts only the first four). */
enum tdvf_type {
	TDVF_BFV = 0,		/* boot firmware volume: code, from the image */
	TDVF_CFV = 1,		/* configuration firmware volume: variables, from the image */
	TDVF_TD_HOB = 2,	/* the VMM writes the TD HOB here; no raw data */
	TDVF_TEMP_MEM = 3,	/* zeroed memory the firmware needs early; no raw data */
	TDVF_PERM_MEM = 4,	/* memory the VMM adds later with PAGE.AUG */
	TDVF_PAYLOAD = 5,	/* a kernel image */
	TDVF_PAYLOAD_PARAM = 6,	/* its command line */
	TDVF_NR_TYPES
};

#define TDVF_ATTR_MR_EXTEND	(1u << 0)	/* measure the contents (MR.EXTEND) */
#define TDVF_ATTR_PAGE_AUG	(1u << 1)	/* add with PAGE.AUG, not PAGE.ADD */

/* One memslot per section: never more than the host has (KVM_MAX_MEMSLOTS). */
#define TDVF_MAX_SECTIONS	16

struct tdvf_section {
	uint32_t data_offset;	/* DataOffset: raw data, from the start of the image */
	uint32_t raw_size;	/* RawDataSize */
	uint64_t gpa;		/* MemoryAddress */
	uint64_t mem_size;	/* MemoryDataSize */
	uint32_t type;		/* enum tdvf_type */
	uint32_t attributes;	/* TDVF_ATTR_* */
};

struct tdvf {
	struct tdvf_section sec[TDVF_MAX_SECTIONS];
	int nsec;
	const uint8_t *image;	/* the whole image (not copied by tdvf_parse) */
	size_t len;
	size_t desc_offset;	/* where the TDVF_DESCRIPTOR starts in the image */
	uint8_t *owned;		/* the buffer tdvf_load_file read, freed by tdvf_free */
};

/*
 * Parse the TDVF metadata of @img (@len bytes) into @t.  0, or -1 with a
 * one-line message in @err naming what is wrong.  Beyond QEMU's own checks
 * (hw/i386/tdvf.c: signature, version 1, Length = 16 + 32 * n, n >= 2,
 * MemoryAddress and MemoryDataSize 4K aligned, RawDataSize <= MemoryDataSize,
 * BFV/CFV with raw data, TD_HOB/TEMP_MEM without), it refuses what QEMU would
 * only find later or not at all: raw data outside the image, an empty or
 * wrapping section, overlapping GPA ranges, more than TDVF_MAX_SECTIONS.
 * @t->image points into @img.
 */
int tdvf_parse(const uint8_t *img, size_t len, struct tdvf *t, char *err, size_t errlen);
/*
 * Read @path and parse it; tdvf_free() releases the copy.  0; -1 with @err
 * for a broken image; -2 with @err when the file cannot be read.
 */
int tdvf_load_file(const char *path, struct tdvf *t, char *err, size_t errlen);
void tdvf_free(struct tdvf *t);

const char *tdvf_type_name(uint32_t type);
/* "MR_EXTEND", "PAGE_AUG", "MR_EXTEND|PAGE_AUG", "-", or hex for unknown bits. */
const char *tdvf_attr_name(uint32_t attributes, char *buf, size_t len);

/* How the initial contents go in. */
enum tdvf_flow {
	/*
	 * QEMU with mainline KVM (target/i386/kvm/tdx.c, tdx_init_fw_mem_region):
	 * section by section in metadata order, KVM_TDX_INIT_MEM_REGION with
	 * KVM_TDX_MEASURE_MEMORY_REGION when the section has MR_EXTEND, so each
	 * page is PAGE.ADDed and then MR.EXTENDed 16 times.  QEMU makes one
	 * call per section; the builder one per page, which KVM executes the
	 * same way, page by page: the same SEAMCALLs in the same order.
	 */
	TDVF_FLOW_QEMU9 = 0,
	/*
	 * Every page of every section PAGE.ADDed first (INIT_MEM_REGION without
	 * MEASURE), then the MR.EXTENDs of the MR_EXTEND sections, 256 bytes at
	 * a time, in the same order, straight to the module.  Same pages,
	 * different MRTD.  (The name is issue 10's; no QEMU source read for
	 * this file does it: every tree seen leaves the order to KVM.)
	 */
	TDVF_FLOW_QEMU8,
	TDVF_NR_FLOWS
};
const char *tdvf_flow_name(enum tdvf_flow f);
/* "qemu9" / "qemu8" -> 0 and *f, else -1. */
int tdvf_flow_parse(const char *name, enum tdvf_flow *f);

/* What the builder does with a section: "PAGE.ADD+MR.EXTEND", "PAGE.ADD", "not added". */
const char *tdvf_section_action(const struct tdvf_section *s);

struct kvm;
struct kvm_vm;
/*
 * Load @t into @vm (after KVM_TDX_INIT_VM; vCPU @vcpu created and
 * initialized; memslots 0..nsec-1 free): private RAM for every section
 * (kvm_vmm_add_private_ram, one memslot each), then the initial contents
 * in @flow.  The builder follows QEMU:
 *   - BFV/CFV pages come from the image at DataOffset; what lies beyond
 *     RawDataSize is zero (the design guide's rule; QEMU copies
 *     MemoryDataSize bytes of the image from DataOffset, which is the same
 *     for every real image, where the two sizes are equal);
 *   - the first TD_HOB section holds the TD HOB (tdhob.h: PHIT, the RAM
 *     as resource descriptors, end), written before its pages are
 *     PAGE.ADDed, as QEMU's tdvf_hob_create() runs before
 *     INIT_MEM_REGION; TEMP_MEM pages are zero; both are PAGE.ADDed like
 *     the others and measured only with MR_EXTEND (no real image sets it
 *     there, so the HOB does not change MRTD);
 *   - the PAGE_AUG attribute is not looked at: mainline QEMU defines it and
 *     never reads it, so every BFV, CFV, TD_HOB and TEMP_MEM section is
 *     PAGE.ADDed whatever the bit says;
 *   - types 4-6, which mainline QEMU refuses, as Intel's out-of-tree QEMU
 *     TDX tree (the one with TD migration) does: PERM_MEM gets its RAM but
 *     no PAGE.ADD ("added later via PAGE.AUG"), PAYLOAD comes from the
 *     image like BFV, PAYLOAD_PARAM is refused.
 * QEMU also needs a TD_HOB section (its address is INIT_VCPU's RCX): none
 * is refused.  FINALIZE is the caller's.  0 or -1 with @err; after a
 * failure the VM holds whatever was done (destroy it).
 */
int tdvf_build_td(struct kvm *k, struct kvm_vm *vm, int vcpu, const struct tdvf *t,
		  enum tdvf_flow flow, char *err, size_t errlen);

struct tdhob_ram;
/*
 * tdvf_build_td() in a TD whose VMM made RAM already: @ram lists its
 * private RAM (memslots set up, UNACCEPTED entries; NULL: none).  A
 * section wholly inside that RAM gets no memslot of its own (as QEMU's
 * TD_HOB and TEMP_MEM, which lie in guest RAM); one partly inside is an
 * error.  The TD HOB describes the layout tdvf_hob_layout() computes.
 */
int tdvf_build_td_ram(struct kvm *k, struct kvm_vm *vm, int vcpu, const struct tdvf *t,
		      enum tdvf_flow flow, const struct tdhob_ram *ram, char *err, size_t errlen);
/*
 * The RAM entries of the TD HOB for @t over @ram, as QEMU's
 * tdx_finalize_vm() computes them: a PAGE.ADDed section inside RAM is cut
 * out of its entry (tdhob_ram_accept: ADDED, the rest stays UNACCEPTED);
 * outside RAM, TD_HOB and TEMP_MEM (always RAM in QEMU) are ADDED RAM of
 * their own, PERM_MEM is UNACCEPTED RAM of its own, and BFV, CFV and
 * PAYLOAD are flash (QEMU's pflash, no E820 RAM): not in the HOB.  Sorted.
 * 0, or -1 with @err (a section partly inside RAM, too many ranges).
 */
int tdvf_hob_layout(const struct tdvf *t, const struct tdhob_ram *ram, struct tdhob_ram *out,
		    char *err, size_t errlen);
/* The GPA of the first TD_HOB section (INIT_VCPU's data in QEMU), 0 if none. */
uint64_t tdvf_hob_gpa(const struct tdvf *t);

#endif
