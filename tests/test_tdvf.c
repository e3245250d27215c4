/* SPDX-License-Identifier: MIT */
/*
 * TDVF images and `tdxsim measure` (src/cli/tdvf.c, measure.c).
 *
 * A small builder here lays out synthetic TDVF images (data, TDVF
 * descriptor and sections, the OVMF GUIDed table at the end) so that the
 * parser can be fed every kind of broken image, and both build flows can be
 * checked end to end: the MRTD the module computes is compared with one the
 * test computes on its own from the image and the sections (SHA-384 of the
 * 128-byte MEM.PAGE.ADD / MR.EXTEND blocks, module-abi.md section 8),
 * without src/module/mrtd.c.  Debian's OVMF.fd (package ovmf) carries TDX
 * metadata: it is measured in both flows too, and pinned for the one
 * version whose MRTDs were recorded (TDXSIM_OVMF=FILE measures another).  The command line is checked by
 * running the built binary next to the tests (BUILD/tdxsim).
 */
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "../src/cli/tdvf.h"
#include "../src/host/hostmem.h"
#include "../src/host/kvm.h"

/* after testlib.h: pthread.h's SCHED_RR must not rename engine.h's */
#include <openssl/evp.h>

#define OVMF_PATH	"/usr/share/ovmf/OVMF.fd"

static char tdxsim_bin[4096];	/* BUILD/tdxsim, from argv[0] = BUILD/tests/test_tdvf */

/* ------------------------------------------------------------------ */
/* a synthetic TDVF image                                              */
/* ------------------------------------------------------------------ */

#define IMG_LEN		0x10000u
#define DESC_AT		0xb000u		/* the TDVF descriptor */
#define TABLE_END	(IMG_LEN - 50)	/* the GUIDed table's length field */
#define SEV_ENTRY_END	TABLE_END	/* the walk meets another entry first... */
#define TDX_ENTRY_END	(TABLE_END - 22)	/* ... then the TDX one, as in OVMF */
#define TABLE_LEN	(18 + 22 + 22)

static const uint8_t g_footer[16] = { 0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
				      0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d };
static const uint8_t g_tdx[16] = { 0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
				   0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2 };
static const uint8_t g_sev[16] = { 0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
				   0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e };

/* the test's own view of a section: what the image says */
struct sec {
	uint32_t off, raw;
	uint64_t gpa, size;
	uint32_t type, attr;
};

/*
 * Every type, both attributes: BFV measured with a partial last page of raw
 * data and a zero tail, CFV unmeasured, TD_HOB, TEMP_MEM with PAGE_AUG
 * (still PAGE.ADDed, as QEMU ignores the bit), TEMP_MEM measured (zero
 * pages measured), PERM_MEM (RAM only), PAYLOAD measured from the image.
 */
static const struct sec good[] = {
	{ 0x4000, 0x4800, 0xfff00000, 0x6000, TDVF_BFV, TDVF_ATTR_MR_EXTEND },
	{ 0x0000, 0x2000, 0xffef0000, 0x2000, TDVF_CFV, 0 },
	{ 0, 0, 0x809000, 0x2000, TDVF_TD_HOB, 0 },
	{ 0, 0, 0x800000, 0x3000, TDVF_TEMP_MEM, TDVF_ATTR_PAGE_AUG },
	{ 0, 0, 0x900000, 0x1000, TDVF_TEMP_MEM, TDVF_ATTR_MR_EXTEND },
	{ 0, 0, 0x1000000, 0x4000, TDVF_PERM_MEM, TDVF_ATTR_PAGE_AUG },
	{ 0x9000, 0x1000, 0x2000000, 0x1000, TDVF_PAYLOAD, TDVF_ATTR_MR_EXTEND },
};
#define NGOOD ((int)(sizeof(good) / sizeof(good[0])))

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* Where section @i's entry is in the image. */
static uint8_t *sec_entry(uint8_t *img, int i) { return img + DESC_AT + 16 + 32 * i; }

static void put_section(uint8_t *img, int i, const struct sec *s)
{
	uint8_t *e = sec_entry(img, i);
	put32(e, s->off);
	put32(e + 4, s->raw);
	put64(e + 8, s->gpa);
	put64(e + 16, s->size);
	put32(e + 24, s->type);
	put32(e + 28, s->attr);
}

