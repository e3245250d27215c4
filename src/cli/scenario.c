/* SPDX-License-Identifier: MIT */
/*
 * scenario.c - the scenario-file parser (see scenario.h).  inih splits the
 * file into sections and keys; this file checks every value.  The reader
 * handed to inih counts lines, so every message can name FILE:LINE.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <ini.h>

#include "scenario.h"
#include "tdvf.h"

const char *const sc_counter_names[C_NCOUNTERS] = {
	[C_FAULTS] = "faults", [C_PRIVATE_MAPS] = "private_maps", [C_PAGE_ADDS] = "page_adds",
	[C_SEPT_ADDS] = "sept_adds", [C_SHARED_MAPS] = "shared_maps", [C_ZAPPED] = "zapped",
	[C_BUSY] = "busy", [C_KICKS] = "kicks", [C_RETRIES] = "retries",
	[C_LOCAL_RETRIES] = "local_retries", [C_MEMORY_FAULTS] = "memory_faults",
	[C_CONVERSIONS] = "conversions", [C_MAP_GPA_EXITS] = "map_gpa_exits",
	[C_INTERNAL_ERRORS] = "internal_errors", [C_EXITS] = "exits", [C_EPT_EXITS] = "ept_exits",
	[C_ZERO_STEP] = "zero_step_refusals", [C_ENTER_BUSY] = "enter_busy", [C_VES] = "ves",
	[C_ACCEPTS] = "accepts", [C_ACCEPT_BUSY] = "accept_busy", [C_VMCALLS] = "vmcalls",
	[C_MMU_WRITE_LOCKS] = "mmu_write_locks", [C_EPT_LEVELS] = "ept_levels",
	[C_MAPS_2M] = "maps_2m", [C_SPLITS_EXCLUSIVE] = "splits_exclusive",
	[C_SPLITS_SHARED] = "splits_shared", [C_SPLITS_IGNORED] = "splits_ignored",
	[C_SPLITS_REFUSED] = "splits_refused", [C_INHIBITS] = "inhibits",
	[C_PROMOTIONS] = "promotions", [C_DEMOTE_INTERRUPTED] = "demote_interrupted",
	[C_DEMOTE_REQUESTS] = "demote_requests", [C_PAMT_ADDS] = "pamt_adds",
	[C_PAMT_REMOVES] = "pamt_removes", [C_ACCEPTS_4K_HUGE] = "accepts_4k_huge_possible",
	[C_ACCEPT_WRITE_LOCKS] = "accept_write_locks", [C_FW_DONE_US] = "fw_done_us",
	[C_INIT_US] = "init_us", [C_LOGIN_US] = "login_us", [C_FAULT_NS_FIRST] = "fault_ns_first",
	[C_FAULT_NS_LAST] = "fault_ns_last", [C_LX_BLOCKS] = "lazy_blocks",
	[C_VTIME_NS] = "virtual_time_ns", [C_STEPS] = "steps",
	[C_TEARDOWN_US] = "teardown_us", [C_TEARDOWN_BLOCKS] = "teardown_blocks",
	[C_TEARDOWN_TRACKS] = "teardown_tracks", [C_TEARDOWN_REMOVES] = "teardown_removes",
	[C_TEARDOWN_WBINVDS] = "teardown_wbinvds", [C_TEARDOWN_RECLAIMS] = "teardown_reclaims",
	[C_TEARDOWN_KICK_VCPUS] = "teardown_kick_vcpus",
};

static const char *const outcome_names[SC_NOUTCOMES] = {
	[SC_OK] = "ok", [SC_KILLED] = "killed", [SC_FAIL] = "fail", [SC_DEADLOCK] = "deadlock",
	[SC_LIVELOCK] = "livelock", [SC_REPLAY_ERROR] = "replay-error",
	[SC_SETUP_ERROR] = "setup-error", [SC_INVARIANT] = "invariant-violation",
};

const char *sc_outcome_name(enum sc_outcome o)
{
	return o < SC_NOUTCOMES ? outcome_names[o] : "?";
}

/* ---- numbers ---- */

/* A whole unsigned number: decimal or 0x hex, nothing after it but @suffix_ok chars. */
static int parse_u64(const char *s, uint64_t *out, const char **rest)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno)
		return -1;
	*out = v;
	*rest = end;
	return 0;
}

