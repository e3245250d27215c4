/* SPDX-License-Identifier: MIT */
/*
 * tdvf.c - TDVF firmware images: the TDX metadata parser (OVMF GUIDed
 * table, TDVF_DESCRIPTOR, TDVF_SECTIONs) and the builder that loads the
 * sections into a TD through the KVM-style host.  Layout and rules are in
 * tdvf.h.  The parser reads only within [img, img + len) and checks every
 * offset before it uses it: it runs on untrusted files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host/kvm.h"
#include "../module/tdx_module.h"
#include "tdhob.h"
#include "tdvf.h"

#define PAGE		4096u
#define CHUNK		256u	/* bytes one MR.EXTEND measures */
#define FOOTER_AT	48u	/* the table's footer GUID: this far before the end */
#define ENTRY_TAIL	18u	/* u16 length + GUID closing every table entry */
#define DESC_BYTES	16u
#define SECTION_BYTES	32u

_Static_assert(TDVF_MAX_SECTIONS <= KVM_MAX_MEMSLOTS, "one memslot per section");

/* GUIDs as they are stored: the first three fields little endian. */
static const uint8_t guid_table_footer[16] = {	/* 96b582de-1fb2-45f7-baea-a366c55a082d */
	0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
	0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d,
};
static const uint8_t guid_tdx_metadata[16] = {	/* e47a6535-984a-4798-865e-4685a7bf8ec2 */
	0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
	0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2,
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

const char *tdvf_type_name(uint32_t type)
{
	static const char *const n[TDVF_NR_TYPES] = {
		"BFV", "CFV", "TD_HOB", "TEMP_MEM", "PERM_MEM", "PAYLOAD", "PAYLOAD_PARAM",
	};
	return type < TDVF_NR_TYPES ? n[type] : "unknown";
}

const char *tdvf_attr_name(uint32_t a, char *buf, size_t len)
{
	uint32_t known = TDVF_ATTR_MR_EXTEND | TDVF_ATTR_PAGE_AUG;
	if (a & ~known)
		snprintf(buf, len, "%#" PRIx32, a);
	else if (a == known)
		snprintf(buf, len, "MR_EXTEND|PAGE_AUG");
	else
		snprintf(buf, len, "%s", a == TDVF_ATTR_MR_EXTEND ? "MR_EXTEND" :
					 a == TDVF_ATTR_PAGE_AUG ? "PAGE_AUG" : "-");
	return buf;
}

/* "section 2 (TD_HOB)" or "section 2 (type 9)" */
static const char *sec_name(int i, uint32_t type, char *buf, size_t len)
{
	if (type < TDVF_NR_TYPES)
		snprintf(buf, len, "section %d (%s)", i, tdvf_type_name(type));
	else
		snprintf(buf, len, type < 100 ? "section %d (type %" PRIu32 ")" :
			 "section %d (type %#" PRIx32 ")", i, type);
	return buf;
}

/* Find the TDX metadata offset entry; 0 and *off, or -1 with @err. */
static int find_metadata_offset(const uint8_t *img, size_t len, uint32_t *off, char *err,
				size_t errlen)
{
	if (memcmp(img + len - FOOTER_AT, guid_table_footer, 16))
		return fail(err, errlen, "no OVMF GUIDed table (footer GUID 96b582de-1fb2-45f7-"
			    "baea-a366c55a082d not at %zu bytes before the end): truncated or "
			    "not an OVMF image", (size_t)FOOTER_AT);
	size_t end = len - FOOTER_AT - 2;	/* the table's data ends at its length field */
	unsigned total = le16(img + end);
	if (total < ENTRY_TAIL)
		return fail(err, errlen, "bad GUIDed table: length %u is less than its "
			    "%u-byte footer", total, ENTRY_TAIL);
	size_t left = total - ENTRY_TAIL;
	if (left > end)
		return fail(err, errlen, "bad GUIDed table: length %u reaches before the "
			    "start of the image", total);
	/* entries, from the footer backwards: data, u16 length, GUID */
	while (left >= ENTRY_TAIL) {
		const uint8_t *guid = img + end - 16;
		unsigned elen = le16(img + end - ENTRY_TAIL);
		if (elen < ENTRY_TAIL || elen > left)
			return fail(err, errlen, "bad GUIDed table: the entry ending at offset "
				    "%#zx has length %u (table has %zu bytes left)", end, elen, left);
		if (!memcmp(guid, guid_tdx_metadata, 16)) {
			if (elen - ENTRY_TAIL < 4)
				return fail(err, errlen, "bad GUIDed table: the TDX metadata "
					    "offset entry has %u data bytes, not 4", elen - ENTRY_TAIL);
			*off = le32(img + end - elen);
			return 0;
		}
		end -= elen;
		left -= elen;
	}
	return fail(err, errlen, "no TDX metadata in the GUIDed table (no entry e47a6535-984a-"
		    "4798-865e-4685a7bf8ec2): not a TDVF image");
}

static int check_section(const struct tdvf_section *s, int i, size_t len, char *err,
			 size_t errlen)
{
	char nm[48];
	sec_name(i, s->type, nm, sizeof(nm));
	/* QEMU's checks first, in its order (tdvf_parse_and_check_section_entry) */
	if (s->raw_size > s->mem_size)
		return fail(err, errlen, "%s: raw size %#" PRIx32 " larger than memory size %#"
			    PRIx64, nm, s->raw_size, s->mem_size);
	if (s->gpa & (PAGE - 1))
		return fail(err, errlen, "%s: GPA %#" PRIx64 " not 4K aligned", nm, s->gpa);
	if (s->mem_size & (PAGE - 1))
		return fail(err, errlen, "%s: memory size %#" PRIx64 " not 4K aligned", nm,
			    s->mem_size);
	if (s->type >= TDVF_NR_TYPES)
		return fail(err, errlen, "%s: unknown section type", nm);
	bool from_image = s->type == TDVF_BFV || s->type == TDVF_CFV;
	bool no_data = s->type == TDVF_TD_HOB || s->type == TDVF_TEMP_MEM ||
		       s->type == TDVF_PERM_MEM;
	if (from_image && s->raw_size == 0)
		return fail(err, errlen, "%s: no raw data (RawDataSize 0)", nm);
	if (no_data && s->raw_size)
		return fail(err, errlen, "%s: %#" PRIx32 " bytes of raw data, must have none", nm,
			    s->raw_size);
	/* ... and what QEMU leaves to KVM or to chance */
	if (s->mem_size == 0)
		return fail(err, errlen, "%s: empty (memory size 0)", nm);
	if (s->gpa + s->mem_size < s->gpa)
		return fail(err, errlen, "%s: GPA range %#" PRIx64 " + %#" PRIx64 " wraps", nm,
			    s->gpa, s->mem_size);
	if (s->raw_size && (uint64_t)s->data_offset + s->raw_size > len)
		return fail(err, errlen, "%s: raw data [%#" PRIx32 ", %#" PRIx64 ") outside the "
			    "image (%zu bytes)", nm, s->data_offset,
			    (uint64_t)s->data_offset + s->raw_size, len);
	return 0;
}

int tdvf_parse(const uint8_t *img, size_t len, struct tdvf *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (!img || len < PAGE)
		return fail(err, errlen, "truncated image: %zu bytes, a TDVF image has at least "
			    "%u", img ? len : 0, PAGE);
	if (len > UINT32_MAX)
		return fail(err, errlen, "image of %zu bytes: TDVF offsets are 32-bit", len);
	uint32_t off;
	if (find_metadata_offset(img, len, &off, err, errlen))
		return -1;
	if (off > len || off < DESC_BYTES)
		return fail(err, errlen, "TDX metadata offset %#" PRIx32 " (from the end) puts the "
			    "TDVF descriptor outside the image (%zu bytes)", off, len);
	size_t d = len - off;
	const uint8_t *desc = img + d;
	if (memcmp(desc, "TDVF", 4)) {
		char sig[5];
		for (int i = 0; i < 4; i++)
			sig[i] = desc[i] >= 0x20 && desc[i] < 0x7f ? (char)desc[i] : '?';
		sig[4] = 0;
		return fail(err, errlen, "bad TDVF descriptor signature at offset %#zx: \"%s\", "
			    "not \"TDVF\"", d, sig);
	}
	uint32_t length = le32(desc + 4), version = le32(desc + 8), n = le32(desc + 12);
	if (length > off)
		return fail(err, errlen, "bad TDVF descriptor length %#" PRIx32 ": runs past the "
			    "end of the image (%#" PRIx32 " bytes left)", length, off);
	if (version != 1)
		return fail(err, errlen, "bad TDVF descriptor version %" PRIu32 " (only 1 is "
			    "defined)", version);
	if (n < 2)
		return fail(err, errlen, "TDVF descriptor has %" PRIu32 " section%s, QEMU needs at "
			    "least 2", n, n == 1 ? "" : "s");
	uint64_t want = DESC_BYTES + (uint64_t)SECTION_BYTES * n;
	if (length != want)
		return fail(err, errlen, "bad TDVF descriptor length %#" PRIx32 " for %" PRIu32
			    " sections (want %#" PRIx64 ")", length, n, want);
	if (n > TDVF_MAX_SECTIONS)
		return fail(err, errlen, "too many sections: %" PRIu32 " (at most %d, one memslot "
			    "each)", n, TDVF_MAX_SECTIONS);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = desc + DESC_BYTES + SECTION_BYTES * i;
		struct tdvf_section *s = &t->sec[i];
		s->data_offset = le32(e);
		s->raw_size = le32(e + 4);
		s->gpa = le64(e + 8);
		s->mem_size = le64(e + 16);
		s->type = le32(e + 24);
		s->attributes = le32(e + 28);
		if (check_section(s, (int)i, len, err, errlen))
			return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = i + 1; j < n; j++) {
			const struct tdvf_section *a = &t->sec[i], *b = &t->sec[j];
			if (a->gpa < b->gpa + b->mem_size && b->gpa < a->gpa + a->mem_size)
				return fail(err, errlen, "sections %" PRIu32 " and %" PRIu32 " overlap: "
					    "GPA [%#" PRIx64 ", %#" PRIx64 ") and [%#" PRIx64 ", %#"
					    PRIx64 ")", i, j, a->gpa, a->gpa + a->mem_size, b->gpa,
					    b->gpa + b->mem_size);
		}
	t->nsec = (int)n;
	t->image = img;
	t->len = len;
	t->desc_offset = d;
	return 0;
}