/* Lay out an image of IMG_LEN bytes with sections @s[0..n). */
static uint8_t *make_image(const struct sec *s, int n)
{
	uint8_t *img = malloc(IMG_LEN);
	assert_non_null(img);
	/* raw data everywhere (what is not a section's data is never read) */
	for (uint32_t i = 0; i < IMG_LEN; i++)
		img[i] = (uint8_t)(i * 31 + (i >> 9) * 7 + 1);
	memcpy(img + DESC_AT, "TDVF", 4);
	put32(img + DESC_AT + 4, 16 + 32 * (uint32_t)n);
	put32(img + DESC_AT + 8, 1);
	put32(img + DESC_AT + 12, (uint32_t)n);
	for (int i = 0; i < n; i++)
		put_section(img, i, &s[i]);
	/* the GUIDed table: [TDX entry][SEV entry][u16 length][footer GUID][32 bytes] */
	put32(img + TDX_ENTRY_END - 22, IMG_LEN - DESC_AT);
	put16(img + TDX_ENTRY_END - 18, 22);
	memcpy(img + TDX_ENTRY_END - 16, g_tdx, 16);
	put32(img + SEV_ENTRY_END - 22, 0x80b004);
	put16(img + SEV_ENTRY_END - 18, 22);
	memcpy(img + SEV_ENTRY_END - 16, g_sev, 16);
	put16(img + TABLE_END, TABLE_LEN);
	memcpy(img + IMG_LEN - 48, g_footer, 16);
	memset(img + IMG_LEN - 32, 0x90, 32);
	return img;
}

/* ------------------------------------------------------------------ */
/* the MRTD the test expects, computed here                            */
/* ------------------------------------------------------------------ */

static void sha_block(EVP_MD_CTX *c, const char *name, uint64_t gpa)
{
	uint8_t b[128] = { 0 };
	memcpy(b, name, strlen(name));
	put64(b + 16, gpa);
	assert_int_equal(EVP_DigestUpdate(c, b, sizeof(b)), 1);
}

/* The QEMU rules, restated: which sections get pages, what is in them. */
static bool added(const struct sec *s) { return s->type != TDVF_PERM_MEM; }
static void chunk(const uint8_t *img, const struct sec *s, uint64_t off, uint8_t out[256])
{
	memset(out, 0, 256);
	bool from_image = s->type == TDVF_BFV || s->type == TDVF_CFV || s->type == TDVF_PAYLOAD;
	for (uint64_t i = 0; i < 256 && from_image && off + i < s->raw; i++)
		out[i] = img[s->off + off + i];
}

static void extend(EVP_MD_CTX *c, const uint8_t *img, const struct sec *s, uint64_t off)
{
	uint8_t data[256];
	sha_block(c, "MR.EXTEND", s->gpa + off);
	chunk(img, s, off, data);
	assert_int_equal(EVP_DigestUpdate(c, data, sizeof(data)), 1);
}

static void expected_mrtd(const uint8_t *img, const struct sec *s, int n, enum tdvf_flow flow,
			  uint8_t out[48])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	assert_non_null(c);
	assert_int_equal(EVP_DigestInit_ex(c, EVP_sha384(), NULL), 1);
	for (int i = 0; i < n; i++) {
		if (!added(&s[i]))
			continue;
		for (uint64_t pg = 0; pg < s[i].size; pg += 4096) {
			sha_block(c, "MEM.PAGE.ADD", s[i].gpa + pg);
			if (flow == TDVF_FLOW_QEMU9 && (s[i].attr & TDVF_ATTR_MR_EXTEND))
				for (uint64_t off = pg; off < pg + 4096; off += 256)
					extend(c, img, &s[i], off);
		}
	}
	if (flow == TDVF_FLOW_QEMU8)
		for (int i = 0; i < n; i++)
			if (added(&s[i]) && (s[i].attr & TDVF_ATTR_MR_EXTEND))
				for (uint64_t off = 0; off < s[i].size; off += 256)
					extend(c, img, &s[i], off);
	unsigned len = 0;
	assert_int_equal(EVP_DigestFinal_ex(c, out, &len), 1);
	assert_int_equal(len, 48);
	EVP_MD_CTX_free(c);
}

static void hex(const uint8_t *b, int n, char *out)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* ------------------------------------------------------------------ */
/* building a TD from a parsed image                                   */
/* ------------------------------------------------------------------ */

struct built {
	uint8_t mrtd[48];
	uint64_t page_adds;
	char err[256];
};

/*
 * A TD as `tdxsim measure` builds it, loaded with @t in @flow and
 * finalized.  0, or -1 with the builder's message in b->err.  When
 * @check_maps, every page of every section is checked against the mirror:
 * mapped unless the section is RAM only.
 */
