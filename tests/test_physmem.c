/* SPDX-License-Identifier: MIT */
/* Simulated physical memory: content tags, lazy chunks, TDMRs. */
#include <string.h>

#include "testlib.h"

static void test_content_tags(void **state)
{
	(void)state;
	BANNER("page contents: zero, one small word, full copy, zeroing frees the copy");
	struct physmem pm;
	assert_int_equal(physmem_init(&pm, 4 * SZ_1G, 46), 0);
	uint64_t p = 0x12345000;
	assert_true(physmem_page_is_zero(&pm, p));
	assert_int_equal(physmem_read64(&pm, p + 8), 0);
	physmem_write64(&pm, p + 16, 0xabcdef);
	assert_int_equal(physmem_read64(&pm, p + 16), 0xabcdef);
	assert_int_equal(physmem_read64(&pm, p + 8), 0);
	assert_int_equal(pm.n_page_buffers, 0);		/* one small word: 8-byte tag */
	physmem_write64(&pm, p + 16, 7);			/* same word again */
	assert_int_equal(pm.n_page_buffers, 0);
	physmem_write64(&pm, p + 24, 9);			/* a second word */
	assert_int_equal(pm.n_page_buffers, 1);
	assert_int_equal(physmem_read64(&pm, p + 16), 7);
	assert_int_equal(physmem_read64(&pm, p + 24), 9);
	physmem_zero_page(&pm, p);
	assert_int_equal(pm.n_page_buffers, 0);
	assert_true(physmem_page_is_zero(&pm, p));
	physmem_write64(&pm, p, ~0ull);				/* too wide for a tag */
	assert_int_equal(pm.n_page_buffers, 1);
	assert_int_equal(physmem_read64(&pm, p), ~0ull);
	physmem_destroy(&pm);
}

static void test_bytes_across_pages(void **state)
{
	(void)state;
	BANNER("byte reads and writes across page boundaries, page copy");
	struct physmem pm;
	assert_int_equal(physmem_init(&pm, 4 * SZ_1G, 46), 0);
	uint8_t in[10000], out[10000];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 31 + 1);
	physmem_write(&pm, 0x1000ff0, in, sizeof(in));
	physmem_read(&pm, 0x1000ff0, out, sizeof(out));
	assert_memory_equal(in, out, sizeof(in));
	physmem_copy_page(&pm, 0x3000000, 0x1001000);
	physmem_read(&pm, 0x3000000, out, 4096);
	assert_memory_equal(in + 16, out, 4096);
	/* sparse copy stays sparse */
	physmem_write64(&pm, 0x5000000, 42);
	physmem_copy_page(&pm, 0x6000000, 0x5000000);
	assert_int_equal(physmem_read64(&pm, 0x6000000), 42);
	physmem_destroy(&pm);
}

static void test_lazy_4tib(void **state)
{
	(void)state;
	BANNER("a 4 TiB TDMR costs one pointer per GiB until it is touched");
	struct physmem pm;
	assert_int_equal(physmem_init(&pm, 4ull << 40, 46), 0);
	assert_int_equal(physmem_add_tdmr(&pm, SZ_1G, (4ull << 40) - SZ_1G), 0);
	uint64_t before = physmem_resident_bytes(&pm);
	assert_true(before <= 4096 * sizeof(void *));
	assert_int_equal(pamt_peek_type(&pm, 3ull << 40, PAMT_4K), PT_NDA);
	assert_int_equal(physmem_resident_bytes(&pm), before);
	struct pamt_entry *e = pamt_entry_of(&pm, 3ull << 40, PAMT_4K);
	assert_non_null(e);
	assert_int_equal(pm.n_1g_chunks, 1);
	assert_int_equal(pm.n_2m_chunks, 1);
	assert_null(pamt_entry_of(&pm, 0x1000, PAMT_4K));	/* below the TDMR */
	physmem_destroy(&pm);
}

static void test_bad_config(void **state)
{
	(void)state;
	BANNER("invalid memory sizes and TDMRs are refused");
	struct physmem pm;
	assert_int_equal(physmem_init(&pm, 0, 46), -1);
	assert_int_equal(physmem_init(&pm, 1ull << 47, 46), -1);
	assert_int_equal(physmem_init(&pm, SZ_1G, 60), -1);
	assert_int_equal(physmem_init(&pm, 8 * SZ_1G, 46), 0);
	assert_int_equal(physmem_add_tdmr(&pm, SZ_2M, SZ_1G), -1);	/* misaligned */
	assert_int_equal(physmem_add_tdmr(&pm, 4 * SZ_1G, 8 * SZ_1G), -1); /* outside */
	assert_int_equal(physmem_add_tdmr(&pm, SZ_1G, 2 * SZ_1G), 0);
	assert_int_equal(physmem_add_tdmr(&pm, 2 * SZ_1G, SZ_1G), -1);	/* overlap */
	physmem_destroy(&pm);
	struct tdx_module_config c;
	tdx_module_default_config(&c);
	c.nr_hkids = 0;
	assert_null(tdx_module_create(&c));
	tdx_module_default_config(&c);
	c.phys_size = SZ_1G;	/* no room for the default TDMR */
	assert_null(tdx_module_create(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_tags),
		cmocka_unit_test(test_bytes_across_pages),
		cmocka_unit_test(test_lazy_4tib),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests_name("physmem", tests, NULL, NULL);
}