int tdvf_load_file(const char *path, struct tdvf *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	FILE *f = fopen(path, "rb");
	if (!f) {
		fail(err, errlen, "cannot open: %s", strerror(errno));
		return -2;
	}
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1u << 20;
			uint8_t *nb = cap > (size_t)UINT32_MAX + 1 ? NULL : realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				fail(err, errlen, "file too large (or out of memory)");
				return -2;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f) ? errno : 0;
	fclose(f);
	if (bad) {
		free(buf);
		fail(err, errlen, "cannot read: %s", strerror(bad));
		return -2;
	}
	if (tdvf_parse(buf, len, t, err, errlen)) {
		free(buf);
		return -1;
	}
	t->owned = buf;
	return 0;
}

void tdvf_free(struct tdvf *t)
{
	free(t->owned);
	memset(t, 0, sizeof(*t));
}

const char *tdvf_flow_name(enum tdvf_flow f)
{
	return f == TDVF_FLOW_QEMU9 ? "qemu9" : f == TDVF_FLOW_QEMU8 ? "qemu8" : "?";
}

int tdvf_flow_parse(const char *name, enum tdvf_flow *f)
{
	for (int i = 0; i < TDVF_NR_FLOWS; i++)
		if (!strcmp(name, tdvf_flow_name((enum tdvf_flow)i))) {
			*f = (enum tdvf_flow)i;
			return 0;
		}
	return -1;
}