static int build(const struct tdvf *t, enum tdvf_flow flow, struct built *b, bool check_maps)
{
	memset(b, 0, sizeof(*b));
	struct kvm_platform p;
	kvm_platform_default(&p);
	struct kvm *k = kvm_create(&p);
	assert_non_null(k);
	struct kvm_vm *vm = kvm_create_vm(k, NULL);
	assert_non_null(vm);
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	assert_int_equal(kvm_tdx_init_vm(vm, &init), 0);
	int vcpu = kvm_create_vcpu(vm);
	assert_true(vcpu >= 0);
	assert_int_equal(kvm_tdx_init_vcpu(vm, vcpu), 0);
	int rc = tdvf_build_td(k, vm, vcpu, t, flow, b->err, sizeof(b->err));
	if (!rc) {
		assert_int_equal(kvm_tdx_finalize_vm(vm), 0);
		assert_true(tdx_td_mrtd(kvm_vm_td(vm), b->mrtd));
		b->page_adds = kvm_vm_stats(vm)->page_adds;
		for (int i = 0; check_maps && i < t->nsec; i++)
			for (uint64_t off = 0; off < t->sec[i].mem_size; off += 4096)
				assert_int_equal(kvm_vm_private_mapped(vm, t->sec[i].gpa + off),
						 t->sec[i].type != TDVF_PERM_MEM);
	}
	assert_int_equal(kvm_destroy_vm(vm), 0);
	assert_int_equal(kvm_hostmem(k)->allocated, 0);
	kvm_destroy(k);
	return rc;
}

static uint64_t pages_added(const struct sec *s, int n)
{
	uint64_t pages = 0;
	for (int i = 0; i < n; i++)
		pages += added(&s[i]) ? s[i].size / 4096 : 0;
	return pages;
}

/* ------------------------------------------------------------------ */
/* the parser                                                          */
/* ------------------------------------------------------------------ */

static void test_parse_good(void **state)
{
	(void)state;
	BANNER("a synthetic image with every section type parses into exactly its sections");
	uint8_t *img = make_image(good, NGOOD);
	struct tdvf t;
	char err[256] = "";
	assert_int_equal(tdvf_parse(img, IMG_LEN, &t, err, sizeof(err)), 0);
	assert_int_equal(t.nsec, NGOOD);
	assert_ptr_equal(t.image, img);
	assert_int_equal(t.len, IMG_LEN);
	assert_int_equal(t.desc_offset, DESC_AT);
	for (int i = 0; i < NGOOD; i++) {
		assert_int_equal(t.sec[i].data_offset, good[i].off);
		assert_int_equal(t.sec[i].raw_size, good[i].raw);
		assert_int_equal(t.sec[i].gpa, good[i].gpa);
		assert_int_equal(t.sec[i].mem_size, good[i].size);
		assert_int_equal(t.sec[i].type, good[i].type);
		assert_int_equal(t.sec[i].attributes, good[i].attr);
	}
	char a[24];
	assert_string_equal(tdvf_attr_name(TDVF_ATTR_MR_EXTEND | TDVF_ATTR_PAGE_AUG, a, sizeof(a)),
			    "MR_EXTEND|PAGE_AUG");
	assert_string_equal(tdvf_attr_name(0, a, sizeof(a)), "-");
	assert_string_equal(tdvf_attr_name(4, a, sizeof(a)), "0x4");
	assert_string_equal(tdvf_section_action(&t.sec[0]), "PAGE.ADD+MR.EXTEND");
	assert_string_equal(tdvf_section_action(&t.sec[3]), "PAGE.ADD");
	assert_string_equal(tdvf_section_action(&t.sec[5]), "RAM only (PAGE.AUG later)");
	free(img);
}

/* Parse @img and expect a one-line error containing @want. */
static void expect_error(const uint8_t *img, size_t len, const char *want, const char *what)
{
	struct tdvf t;
	char err[256] = "";
	int r = tdvf_parse(img, len, &t, err, sizeof(err));
	if (r != -1 || !strstr(err, want) || strchr(err, '\n')) {
		print_error("%s: tdvf_parse returned %d, message \"%s\", wanted one line with "
			    "\"%s\"\n", what, r, err, want);
		fail();
	}
	print_message("    %-36s -> %s\n", what, err);
	/* a short or missing message buffer never overflows */
	char tiny[8];
	assert_int_equal(tdvf_parse(img, len, &t, tiny, sizeof(tiny)), -1);
	assert_true(strlen(tiny) < sizeof(tiny));
	assert_int_equal(tdvf_parse(img, len, &t, NULL, 0), -1);
}

/* The image with one mutation: a field of section @i changed. */
static void expect_section_error(int i, struct sec s, const char *want, const char *what)
{
	struct sec all[NGOOD];
	memcpy(all, good, sizeof(all));
	all[i] = s;
	uint8_t *img = make_image(all, NGOOD);
	expect_error(img, IMG_LEN, want, what);
	free(img);
}