int sc_parse_size(const char *s, uint64_t *out)
{
	const char *rest;
	uint64_t v;
	if (parse_u64(s, &v, &rest))
		return -1;
	unsigned shift = 0;
	switch (toupper((unsigned char)*rest)) {
	case 'K': shift = 10; rest++; break;
	case 'M': shift = 20; rest++; break;
	case 'G': shift = 30; rest++; break;
	case 'T': shift = 40; rest++; break;
	default: break;
	}
	if (shift && (*rest == 'i' || *rest == 'B'))
		rest += *rest == 'i' ? 1 : 0;
	if (shift && (*rest == 'B' || *rest == 'b'))
		rest++;
	while (isspace((unsigned char)*rest))
		rest++;
	if (*rest || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}

int sc_parse_time(const char *s, uint64_t *out_ns)
{
	const char *rest;
	uint64_t v;
	if (parse_u64(s, &v, &rest))
		return -1;
	uint64_t mul;
	if (!strcmp(rest, "ns") || !*rest)
		mul = 1;
	else if (!strcmp(rest, "us"))
		mul = 1000;
	else if (!strcmp(rest, "ms"))
		mul = 1000000;
	else if (!strcmp(rest, "s"))
		mul = 1000000000;
	else
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out_ns = v * mul;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

/* ---- parse state ---- */

struct pstate {
	struct scenario *sc;
	FILE *f;
	int line;		/* the line inih is on */
	int section_line;	/* the line of the last [section] header */
	int failed;
	char *err;
	size_t errlen;
	int open_repeats[SC_VCPU_SECTIONS + 1][16];	/* repeat nesting per section */
	int nopen[SC_VCPU_SECTIONS + 1];
};

static void perr(struct pstate *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(struct pstate *p, const char *fmt, ...)
{
	if (p->failed)
		return;
	p->failed = 1;
	int n = p->line > 0 ? snprintf(p->err, p->errlen, "%s:%d: ", p->sc->path, p->line)
			    : snprintf(p->err, p->errlen, "%s: ", p->line < 0 ? "--set" : p->sc->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* "NAME N" with N in [0, max): N, or -1. */
static int section_index(const char *section, const char *name, int max)
{
	size_t n = strlen(name);
	if (strncmp(section, name, n) || section[n] != ' ')
		return -1;
	uint64_t v;
	const char *rest;
	if (parse_u64(section + n + 1, &v, &rest) || *rest || v >= (uint64_t)max)
		return -2;
	return (int)v;
}

static bool need_size(struct pstate *p, const char *key, const char *v, uint64_t *out)
{
	if (sc_parse_size(v, out)) {
		perr(p, "%s: '%s' is not a number (decimal or 0x hex, optional K/M/G/T)", key, v);
		return false;
	}
	return true;
}

static bool need_bool(struct pstate *p, const char *key, const char *v, bool *out)
{
	if (parse_bool(v, out)) {
		perr(p, "%s: '%s' is not on/off (yes/no, true/false, 1/0)", key, v);
		return false;
	}
	return true;
}

/* ---- sections ---- */

static void on_costs(struct pstate *p, const char *v);

static void on_platform(struct pstate *p, const char *k, const char *v)
{
	struct kvm_platform *pl = &p->sc->plat;
	uint64_t x;
	if (!strcmp(k, "costs")) {
		on_costs(p, v);
	} else if (!strcmp(k, "memory")) {
		if (!need_size(p, k, v, &x))
			return;
		if (x < 2 * (1ull << 30) || x > (1ull << 44) || (x & ((1ull << 21) - 1)))
			perr(p, "memory: %s is out of range (2G..16T, 2M aligned; the first GiB "
				"is not TDMR)", v);
		else
			pl->mem_bytes = x;
	} else if (!strcmp(k, "ept_5level")) {
		need_bool(p, k, v, &pl->ept_5level);
	} else if (!strcmp(k, "max_pa")) {
		if (need_size(p, k, v, &x) && (x < 36 || x > 52))
			perr(p, "max_pa: %s is out of range (36..52)", v);
		else
			pl->max_pa = (unsigned)x;
	} else if (!strcmp(k, "fragmentation")) {
		char *end;
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end || !(d >= 0.0 && d <= 1.0))
			perr(p, "fragmentation: '%s' is not a fraction in [0, 1]", v);
		else
			pl->fragmentation = d;
	} else if (!strcmp(k, "seed")) {
		if (need_size(p, k, v, &x))
			pl->seed = x;
	} else if (!strcmp(k, "hkids")) {
		if (need_size(p, k, v, &x) && (x < 1 || x > 1024))
			perr(p, "hkids: %s is out of range (1..1024)", v);
		else
			pl->nr_hkids = (unsigned)x;
	} else if (!strcmp(k, "hp_timeout")) {
		if (sc_parse_time(v, &x) || x == 0)
			perr(p, "hp_timeout: '%s' is not a time (e.g. 1s, 500us)", v);
		else
			pl->hp_timeout_ns = x;
	} else if (!strcmp(k, "dynamic_pamt")) {
		/* max_pa > 48 with it is refused by the module: a setup error, since
		 * the two keys may come in either order (and from --set) */
		need_bool(p, k, v, &pl->dynamic_pamt);
	} else if (!strcmp(k, "enhanced_demote")) {
		need_bool(p, k, v, &pl->enhanced_demote);
	} else if (!strcmp(k, "nonblocking_resize")) {
		need_bool(p, k, v, &pl->nonblocking_resize);
	} else if (!strcmp(k, "explicit_demotion")) {
		need_bool(p, k, v, &pl->explicit_demotion);
	} else {
		perr(p, "unknown key '%s' in [platform] (costs, memory, ept_5level, max_pa, "
			"fragmentation, seed, hkids, hp_timeout, dynamic_pamt, enhanced_demote, "
			"nonblocking_resize, explicit_demotion)", k);
	}
}

static void on_vm(struct pstate *p, const char *k, const char *v)
{
	struct scenario *sc = p->sc;
	uint64_t x;
	if (!strcmp(k, "sept_ve_disable")) {
		need_bool(p, k, v, &sc->sept_ve_disable);
	} else if (!strcmp(k, "explicit_demotion")) {
		/* the TD attribute; the platform's module feature of the same name
		 * is [platform] explicit_demotion (KVM offers the attribute only then) */
		need_bool(p, k, v, &sc->explicit_demotion);
	} else if (!strcmp(k, "maxphyaddr")) {
		if (need_size(p, k, v, &x) && x != 48 && x != 52)
			perr(p, "maxphyaddr: %s: a TD's guest MAXPHYADDR is 48 or 52", v);
		else
			sc->maxphyaddr = (unsigned)x;
	} else if (!strcmp(k, "vcpus")) {
		if (need_size(p, k, v, &x) && (x < 1 || x > SC_MAX_VCPUS))
			perr(p, "vcpus: %s is out of range (1..%d)", v, SC_MAX_VCPUS);
		else
			sc->nvcpus = (int)x;
	} else if (!strcmp(k, "step_bound")) {
		if (need_size(p, k, v, &x) && (x < 1000 || x > 1000000000000ull))
			perr(p, "step_bound: %s is out of range (1000..10^12)", v);
		else
			sc->step_bound = x;
	} else if (!strcmp(k, "description")) {
		snprintf(sc->description, sizeof(sc->description), "%s", v);
	} else if (kvm_policy_set(&sc->pol, k, v)) {
		/* kvm_policy_set() says only -EINVAL: tell a bad value of a known key
		 * from an unknown key, and list the values that exist */
		static const struct { const char *key, *values; } keys[] = {
			{ "build", "populate or prefault" },
			{ "busy", "kick-retry or retry-n" },
			{ "retry_n", "1..1000000" },
			{ "local_retry", "on or off" },
			{ "slot_break", "on or off" },
			{ "level", "4k, huge-rfc1, huge-v5, huge-nbr or explicit-demotion" },
			{ "folio", "4k or 2m" },
			{ "promote", "on or off" },
			{ "dpamt", "on or off" },
			{ "dpamt_demote_locked", "on or off" },
			{ "livelock_exits", "0 (off) .. 100000000" },
			{ "inject", "none, or a comma list of known-bug names" },
			{ "inhibit_check", "on or off" },
			{ "teardown", "zap or terminate" },
		};
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(k, keys[i].key)) {
				perr(p, "%s: '%s' is not a value of this design variant (%s; tdxsim "
					"list policies)", k, v, keys[i].values);
				return;
			}
		perr(p, "unknown key '%s' in [vm] (sept_ve_disable, explicit_demotion, maxphyaddr, "
			"vcpus, step_bound, description, or a policy key: tdxsim list policies)", k);
	}
}

static void on_memslot(struct pstate *p, int n, const char *k, const char *v)
{
	struct sc_memslot *m = &p->sc->slots[n];
	if (!m->used) {
		m->used = true;
		m->gmem = true;
		m->private = true;
		m->line = p->section_line;
	}
	if (!strcmp(k, "gpa") || !strcmp(k, "size")) {
		uint64_t x;
		if (!need_size(p, k, v, &x))
			return;
		if (x & 0xfff)
			perr(p, "%s: %s is not 4K aligned", k, v);
		else if (!strcmp(k, "gpa"))
			m->gpa = x;
		else if (x == 0 || (x >> 12) > KVM_MEM_MAX_NR_PAGES)
			perr(p, "size: %s is out of range (4K..8T)", v);
		else
			m->size = x;
	} else if (!strcmp(k, "guest_memfd")) {
		need_bool(p, k, v, &m->gmem);
	} else if (!strcmp(k, "private")) {
		need_bool(p, k, v, &m->private);
	} else {
		perr(p, "unknown key '%s' in [memslot %d] (gpa, size, guest_memfd, private)", k, n);
	}
}

static void on_firmware(struct pstate *p, const char *k, const char *v)
{
	struct scenario *sc = p->sc;
	uint64_t x;
	if (!strcmp(k, "pages")) {
		if (need_size(p, k, v, &x) && (x < 1 || x > 65536))
			perr(p, "pages: %s is out of range (1..65536)", v);
		else
			sc->fw_pages = x;
	} else if (!strcmp(k, "gpa")) {
		if (need_size(p, k, v, &x) && (x & 0xfff))
			perr(p, "gpa: %s is not 4K aligned", v);
		else
			sc->fw_gpa = x;
	} else if (!strcmp(k, "measure")) {
		need_bool(p, k, v, &sc->fw_measure);
	} else if (!strcmp(k, "prefault")) {
		need_bool(p, k, v, &sc->fw_prefault);
	} else if (!strcmp(k, "prefault_extra")) {
		if (need_size(p, k, v, &x) && x > 512)
			perr(p, "prefault_extra: %s is out of range (0..512)", v);
		else
			sc->fw_prefault_extra = x;
	} else if (!strcmp(k, "hob")) {
		if (need_size(p, k, v, &x) && (x & 0xfff || !x))
			perr(p, "hob: %s is not a 4K-aligned GPA above 0", v);
		else
			sc->fw_hob = x;
	} else if (!strcmp(k, "file")) {
		/* a TDVF image, relative to the scenario file's directory */
		char path[512], err[256];
		const char *slash = strrchr(sc->path, '/');
		if (v[0] == '/' || !slash)
			snprintf(path, sizeof(path), "%s", v);
		else
			snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - sc->path), sc->path, v);
		if (sc->fw_tdvf) {
			perr(p, "file: a second firmware image");
			return;
		}
		sc->fw_tdvf = calloc(1, sizeof(*sc->fw_tdvf));
		if (!sc->fw_tdvf || tdvf_load_file(path, sc->fw_tdvf, err, sizeof(err))) {
			perr(p, "file: %s", sc->fw_tdvf ? err : "out of memory");
			free(sc->fw_tdvf);
			sc->fw_tdvf = NULL;
		}
	} else if (!strcmp(k, "flow")) {
		enum tdvf_flow f;
		if (tdvf_flow_parse(v, &f))
			perr(p, "flow: '%s' is not qemu9 or qemu8", v);
		else
			sc->fw_flow = (int)f;
	} else {
		perr(p, "unknown key '%s' in [firmware] (file, flow, hob, or a synthetic image: "
			"pages, gpa, measure, prefault, prefault_extra)", k);
	}
}

/* ---- guest steps ---- */

/* The next whitespace-separated word of *s into @w. */
static bool word(const char **s, char *w, size_t len)
{
	const char *q = *s;
	while (isspace((unsigned char)*q))
		q++;
	size_t n = 0;
	while (*q && !isspace((unsigned char)*q)) {
		if (n + 1 < len)
			w[n++] = *q;
		q++;
	}
	w[n] = 0;
	*s = q;
	return n > 0;
}

static bool want_size(struct pstate *p, const char **s, const char *what, uint64_t *out)
{
	char w[64];
	if (!word(s, w, sizeof(w))) {
		perr(p, "step: %s expected", what);
		return false;
	}
	if (sc_parse_size(w, out)) {
		perr(p, "step: %s expected, not '%s'", what, w);
		return false;
	}
	return true;
}

static bool want_level(struct pstate *p, const char **s, int *level)
{
	char w[16];
	if (!word(s, w, sizeof(w)) || (strcmp(w, "4k") && strcmp(w, "2m"))) {
		perr(p, "step: a level (4k or 2m) expected%s%s", *w ? ", not " : "", w);
		return false;
	}
	*level = !strcmp(w, "2m");
	return true;
}

/* "[vcpu N]", or "[vcpus]" for the section every other vCPU runs */
static const char *vsec(int i)
{
	static char buf[2][16];
	static int k;
	if (i == SC_VCPU_ALL)
		return "[vcpus]";
	k ^= 1;
	snprintf(buf[k], sizeof(buf[k]), "[vcpu %d]", i);
	return buf[k];
}

static void parse_step(struct pstate *p, int vi, const char *text)
{
	struct sc_vcpu *vc = &p->sc->vcpus[vi];
	const char *s = text;
	char w[32];
	if (!word(&s, w, sizeof(w)))
		return;		/* an empty continuation line */
	if (vc->nsteps == SC_MAX_STEPS) {
		perr(p, "too many steps for %s (at most %d)", vsec(vi), SC_MAX_STEPS);
		return;
	}
	struct sc_step st = { .line = p->line, .match = -1 };
	if (!strcmp(w, "accept")) {
		st.op = OP_ACCEPT;
		if (!want_size(p, &s, "a GPA", &st.gpa) || !want_level(p, &s, &st.level))
			return;
		if (st.gpa & (st.level ? 0x1fffff : 0xfff)) {
			perr(p, "step: accept %#" PRIx64 " is not aligned to its level", st.gpa);
			return;
		}
	} else if (!strcmp(w, "read") || !strcmp(w, "write") || !strcmp(w, "check")) {
		st.op = w[0] == 'r' ? OP_READ : w[0] == 'w' ? OP_WRITE : OP_CHECK;
		const char *save = s;
		char w2[16];
		if (word(&s, w2, sizeof(w2)) && !strcmp(w2, "shared"))
			st.shared = true;
		else
			s = save;
		if (!want_size(p, &s, "a GPA", &st.gpa))
			return;
		if (st.gpa & 7) {
			perr(p, "step: %s %#" PRIx64 ": accesses are 8 bytes, 8-byte aligned", w,
			     st.gpa);
			return;
		}
		if (st.op != OP_READ && !want_size(p, &s, "a VALUE", &st.val))
			return;
	} else if (!strcmp(w, "mapgpa")) {
		st.op = OP_MAPGPA;
		char d[16];
		if (!word(&s, d, sizeof(d)) || (strcmp(d, "shared") && strcmp(d, "private"))) {
			perr(p, "step: mapgpa needs 'shared' or 'private'");
			return;
		}
		st.shared = !strcmp(d, "shared");
		if (!want_size(p, &s, "a GPA", &st.gpa) || !want_size(p, &s, "a SIZE", &st.val))
			return;
		if ((st.gpa | st.val) & 0xfff || !st.val) {
			perr(p, "step: mapgpa GPA and SIZE must be 4K aligned and SIZE non-zero");
			return;
		}
	} else if (!strcmp(w, "demote")) {
		st.op = OP_DEMOTE;
		if (!want_size(p, &s, "a GPA", &st.gpa))
			return;
	} else if (!strcmp(w, "attr-wr")) {
		/* TDG.MEM.PAGE.ATTR.WR with no attribute change: over a 2M leaf at 4K, the
		 * module's own demotion request (an EPT-violation exit of type 5) */
		st.op = OP_ATTR_WR;
		if (!want_size(p, &s, "a GPA", &st.gpa) || !want_level(p, &s, &st.level))
			return;
		if (st.gpa & (st.level ? 0x1fffff : 0xfff)) {
			perr(p, "step: attr-wr %#" PRIx64 " is not aligned to its level", st.gpa);
			return;
		}
	} else if (!strcmp(w, "wait-vmm")) {
		/* a barrier of the scenario, not of the guest: the steps after it run
		 * once the VMM's triggered actions are done, under any schedule */
		st.op = OP_WAIT_VMM;
	} else if (!strcmp(w, "repeat")) {
		st.op = OP_REPEAT;
		if (!want_size(p, &s, "a count", &st.val))
			return;
		if (st.val < 1 || st.val > 1000000) {
			perr(p, "step: repeat count %" PRIu64 " is out of range (1..10^6)", st.val);
			return;
		}
		char b[8];
		if (!word(&s, b, sizeof(b)) || strcmp(b, "{")) {
			perr(p, "step: 'repeat N {' expected");
			return;
		}
		if (p->nopen[vi] == 16) {
			perr(p, "step: repeats nest too deep (16)");
			return;
		}
		p->open_repeats[vi][p->nopen[vi]++] = vc->nsteps;
	} else if (!strcmp(w, "}")) {
		st.op = OP_END;
		if (!p->nopen[vi]) {
			perr(p, "step: '}' without a repeat");
			return;
		}
		st.match = p->open_repeats[vi][--p->nopen[vi]];
		vc->steps[st.match].match = vc->nsteps;
	} else {
		perr(p, "step: unknown step '%s' (accept, read, write, check, mapgpa, demote, "
			"attr-wr, wait-vmm, repeat N {, })", w);
		return;
	}
	if (word(&s, w, sizeof(w))) {
		perr(p, "step: unexpected '%s' at the end", w);
		return;
	}
	vc->steps[vc->nsteps++] = st;
}

static const struct sc_program *find_program(const char *name)
{
	for (const struct sc_program *pr = sc_programs; pr->name; pr++)
		if (!strcmp(pr->name, name))
			return pr;
	return NULL;
}

static void on_vcpu(struct pstate *p, int n, const char *k, const char *v)
{
	struct sc_vcpu *vc = &p->sc->vcpus[n];
	if (!vc->used) {
		vc->used = true;
		vc->line = p->section_line;
	}
	if (!strcmp(k, "program")) {
		vc->prog = find_program(v);
		if (!vc->prog)
			perr(p, "program: unknown program '%s' (tdxsim list programs)", v);
		return;
	}
	if (!strcmp(k, "step") || !strcmp(k, "steps")) {
		parse_step(p, n, v);
		return;
	}
	/* a parameter of the program */
	if (!vc->prog) {
		perr(p, "unknown key '%s' in %s (program must come first for its "
			"parameters; or step/steps)", k, vsec(n));
		return;
	}
	bool known = false;
	for (const char *const *q = vc->prog->params; q && *q; q++)
		known |= !strcmp(*q, k);
	if (!known) {
		perr(p, "program %s takes no parameter '%s' (tdxsim list programs)", vc->prog->name,
		     k);
		return;
	}
	/* parameters that name a choice: the value is its index */
	static const struct {
		const char *key, *names[2];
	} choices[] = {
		{ "level", { "4k", "2m" } },
		{ "accept", { "lazy", "eager" } },
		{ "wmark_accept", { "off", "on" } },
		{ "until", { "login", "init" } },
	};
	uint64_t x;
	int ch = -1;
	for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
		if (!strcmp(k, choices[i].key))
			ch = (int)i;
	if (ch >= 0) {
		if (strcmp(v, choices[ch].names[0]) && strcmp(v, choices[ch].names[1])) {
			perr(p, "%s: '%s' is not %s or %s", k, v, choices[ch].names[0],
			     choices[ch].names[1]);
			return;
		}
		x = !strcmp(v, choices[ch].names[1]);
	} else if (!need_size(p, k, v, &x)) {
		return;
	}
	if (vc->nparams == SC_MAX_PARAMS) {
		perr(p, "too many parameters for %s", vsec(n));
		return;
	}
	for (int i = 0; i < vc->nparams; i++)
		if (!strcmp(vc->params[i].key, k)) {
			vc->params[i].val = x;	/* given again (--set): the last wins */
			return;
		}
	for (const char *const *q = vc->prog->params; *q; q++)
		if (!strcmp(*q, k))
			vc->params[vc->nparams++] = (struct sc_param){ *q, x };
}

/* ---- [vmm] actions ---- */

static void on_vmm(struct pstate *p, const char *k, const char *v)
{
	struct scenario *sc = p->sc;
	if (strcmp(k, "action")) {
		perr(p, "unknown key '%s' in [vmm] (action = TRIGGER: ACTION)", k);
		return;
	}
	const char *colon = strchr(v, ':');
	if (!colon) {
		if (*v)
			perr(p, "action: 'TRIGGER: ACTION' expected (e.g. 'after vcpu0 step 40: "
				"convert shared 0x100000 4K')");
		return;
	}
	if (sc->nactions == SC_MAX_ACTIONS) {
		perr(p, "too many actions (at most %d)", SC_MAX_ACTIONS);
		return;
	}
	struct sc_vmm_action a = { .line = p->line };
	char trig[96];
	snprintf(trig, sizeof(trig), "%.*s", (int)(colon - v), v);
	const char *s = trig;
	char w[32], w2[32], w3[32];
	word(&s, w, sizeof(w));
	if (!strcmp(w, "at") && word(&s, w2, sizeof(w2)) && !strcmp(w2, "start")) {
		a.trigger = TR_START;
	} else if (!strcmp(w, "at") && !strcmp(w2, "time") && word(&s, w3, sizeof(w3))) {
		a.trigger = TR_TIME;
		if (sc_parse_time(w3, &a.when)) {
			perr(p, "action: '%s' is not a time (e.g. 2ms)", w3);
			return;
		}
	} else if (!strcmp(w, "after") && word(&s, w2, sizeof(w2)) && !strncmp(w2, "vcpu", 4) &&
		   word(&s, w3, sizeof(w3)) && !strcmp(w3, "step")) {
		a.trigger = TR_VCPU_STEP;
		uint64_t x;
		const char *rest;
		if (parse_u64(w2 + 4, &x, &rest) || *rest || x >= SC_MAX_VCPUS) {
			perr(p, "action: '%s' is not a vCPU (vcpu0..vcpu%d)", w2, SC_MAX_VCPUS - 1);
			return;
		}
		a.vcpu = (int)x;
		if (!want_size(p, &s, "a step number", &a.when))
			return;
	} else {
		perr(p, "action: unknown trigger '%s' ('at start', 'at time T', 'after vcpuN "
			"step S')", trig);
		return;
	}
	if (word(&s, w, sizeof(w))) {
		perr(p, "action: unexpected '%s' in the trigger", w);
		return;
	}
	s = colon + 1;
	if (!word(&s, w, sizeof(w))) {
		perr(p, "action: an action expected after ':'");
		return;
	}
	if (!strcmp(w, "convert") || !strcmp(w, "attributes")) {
		a.act = w[0] == 'c' ? ACT_CONVERT : ACT_ATTR;
		if (!word(&s, w2, sizeof(w2)) || (strcmp(w2, "shared") && strcmp(w2, "private"))) {
			perr(p, "action: %s needs 'shared' or 'private'", w);
			return;
		}
		a.private = !strcmp(w2, "private");
		if (!want_size(p, &s, "a GPA", &a.gpa) || !want_size(p, &s, "a SIZE", &a.size))
			return;
	} else if (!strcmp(w, "churn")) {
		a.act = ACT_CHURN;
		uint64_t x;
		if (!want_size(p, &s, "a GPA", &a.gpa) || !want_size(p, &s, "a SIZE", &a.size) ||
		    !want_size(p, &s, "a count", &x))
			return;
		if (x < 1 || x > 1000000) {
			perr(p, "action: churn count %" PRIu64 " is out of range (1..10^6)", x);
			return;
		}
		a.slot = (int)x;
	} else if (!strcmp(w, "punch") || !strcmp(w, "prefault")) {
		a.act = w[0] == 'p' && w[1] == 'u' ? ACT_PUNCH : ACT_PREFAULT;
		if (!want_size(p, &s, "a GPA", &a.gpa) || !want_size(p, &s, "a SIZE", &a.size))
			return;
	} else if (!strcmp(w, "delete")) {
		a.act = ACT_DELETE;
		uint64_t x;
		if (!word(&s, w2, sizeof(w2)) || strcmp(w2, "slot")) {
			perr(p, "action: 'delete slot N' expected");
			return;
		}
		if (!want_size(p, &s, "a slot number", &x))
			return;
		if (x >= KVM_MAX_MEMSLOTS) {
			perr(p, "action: slot %" PRIu64 " is out of range (0..%d)", x,
			     KVM_MAX_MEMSLOTS - 1);
			return;
		}
		a.slot = (int)x;
	} else if (!strcmp(w, "interrupt")) {
		a.act = ACT_INTERRUPT;
		uint64_t x;
		const char *rest;
		if (!word(&s, w2, sizeof(w2)) || strncmp(w2, "vcpu", 4) ||
		    parse_u64(w2 + 4, &x, &rest) || *rest || x >= SC_MAX_VCPUS) {
			perr(p, "action: 'interrupt vcpuN' expected");
			return;
		}
		a.slot = (int)x;
	} else {
		perr(p, "action: unknown action '%s' (convert, attributes, churn, punch, delete "
			"slot, prefault, interrupt)", w);
		return;
	}
	if ((a.act == ACT_CONVERT || a.act == ACT_ATTR || a.act == ACT_PUNCH ||
	     a.act == ACT_PREFAULT || a.act == ACT_CHURN) && ((a.gpa | a.size) & 0xfff || !a.size)) {
		perr(p, "action: GPA and SIZE must be 4K aligned and SIZE non-zero");
		return;
	}
	if (word(&s, w, sizeof(w))) {
		perr(p, "action: unexpected '%s' at the end", w);
		return;
	}
	sc->actions[sc->nactions++] = a;
}

/* ---- [expect] ---- */

static void on_expect(struct pstate *p, const char *key, const char *v)
{
	struct scenario *sc = p->sc;
	sc->has_expect = true;
	/* "faults >= 10": inih split at the '=', so the key ends in '>', '<' or '!' */
	char k[64], val[96];
	snprintf(k, sizeof(k), "%s", key);
	size_t kl = strlen(k);
	while (kl && isspace((unsigned char)k[kl - 1]))
		k[--kl] = 0;
	if (kl && strchr("<>!", k[kl - 1])) {
		snprintf(val, sizeof(val), "%c=%s", k[kl - 1], v);
		k[--kl] = 0;
		while (kl && isspace((unsigned char)k[kl - 1]))
			k[--kl] = 0;
		v = val;
	}
	if (!strcmp(k, "outcome")) {
		if (!strcmp(v, "any")) {
			sc->expect_any_outcome = true;
			return;
		}
		for (int o = 0; o < SC_NOUTCOMES; o++)
			if (!strcmp(v, outcome_names[o])) {
				sc->expect_outcome = (enum sc_outcome)o;
				return;
			}
		perr(p, "outcome: '%s' is not ok, killed, fail, deadlock, livelock, setup-error, "
			"invariant-violation or any", v);
		return;
	}
	if (!strcmp(k, "message")) {
		snprintf(sc->expect_message, sizeof(sc->expect_message), "%s", v);
		return;
	}
	int c = -1;
	for (int i = 0; i < C_NCOUNTERS; i++)
		if (!strcmp(k, sc_counter_names[i]))
			c = i;
	if (c < 0) {
		perr(p, "unknown key '%s' in [expect] (outcome, message, or a counter: tdxsim help "
			"run)", k);
		return;
	}
	if (sc->nexpects == SC_MAX_EXPECT) {
		perr(p, "too many expectations (at most %d)", SC_MAX_EXPECT);
		return;
	}
	static const struct { const char *s; enum sc_cmp c; } ops[] = {
		{ ">=", CMP_GE }, { "<=", CMP_LE }, { "!=", CMP_NE }, { "==", CMP_EQ },
		{ ">", CMP_GT }, { "<", CMP_LT }, { "=", CMP_EQ },
	};
	struct sc_expect e = { .counter = c, .cmp = CMP_EQ, .line = p->line };
	const char *s = v;
	while (isspace((unsigned char)*s))
		s++;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(s, ops[i].s, strlen(ops[i].s))) {
			e.cmp = ops[i].c;
			s += strlen(ops[i].s);
			break;
		}
	if (sc_parse_size(s, &e.val) && sc_parse_time(s, &e.val)) {
		perr(p, "%s: '%s' is not [OP] NUMBER (OP: = == != < <= > >=)", k, v);
		return;
	}
	sc->expects[sc->nexpects++] = e;
}

