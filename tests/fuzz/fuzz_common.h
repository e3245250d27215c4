/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - what the libFuzzer harnesses in tests/fuzz/ share: a
 * reader for the fuzzer's bytes, the per-call invariant check, and the
 * module teardown that must leave nothing behind (docs/fuzzing.md).
 *
 * A harness calls FUZZ_CHECK() after every call it makes into the
 * simulator; a broken invariant prints what broke and aborts, which
 * libFuzzer reports as a crash with the input that got there.
 */
#ifndef TDXSIM_FUZZ_COMMON_H
#define TDXSIM_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tdx_module;
struct kvm_vm;
struct hostmem;

/*
 * The fuzzer's input, consumed front to back.  Past the end every read
 * returns 0, so a harness never needs to check the length first; it stops
 * its loop when fin_left() is 0.
 */
struct fin {
	const uint8_t *p;
	size_t n;
};

static inline size_t fin_left(const struct fin *f)
{
	return f->n;
}

static inline uint8_t fin_u8(struct fin *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fin_u16(struct fin *f)
{
	return (uint16_t)(fin_u8(f) | (unsigned)fin_u8(f) << 8);
}

static inline uint32_t fin_u32(struct fin *f)
{
	return (uint32_t)fin_u16(f) | (uint32_t)fin_u16(f) << 16;
}

static inline uint64_t fin_u64(struct fin *f)
{
	return (uint64_t)fin_u32(f) | (uint64_t)fin_u32(f) << 32;
}

/*
 * The invariants that hold between two calls (no SEAMCALL in flight, the
 * direct driver), checked from the module's and the host's own data, read
 * without locks.  @vm and @hm may be NULL (a harness without a host).
 * 0, or -1 with what broke in @msg.  What it covers is listed at
 * fuzz_check() in fuzz_common.c and in docs/fuzzing.md.
 *
 * When the checker API of the `check` branch lands (tdx_module_check(),
 * kvm_vm_check()), this is the one function to point at it.
 */
int fuzz_check(struct tdx_module *m, struct kvm_vm *vm, struct hostmem *hm, char *msg,
	       size_t len);

/* Report a finding and abort (libFuzzer saves the input as crash-*). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define FUZZ_CHECK(m, vm, hm)                                                      \
	do {                                                                       \
		char msg__[256];                                                   \
		if (fuzz_check((m), (vm), (hm), msg__, sizeof(msg__)))             \
			fuzz_fail("invariant broken after %s: %s", fuzz_last_call, msg__); \
	} while (0)

/* What the harness called last (for FUZZ_CHECK's report); set by each harness. */
extern char fuzz_last_call[128];

/*
 * Tear every TD of @m down the way a host does (TD exits, VP.FLUSH,
 * VPFLUSHDONE, CACHE.WB, KEY.FREEID, RECLAIM of every page the PAMT gives
 * the TD, the TDR last), then take back every Dynamic PAMT pair
 * (PAMT.REMOVE).  Afterwards no PAMT entry may be in use and no TD left.
 * 0, or -1 with the step that failed in @msg.
 */
int fuzz_module_teardown(struct tdx_module *m, char *msg, size_t len);

/* PAMT entries of any size that are not PT_NDA (as tests/testlib.c counts). */
uint64_t fuzz_pamt_in_use(struct tdx_module *m);

#endif