static void test_parse_broken_table(void **state)
{
	(void)state;
	BANNER("broken GUIDed tables, metadata offsets and descriptors: a clear error each");
	uint8_t *img = make_image(good, NGOOD);
	uint8_t *m = malloc(IMG_LEN);
	assert_non_null(m);
#define MUTATE(stmt, want, what)                                   \
	do {                                                       \
		memcpy(m, img, IMG_LEN);                           \
		stmt;                                              \
		expect_error(m, IMG_LEN, want, what);              \
	} while (0)
	MUTATE(m[IMG_LEN - 40] ^= 1, "no OVMF GUIDed table", "footer GUID damaged");
	MUTATE(put16(m + TABLE_END, 17), "bad GUIDed table: length 17", "table length 17");
	MUTATE(put16(m + TABLE_END, 0xffff), "reaches before the start", "table length 0xffff");
	MUTATE(put16(m + TABLE_END, 18), "no TDX metadata", "table with no entries");
	MUTATE(put16(m + TABLE_END, 18 + 21), "bad GUIDed table", "table shorter than its entry");
	MUTATE(put16(m + TDX_ENTRY_END - 18, 10), "has length 10", "entry length 10");
	MUTATE(put16(m + TDX_ENTRY_END - 18, 300), "has length 300", "entry length past the table");
	MUTATE(m[TDX_ENTRY_END - 1] ^= 0x80, "no TDX metadata", "TDX entry GUID damaged");
	MUTATE(put16(m + SEV_ENTRY_END - 18, 0), "has length 0", "other entry length 0");
	MUTATE(put32(m + TDX_ENTRY_END - 22, 0), "outside the image", "metadata offset 0");
	MUTATE(put32(m + TDX_ENTRY_END - 22, 15), "outside the image", "metadata offset 15");
	MUTATE(put32(m + TDX_ENTRY_END - 22, IMG_LEN + 1), "outside the image",
	       "metadata offset past the start");
	MUTATE(put32(m + TDX_ENTRY_END - 22, 0xffffffff), "outside the image",
	       "metadata offset 0xffffffff");
	MUTATE(put32(m + TDX_ENTRY_END - 22, IMG_LEN - DESC_AT + 4), "signature",
	       "metadata offset off by 4");
	MUTATE(memcpy(m + DESC_AT, "TDVX", 4), "bad TDVF descriptor signature", "signature TDVX");
	MUTATE(put32(m + DESC_AT + 8, 2), "version 2", "version 2");
	MUTATE(put32(m + DESC_AT + 8, 0), "version 0", "version 0");
	MUTATE(put32(m + DESC_AT + 4, 16 + 32 * NGOOD + 1), "bad TDVF descriptor length",
	       "length one byte too long");
	MUTATE(put32(m + DESC_AT + 4, 16 + 32 * NGOOD - 32), "bad TDVF descriptor length",
	       "length one section short");
	MUTATE(put32(m + DESC_AT + 4, 0xffffffff), "runs past the end", "length 0xffffffff");
	MUTATE(put32(m + DESC_AT + 4, IMG_LEN - DESC_AT + 1), "runs past the end",
	       "length one byte past the end");
	MUTATE(put32(m + DESC_AT + 12, 0), "0 sections", "no sections");
	MUTATE(put32(m + DESC_AT + 12, 1), "1 section,", "one section");
	MUTATE(put32(m + DESC_AT + 12, NGOOD + 1), "bad TDVF descriptor length",
	       "count one more than the length");
	MUTATE(put32(m + DESC_AT + 12, 0xffffffff), "bad TDVF descriptor length",
	       "count 0xffffffff");
#undef MUTATE
	/* too many sections: 17 well-formed ones, the length to match */
	struct sec many[TDVF_MAX_SECTIONS + 1];
	for (int i = 0; i <= TDVF_MAX_SECTIONS; i++)
		many[i] = (struct sec){ 0, 0, 0x100000 + 0x1000 * (uint64_t)i, 0x1000,
					TDVF_TEMP_MEM, 0 };
	uint8_t *big = make_image(many, TDVF_MAX_SECTIONS + 1);
	expect_error(big, IMG_LEN, "too many sections: 17", "17 sections");
	free(big);
	big = make_image(many, TDVF_MAX_SECTIONS);
	struct tdvf t;
	char err[256];
	assert_int_equal(tdvf_parse(big, IMG_LEN, &t, err, sizeof(err)), 0);	/* 16 is fine */
	free(big);
	free(m);
	free(img);
}