/* ---- the inih callback ---- */

static int on_kv(void *user, const char *section, const char *name, const char *value)
{
	struct pstate *p = user;
	if (p->failed)
		return 1;
	int n;
	if (!strcmp(section, "platform"))
		on_platform(p, name, value);
	else if (!strcmp(section, "vm"))
		on_vm(p, name, value);
	else if (!strcmp(section, "firmware"))
		on_firmware(p, name, value);
	else if (!strcmp(section, "vmm"))
		on_vmm(p, name, value);
	else if (!strcmp(section, "expect"))
		on_expect(p, name, value);
	else if ((n = section_index(section, "memslot", KVM_MAX_MEMSLOTS)) >= 0)
		on_memslot(p, n, name, value);
	else if ((n = section_index(section, "vcpu", SC_VCPU_SECTIONS)) >= 0)
		on_vcpu(p, n, name, value);
	else if (!strcmp(section, "vcpus"))
		on_vcpu(p, SC_VCPU_ALL, name, value);
	else if (n == -2 || section_index(section, "memslot", KVM_MAX_MEMSLOTS) == -2) {
		p->line = p->section_line;
		perr(p, "[%s]: the number is out of range (memslot 0..%d, vcpu 0..%d; [vcpus] "
			"is every other vCPU)", section, KVM_MAX_MEMSLOTS - 1, SC_VCPU_SECTIONS - 1);
	} else if (!*section) {
		perr(p, "'%s' before any section", name);
	} else {
		p->line = p->section_line;
		perr(p, "unknown section [%s] (platform, vm, memslot N, firmware, vcpu N, vcpus, "
			"vmm, expect)", section);
	}
	return 1;
}

