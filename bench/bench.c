/* SPDX-License-Identifier: MIT */
/*
 * tdxsim benchmarks.  Writes a JSON object {"figure": {"value": N, "unit": U}}
 * to the file named on the command line (bench/results/latest.json).
 *
 *   aug_accept_pair_ns        one 4K PAGE.AUG plus the guest's ACCEPT of it
 *                             (S-EPT tables pre-built)
 *   block_track_remove_ns     RANGE.BLOCK + MEM.TRACK + PAGE.REMOVE of a 4K page
 *   module_bytes_per_4k_page  simulator memory the module's structures use
 *                             per accepted 4K page (PAMT, content tags,
 *                             S-EPT pages)
 *   module_pamt_bytes_per_4k_page, module_pamt_bytes_per_4k_page_dpamt
 *                             PAMT bytes the simulated module holds (the 1G/2M
 *                             entries, the PAMT-page bitmap, the 4K PAMT arrays;
 *                             physmem_pamt_bytes()) per 4K page of a TD's memory:
 *                             1 GiB of 2M pages, every 4K page of them written,
 *                             plus 64 4K pages in one 2M range; without and with
 *                             Dynamic PAMT (the real ratio: about 0.4% of RAM,
 *                             16 bytes per page, against about 0.004%)
 *   fault_4k_pages_per_s      a guest touching every 4K page of 1 GiB through the
 *                             full path: ACCEPT's EPT-violation exit, the KVM-style
 *                             fault (mirror, SEPT.ADD, PAGE.AUG), re-entry, ACCEPT,
 *                             a write
 *   sim_bytes_per_4k_page     the process's resident memory growth per page of it
 *   kvm_fault_4k_pages_per_s  real KVM (/dev/kvm) first-touching 1 GiB of 4K
 *                             pages (bench/kvm_fault.c), null when unusable
 *   fault_vs_kvm_ratio        the ratio of the two (best over best)
 *   fault_vs_kvm_ratio_median_pair
 *                             the median of five ratios, each from a simulator
 *                             run and the KVM run right after it
 *   switch_pair_ns            two coroutine context switches (there and back)
 *   sched_steps_per_s         scheduler steps per second, 4 tasks yielding
 *                             under the seeded random scheduler
 *   huge_memslot_ops_ms       an 8 TiB memslot with one page in use: create, attributes
 *                             to shared and back, punch the whole file, delete (sum of
 *                             the five, each the best of 5)
 *   fault_4k_instructions_per_page
 *                             instructions per page of fault_4k_pages_per_s's path,
 *                             by callgrind: (Ir(10240 pages) - Ir(2048)) / 8192 of two
 *                             `bench --fault-pages N` runs; null without valgrind
 *
 * Timings are the best of 5 runs: on a shared machine the minimum is the
 * stable estimate of the code's own cost (the spread is printed too).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../src/engine/engine.h"
#include "../src/engine/task.h"
#include "../src/host/bringup.h"
#include "../src/host/kvm.h"
#include "../src/host/kvm_internal.h"	/* tdx_demote_request(): the split alone */

double kvm_fault_4k_pages_per_s(unsigned long long bytes);

#define NPAGES (256 * 1024)	/* 1 GiB of 4K pages */
#define RUNS 5

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct run {
	struct tdx_module *m;
	struct bringup b;
	uint64_t *hpa;
};

static void die(const char *what, uint64_t st)
{
	fprintf(stderr, "bench: %s failed: %s\n", what, tdx_status_name(st));
	exit(1);
}

static void setup(struct run *r)
{
	struct tdx_module_config cfg;
	struct bringup_opts o;
	struct tdx_regs out;
	tdx_module_default_config(&cfg);
	r->m = tdx_module_create(&cfg);
	if (!r->m)
		exit(1);
	bringup_init(&r->b, r->m);
	bringup_default_opts(&o);
	if (bringup_td(&r->b, &o))
		die(r->b.last_leaf, r->b.last_status);
	uint64_t st = tdh_mr_finalize(r->m, &out, r->b.tdr);
	if (st)
		die("MR.FINALIZE", st);
	r->hpa = malloc(NPAGES * sizeof(*r->hpa));
	for (uint64_t i = 0; i < NPAGES; i += 512)
		if (bringup_sept_path(&r->b, i * SZ_4K, 0))
			die("SEPT.ADD", r->b.last_status);
	for (uint64_t i = 0; i < NPAGES; i++)
		r->hpa[i] = bringup_page(&r->b);
}

static void teardown(struct run *r)
{
	free(r->hpa);
	tdx_module_destroy(r->m);
}

/* ns per AUG+ACCEPT pair over NPAGES pages */
static double bench_aug_accept(struct run *r, uint64_t *resident)
{
	struct tdx_regs out;
	struct tdx_vcpu *v = r->b.vcpu[0];
	uint64_t st = tdh_vp_enter(r->m, &out, r->b.tdvpr[0]);
	if (st)
		die("VP.ENTER", st);
	uint64_t base_bytes = physmem_resident_bytes(r->b.pm);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < NPAGES; i++) {
		uint64_t info = tdx_gpa_info(i * SZ_4K, 0);
		st = tdh_mem_page_aug(r->m, &out, info, r->b.tdr, r->hpa[i]);
		if (st)
			die("PAGE.AUG", st);
		if (tdg_mem_page_accept(v, info, &st) != TDG_RETURN || st)
			die("ACCEPT", st);
	}
	uint64_t t1 = now_ns();
	if (resident)
		*resident = physmem_resident_bytes(r->b.pm) - base_bytes;
	tdx_td_exit(v, 0, 0, 0);
	return (double)(t1 - t0) / NPAGES;
}

