/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scenario - the scenario parser (src/cli/scenario.c) under libFuzzer.
 *
 * The input is a scenario file, optionally followed by a NUL byte and
 * NUL-separated "section.key=value" assignments.  The file is written to
 * a private directory (the parser takes a path; a [firmware] file is
 * looked up next to it) and loaded with scenario_load(); a scenario it
 * accepts must pass scenario_check() again, then each assignment goes
 * through scenario_set() as `tdxsim run --set` does, and scenario_free()
 * releases it.  A refusal must come with a message.  No crash, no leak.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "../../src/cli/scenario.h"

static char dir[64];
static char path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/tdxsim-fuzz-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		fuzz_fail("mkdtemp %s failed", dir);
	snprintf(path, sizeof(path), "%s/scenario.ini", dir);
	return 0;
}

/* The directory goes when the fuzzer exits normally. */
static void __attribute__((destructor)) cleanup(void)
{
	if (path[0])
		remove(path);
	if (dir[0])
		remove(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t flen = nul ? (size_t)(nul - data) : size;
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, flen, f) != flen || fclose(f))
		fuzz_fail("cannot write %s", path);
	struct scenario *sc = malloc(sizeof(*sc));
	char err[512];
	if (!sc)
		fuzz_fail("out of memory");
	err[0] = 0;
	snprintf(fuzz_last_call, sizeof(fuzz_last_call), "scenario_load");
	if (scenario_load(path, sc, err, sizeof(err))) {
		if (!memchr(err, 0, sizeof(err)) || !err[0])
			fuzz_fail("scenario_load failed without a message");
		free(sc);
		return 0;
	}
	if (scenario_check(sc, err, sizeof(err)))
		fuzz_fail("a loaded scenario fails scenario_check: %s", err);
	/* the --set assignments: each either applies or is refused with a message */
	for (size_t off = flen + 1; nul && off < size;) {
		char a[256];
		const uint8_t *end = memchr(data + off, 0, size - off);
		size_t n = end ? (size_t)(end - (data + off)) : size - off;
		snprintf(a, sizeof(a), "%.*s", (int)(n < sizeof(a) ? n : sizeof(a) - 1),
			 (const char *)data + off);
		off += n + 1;
		err[0] = 0;
		snprintf(fuzz_last_call, sizeof(fuzz_last_call), "scenario_set");
		if (scenario_set(sc, a, err, sizeof(err)) && !err[0])
			fuzz_fail("scenario_set '%s' failed without a message", a);
	}
	scenario_free(sc);
	free(sc);
	return 0;
}
