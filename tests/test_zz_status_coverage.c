/* SPDX-License-Identifier: MIT */
/*
 * Every completion status the module can return (tdx_status_catalog) must
 * have been produced and asserted by at least one test.  The other test
 * programs log each status they asserted (testlib.c, TDXSIM_STATUS_LOG);
 * scripts/run-tests runs this program last.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"

static void test_every_status_is_produced(void **state)
{
	(void)state;
	BANNER("every status code of the module's catalog was asserted by some test");
	const char *path = getenv("TDXSIM_STATUS_LOG");
	if (!path) {
		print_error("TDXSIM_STATUS_LOG is not set: run through `make check`\n");
		fail();
	}
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	static uint64_t seen[4096];
	int n = 0;
	char line[64];
	while (n < 4096 && fgets(line, sizeof(line), fp))
		seen[n++] = strtoull(line, NULL, 0);
	fclose(fp);
	int missing = 0, total = 0;
	for (const struct tdx_status_desc *d = tdx_status_catalog; d->name; d++) {
		bool found = false;
		for (int i = 0; i < n && !found; i++)
			found = seen[i] == d->code;
		total++;
		if (!found) {
			print_error("  never produced by a test: %s (%#" PRIx64 ")\n", d->name, d->code);
			missing++;
		}
	}
	print_message("  %d of %d status codes produced\n", total - missing, total);
	assert_int_equal(missing, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_status_is_produced),
	};
	return cmocka_run_group_tests_name("status coverage", tests, NULL, NULL);
}
