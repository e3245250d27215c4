/* SPDX-License-Identifier: MIT */
/*
 * vtime.c - the cost table of virtual time.
 *
 * Built-in defaults are estimates calibrated so that one private 4K fault
 * through the full TDX path (TD exit, host EPT-violation handling, PAGE.AUG,
 * TD entry, the guest's ACCEPT TDCALL with zeroing) costs about 8 us, the
 * per-fault figure published for a lightly contended TD boot
 * (../shared/reference/kvm-tdx.md section 7).  docs/engine.md lists every
 * value and its reasoning; a cost file overrides any of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "engine.h"

static const char *const generic_names[SEAM_COST_NR - SEAM_COST_TDCALL] = {
	"tdcall", "td_entry", "td_exit", "ept_violation", "zero_4k", "ipi", "kick",
	"lock_handoff", "guest_access", "ve", "kick_vcpu", "kick_vcpu2", "exit_contention",
	"clear_4k", "zap_4k", "fw_boot", "kernel_boot", "memmap_4k", "buddy_4k",
	"ap_bringup",
};

const char *cost_name(enum seam_cost k)
{
	if (k >= SEAM_COST_TDCALL && k < SEAM_COST_NR)
		return generic_names[k - SEAM_COST_TDCALL];
	return "seamcall";
}

void cost_table_default(struct cost_table *t)
{
	for (int i = 0; i < SEAM_COST_TDCALL; i++)
		t->ns[i] = 1000;		/* a SEAMCALL round trip */
	t->ns[SEAM_COST_SEAMCALL + 2] = 4000;	/* PAGE.ADD: copy + hash */
	t->ns[SEAM_COST_SEAMCALL + 3] = 1500;	/* SEPT.ADD */
	t->ns[SEAM_COST_SEAMCALL + 6] = 1500;	/* PAGE.AUG */
	t->ns[SEAM_COST_SEAMCALL + 7] = 1500;	/* RANGE.BLOCK */
	t->ns[SEAM_COST_SEAMCALL + 16] = 2000;	/* MR.EXTEND: SHA-384 of 384 bytes */
	t->ns[SEAM_COST_SEAMCALL + 29] = 1500;	/* PAGE.REMOVE */
	t->ns[SEAM_COST_SEAMCALL + 40] = 1000000; /* PHYMEM.CACHE.WB: WBINVD */
	t->ns[SEAM_COST_SEAMCALL + 0] = 0;	/* VP.ENTER: see td_entry */
	t->ns[SEAM_COST_TDCALL] = 500;
	t->ns[SEAM_COST_TD_ENTRY] = 1500;
	t->ns[SEAM_COST_TD_EXIT] = 1500;
	t->ns[SEAM_COST_EPT_VIOLATION] = 2000;
	t->ns[SEAM_COST_ZERO_4K] = 250;		/* 4 KiB at ~16 GB/s */
	t->ns[SEAM_COST_IPI] = 2000;
	t->ns[SEAM_COST_KICK] = 5000;
	t->ns[SEAM_COST_LOCK_HANDOFF] = 100;
	t->ns[SEAM_COST_GUEST_ACCESS] = 1;
	t->ns[SEAM_COST_VE] = 1000;
	/* the calibrated model's terms are off unless a cost file sets them
	 * (costs/calibrated.ini; docs/calibration.md) */
	t->ns[SEAM_COST_KICK_VCPU] = 0;
	t->ns[SEAM_COST_KICK_VCPU2] = 0;
	t->ns[SEAM_COST_EXIT_CONTENTION] = 0;
	t->ns[SEAM_COST_CLEAR_4K] = 0;
	t->ns[SEAM_COST_ZAP_4K] = 0;
	t->ns[SEAM_COST_FW_BOOT] = 0;
	t->ns[SEAM_COST_KERNEL_BOOT] = 0;
	t->ns[SEAM_COST_MEMMAP_4K] = 0;
	t->ns[SEAM_COST_BUDDY_4K] = 0;
	t->ns[SEAM_COST_AP_BRINGUP] = 0;
}

struct load_ctx {
	struct cost_table *t;
	int (*leaf_by_name)(const char *);
	char *err;
	size_t errlen;
	int failed;
};

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *c = user;
	if (c->failed)
		return 0;
	if (strcmp(section, "costs")) {
		snprintf(c->err, c->errlen, "unknown section [%s] (expected [costs])", section);
		c->failed = 1;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(value, &end, 0);
	if (errno || end == value || *end || value[0] == '-' || v > 1000000000000ull) {
		snprintf(c->err, c->errlen, "%s: '%s' is not a cost in ns (0..10^12)", name, value);
		c->failed = 1;
		return 0;
	}
	for (int k = SEAM_COST_TDCALL; k < SEAM_COST_NR; k++)
		if (!strcmp(name, generic_names[k - SEAM_COST_TDCALL])) {
			c->t->ns[k] = v;
			return 1;
		}
	int leaf = c->leaf_by_name ? c->leaf_by_name(name) : -1;
	if (leaf < 0 || leaf >= SEAM_COST_TDCALL) {
		snprintf(c->err, c->errlen, "unknown cost name '%s'", name);
		c->failed = 1;
		return 0;
	}
	c->t->ns[SEAM_COST_SEAMCALL + leaf] = v;
	return 1;
}

int cost_table_load(struct cost_table *t, const char *path,
		    int (*leaf_by_name)(const char *name), char *err, size_t errlen)
{
	struct load_ctx c = { t, leaf_by_name, err, errlen, 0 };
	int r = ini_parse(path, on_kv, &c);
	if (c.failed)
		return -1;
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (r > 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, r);
		return -1;
	}
	return 0;
}

int cost_table_parse(struct cost_table *t, const char *text,
		     int (*leaf_by_name)(const char *name), char *err, size_t errlen)
{
	struct load_ctx c = { t, leaf_by_name, err, errlen, 0 };
	int r = ini_parse_string(text, on_kv, &c);
	if (c.failed)
		return -1;
	if (r) {
		snprintf(err, errlen, "line %d: syntax error", r);
		return -1;
	}
	return 0;
}