/*
 * PAMT bytes per 4K page of TD memory (see the header).  With Dynamic PAMT
 * the host gives pairs to the ranges bringup takes its 4K pages from and to
 * the one range of 4K TD pages; 2M pages need none.
 */
#define PAMT_BENCH_2M 512	/* 1 GiB */
#define PAMT_BENCH_4K 64

static double bench_pamt_bytes(bool dynamic)
{
	struct tdx_module_config cfg;
	struct bringup_opts o;
	struct bringup b;
	struct tdx_regs out;
	uint64_t st, pool = 0, pool_used = 512;
	tdx_module_default_config(&cfg);
	cfg.dynamic_pamt = dynamic;
	struct tdx_module *m = tdx_module_create(&cfg);
	if (!m)
		exit(1);
	bringup_init(&b, m);
#define PAIR_PAGE() (pool_used == 512 ? (pool = bringup_page_2m(&b), pool_used = 1, pool) \
				       : pool + SZ_4K * pool_used++)
	for (int i = 0; dynamic && i < 8; i++) {
		uint64_t p0 = PAIR_PAGE(), p1 = PAIR_PAGE();
		st = tdh_phymem_pamt_add(m, &out, (b.next + i * SZ_2M) | PAMT_2M, p0, p1);
		if (st)
			die("PAMT.ADD", st);
	}
	bringup_default_opts(&o);
	if (bringup_td(&b, &o))
		die(b.last_leaf, b.last_status);
	uint64_t base = physmem_pamt_bytes(b.pm);
	for (uint64_t i = 0; i < PAMT_BENCH_2M; i++) {
		uint64_t gpa = SZ_1G + i * SZ_2M, hpa = bringup_page_2m(&b);
		if (bringup_sept_path(&b, gpa, 1))
			die("SEPT.ADD", b.last_status);
		st = tdh_mem_page_aug(m, &out, tdx_gpa_info(gpa, 1), b.tdr, hpa);
		if (st)
			die("PAGE.AUG 2M", st);
		for (uint64_t off = 0; off < SZ_2M; off += SZ_4K)
			physmem_write64(b.pm, hpa + off, off + 1);	/* the TD uses it */
	}
	uint64_t range = bringup_page_2m(&b);
	if (dynamic) {
		uint64_t p0 = PAIR_PAGE(), p1 = PAIR_PAGE();
		st = tdh_phymem_pamt_add(m, &out, range | PAMT_2M, p0, p1);
		if (st)
			die("PAMT.ADD", st);
	}
#undef PAIR_PAGE
	for (uint64_t i = 0; i < PAMT_BENCH_4K; i++) {
		uint64_t gpa = 4 * SZ_1G + i * SZ_4K;
		if (bringup_sept_path(&b, gpa, 0))
			die("SEPT.ADD", b.last_status);
		st = tdh_mem_page_aug(m, &out, tdx_gpa_info(gpa, 0), b.tdr, range + i * SZ_4K);
		if (st)
			die("PAGE.AUG 4K", st);
		physmem_write64(b.pm, range + i * SZ_4K, i + 1);
	}
	uint64_t bytes = physmem_pamt_bytes(b.pm) - base;
	tdx_module_destroy(m);
	return (double)bytes / (PAMT_BENCH_2M * 512 + PAMT_BENCH_4K);
}

/* ns per BLOCK+TRACK+REMOVE of a 4K page (vCPUs outside) */
static double bench_remove(struct run *r)
{
	struct tdx_regs out;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < NPAGES; i++) {
		uint64_t info = tdx_gpa_info(i * SZ_4K, 0);
		uint64_t st = tdh_mem_range_block(r->m, &out, info, r->b.tdr);
		if (!st)
			st = tdh_mem_track(r->m, &out, r->b.tdr);
		if (!st)
			st = tdh_mem_page_remove(r->m, &out, info, r->b.tdr);
		if (st)
			die("BLOCK/TRACK/REMOVE", st);
	}
	return (double)(now_ns() - t0) / NPAGES;
}

/* ---- 2M pages: AUG + ACCEPT, BLOCK + TRACK + DEMOTE, BLOCK + TRACK + PROMOTE ---- */

#define HUGE_RANGES 32	/* 64 MiB of 2M pages per run */