static char *reader(char *str, int num, void *stream)
{
	struct pstate *p = stream;
	char *r = fgets(str, num, p->f);
	if (r) {
		p->line++;
		const char *q = r;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q == '[')
			p->section_line = p->line;
	}
	return r;
}

static void scenario_defaults(struct scenario *sc, const char *path)
{
	memset(sc, 0, sizeof(*sc));
	snprintf(sc->path, sizeof(sc->path), "%s", path);
	kvm_platform_default(&sc->plat);
	sc->plat.mem_bytes = 4ull << 30;
	kvm_policy_default(&sc->pol);
	sc->sept_ve_disable = true;
	sc->maxphyaddr = 48;
	sc->fw_measure = true;
	sc->fw_prefault = true;
	sc_costs_builtin(&sc->costs);
	snprintf(sc->costs_name, sizeof(sc->costs_name), "built-in (costs/calibrated.ini)");
}

static int leaf_by_name(const char *name)
{
	for (unsigned l = 0; l < SEAM_COST_TDCALL; l++) {
		const char *n = tdx_leaf_name(l);
		if (n && !strcmp(n, name))
			return (int)l;
	}
	return -1;
}

void sc_costs_builtin(struct cost_table *t)
{
	char err[160];
	cost_table_default(t);
	/* the table is checked by the tests; a broken one is a build bug */
	if (cost_table_parse(t, tdxsim_costs_builtin, leaf_by_name, err, sizeof(err))) {
		fprintf(stderr, "tdxsim: the built-in cost table: %s\n", err);
		abort();
	}
}