/* Is the section PAGE.ADDed?  Its contents from the image? */
static bool sec_added(const struct tdvf_section *s)
{
	return s->type != TDVF_PERM_MEM && s->type != TDVF_PAYLOAD_PARAM;
}
static bool sec_from_image(const struct tdvf_section *s)
{
	return s->type == TDVF_BFV || s->type == TDVF_CFV || s->type == TDVF_PAYLOAD;
}

const char *tdvf_section_action(const struct tdvf_section *s)
{
	if (s->type == TDVF_PAYLOAD_PARAM)
		return "refused";
	if (!sec_added(s))
		return "RAM only (PAGE.AUG later)";
	return s->attributes & TDVF_ATTR_MR_EXTEND ? "PAGE.ADD+MR.EXTEND" : "PAGE.ADD";
}

/* The initial contents of page @pg of @s: raw data, zero beyond. */
static void sec_page(const struct tdvf *t, const struct tdvf_section *s, uint64_t pg,
		     uint8_t *page)
{
	memset(page, 0, PAGE);
	uint64_t off = pg * PAGE;
	if (!sec_from_image(s) || off >= s->raw_size)
		return;
	uint64_t n = s->raw_size - off < PAGE ? s->raw_size - off : PAGE;
	memcpy(page, t->image + s->data_offset + off, n);
}