/* ns per 2M page for each of the three sequences, in t[0..2] */
static void bench_huge(double t[3])
{
	struct tdx_module_config cfg;
	struct bringup_opts o;
	struct bringup b;
	struct tdx_regs out;
	tdx_module_default_config(&cfg);
	struct tdx_module *m = tdx_module_create(&cfg);
	if (!m)
		exit(1);
	bringup_init(&b, m);
	bringup_default_opts(&o);
	if (bringup_td(&b, &o))
		die(b.last_leaf, b.last_status);
	uint64_t st = tdh_mr_finalize(m, &out, b.tdr);
	if (st)
		die("MR.FINALIZE", st);
	uint64_t hpa[HUGE_RANGES], sept[HUGE_RANGES];
	for (int i = 0; i < HUGE_RANGES; i++) {
		if (bringup_sept_path(&b, (uint64_t)i * SZ_2M, 1))
			die("SEPT.ADD", b.last_status);
		hpa[i] = bringup_page_2m(&b);
		sept[i] = bringup_page(&b);
	}
	struct tdx_vcpu *v = b.vcpu[0];
	uint64_t t0 = now_ns();
	for (int i = 0; i < HUGE_RANGES; i++) {
		uint64_t info = tdx_gpa_info((uint64_t)i * SZ_2M, 1);
		st = tdh_mem_page_aug(m, &out, info, b.tdr, hpa[i]);
		if (st)
			die("PAGE.AUG 2M", st);
		if ((st = tdh_vp_enter(m, &out, b.tdvpr[0])))
			die("VP.ENTER", st);
		if (tdg_mem_page_accept(v, info, &st) != TDG_RETURN || st)
			die("ACCEPT 2M", st);
		tdx_td_exit(v, 0, 0, 0);
	}
	uint64_t t1 = now_ns();
	for (int i = 0; i < HUGE_RANGES; i++) {
		uint64_t info = tdx_gpa_info((uint64_t)i * SZ_2M, 1);
		st = tdh_mem_range_block(m, &out, info, b.tdr);
		if (!st)
			st = tdh_mem_track(m, &out, b.tdr);
		if (!st)
			st = tdh_mem_page_demote(m, &out, info, b.tdr, sept[i], 0, 0);
		if (st)
			die("BLOCK/TRACK/DEMOTE", st);
	}
	uint64_t t2 = now_ns();
	for (int i = 0; i < HUGE_RANGES; i++) {
		uint64_t info = tdx_gpa_info((uint64_t)i * SZ_2M, 1);
		st = tdh_mem_range_block(m, &out, info, b.tdr);
		if (!st)
			st = tdh_mem_track(m, &out, b.tdr);
		if (!st)
			st = tdh_mem_page_promote(m, &out, 0, info, b.tdr);
		if (st)
			die("BLOCK/TRACK/PROMOTE", st);
	}
	uint64_t t3 = now_ns();
	t[0] = (double)(t1 - t0) / HUGE_RANGES;
	t[1] = (double)(t2 - t1) / HUGE_RANGES;
	t[2] = (double)(t3 - t2) / HUGE_RANGES;
	tdx_module_destroy(m);
}

/* ---- the full fault path through the KVM-style host ---- */

#define FAULT_BYTES (1ull << 30)
#define FAULT_BASE (1ull << 32)	/* a 4 GiB-aligned slot, well above the firmware */
#define FAULT_PAIRS 5		/* simulator and KVM runs, alternating */

static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* the guest: ACCEPT and write each of the first *arg 4K pages of the slot */
static void touch_all(struct gvcpu *g, void *arg)
{
	uint64_t end = FAULT_BASE + *(const uint64_t *)arg * SZ_4K;
	for (uint64_t gpa = FAULT_BASE; gpa < end; gpa += SZ_4K) {
		if (guest_accept(g, gpa, 0) != TDX_SUCCESS)
			gvcpu_kill(g, "accept failed at %#llx", (unsigned long long)gpa);
		guest_write64(g, gpa, gpa);
	}
}

/* a TD with one 1 GiB private slot and one vCPU under design @level, finalized */
static struct kvm_vm *fault_vm(struct kvm **kp, enum kvm_map_level level)
{
	struct kvm_platform p;
	kvm_platform_default(&p);
	p.mem_bytes = 8 * SZ_1G;
	p.enhanced_demote = true;	/* so that the huge designs map 2M */
	struct kvm *k = kvm_create(&p);
	/*
	 * 2M guest_memfd folios, mapped 4K by the mainline design: the workload
	 * every fault_4k figure since the host-fixes issue measured (folios
	 * were always 2M then), so the instruction count stays comparable
	 */
	struct kvm_policy pol;
	kvm_policy_default(&pol);
	pol.folio = FOLIO_2M;
	pol.max_level = level;
	struct kvm_vm *vm = k ? kvm_create_vm(k, &pol) : NULL;
	struct kvm_tdx_init_vm init;
	kvm_tdx_init_vm_default(&init, 48);
	if (!vm || kvm_tdx_init_vm(vm, &init) ||
	    kvm_vmm_add_private_ram(vm, 0, FAULT_BASE, FAULT_BYTES) < 0 || kvm_create_vcpu(vm) != 0 ||
	    kvm_tdx_init_vcpu(vm, 0) || kvm_tdx_finalize_vm(vm)) {
		fprintf(stderr, "bench: VM setup failed\n");
		exit(1);
	}
	*kp = k;
	return vm;
}

static void fault_run(struct kvm_vm *vm, uint64_t pages)
{
	if (kvm_vcpu_run(vm, 0, touch_all, &pages)) {
		fprintf(stderr, "bench: guest failed: %s\n", kvm_vcpu_guest(vm, 0)->why);
		exit(1);
	}
}

/* pages per second; *bytes_per_page gets the resident-memory growth per page */
static double bench_fault(double *bytes_per_page)
{
	struct kvm *k;
	struct kvm_vm *vm = fault_vm(&k, MAP_LEVEL_4K);
	const uint64_t pages = FAULT_BYTES / SZ_4K;
	long rss0 = rss_kib();
	uint64_t t0 = now_ns();
	fault_run(vm, pages);
	uint64_t t1 = now_ns();
	long rss1 = rss_kib();
	*bytes_per_page = (double)(rss1 - rss0) * 1024.0 / (double)pages;
	kvm_destroy_vm(vm);
	kvm_destroy(k);
	return (double)pages / ((double)(t1 - t0) / 1e9);
}