/*
 * [platform] costs = FILE: the built-in table, then FILE over it (FILE as
 * given if it exists, as from --set, else relative to the scenario's
 * directory); "builtin" is the built-in table alone, "estimates" the
 * engine's own defaults.
 */
static void on_costs(struct pstate *p, const char *v)
{
	struct scenario *sc = p->sc;
	if (!strcmp(v, "builtin")) {
		sc_costs_builtin(&sc->costs);
		snprintf(sc->costs_name, sizeof(sc->costs_name), "built-in (costs/calibrated.ini)");
		return;
	}
	if (!strcmp(v, "estimates")) {
		cost_table_default(&sc->costs);
		snprintf(sc->costs_name, sizeof(sc->costs_name), "the engine's estimates");
		return;
	}
	char path[512];
	const char *slash = strrchr(sc->path, '/');
	if (v[0] == '/' || !slash || access(v, R_OK) == 0)
		snprintf(path, sizeof(path), "%s", v);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - sc->path), sc->path, v);
	struct cost_table t;
	sc_costs_builtin(&t);
	char err[320];
	if (cost_table_load(&t, path, leaf_by_name, err, sizeof(err))) {
		perr(p, "costs: %s%s%s", strstr(err, path) ? "" : path, strstr(err, path) ? "" : ": ",
		     err);
		return;
	}
	sc->costs = t;
	snprintf(sc->costs_name, sizeof(sc->costs_name), "%s", path);
}