static void test_parse_broken_sections(void **state)
{
	(void)state;
	BANNER("broken sections: raw data outside the image, raw > memory, unaligned, unknown "
	       "type, empty, wrapping, overlapping: a clear error each");
	struct sec s;
	s = good[0], s.raw = 0x7000;
	expect_section_error(0, s, "raw size 0x7000 larger than memory size 0x6000", "raw > memory");
	s = good[0], s.gpa += 0x800;
	expect_section_error(0, s, "GPA 0xfff00800 not 4K aligned", "unaligned GPA");
	s = good[2], s.size = 0x1800;
	expect_section_error(2, s, "memory size 0x1800 not 4K aligned", "unaligned memory size");
	s = good[3], s.type = 7;
	expect_section_error(3, s, "section 3 (type 7): unknown section type", "type 7");
	s = good[3], s.type = 0x80000000;
	expect_section_error(3, s, "section 3 (type 0x80000000): unknown section type",
			     "type 0x80000000");
	s = good[1], s.raw = 0;
	expect_section_error(1, s, "section 1 (CFV): no raw data", "CFV without raw data");
	s = good[3], s.raw = 0x1000;
	expect_section_error(3, s, "must have none", "TEMP_MEM with raw data");
	s = good[2], s.raw = 0x1000;
	expect_section_error(2, s, "must have none", "TD_HOB with raw data");
	s = good[5], s.raw = 0x1000;
	expect_section_error(5, s, "must have none", "PERM_MEM with raw data");
	s = good[2], s.size = 0;
	expect_section_error(2, s, "empty", "memory size 0");
	s = good[2], s.gpa = 0xfffffffffffff000ull;
	expect_section_error(2, s, "wraps", "GPA range wraps");
	s = good[0], s.off = IMG_LEN - 0x1000;
	expect_section_error(0, s, "outside the image", "raw data past the end");
	s = good[0], s.off = 0xffffffff, s.raw = 0x1000;
	expect_section_error(0, s, "outside the image", "data offset 0xffffffff");
	s = good[6], s.off = IMG_LEN - 0xfff;
	expect_section_error(6, s, "outside the image", "raw data one byte past the end");
	s = good[3], s.gpa = good[2].gpa + 0x1000;
	expect_section_error(3, s, "sections 2 and 3 overlap", "overlapping GPA ranges");
	s = good[6], s.gpa = good[0].gpa + good[0].size - 0x1000;
	expect_section_error(6, s, "sections 0 and 6 overlap", "overlap at the last page");
	/* touching ranges are fine */
	struct sec all[NGOOD];
	memcpy(all, good, sizeof(all));
	all[3].gpa = good[2].gpa + good[2].size;
	uint8_t *img = make_image(all, NGOOD);
	struct tdvf t;
	char err[256];
	assert_int_equal(tdvf_parse(img, IMG_LEN, &t, err, sizeof(err)), 0);
	free(img);
}

/* Parse a copy of @len bytes (its own allocation, so ASan sees any overread). */
static int parse_copy(const uint8_t *from, size_t len, char *err, size_t errlen)
{
	uint8_t *c = malloc(len ? len : 1);
	assert_non_null(c);
	memcpy(c, from, len);
	struct tdvf t;
	int r = tdvf_parse(c, len, &t, err, errlen);
	free(c);
	return r;
}

static void test_parse_truncated(void **state)
{
	(void)state;
	BANNER("the image truncated at every interesting offset, at the end or the start: "
	       "an error (or, from the start, a consistent parse), never a crash");
	uint8_t *img = make_image(good, NGOOD);
	size_t cuts[512];
	int n = 0;
	/* the structures' edges, a few bytes either way, and a sweep */
	size_t edges[] = { 0, 1, 16, 48, 50, 4095, 4096, 4097, DESC_AT, DESC_AT + 4,
			   DESC_AT + 16, IMG_LEN - 48, IMG_LEN - 32, TABLE_END,
			   SEV_ENTRY_END - 22, TDX_ENTRY_END - 22, IMG_LEN - DESC_AT,
			   IMG_LEN - DESC_AT - 16, IMG_LEN - 0x4000 - 0x4800, IMG_LEN - 1 };
	for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]); e++)
		for (int d = -3; d <= 3; d++)
			if ((long)edges[e] + d >= 0 && edges[e] + d < IMG_LEN)
				cuts[n++] = edges[e] + (size_t)d;
	for (int i = 0; i < NGOOD; i++)
		cuts[n++] = DESC_AT + 16 + 32 * (size_t)i;
	for (size_t l = 0; l < IMG_LEN; l += 509)
		cuts[n++] = l;
	assert_true(n <= (int)(sizeof(cuts) / sizeof(cuts[0])));
	char err[256];
	unsigned small = 0, footer = 0, front_ok = 0, front_err = 0;
	for (int i = 0; i < n; i++) {
		/* the end cut off: the footer is gone */
		err[0] = 0;
		assert_int_equal(parse_copy(img, cuts[i], err, sizeof(err)), -1);
		assert_non_null(strstr(err, cuts[i] < 4096 ? "truncated image" : "no OVMF GUIDed table"));
		if (cuts[i] < 4096)
			small++;
		else
			footer++;
		/* the start cut off: the table still ends the image */
		size_t keep = cuts[i];
		err[0] = 0;
		int r = parse_copy(img + IMG_LEN - keep, keep, err, sizeof(err));
		assert_true(r == 0 || (r == -1 && err[0] && !strchr(err, '\n')));
		if (r)
			front_err++;
		else
			front_ok++;
	}
	print_message("    %d cuts: %u too short, %u without the footer; from the start "
		      "%u errors, %u parsed\n", n, small, footer, front_err, front_ok);
	assert_int_equal(parse_copy(img, IMG_LEN, err, sizeof(err)), 0);
	assert_int_equal(tdvf_parse(NULL, 0, &(struct tdvf){ 0 }, err, sizeof(err)), -1);
	free(img);
}