/* INIT_MEM_REGION of one page, retried on -EAGAIN/-EINTR as QEMU does. */
static int add_page(struct kvm_vm *vm, int vcpu, uint32_t flags, const uint8_t *page,
		    uint64_t gpa)
{
	struct kvm_tdx_init_mem_region r = { page, gpa, 1 };
	int e;
	do
		e = kvm_tdx_init_mem_region(vm, vcpu, flags, &r);
	while ((e == -EAGAIN || e == -EINTR) && r.nr_pages);
	return r.nr_pages ? (e ? e : -EIO) : 0;
}

uint64_t tdvf_hob_gpa(const struct tdvf *t)
{
	for (int i = 0; i < t->nsec; i++)
		if (t->sec[i].type == TDVF_TD_HOB)
			return t->sec[i].gpa;
	return 0;
}

/* The UNACCEPTED entry of @ram holding all of @s, or NULL (*partial: it meets RAM only in part). */
static const struct tdhob_entry *ram_holding(const struct tdhob_ram *ram,
					     const struct tdvf_section *s, bool *partial)
{
	uint64_t end = s->gpa + s->mem_size;
	*partial = false;
	for (int i = 0; ram && i < ram->n; i++) {
		const struct tdhob_entry *e = &ram->e[i];
		if (end <= e->gpa || e->gpa + e->len <= s->gpa)
			continue;
		if (e->type == TDHOB_RAM_UNACCEPTED && e->gpa <= s->gpa && end <= e->gpa + e->len)
			return e;
		*partial = true;
	}
	return NULL;
}

int tdvf_hob_layout(const struct tdvf *t, const struct tdhob_ram *ram, struct tdhob_ram *out,
		    char *err, size_t errlen)
{
	char nm[48];
	if (ram)
		*out = *ram;
	else
		tdhob_ram_init(out);
	for (int i = 0; i < t->nsec; i++) {
		const struct tdvf_section *s = &t->sec[i];
		bool partial;
		const struct tdhob_entry *in = ram_holding(ram, s, &partial);
		sec_name(i, s->type, nm, sizeof(nm));
		if (partial)
			return fail(err, errlen, "%s: GPA [%#" PRIx64 ", %#" PRIx64 ") is partly "
				    "inside the TD's RAM", nm, s->gpa, s->gpa + s->mem_size);
		int r = 0;
		if (in && sec_added(s))
			r = tdhob_ram_accept(out, s->gpa, s->mem_size);
		else if (!in && (s->type == TDVF_TD_HOB || s->type == TDVF_TEMP_MEM))
			r = tdhob_ram_add(out, s->gpa, s->mem_size, TDHOB_RAM_ADDED);
		else if (!in && s->type == TDVF_PERM_MEM)
			r = tdhob_ram_add(out, s->gpa, s->mem_size, TDHOB_RAM_UNACCEPTED);
		if (r)
			return fail(err, errlen, "%s: cannot describe it in the TD HOB (more than "
				    "%d RAM ranges)", nm, TDHOB_MAX_ENTRIES);
	}
	tdhob_ram_sort(out);
	return 0;
}

static int build_sections(struct kvm *k, struct kvm_vm *vm, int vcpu, const struct tdvf *t,
			  enum tdvf_flow flow, const struct tdhob_ram *ram, int hob,
			  const uint8_t *list, uint64_t list_len, char *err, size_t errlen);

int tdvf_build_td(struct kvm *k, struct kvm_vm *vm, int vcpu, const struct tdvf *t,
		  enum tdvf_flow flow, char *err, size_t errlen)
{
	return tdvf_build_td_ram(k, vm, vcpu, t, flow, NULL, err, errlen);
}