void scenario_free(struct scenario *sc)
{
	if (sc->fw_tdvf) {
		tdvf_free(sc->fw_tdvf);
		free(sc->fw_tdvf);
		sc->fw_tdvf = NULL;
	}
}

int scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen)
{
	scenario_defaults(sc, path);
	struct pstate p = { .sc = sc, .err = err, .errlen = errlen };
	p.f = fopen(path, "r");
	if (!p.f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int r = ini_parse_stream(reader, &p, on_kv, &p);
	fclose(p.f);
	if (p.failed) {
		scenario_free(sc);
		return -1;
	}
	if (r > 0) {
		p.line = r;
		perr(&p, "syntax error (expected [section] or key = value)");
		scenario_free(sc);
		return -1;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		return -1;
	}
	for (int i = 0; i <= SC_VCPU_ALL; i++)
		if (p.nopen[i]) {
			p.line = sc->vcpus[i].steps[p.open_repeats[i][p.nopen[i] - 1]].line;
			perr(&p, "step: repeat without its '}'");
			scenario_free(sc);
			return -1;
		}
	if (scenario_check(sc, err, errlen)) {
		scenario_free(sc);
		return -1;
	}
	return 0;
}

int scenario_set(struct scenario *sc, const char *assignment, char *err, size_t errlen)
{
	struct pstate p = { .sc = sc, .err = err, .errlen = errlen, .line = -1 };
	const char *eq = strchr(assignment, '=');
	if (!eq || eq == assignment) {
		perr(&p, "'%s': SECTION.KEY=VALUE expected (e.g. vm.busy=retry-n)", assignment);
		return -1;
	}
	char key[128];
	snprintf(key, sizeof(key), "%.*s", (int)(eq - assignment), assignment);
	char *dot = strrchr(key, '.');
	const char *section = "vm", *name = key;
	if (dot) {
		*dot = 0;
		section = key;
		name = dot + 1;
	}
	if (!strncmp(section, "vcpu", 4)) {
		/* a program's parameter may be set; the program and steps not */
		int n = !strcmp(section, "vcpus") ? SC_VCPU_ALL
						  : section_index(section, "vcpu", SC_VCPU_SECTIONS);
		if (!strcmp(name, "program") || !strcmp(name, "step") || !strcmp(name, "steps") ||
		    n < 0 || !sc->vcpus[n].used || !sc->vcpus[n].prog) {
			perr(&p, "'%s': guest programs and steps are set in the file; --set takes a "
				 "parameter of a program the file runs (e.g. vcpus.accept=eager)",
			     assignment);
			return -1;
		}
	}
	on_kv(&p, section, name, eq + 1);
	return p.failed ? -1 : scenario_check(sc, err, errlen);
}

const struct sc_vcpu *sc_vcpu_of(const struct scenario *sc, int i)
{
	if (i >= 0 && i < SC_VCPU_SECTIONS && sc->vcpus[i].used)
		return &sc->vcpus[i];
	return sc->vcpus[SC_VCPU_ALL].used ? &sc->vcpus[SC_VCPU_ALL] : NULL;
}

/* ---- whole-scenario checks ---- */

static const struct sc_memslot *slot_of(const struct scenario *sc, uint64_t gpa)
{
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct sc_memslot *m = &sc->slots[i];
		if (m->used && gpa - m->gpa < m->size)
			return m;
	}
	/* a firmware section is guest_memfd RAM too */
	static struct sc_memslot fw;
	for (int i = 0; sc->fw_tdvf && i < sc->fw_tdvf->nsec; i++) {
		const struct tdvf_section *t = &sc->fw_tdvf->sec[i];
		if (gpa - t->gpa < t->mem_size) {
			fw = (struct sc_memslot){ true, t->gpa, t->mem_size, true, true, 0 };
			return &fw;
		}
	}
	return NULL;
}