/* ------------------------------------------------------------------ */
/* building                                                            */
/* ------------------------------------------------------------------ */

static void test_build_flows(void **state)
{
	(void)state;
	BANNER("both flows on the synthetic image: MRTD = the test's own computation, the two "
	       "differ; PERM_MEM is RAM only, the PAGE_AUG attribute does not stop a PAGE.ADD");
	uint8_t *img = make_image(good, NGOOD);
	struct tdvf t;
	char err[256];
	assert_int_equal(tdvf_parse(img, IMG_LEN, &t, err, sizeof(err)), 0);
	struct built b[TDVF_NR_FLOWS];
	for (int f = 0; f < TDVF_NR_FLOWS; f++) {
		uint8_t want[48];
		char h[97];
		assert_int_equal(build(&t, (enum tdvf_flow)f, &b[f], true), 0);
		expected_mrtd(img, good, NGOOD, (enum tdvf_flow)f, want);
		hex(b[f].mrtd, 48, h);
		print_message("    %s: MRTD %s\n", tdvf_flow_name((enum tdvf_flow)f), h);
		assert_memory_equal(b[f].mrtd, want, 48);
		assert_int_equal(b[f].page_adds, pages_added(good, NGOOD));
	}
	assert_memory_not_equal(b[0].mrtd, b[1].mrtd, 48);
	/* the same build twice is the same measurement */
	struct built again;
	assert_int_equal(build(&t, TDVF_FLOW_QEMU9, &again, false), 0);
	assert_memory_equal(again.mrtd, b[0].mrtd, 48);
	/* a measured byte changes it, an unmeasured one (CFV) does not */
	img[good[0].off + 0x4000 + 7] ^= 1;
	assert_int_equal(build(&t, TDVF_FLOW_QEMU9, &again, false), 0);
	assert_memory_not_equal(again.mrtd, b[0].mrtd, 48);
	img[good[0].off + 0x4000 + 7] ^= 1;
	img[good[1].off + 5] ^= 1;
	assert_int_equal(build(&t, TDVF_FLOW_QEMU9, &again, false), 0);
	assert_memory_equal(again.mrtd, b[0].mrtd, 48);
	/* bytes past a section's raw data are not loaded: they are zero */
	img[good[0].off + good[0].raw] ^= 1;
	assert_int_equal(build(&t, TDVF_FLOW_QEMU8, &again, false), 0);
	assert_memory_equal(again.mrtd, b[1].mrtd, 48);
	free(img);
}

static void test_build_errors(void **state)
{
	(void)state;
	BANNER("the builder refuses what QEMU refuses: no TD_HOB, PAYLOAD_PARAM; a GPA the TD "
	       "cannot map privately; a bad flow");
	struct sec all[NGOOD];
	struct tdvf t;
	struct built b;
	char err[256];
	memcpy(all, good, sizeof(all));
	all[2].type = TDVF_TEMP_MEM;
	uint8_t *img = make_image(all, NGOOD);
	assert_int_equal(tdvf_parse(img, IMG_LEN, &t, err, sizeof(err)), 0);
	assert_int_equal(build(&t, TDVF_FLOW_QEMU9, &b, false), -1);
	assert_non_null(strstr(b.err, "no TD_HOB section"));
	print_message("    no TD_HOB         -> %s\n", b.err);
	free(img);
	memcpy(all, good, sizeof(all));
	all[6].type = TDVF_PAYLOAD_PARAM;
	img = make_image(all, NGOOD);
	assert_int_equal(tdvf_parse(img, IMG_LEN, &t, err, sizeof(err)), 0);
	assert_int_equal(build(&t, TDVF_FLOW_QEMU8, &b, false), -1);
	assert_non_null(strstr(b.err, "section 6 (PAYLOAD_PARAM): not supported"));
	print_message("    PAYLOAD_PARAM     -> %s\n", b.err);
	free(img);
	memcpy(all, good, sizeof(all));
	all[4].gpa = 1ull << 47;	/* the shared bit of a 48-bit TD */
	img = make_image(all, NGOOD);
	assert_int_equal(tdvf_parse(img, IMG_LEN, &t, err, sizeof(err)), 0);
	assert_int_equal(build(&t, TDVF_FLOW_QEMU9, &b, false), -1);
	assert_non_null(strstr(b.err, "section 4 (TEMP_MEM): private RAM at GPA 0x800000000000"));
	print_message("    GPA at bit 47     -> %s\n", b.err);
	assert_int_equal(build(&t, TDVF_NR_FLOWS, &b, false), -1);
	assert_non_null(strstr(b.err, "unknown flow"));
	free(img);
	enum tdvf_flow f;
	assert_int_equal(tdvf_flow_parse("qemu8", &f), 0);
	assert_int_equal(f, TDVF_FLOW_QEMU8);
	assert_int_equal(tdvf_flow_parse("qemu9", &f), 0);
	assert_int_equal(f, TDVF_FLOW_QEMU9);
	assert_int_equal(tdvf_flow_parse("qemu10", &f), -1);
}

