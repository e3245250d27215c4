/* SPDX-License-Identifier: MIT */
/*
 * MRTD known-answer tests.  The test builds the byte stream the module must
 * hash (module-abi.md section 8) on its own, hashes it with the
 * `openssl dgst -sha384` command, and compares with the module's MRTD.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

struct stream {
	uint8_t *buf;
	size_t len;
};

static void put(struct stream *s, const void *p, size_t n)
{
	s->buf = realloc(s->buf, s->len + n);
	assert_non_null(s->buf);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put_header(struct stream *s, const char *name, uint64_t gpa)
{
	uint8_t b[128] = { 0 };
	memcpy(b, name, strlen(name));
	for (int i = 0; i < 8; i++)
		b[16 + i] = (uint8_t)(gpa >> (8 * i));
	put(s, b, sizeof(b));
}

/* SHA-384 of @s by the openssl command line tool, as 48 bytes. */
static void openssl_sha384(const struct stream *s, uint8_t out[48])
{
	char path[] = "/tmp/tdxsim-mrtd-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s->buf, s->len), (ssize_t)s->len);
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha384 -r %s", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char hex[256] = { 0 };
	assert_non_null(fgets(hex, sizeof(hex), p));
	assert_int_equal(pclose(p), 0);
	unlink(path);
	for (int i = 0; i < 48; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void fill(uint8_t *page, unsigned seed)
{
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)(i * 13 + seed * 101 + (i >> 8));
}

static void test_known_answer(void **state)
{
	(void)state;
	BANNER("MRTD after PAGE.ADD and MR.EXTEND equals openssl's SHA-384 of the block stream");
	struct fx f;
	fx_init(&f, NULL);
	struct stream s = { 0 };
	uint8_t page[4096], mrtd[48], want[48];
	assert_false(tdx_td_mrtd(f.b.td, mrtd));	/* not before MR.FINALIZE */
	const uint64_t gpas[] = { 0xfffc0000, 0xfffc1000, 0x1000, 0x7ff000 };
	for (unsigned i = 0; i < 4; i++) {
		fill(page, i);
		physmem_write(f.pm, f.b.shared_page, page, sizeof(page));
		fx_add(&f, gpas[i]);
		put_header(&s, "MEM.PAGE.ADD", gpas[i]);
		/* measure the contents of pages 0 and 2 fully, page 3 in part */
		unsigned chunks = i == 1 ? 0 : i == 3 ? 3 : 16;
		for (unsigned c = 0; c < chunks; c++) {
			uint64_t gpa = gpas[i] + c * 256;
			assert_status(tdh_mr_extend(f.m, &f.out, gpa, f.b.tdr), TDX_SUCCESS);
			put_header(&s, "MR.EXTEND", gpa);
			put(&s, page + c * 256, 256);
		}
	}
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_true(tdx_td_mrtd(f.b.td, mrtd));
	openssl_sha384(&s, want);
	assert_memory_equal(mrtd, want, 48);
	/* a different order is a different measurement */
	struct stream s2 = { 0 };
	put(&s2, s.buf + 128, s.len - 128);
	put(&s2, s.buf, 128);
	openssl_sha384(&s2, want);
	assert_memory_not_equal(mrtd, want, 48);
	free(s.buf);
	free(s2.buf);
	fx_fini(&f);
}

static void test_empty_td(void **state)
{
	(void)state;
	BANNER("a TD finalized with nothing added has MRTD = SHA-384 of the empty string");
	struct fx f;
	fx_init(&f, NULL);
	uint8_t mrtd[48], want[48];
	struct stream s = { 0 };
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_true(tdx_td_mrtd(f.b.td, mrtd));
	openssl_sha384(&s, want);
	assert_memory_equal(mrtd, want, 48);
	free(s.buf);
	fx_fini(&f);
}

static void test_extend_errors(void **state)
{
	(void)state;
	BANNER("MR.EXTEND: misaligned GPA, unmapped GPA, after finalize");
	struct fx f;
	fx_init(&f, NULL);
	fx_add(&f, 0x1000);
	assert_status(tdh_mr_extend(f.m, &f.out, 0x1080, f.b.tdr), TDX_OPERAND_INVALID | OPND_RCX);
	assert_status(tdh_mr_extend(f.m, &f.out, 0x2000, f.b.tdr), TDX_EPT_ENTRY_NOT_PRESENT | OPND_RCX);
	assert_int_equal(f.out.rdx & 7, 0);			/* stopped at a 4K entry */
	assert_int_equal((f.out.rdx >> 8) & 0xff, SEPT_PUB_FREE);
	assert_status(tdh_mr_extend(f.m, &f.out, 0x40000000, f.b.tdr),
		      TDX_EPT_ENTRY_NOT_PRESENT | OPND_RCX);	/* no table at all */
	assert_int_equal(f.out.rdx & 7, 2);
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_SUCCESS);
	assert_status(tdh_mr_extend(f.m, &f.out, 0x1000, f.b.tdr), TDX_OP_STATE_INCORRECT);
	assert_status(tdh_mr_finalize(f.m, &f.out, f.b.tdr), TDX_OP_STATE_INCORRECT);
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_empty_td),
		cmocka_unit_test(test_extend_errors),
	};
	return cmocka_run_group_tests_name("mrtd", tests, NULL, NULL);
}