static int check_err(const struct scenario *sc, char *err, size_t errlen, int line,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int check_err(const struct scenario *sc, char *err, size_t errlen, int line,
		     const char *fmt, ...)
{
	int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", sc->path, line)
			 : snprintf(err, errlen, "%s: ", sc->path);
	if (n >= 0 && (size_t)n < errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

uint64_t scenario_hob_gpa(const struct scenario *sc)
{
	if (sc->fw_tdvf)
		return 0;
	if (sc->fw_hob)
		return sc->fw_hob;
	bool wanted = false;
	for (int i = 0; i <= SC_VCPU_ALL; i++) {
		const struct sc_vcpu *v = &sc->vcpus[i];
		bool range = false;
		for (int j = 0; j < v->nparams; j++)
			range |= !strcmp(v->params[j].key, "gpa") || !strcmp(v->params[j].key, "size") ||
				 !strcmp(v->params[j].key, "pages");
		wanted |= v->used && v->prog && !range &&
			  (!strcmp(v->prog->name, "firmware") || !strcmp(v->prog->name, "linux"));
	}
	for (int i = 0; wanted && i < KVM_MAX_MEMSLOTS; i++) {
		const struct sc_memslot *m = &sc->slots[i];
		if (!m->used || !m->gmem || !m->private)
			continue;
		uint64_t gpa = m->gpa ? m->gpa : 4096;	/* RCX = 0 says "no HOB" */
		if (sc->fw_pages && gpa - sc->fw_gpa < sc->fw_pages * 4096)
			gpa = sc->fw_gpa + sc->fw_pages * 4096;	/* after the image */
		return gpa < m->gpa + m->size ? gpa : 0;
	}
	return 0;
}

int scenario_check(const struct scenario *sc, char *err, size_t errlen)
{
	const uint64_t shared_bit = sc->maxphyaddr == 52 ? 1ull << 51 : 1ull << 47;
	int nslots = 0;
	for (int i = 0; i < KVM_MAX_MEMSLOTS; i++) {
		const struct sc_memslot *m = &sc->slots[i];
		if (!m->used)
			continue;
		nslots++;
		if (!m->size)
			return check_err(sc, err, errlen, m->line, "[memslot %d] has no size", i);
		if (m->gpa + m->size > shared_bit || m->gpa + m->size < m->gpa)
			return check_err(sc, err, errlen, m->line,
					 "[memslot %d] reaches the shared bit (%#" PRIx64 ") of a "
					 "%u-bit TD", i, shared_bit, sc->maxphyaddr);
		for (int j = 0; j < i; j++) {
			const struct sc_memslot *o = &sc->slots[j];
			if (o->used && m->gpa < o->gpa + o->size && o->gpa < m->gpa + m->size)
				return check_err(sc, err, errlen, m->line,
						 "[memslot %d] overlaps [memslot %d]", i, j);
		}
		if (m->private && !m->gmem)
			return check_err(sc, err, errlen, m->line,
					 "[memslot %d]: private memory needs guest_memfd", i);
	}
	if (!nslots && !sc->fw_tdvf)
		return check_err(sc, err, errlen, 0, "no [memslot N] section: the TD has no memory");
	for (int i = 0; sc->fw_tdvf && i < sc->fw_tdvf->nsec; i++) {
		const struct tdvf_section *t = &sc->fw_tdvf->sec[i];
		if (sc->slots[i].used)
			return check_err(sc, err, errlen, sc->slots[i].line,
					 "[memslot %d]: the firmware's %d sections take memslots "
					 "0..%d", i, sc->fw_tdvf->nsec, sc->fw_tdvf->nsec - 1);
		for (int j = 0; j < KVM_MAX_MEMSLOTS; j++) {
			const struct sc_memslot *m = &sc->slots[j];
			/* a section wholly in private RAM lies there (QEMU's TD_HOB, TEMP_MEM) */
			bool inside = m->gmem && m->private && m->gpa <= t->gpa &&
				      t->gpa + t->mem_size <= m->gpa + m->size;
			if (m->used && !inside && m->gpa < t->gpa + t->mem_size &&
			    t->gpa < m->gpa + m->size)
				return check_err(sc, err, errlen, m->line,
						 "[memslot %d] overlaps the firmware's %s section", j,
						 tdvf_type_name(t->type));
		}
	}
	if (sc->fw_tdvf && sc->fw_pages)
		return check_err(sc, err, errlen, 0,
				 "[firmware]: a file or a synthetic image (pages), not both");
	if (sc->fw_pages) {
		const struct sc_memslot *m = slot_of(sc, sc->fw_gpa);
		if (!m || !m->gmem || sc->fw_gpa + sc->fw_pages * 4096 > m->gpa + m->size)
			return check_err(sc, err, errlen, 0,
					 "[firmware] at %#" PRIx64 " (+%" PRIu64 " pages) is not "
					 "inside one guest_memfd memslot", sc->fw_gpa, sc->fw_pages);
	}
	if (sc->fw_hob) {
		const struct sc_memslot *m = slot_of(sc, sc->fw_hob);
		if (sc->fw_tdvf)
			return check_err(sc, err, errlen, 0, "[firmware] hob: the TDVF image has "
					 "its own TD_HOB section");
		if (!m || !m->gmem || !m->private)
			return check_err(sc, err, errlen, 0, "[firmware] hob %#" PRIx64 " is not in "
					 "a private guest_memfd memslot", sc->fw_hob);
		if (sc->fw_pages && sc->fw_hob - sc->fw_gpa < sc->fw_pages * 4096)
			return check_err(sc, err, errlen, 0, "[firmware] hob %#" PRIx64 " is a page "
					 "of the firmware image", sc->fw_hob);
	}
	int nv = 0;
	for (int i = 0; i <= SC_VCPU_ALL; i++) {
		const struct sc_vcpu *v = &sc->vcpus[i];
		if (!v->used)
			continue;
		if (i < SC_VCPU_ALL)
			nv = i + 1;
		if (!v->prog && !v->nsteps)
			return check_err(sc, err, errlen, v->line,
					 "%s has neither a program nor steps", vsec(i));
		if (v->prog && v->nsteps)
			return check_err(sc, err, errlen, v->line,
					 "%s has both a program and steps", vsec(i));
		if (v->prog && v->prog->needs_ve && sc->sept_ve_disable)
			return check_err(sc, err, errlen, v->line,
					 "%s: program %s needs #VE for pending pages: set "
					 "[vm] sept_ve_disable = off", vsec(i), v->prog->name);
		for (int j = 0; j < v->nsteps; j++) {
			const struct sc_step *s = &v->steps[j];
			if (s->op == OP_REPEAT || s->op == OP_END || s->op == OP_WAIT_VMM)
				continue;
			uint64_t len = s->op == OP_MAPGPA ? s->val
				       : s->op == OP_ACCEPT && s->level ? 2ull << 20 : 8;
			const struct sc_memslot *m = slot_of(sc, s->gpa);
			if (!m || s->gpa + len > m->gpa + m->size)
				return check_err(sc, err, errlen, s->line,
						 "GPA %#" PRIx64 " is outside every memslot", s->gpa);
		}
		for (int j = 0; j < v->nparams; j++)
			if (!strcmp(v->params[j].key, "gpa") && !slot_of(sc, v->params[j].val))
				return check_err(sc, err, errlen, v->line,
						 "%s gpa %#" PRIx64 " is outside every memslot",
						 vsec(i), v->params[j].val);
	}
	bool all = sc->vcpus[SC_VCPU_ALL].used;
	if (all && !sc->nvcpus)
		return check_err(sc, err, errlen, sc->vcpus[SC_VCPU_ALL].line,
				 "[vcpus] needs [vm] vcpus = N (how many vCPUs run it)");
	if (all)
		nv = sc->nvcpus;
	if (!nv)
		return check_err(sc, err, errlen, 0, "no [vcpu N] section: nothing runs");
	if (sc->nvcpus && sc->nvcpus < nv)
		return check_err(sc, err, errlen, 0, "[vm] vcpus = %d, but [vcpu %d] exists",
				 sc->nvcpus, nv - 1);
	for (int i = 0; i < nv && !all; i++)
		if (!sc->vcpus[i].used)
			return check_err(sc, err, errlen, 0,
					 "[vcpu %d] is missing (vCPUs are numbered from 0)", i);
	for (int i = 0; i < sc->nactions; i++) {
		const struct sc_vmm_action *a = &sc->actions[i];
		int nvc = sc->nvcpus ? sc->nvcpus : nv;
		if ((a->trigger == TR_VCPU_STEP && a->vcpu >= nvc) ||
		    (a->act == ACT_INTERRUPT && a->slot >= nvc))
			return check_err(sc, err, errlen, a->line, "action names a vCPU the TD lacks");
		if (a->act == ACT_DELETE && !sc->slots[a->slot].used)
			return check_err(sc, err, errlen, a->line, "action: no [memslot %d]", a->slot);
		if ((a->act == ACT_CONVERT || a->act == ACT_ATTR || a->act == ACT_PUNCH ||
		     a->act == ACT_PREFAULT || a->act == ACT_CHURN)) {
			const struct sc_memslot *m = slot_of(sc, a->gpa);
			if (!m || a->gpa + a->size > m->gpa + m->size)
				return check_err(sc, err, errlen, a->line,
						 "GPA %#" PRIx64 "+%#" PRIx64 " is not inside one "
						 "memslot", a->gpa, a->size);
			if (a->act == ACT_PUNCH && !m->gmem)
				return check_err(sc, err, errlen, a->line,
						 "punch: the memslot has no guest_memfd");
		}
	}
	return 0;
}