int tdvf_build_td_ram(struct kvm *k, struct kvm_vm *vm, int vcpu, const struct tdvf *t,
		      enum tdvf_flow flow, const struct tdhob_ram *ram, char *err, size_t errlen)
{
	char nm[48];
	if ((unsigned)flow >= TDVF_NR_FLOWS)
		return fail(err, errlen, "unknown flow %d", (int)flow);
	int hob = -1;
	for (int i = 0; i < t->nsec; i++) {
		if (t->sec[i].type == TDVF_PAYLOAD_PARAM)
			return fail(err, errlen, "%s: not supported (QEMU loads no payload "
				    "parameters)", sec_name(i, t->sec[i].type, nm, sizeof(nm)));
		if (hob < 0 && t->sec[i].type == TDVF_TD_HOB)
			hob = i;	/* the first, as QEMU's tdx_get_hob_entry() */
	}
	if (hob < 0)
		return fail(err, errlen, "no TD_HOB section (QEMU passes its GPA to INIT_VCPU)");
	/* the HOB list, before any page goes in: it is the TD_HOB's content */
	struct tdhob_ram *layout = malloc(sizeof(*layout));
	if (!layout)
		return fail(err, errlen, "out of memory");
	if (tdvf_hob_layout(t, ram, layout, err, errlen)) {
		free(layout);
		return -1;
	}
	/* the pages the list takes (the section's other pages are zero) */
	uint64_t cap = (tdhob_bytes(layout) + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	if (cap > t->sec[hob].mem_size)
		cap = t->sec[hob].mem_size;	/* too small: tdhob_write says so */
	uint8_t *list = malloc(cap);
	int rc = list ? 0 : fail(err, errlen, "out of memory");
	if (!rc && tdhob_write(layout, t->sec[hob].gpa, list, cap, err, errlen) < 0)
		rc = -1;
	free(layout);
	if (!rc)
		rc = build_sections(k, vm, vcpu, t, flow, ram, hob, list, cap, err, errlen);
	free(list);
	return rc;
}

/*
 * tdvf_build_td_ram()'s work once the HOB list is written into @list:
 * memslots for the sections outside @ram, then the pages.
 */
static int build_sections(struct kvm *k, struct kvm_vm *vm, int vcpu, const struct tdvf *t,
			  enum tdvf_flow flow, const struct tdhob_ram *ram, int hob,
			  const uint8_t *list, uint64_t list_len, char *err, size_t errlen)
{
	char nm[48];
	for (int i = 0; i < t->nsec; i++) {
		const struct tdvf_section *s = &t->sec[i];
		bool partial;
		if (ram_holding(ram, s, &partial))
			continue;	/* in the VMM's RAM already (TD_HOB, TEMP_MEM in QEMU) */
		int fd = kvm_vmm_add_private_ram(vm, i, s->gpa, s->mem_size);
		if (fd < 0)
			return fail(err, errlen, "%s: private RAM at GPA %#" PRIx64 " (%#" PRIx64
				    " bytes, memslot %d): %s", sec_name(i, s->type, nm, sizeof(nm)),
				    s->gpa, s->mem_size, i, strerror(-fd));
	}
	uint8_t *page = aligned_alloc(PAGE, PAGE);
	if (!page)
		return fail(err, errlen, "out of memory");
	int rc = 0;
	for (int i = 0; i < t->nsec && !rc; i++) {
		const struct tdvf_section *s = &t->sec[i];
		if (!sec_added(s))
			continue;
		uint32_t flags = flow == TDVF_FLOW_QEMU9 && (s->attributes & TDVF_ATTR_MR_EXTEND)
				 ? KVM_TDX_MEASURE_MEMORY_REGION : 0;
		for (uint64_t pg = 0; pg < s->mem_size / PAGE; pg++) {
			uint64_t gpa = s->gpa + pg * PAGE;
			if (i == hob && pg * PAGE < list_len)
				memcpy(page, list + pg * PAGE, PAGE);
			else
				sec_page(t, s, pg, page);
			int e = add_page(vm, vcpu, flags, page, gpa);
			if (e) {
				rc = fail(err, errlen, "%s: KVM_TDX_INIT_MEM_REGION at GPA %#" PRIx64
					  ": %s", sec_name(i, s->type, nm, sizeof(nm)), gpa,
					  strerror(-e));
				break;
			}
		}
	}
	free(page);
	if (rc || flow != TDVF_FLOW_QEMU8)
		return rc;
	/* qemu8: the MR.EXTENDs after every PAGE.ADD, straight to the module */
	struct tdx_module *m = kvm_module(k);
	uint64_t tdr = kvm_vm_tdr(vm);
	for (int i = 0; i < t->nsec; i++) {
		const struct tdvf_section *s = &t->sec[i];
		if (!sec_added(s) || !(s->attributes & TDVF_ATTR_MR_EXTEND))
			continue;
		for (uint64_t off = 0; off < s->mem_size; off += CHUNK) {
			struct tdx_regs out;
			uint64_t st = tdh_mr_extend(m, &out, s->gpa + off, tdr);
			if (st != TDX_SUCCESS)
				return fail(err, errlen, "%s: TDH.MR.EXTEND at GPA %#" PRIx64 ": %s",
					    sec_name(i, s->type, nm, sizeof(nm)), s->gpa + off,
					    tdx_status_name(st));
		}
	}
	return 0;
}