/* ------------------------------------------------------------------ */
/* Debian's OVMF.fd                                                    */
/* ------------------------------------------------------------------ */

/* Debian 12's ovmf 2022.11-6+deb12u2: the file's SHA-256 and its MRTDs here. */
static const char ovmf_known_sha256[] =
	"7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773";
static const char *const ovmf_known_mrtd[TDVF_NR_FLOWS] = {
	"4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47",
	"c7afc2de4a63325eb29a120d9815bd5dff8150406460d899a02853dcfbf7d9b05f8c02f528c6c9ca7504c44583c49c5e",
};

static void test_ovmf(void **state)
{
	(void)state;
	BANNER("Debian's " OVMF_PATH ": what its TDX metadata says; both flows' MRTD = the "
	       "test's own computation (and the recorded values for ovmf 2022.11-6+deb12u2)");
	const char *path = getenv("TDXSIM_OVMF") ? getenv("TDXSIM_OVMF") : OVMF_PATH;
	if (access(path, R_OK)) {
		print_message("    %s is not installed (Debian package ovmf): skipped\n", path);
		skip();
	}
	struct tdvf t;
	char err[256];
	int r = tdvf_load_file(path, &t, err, sizeof(err));
	if (r) {
		/* a build without TDX support: report what was found, nothing to measure */
		print_message("    %s has no usable TDX metadata: %s\n", path, err);
		assert_int_equal(r, -1);
		return;
	}
	uint8_t sha[32];
	char sha_hex[65];
	unsigned n = 0;
	assert_int_equal(EVP_Digest(t.image, t.len, sha, &n, EVP_sha256(), NULL), 1);
	hex(sha, 32, sha_hex);
	print_message("    %zu bytes, sha256 %s, TDVF descriptor at %#zx, %d sections:\n", t.len,
		      sha_hex, t.desc_offset, t.nsec);
	struct sec s[TDVF_MAX_SECTIONS];
	for (int i = 0; i < t.nsec; i++) {
		const struct tdvf_section *p = &t.sec[i];
		char a[24];
		print_message("      %d %-9s %-10s GPA %#010" PRIx64 " size %#8" PRIx64 " raw %#8"
			      PRIx32 " at %#8" PRIx32 "\n", i, tdvf_type_name(p->type),
			      tdvf_attr_name(p->attributes, a, sizeof(a)), p->gpa, p->mem_size,
			      p->raw_size, p->data_offset);
		s[i] = (struct sec){ p->data_offset, p->raw_size, p->gpa, p->mem_size, p->type,
				     p->attributes };
	}
	bool known = !strcmp(sha_hex, ovmf_known_sha256);
	for (int f = 0; f < TDVF_NR_FLOWS; f++) {
		struct built b;
		uint8_t want[48];
		char h[97];
		assert_int_equal(build(&t, (enum tdvf_flow)f, &b, true), 0);
		expected_mrtd(t.image, s, t.nsec, (enum tdvf_flow)f, want);
		hex(b.mrtd, 48, h);
		print_message("    %s: MRTD %s\n", tdvf_flow_name((enum tdvf_flow)f), h);
		assert_memory_equal(b.mrtd, want, 48);
		assert_int_equal(b.page_adds, pages_added(s, t.nsec));
		if (known)
			assert_string_equal(h, ovmf_known_mrtd[f]);
	}
	if (!known)
		print_message("    (another build than the recorded one: MRTDs not pinned)\n");
	tdvf_free(&t);
}

/* ------------------------------------------------------------------ */
/* the command line                                                    */
/* ------------------------------------------------------------------ */

struct run {
	int status;		/* exit status, or -1 */
	char out[8192];		/* stdout */
	char err[2048];		/* stderr */
};

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
}