/* ---- 2M: the guest accepts at 2M through the whole path ---- */

static void accept_2m_all(struct gvcpu *g, void *arg)
{
	uint64_t end = FAULT_BASE + *(const uint64_t *)arg * SZ_4K;
	for (uint64_t gpa = FAULT_BASE; gpa < end; gpa += SZ_2M) {
		if (guest_accept(g, gpa, 1) != TDX_SUCCESS)
			gvcpu_kill(g, "2M accept failed at %#llx", (unsigned long long)gpa);
		for (uint64_t a = gpa; a < gpa + SZ_2M; a += SZ_4K)
			guest_write64(g, a, a);
	}
}

/* 4K pages made usable per second when the guest accepts at 2M; *maps2m checks it did */
static double bench_fault_2m(uint64_t *maps2m)
{
	struct kvm *k;
	struct kvm_vm *vm = fault_vm(&k, MAP_LEVEL_HUGE_V5);
	uint64_t pages = FAULT_BYTES / SZ_4K;
	uint64_t t0 = now_ns();
	if (kvm_vcpu_run(vm, 0, accept_2m_all, &pages)) {
		fprintf(stderr, "bench: 2M guest failed: %s\n", kvm_vcpu_guest(vm, 0)->why);
		exit(1);
	}
	uint64_t t1 = now_ns();
	*maps2m = kvm_vm_stats(vm)->maps_2m;
	kvm_destroy_vm(vm);
	kvm_destroy(k);
	return (double)pages / ((double)(t1 - t0) / 1e9);
}

/*
 * ns per exclusive-lock split of an accepted 2M mapping (BLOCK, TRACK, kick,
 * DEMOTE, the mirror table), through explicit-demotion's demotion request.
 */
#define SPLIT_RANGES 256
static double bench_split_exclusive(void)
{
	struct kvm *k;
	struct kvm_vm *vm = fault_vm(&k, MAP_LEVEL_EXPLICIT);
	uint64_t pages = SPLIT_RANGES * 512ull;
	if (kvm_vcpu_run(vm, 0, accept_2m_all, &pages) ||
	    kvm_vm_stats(vm)->maps_2m != SPLIT_RANGES) {
		fprintf(stderr, "bench: split setup failed\n");
		exit(1);
	}
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < SPLIT_RANGES; i++)
		if (tdx_demote_request(vm, (FAULT_BASE >> 12) + i * 512)) {
			fprintf(stderr, "bench: split failed\n");
			exit(1);
		}
	uint64_t t1 = now_ns();
	if (kvm_vm_stats(vm)->splits_exclusive != SPLIT_RANGES) {
		fprintf(stderr, "bench: %" PRIu64 " splits, expected %d\n",
			kvm_vm_stats(vm)->splits_exclusive, SPLIT_RANGES);
		exit(1);
	}
	kvm_destroy_vm(vm);
	kvm_destroy(k);
	return (double)(t1 - t0) / SPLIT_RANGES;
}

/*
 * ---- instructions per faulted page, counted by callgrind ----
 *
 * `bench --fault-pages N` builds the same TD as bench_fault, faults its
 * first N pages and leaves with _exit(), so that the only part of the
 * process that depends on N is the fault loop itself (the slot is 1 GiB
 * whatever N is, and nothing is torn down).  Two such runs under
 * callgrind, and the difference of their instruction counts over the
 * difference in pages, is the cost of one fault with setup and exit
 * cancelled out.  Both sizes are multiples of 512, so each run pays the
 * same share of page-table SEPT.ADDs (one per 512 pages).  Callgrind, not
 * cachegrind: since valgrind 3.17 cachegrind's JIT chases conditional
 * branches by default and then also counts some not-taken instructions
 * (6 a page more here; callgrind and cachegrind --vex-guest-chase=no agree).
 */
#define IR_SMALL 2048
#define IR_BIG 10240

static int fault_pages_main(const char *arg)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(arg, &end, 0);
	if (errno || *end || n == 0 || n > FAULT_BYTES / SZ_4K) {
		fprintf(stderr, "bench: --fault-pages wants 1..%llu\n", FAULT_BYTES / SZ_4K);
		return 2;
	}
	struct kvm *k;
	struct kvm_vm *vm = fault_vm(&k, MAP_LEVEL_4K);
	fault_run(vm, n);
	_exit(0);
}

/*
 * Total instructions (Ir) of `exe --fault-pages pages` under callgrind;
 * -1 on failure, -2 when valgrind cannot be run at all.
 */
static long long callgrind_ir(const char *exe, const char *dir, uint64_t pages)
{
	char out[PATH_MAX], log[PATH_MAX], npages[32], outopt[PATH_MAX + 32];
	snprintf(out, sizeof(out), "%s/callgrind.out", dir);
	snprintf(log, sizeof(log), "%s/valgrind.log", dir);
	snprintf(outopt, sizeof(outopt), "--callgrind-out-file=%s", out);
	snprintf(npages, sizeof(npages), "%" PRIu64, pages);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		char *argv[] = { "valgrind", "--tool=callgrind", outopt, (char *)exe,
				 "--fault-pages", npages, NULL };
		execvp(argv[0], argv);
		_exit(127);
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR)
			return -1;
	long long ir = -1;
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == 127) {
		ir = -2;
	} else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
		FILE *f = fopen(out, "r");
		char line[256];
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "summary: %lld", &ir) == 1 ||
			    sscanf(line, "totals: %lld", &ir) == 1)
				break;
		if (f)
			fclose(f);
	}
	if (ir == -1) {
		fprintf(stderr, "bench: callgrind run of %" PRIu64 " pages failed; its log:\n", pages);
		FILE *f = fopen(log, "r");
		char line[256];
		while (f && fgets(line, sizeof(line), f))
			fputs(line, stderr);
		if (f)
			fclose(f);
	}
	unlink(out);
	unlink(log);
	return ir;
}