/* Run `tdxsim @args` (a shell fragment). */
static void run_cli(const char *args, struct run *r)
{
	char out[] = "/tmp/tdxsim-tdvf-out-XXXXXX", errf[] = "/tmp/tdxsim-tdvf-err-XXXXXX";
	int fo = mkstemp(out), fe = mkstemp(errf);
	assert_true(fo >= 0 && fe >= 0);
	close(fo);
	close(fe);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "'%s' %s >%s 2>%s </dev/null", tdxsim_bin, args, out, errf);
	int st = system(cmd);
	r->status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, r->out, sizeof(r->out));
	slurp(errf, r->err, sizeof(r->err));
	unlink(out);
	unlink(errf);
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void write_file(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_cli(void **state)
{
	(void)state;
	BANNER("tdxsim measure: bad command lines exit 2 with one line on stderr, a broken "
	       "image exits 1 naming the file, a good one prints its MRTD in both flows");
	if (access(tdxsim_bin, X_OK)) {
		print_message("    %s not built: skipped\n", tdxsim_bin);
		skip();
	}
	char good_path[] = "/tmp/tdxsim-tdvf-good-XXXXXX", bad_path[] = "/tmp/tdxsim-tdvf-bad-XXXXXX";
	int fd = mkstemp(good_path);
	assert_true(fd >= 0);
	close(fd);
	fd = mkstemp(bad_path);
	assert_true(fd >= 0);
	close(fd);
	uint8_t *img = make_image(good, NGOOD);
	write_file(good_path, img, IMG_LEN);
	memcpy(img + DESC_AT, "XDVF", 4);
	write_file(bad_path, img, IMG_LEN);
	memcpy(img + DESC_AT, "TDVF", 4);

	char args[1024];
	struct run r;
	const char *const usage_errors[][2] = {
		{ "measure", "no firmware file" },
		{ "measure --bogus %s", "unknown option '--bogus'" },
		{ "measure %s -x", "unknown option '-x'" },
		{ "measure %s --flow", "--flow needs a value" },
		{ "measure --flow qemu7 %s", "unknown flow 'qemu7'" },
		{ "measure --flow= %s", "unknown flow ''" },
		{ "measure %s %s", "extra argument" },
		{ "measure /nonexistent/OVMF.fd", "/nonexistent/OVMF.fd: cannot open" },
		{ "measure /tmp", "/tmp: cannot read" },
	};
	for (size_t i = 0; i < sizeof(usage_errors) / sizeof(usage_errors[0]); i++) {
		snprintf(args, sizeof(args), usage_errors[i][0], good_path, good_path);
		run_cli(args, &r);
		print_message("    tdxsim %s -> %d: %s", args, r.status, r.err);
		assert_int_equal(r.status, 2);
		assert_int_equal(lines(r.err), 1);
		assert_non_null(strstr(r.err, usage_errors[i][1]));
		assert_string_equal(r.out, "");
	}
	snprintf(args, sizeof(args), "measure %s", bad_path);
	run_cli(args, &r);
	print_message("    tdxsim %s -> %d: %s", args, r.status, r.err);
	assert_int_equal(r.status, 1);
	assert_int_equal(lines(r.err), 1);
	assert_true(!strncmp(r.err, bad_path, strlen(bad_path)) && r.err[strlen(bad_path)] == ':');
	assert_non_null(strstr(r.err, "bad TDVF descriptor signature"));

	run_cli("measure --help", &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: tdxsim measure FIRMWARE.fd"));

	const char *flows[] = { "", "--flow qemu9", "--flow=qemu8" };
	const enum tdvf_flow fl[] = { TDVF_FLOW_QEMU9, TDVF_FLOW_QEMU9, TDVF_FLOW_QEMU8 };
	for (int i = 0; i < 3; i++) {
		snprintf(args, sizeof(args), "measure %s %s", flows[i], good_path);
		run_cli(args, &r);
		assert_int_equal(r.status, 0);
		assert_string_equal(r.err, "");
		uint8_t want[48];
		char h[97], line[120];
		expected_mrtd(img, good, NGOOD, fl[i], want);
		hex(want, 48, h);
		snprintf(line, sizeof(line), "\nMRTD: %s\n", h);
		assert_non_null(strstr(r.out, line));
		assert_non_null(strstr(r.out, "5  PERM_MEM"));
		/* cmocka's print_message() cuts long strings: line by line */
		for (char *l = r.out, *nl; i == 0 && (nl = strchr(l, '\n')); l = nl + 1)
			print_message("    | %.*s\n", (int)(nl - l), l);
	}
	unlink(good_path);
	unlink(bad_path);
	free(img);
}

int main(int argc, char **argv)
{
	(void)argc;
	/* BUILD/tests/test_tdvf -> BUILD/tdxsim */
	char self[4096];
	snprintf(self, sizeof(self), "%s", argv[0]);
	char *tests = dirname(self);
	snprintf(tdxsim_bin, sizeof(tdxsim_bin), "%s/../tdxsim", tests);
	const struct CMUnitTest tests_[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_broken_table),
		cmocka_unit_test(test_parse_broken_sections),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_build_flows),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_ovmf),
		cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests_name("tdvf", tests_, NULL, NULL);
}