/*
 * Instructions per faulted page, or -1 (*why says why).  *ir_small and
 * *ir_big get the two totals.
 */
static double fault_instructions(long long *ir_small, long long *ir_big, const char **why)
{
	char exe[PATH_MAX], dir[PATH_MAX];
	/* the path itself: valgrind would read /proc/self/exe as its own */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		*why = "cannot find this program (/proc/self/exe)";
		return -1;
	}
	exe[n] = 0;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/tdxsim-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		*why = "cannot make a temporary directory";
		return -1;
	}
	*ir_small = callgrind_ir(exe, dir, IR_SMALL);
	*ir_big = *ir_small >= 0 ? callgrind_ir(exe, dir, IR_BIG) : -1;
	rmdir(dir);
	if (*ir_small == -2) {
		*why = "valgrind not installed";
		return -1;
	}
	if (*ir_small < 0 || *ir_big < 0 || *ir_big <= *ir_small) {
		*why = "the callgrind runs failed";
		return -1;
	}
	return (double)(*ir_big - *ir_small) / (IR_BIG - IR_SMALL);
}

static void print_instructions(double ipp, long long ir_small, long long ir_big, const char *why)
{
	if (ipp >= 0)
		printf("fault_4k_instructions_per_page %6.1f     (callgrind: (%lld - %lld) / (%d - %d) pages)\n",
		       ipp, ir_big, ir_small, IR_BIG, IR_SMALL);
	else
		printf("fault_4k_instructions_per_page   null (%s)\n", why);
}

/* ---- engine ---- */

static struct coro bmain, btask;
static volatile uint64_t pings;

static void pong(void *arg)
{
	(void)arg;
	for (;;) {
		pings++;
		coro_switch(&btask, &bmain);
	}
}

/* ns for one switch pair: main -> task -> main */
static double bench_switch(void)
{
	enum { N = 10 * 1000 * 1000 };
	coro_init_main(&bmain);
	if (coro_init(&btask, 64 * 1024, pong, NULL))
		exit(1);
	coro_switch(&bmain, &btask);	/* warm up */
	uint64_t t0 = now_ns();
	for (int i = 0; i < N; i++)
		coro_switch(&bmain, &btask);
	uint64_t t1 = now_ns();
	coro_destroy(&btask);
	return (double)(t1 - t0) / N;
}

static void yielder(void *arg)
{
	uint64_t n = (uint64_t)(uintptr_t)arg;
	for (uint64_t i = 0; i < n; i++)
		seam_yield();
}

/* scheduling steps per second: 4 tasks, random scheduler */
static double bench_sched(void)
{
	enum { PER_TASK = 1000 * 1000 };
	struct engine_config c = { .sched = SCHED_RANDOM, .seed = 42, .step_bound = 100000000,
				   .stack_size = 64 * 1024 };
	struct engine *e = engine_create(&c);
	for (int i = 0; i < 4; i++)
		engine_spawn(e, "yielder", yielder, (void *)(uintptr_t)PER_TASK);
	uint64_t t0 = now_ns();
	if (engine_run(e) != ENGINE_OK)
		exit(1);
	uint64_t t1 = now_ns();
	double steps = (double)engine_steps(e);
	engine_destroy(e);
	return steps / ((double)(t1 - t0) / 1e9);
}

/*
 * The largest memslot KVM allows (2^31 - 1 pages, 8 TiB) on a 5-level TD
 * with one page in use: the milliseconds of each operation that used to
 * loop over every 4K page of the span (create, attributes both ways, a
 * punch of the whole file, deletion).  Best of RUNS.
 */
enum { HM_CREATE, HM_TO_SHARED, HM_TO_PRIVATE, HM_PUNCH, HM_DELETE, HM_NR };
static const char *const hm_name[HM_NR] = { "create", "to shared", "to private", "punch",
					    "delete" };

static void bench_huge_memslot(double ms[HM_NR])
{
	for (int o = 0; o < HM_NR; o++)
		ms[o] = 1e30;
	const uint64_t gpa = 1ull << 44, size = KVM_MEM_MAX_NR_PAGES * 4096ull;
	for (int run = 0; run < RUNS; run++) {
		struct kvm_platform p;
		kvm_platform_default(&p);
		p.mem_bytes = 2ull << 30;
		struct kvm *k = kvm_create(&p);
		struct kvm_vm *vm = k ? kvm_create_vm(k, NULL) : NULL;
		struct kvm_tdx_init_vm init;
		kvm_tdx_init_vm_default(&init, 52);
		if (!vm || kvm_tdx_init_vm(vm, &init) || kvm_create_vcpu(vm) != 0 ||
		    kvm_tdx_init_vcpu(vm, 0) || kvm_tdx_finalize_vm(vm)) {
			fprintf(stderr, "bench: huge memslot VM setup failed\n");
			exit(1);
		}
		uint64_t t[HM_NR + 1];
		int rc = 0, fd;
		t[0] = now_ns();
		fd = kvm_vmm_add_private_ram(vm, 0, gpa, size);
		rc |= fd < 0;
		struct kvm_pre_fault_memory pf = { gpa + (5ull << 40), 4096, 0 };
		rc |= kvm_pre_fault_memory(vm, 0, &pf);	/* one page in use, not timed */
		t[1] = now_ns();
		rc |= kvm_set_memory_attributes(vm, gpa, size, 0);
		t[2] = now_ns();
		rc |= kvm_set_memory_attributes(vm, gpa, size, KVM_MEMORY_ATTRIBUTE_PRIVATE);
		t[3] = now_ns();
		rc |= kvm_gmem_punch_hole(vm, fd, 0, size);
		t[4] = now_ns();
		struct kvm_userspace_memory_region2 del = { .slot = 0 };
		rc |= kvm_set_user_memory_region2(vm, &del);
		t[5] = now_ns();
		if (rc) {
			fprintf(stderr, "bench: huge memslot operation failed\n");
			exit(1);
		}
		for (int o = 0; o < HM_NR; o++) {
			double d = (double)(t[o + 1] - t[o]) / 1e6;
			if (d < ms[o])
				ms[o] = d;
		}
		kvm_destroy_vm(vm);
		kvm_destroy(k);
	}
}

/*
 * The exploration figures come from bench/explore (its own program: linking
 * the scenario code into this one moved the LTO's inlining of the fault
 * path, fault_4k_instructions_per_page +16 with no change to it).  It sits
 * next to this program; 0 with the three rates and their counts, -1 if it
 * could not be run.
 */
static int explore_figures(double rate[3], uint64_t n[3])
{
	char exe[PATH_MAX], cmd[PATH_MAX + 16];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len <= 0)
		return -1;
	exe[len] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(cmd, sizeof(cmd), "%s/explore", exe);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	int got = fscanf(p, "%lf %" SCNu64 " %lf %" SCNu64 " %lf %" SCNu64, &rate[0], &n[0], &rate[1],
			 &n[1], &rate[2], &n[2]);
	return pclose(p) == 0 && got == 6 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--fault-pages"))
		return fault_pages_main(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--instructions")) {
		long long small = 0, big = 0;
		const char *why = "";
		double ipp = fault_instructions(&small, &big, &why);
		print_instructions(ipp, small, big, why);
		return ipp >= 0 ? 0 : 1;
	}
	if (argc == 2 && !strcmp(argv[1], "--huge-memslot")) {
		double hm[HM_NR];
		bench_huge_memslot(hm);
		for (int o = 0; o < HM_NR; o++)
			printf("%s %.3f ms\n", hm_name[o], hm[o]);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--explore")) {
		double r[3];
		uint64_t n[3];
		if (explore_figures(r, n))
			return 1;
		printf("explore_runs_per_s %.0f runs/s (%" PRIu64 " of 2000 met [expect])\n", r[0], n[0]);
		printf("explore_runs_per_s_small %.0f runs/s (%" PRIu64 " of 5000 met [expect])\n", r[1],
		       n[1]);
		printf("exhaustive_schedules_per_s %.0f schedules/s (%" PRIu64 " schedules, covered)\n",
		       r[2], n[2]);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--pamt")) {
		printf("module_pamt_bytes_per_4k_page %.3f bytes\n", bench_pamt_bytes(false));
		printf("module_pamt_bytes_per_4k_page_dpamt %.3f bytes\n", bench_pamt_bytes(true));
		return 0;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr,
			"usage: %s [RESULTS.json]   all benchmarks\n"
			"       %s --instructions     only fault_4k_instructions_per_page\n"
			"       %s --huge-memslot     only the 8 TiB memslot operations\n"
			"       %s --pamt             only the two module_pamt_bytes_per_4k_page figures\n"
			"       %s --explore          only the explore_runs_per_s figures\n"
			"       %s --fault-pages N    fault N pages and exit (what callgrind runs)\n",
			argv[0], argv[0], argv[0], argv[0], argv[0], argv[0]);
		return 2;
	}
	const char *path = argc > 1 ? argv[1] : "bench/results/latest.json";
	double aug[RUNS], rem[RUNS];
	uint64_t resident = 0;
	for (int i = 0; i < RUNS; i++) {
		struct run r;
		setup(&r);
		aug[i] = bench_aug_accept(&r, &resident);
		rem[i] = bench_remove(&r);
		teardown(&r);
	}
	qsort(aug, RUNS, sizeof(double), cmp_double);
	qsort(rem, RUNS, sizeof(double), cmp_double);
	double per_page = (double)resident / NPAGES;
	double pamt_pp = bench_pamt_bytes(false), pamt_pp_dyn = bench_pamt_bytes(true);
	/*
	 * The simulator and real KVM run in alternation, so that both see the
	 * same machine: this host's speed drifts by up to 1.5x over minutes.
	 * Reported: the best of each, and the median of the per-pair ratios.
	 */
	double faults[FAULT_PAIRS], kvms[FAULT_PAIRS], ratios[FAULT_PAIRS], bytes_pp = 0;
	double kvm = -1.0;
	/* a first KVM run warms the host's memory and is not counted */
	bool have_kvm = kvm_fault_4k_pages_per_s(FAULT_BYTES) > 0;
	for (int i = 0; i < FAULT_PAIRS; i++) {
		faults[i] = bench_fault(i == 0 ? &bytes_pp : &(double){ 0 });
		kvms[i] = have_kvm ? kvm_fault_4k_pages_per_s(FAULT_BYTES) : -1.0;
		if (kvms[i] < 0)
			have_kvm = false;
		else
			ratios[i] = faults[i] / kvms[i];
	}
	qsort(faults, FAULT_PAIRS, sizeof(double), cmp_double);
	if (have_kvm) {
		qsort(kvms, FAULT_PAIRS, sizeof(double), cmp_double);
		qsort(ratios, FAULT_PAIRS, sizeof(double), cmp_double);
		kvm = kvms[FAULT_PAIRS - 1];
	}
	double sw[RUNS], steps[RUNS];
	for (int i = 0; i < RUNS; i++) {
		sw[i] = bench_switch();
		steps[i] = bench_sched();
	}
	qsort(sw, RUNS, sizeof(double), cmp_double);
	qsort(steps, RUNS, sizeof(double), cmp_double);
	double huge[3][RUNS];
	for (int i = 0; i < RUNS; i++) {
		double t[3];
		bench_huge(t);
		for (int k = 0; k < 3; k++)
			huge[k][i] = t[k];
	}
	for (int k = 0; k < 3; k++)
		qsort(huge[k], RUNS, sizeof(double), cmp_double);
	double f2m[RUNS], split[RUNS];
	uint64_t maps2m = 0;
	for (int i = 0; i < RUNS; i++) {
		f2m[i] = bench_fault_2m(&maps2m);
		split[i] = bench_split_exclusive();
	}
	qsort(f2m, RUNS, sizeof(double), cmp_double);
	qsort(split, RUNS, sizeof(double), cmp_double);
	double hm[HM_NR], hm_total = 0;
	bench_huge_memslot(hm);
	for (int o = 0; o < HM_NR; o++)
		hm_total += hm[o];
	double exr[3] = { -1, -1, -1 };
	uint64_t exn[3] = { 0, 0, 0 };
	if (explore_figures(exr, exn))
		fprintf(stderr, "bench: bench/explore failed: no exploration figures\n");
	double ex_rate = exr[0], ex_small = exr[1], exh = exr[2];
	uint64_t ex_ok = exn[0], ex_small_ok = exn[1], exh_n = exn[2];
	long long ir_small = 0, ir_big = 0;
	const char *ir_why = "";
	double ipp = fault_instructions(&ir_small, &ir_big, &ir_why);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		return 1;
	}
	fprintf(f, "{\n");
	fprintf(f, "  \"aug_accept_pair_ns\": {\"value\": %.1f, \"unit\": \"ns\"},\n", aug[0]);
	fprintf(f, "  \"block_track_remove_ns\": {\"value\": %.1f, \"unit\": \"ns\"},\n", rem[0]);
	fprintf(f, "  \"aug_accept_2m_ns\": {\"value\": %.1f, \"unit\": \"ns\"},\n", huge[0][0]);
	fprintf(f, "  \"demote_2m_ns\": {\"value\": %.1f, \"unit\": \"ns\"},\n", huge[1][0]);
	fprintf(f, "  \"promote_2m_ns\": {\"value\": %.1f, \"unit\": \"ns\"},\n", huge[2][0]);
	fprintf(f, "  \"module_bytes_per_4k_page\": {\"value\": %.1f, \"unit\": \"bytes\"},\n", per_page);
	fprintf(f, "  \"module_pamt_bytes_per_4k_page\": {\"value\": %.3f, \"unit\": \"bytes\"},\n", pamt_pp);
	fprintf(f, "  \"module_pamt_bytes_per_4k_page_dpamt\": {\"value\": %.3f, \"unit\": \"bytes\"},\n",
		pamt_pp_dyn);
	fprintf(f, "  \"fault_4k_pages_per_s\": {\"value\": %.0f, \"unit\": \"pages/s\"},\n", faults[FAULT_PAIRS - 1]);
	fprintf(f, "  \"sim_bytes_per_4k_page\": {\"value\": %.1f, \"unit\": \"bytes\"},\n", bytes_pp);
	fprintf(f, "  \"fault_2m_pages_per_s\": {\"value\": %.0f, \"unit\": \"pages/s\"},\n", f2m[RUNS - 1]);
	fprintf(f, "  \"split_exclusive_ns\": {\"value\": %.1f, \"unit\": \"ns\"},\n", split[0]);
	if (kvm > 0) {
		fprintf(f, "  \"kvm_fault_4k_pages_per_s\": {\"value\": %.0f, \"unit\": \"pages/s\"},\n", kvm);
		fprintf(f, "  \"fault_vs_kvm_ratio\": {\"value\": %.1f, \"unit\": \"x\"},\n", faults[FAULT_PAIRS - 1] / kvm);
		fprintf(f, "  \"fault_vs_kvm_ratio_median_pair\": {\"value\": %.1f, \"unit\": \"x\"},\n",
			ratios[FAULT_PAIRS / 2]);
	} else {
		fprintf(f, "  \"kvm_fault_4k_pages_per_s\": {\"value\": null, \"unit\": \"pages/s\"},\n");
		fprintf(f, "  \"fault_vs_kvm_ratio\": {\"value\": null, \"unit\": \"x\"},\n");
		fprintf(f, "  \"fault_vs_kvm_ratio_median_pair\": {\"value\": null, \"unit\": \"x\"},\n");
	}
	fprintf(f, "  \"switch_pair_ns\": {\"value\": %.2f, \"unit\": \"ns\"},\n", sw[0]);
	fprintf(f, "  \"sched_steps_per_s\": {\"value\": %.0f, \"unit\": \"steps/s\"},\n", steps[RUNS - 1]);
	fprintf(f, "  \"huge_memslot_ops_ms\": {\"value\": %.3f, \"unit\": \"ms\"},\n", hm_total);
	fprintf(f, "  \"explore_runs_per_s\": {\"value\": %.0f, \"unit\": \"runs/s\"},\n", ex_rate);
	fprintf(f, "  \"explore_runs_per_s_small\": {\"value\": %.0f, \"unit\": \"runs/s\"},\n",
		ex_small);
	fprintf(f, "  \"exhaustive_schedules_per_s\": {\"value\": %.0f, \"unit\": \"schedules/s\"},\n",
		exh);
	if (ipp >= 0)
		fprintf(f, "  \"fault_4k_instructions_per_page\": {\"value\": %.1f, \"unit\": \"instructions\"}\n",
			ipp);
	else
		fprintf(f, "  \"fault_4k_instructions_per_page\": {\"value\": null, \"unit\": \"instructions\"}\n");
	fprintf(f, "}\n");
	fclose(f);
	printf("aug_accept_pair_ns        %8.1f ns   (best of %d runs of %d pages; median %.1f max %.1f)\n",
	       aug[0], RUNS, NPAGES, aug[RUNS / 2], aug[RUNS - 1]);
	printf("block_track_remove_ns     %8.1f ns   (median %.1f max %.1f)\n", rem[0], rem[RUNS / 2],
	       rem[RUNS - 1]);
	printf("aug_accept_2m_ns          %8.1f ns   (2M AUG + 2M ACCEPT zeroing 2 MiB; median %.1f)\n",
	       huge[0][0], huge[0][RUNS / 2]);
	printf("demote_2m_ns              %8.1f ns   (BLOCK + TRACK + DEMOTE of a 2M MAPPED page; median %.1f)\n",
	       huge[1][0], huge[1][RUNS / 2]);
	printf("promote_2m_ns             %8.1f ns   (BLOCK + TRACK + PROMOTE; median %.1f)\n",
	       huge[2][0], huge[2][RUNS / 2]);
	printf("module_bytes_per_4k_page  %8.1f bytes\n", per_page);
	printf("explore_runs_per_s        %8.0f runs/s (seed001-rare-case: 512 4K faults a run, reused TD;"
	       " best of %d x 2000; %" PRIu64 " met [expect])\n", ex_rate, RUNS, ex_ok);
	printf("explore_runs_per_s_small  %8.0f runs/s (bench/explore-small.ini: 2 vCPUs, 16 pages;"
	       " best of %d x 5000; %" PRIu64 " met [expect])\n", ex_small, RUNS, ex_small_ok);
	printf("exhaustive_schedules_per_s %7.0f /s     (accept-race-4k, --preemptions 1: %" PRIu64
	       " schedules, covered; best of %d)\n", exh, exh_n, RUNS);
	printf("module_pamt_bytes_per_4k_page %8.3f bytes (%.3f%% of the memory; real static PAMT ~0.4%%)\n",
	       pamt_pp, pamt_pp * 100 / 4096);
	printf("module_pamt_bytes_per_4k_page_dpamt %8.3f bytes (%.4f%%; real Dynamic PAMT ~0.004%% + pairs)\n",
	       pamt_pp_dyn, pamt_pp_dyn * 100 / 4096);
	printf("fault_4k_pages_per_s      %8.3g      (best of %d; median %.3g)\n", faults[FAULT_PAIRS - 1],
	       FAULT_PAIRS, faults[FAULT_PAIRS / 2]);
	printf("sim_bytes_per_4k_page     %8.1f bytes (resident memory growth)\n", bytes_pp);
	printf("fault_2m_pages_per_s      %8.3g      (4K pages made usable by 2M accepts, huge-v5; best of %d,"
	       " median %.3g; %" PRIu64 " 2M maps a run)\n", f2m[RUNS - 1], RUNS, f2m[RUNS / 2], maps2m);
	printf("split_exclusive_ns        %8.1f ns   (BLOCK + TRACK + kick + DEMOTE of an accepted 2M"
	       " mapping; median %.1f)\n", split[0], split[RUNS / 2]);
	if (kvm > 0)
		printf("kvm_fault_4k_pages_per_s  %8.3g      (real KVM, best of %d, run in alternation)\n"
		       "fault_vs_kvm_ratio        %8.1f x    (best/best; per-pair ratios: median %.1f, %.1f..%.1f)\n",
		       kvm, FAULT_PAIRS, faults[FAULT_PAIRS - 1] / kvm, ratios[FAULT_PAIRS / 2], ratios[0],
		       ratios[FAULT_PAIRS - 1]);
	else
		printf("kvm_fault_4k_pages_per_s      null (/dev/kvm unusable)\n");
	printf("switch_pair_ns            %8.2f ns   (median %.2f max %.2f)\n", sw[0], sw[RUNS / 2],
	       sw[RUNS - 1]);
	printf("sched_steps_per_s         %8.3g      (median %.3g min %.3g)\n", steps[RUNS - 1],
	       steps[RUNS / 2], steps[0]);
	printf("huge_memslot_ops_ms       %8.3f ms   (8 TiB slot:", hm_total);
	for (int o = 0; o < HM_NR; o++)
		printf(" %s %.3f", hm_name[o], hm[o]);
	printf(")\n");
	print_instructions(ipp, ir_small, ir_big, ir_why);
	printf("results written to %s\n", path);
	return 0;
}
