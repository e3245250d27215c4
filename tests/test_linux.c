/* SPDX-License-Identifier: MIT */
/*
 * The calibration's model pieces, through the scenario API: the linux
 * boot profile (what it accepts eagerly and lazily, at which level, its
 * marks), many vCPUs from one [vcpus] section, the huge-v5 inhibit check
 * and its counters, the exit-contention term, cost files, and the charge
 * counts the fit reads.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
#include "../src/cli/scenario.h"
#include "../src/guest/linux.h"

static char tmpdir[] = "/tmp/tdxsim-linux-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static struct scenario sc;

static void load(const char *text)
{
	char err[512];
	scenario_free(&sc);
	int r = scenario_load(write_file("t.ini", text), &sc, err, sizeof(err));
	if (r)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
}

static void set(const char *kv)
{
	char err[512];
	int r = scenario_set(&sc, kv, err, sizeof(err));
	if (r)
		print_error("%s\n", err);
	assert_int_equal(r, 0);
}

static void run(struct sc_result *r, bool critical)
{
	struct sc_run_opts o = { .sched = SCHED_TIMED, .seed = 1, .critical = critical };
	assert_int_equal(scenario_run(&sc, &o, r), 0);
	if (r->outcome != SC_OK)
		print_error("outcome %s: %s\n", sc_outcome_name(r->outcome), r->message);
	assert_int_equal(r->outcome, SC_OK);
}

/* 1 GiB of RAM at 0 and 1 GiB at 4 GiB, 4K host */
/* the engine's estimates, not the calibrated table: the tests pin the
 * model's mechanics, the calibration its numbers (scripts/calibrate) */
static const char *const td_4k =
	"[platform]\nmemory = 4G\ncosts = estimates\n"
	"[vm]\nvcpus = 1\nlevel = 4k\nstep_bound = 100000000000\n"
	"[memslot 0]\ngpa = 0\nsize = 1G\n"
	"[memslot 1]\ngpa = 0x100000000\nsize = 1G\n"
	"[vcpus]\nprogram = linux\nfw_accept_end = 0x10000000\nboot_mem = 16M\n";

static void test_lazy_and_eager(void **state)
{
	(void)state;
	BANNER("linux: eager accepts all RAM in the firmware; lazy accepts 4 MiB blocks as the kernel "
	       "allocates, each 1024 4K faults on the 4K host, from its #VE handler when the TD "
	       "takes #VE; wmark_accept = off accepts fewer");
	struct sc_result r;
	load(td_4k);
	set("vcpus.accept=eager");
	run(&r, false);
	uint64_t ram_pages = (2ull << 30) / 4096;
	print_message("  eager: %" PRIu64 " faults, %" PRIu64 " blocks, login %" PRIu64 " us\n",
		      r.counters[C_FAULTS], r.counters[C_LX_BLOCKS], r.counters[C_LOGIN_US]);
	assert_int_equal(r.counters[C_LX_BLOCKS], 0);
	/* every page at 4K, but the TD HOB's, which the host added at build */
	assert_int_equal(r.counters[C_PRIVATE_MAPS], ram_pages - 1);
	assert_int_equal(r.counters[C_MAPS_2M], 0);
	uint64_t eager_login = r.counters[C_LOGIN_US];
	sc_result_free(&r);

	load(td_4k);
	run(&r, false);
	uint64_t blocks = r.counters[C_LX_BLOCKS];
	print_message("  lazy: %" PRIu64 " faults, %" PRIu64 " blocks, login %" PRIu64 " us\n",
		      r.counters[C_FAULTS], blocks, r.counters[C_LOGIN_US]);
	/* 256 MiB by the firmware, the memmap (2 GiB / 64 = 32 MiB) from the top,
	 * 16 early allocations each taking a block before the watermarks */
	uint64_t want = (256ull << 20) / 4096 - 1 + (32ull << 20) / 4096 + blocks * 1024;
	assert_int_equal(r.counters[C_PRIVATE_MAPS], want);
	assert_int_equal(blocks, 16);
	assert_true(r.counters[C_LOGIN_US] * 2 < eager_login);
	sc_result_free(&r);

	/* Linux with #VE for pending pages: each block's first touch raises
	 * one and the handler accepts the block; the same pages get mapped */
	load(td_4k);
	set("vm.sept_ve_disable=off");
	run(&r, false);
	print_message("  lazy with #VE: %" PRIu64 " #VEs, %" PRIu64 " blocks, %" PRIu64 " maps\n",
		      r.counters[C_VES], r.counters[C_LX_BLOCKS], r.counters[C_PRIVATE_MAPS]);
	assert_int_equal(r.counters[C_VES], blocks);
	assert_int_equal(r.counters[C_LX_BLOCKS], blocks);
	assert_int_equal(r.counters[C_PRIVATE_MAPS], want);
	sc_result_free(&r);

	load(td_4k);
	set("vcpus.wmark_accept=off");
	run(&r, false);
	print_message("  lazy, wmark_accept = off: %" PRIu64 " blocks\n", r.counters[C_LX_BLOCKS]);
	assert_int_equal(r.counters[C_LX_BLOCKS], 0);	/* the firmware's 256 MiB suffices */
	sc_result_free(&r);
	scenario_free(&sc);
}

/* 2M host: the firmware's 2M accepts map 2M; 4K-by-4K units and DMA pages do not */
static const char *const td_2m =
	"[platform]\nmemory = 4G\nenhanced_demote = on\n"
	"[vm]\nvcpus = 1\nlevel = huge-v5\nfolio = 2m\nstep_bound = 100000000000\n"
	"[memslot 0]\ngpa = 0\nsize = 1G\n"
	"[vcpus]\nprogram = linux\nfw_accept_end = 0x20000000\nboot_mem = 4M\n"
	"early_allocs = 0\nap_allocs = 0\nearly_4k = 512\ndma_reaccepts = 30\ndma_mixed = 20\n"
	"dma_pages = 4\ndma_units = 3\n";

static void test_huge_boot_counts(void **state)
{
	(void)state;
	BANNER("linux on huge-v5: 4K ACCEPTs where 2M was possible are the early 4K unit and the DMA "
	       "re-accepts with their range private; the inhibit check takes mmu_lock once per 2M "
	       "range, without it once per 4K ACCEPT exit");
	struct sc_result r;
	load(td_2m);
	run(&r, false);
	uint64_t maps = r.counters[C_MAPS_2M], poss = r.counters[C_ACCEPTS_4K_HUGE];
	print_message("  check on: 2M maps %" PRIu64 ", 4K where 2M possible %" PRIu64
		      ", write locks %" PRIu64 "\n", maps, poss, r.counters[C_ACCEPT_WRITE_LOCKS]);
	/* 512 MiB by the firmware at 2M but the first unit, which holds the TD
	 * HOB's page (added at 4K at build: OVMF accepts the rest of that
	 * range 4K by 4K); the memmap's 16 MiB (8 units) at 2M; 2 DMA blocks (3
	 * units + 1 spare) at 2M; the early block's second unit */
	assert_int_equal(maps, 255 + 8 + 4 + 1);
	/* the firmware's 511, the early unit's 512, 30 DMA re-accepts, and the
	 * 3 pages each mixed unit's conversions started from */
	assert_int_equal(poss, 511 + 512 + 30 + 3);
	/* one per 2M range first accepted at 4K: the HOB's, the early unit, 3 DMA */
	assert_int_equal(r.counters[C_ACCEPT_WRITE_LOCKS], 1 + 1 + 3);
	assert_int_equal(r.counters[C_INHIBITS], 1 + 1 + 3);
	uint64_t exits4k = r.counters[C_PRIVATE_MAPS];	/* every 4K map is a 4K ACCEPT exit */
	sc_result_free(&r);

	load(td_2m);
	set("vm.inhibit_check=off");
	run(&r, false);
	print_message("  check off: write locks %" PRIu64 " (4K ACCEPT exits %" PRIu64 ")\n",
		      r.counters[C_ACCEPT_WRITE_LOCKS], exits4k);
	assert_int_equal(r.counters[C_ACCEPT_WRITE_LOCKS], exits4k);
	assert_int_equal(r.counters[C_ACCEPTS_4K_HUGE], poss);
	assert_int_equal(r.counters[C_MAPS_2M], maps);
	sc_result_free(&r);
	scenario_free(&sc);
}

static const char *const td_smp =
	"[platform]\nmemory = 4G\n"
	"[vm]\nvcpus = 40\nlevel = 4k\nstep_bound = 100000000000\n"
	"[memslot 0]\ngpa = 0\nsize = 2G\n"
	"[vcpus]\nprogram = linux\nfw_accept_end = 0x10000000\nboot_mem = 40M\n"
	"early_allocs = 1\nap_allocs = 1\nuntil = init\n"
	"[platform]\ncosts = c.ini\n";

static void test_smp_contention(void **state)
{
	(void)state;
	BANNER("linux on 40 vCPUs from one [vcpus] section: every AP brought up accepts its block; "
	       "exit_contention adds its cost per other running vCPU to each exit; the critical "
	       "charges and one fault's charges add up to the clocks");
	write_file("c.ini", "[costs]\nexit_contention = 100\n");
	struct sc_result r;
	load(td_smp);
	run(&r, true);
	print_message("  blocks %" PRIu64 ", fault first %" PRIu64 " ns, last %" PRIu64
		      " ns, init %" PRIu64 " us\n", r.counters[C_LX_BLOCKS],
		      r.counters[C_FAULT_NS_FIRST], r.counters[C_FAULT_NS_LAST], r.counters[C_INIT_US]);
	assert_int_equal(r.counters[C_LX_BLOCKS], 1 + 39);
	uint64_t with = r.counters[C_FAULT_NS_FIRST];
	/* one fault's charges times the costs is its measured cost */
	double sum = 0;
	for (int k = 0; k < SEAM_COST_NR; k++)
		sum += r.fault_charges[0][k] * (double)sc.costs.ns[k];
	print_message("  one fault: %.0f ns from its charges, %" PRIu64 " measured\n", sum, with);
	assert_true(sum > (double)with * 0.999 && sum < (double)with * 1.001);
	assert_true(r.fault_charges[0][SEAM_COST_EXIT_CONTENTION] >= 39.0);
	/* vCPU 0's charges explain its clock, which is init */
	double clk = 0;
	for (int k = 0; k < SEAM_COST_NR; k++)
		clk += (double)r.critical_charges[k] * (double)sc.costs.ns[k];
	assert_string_equal(r.critical_task, "vcpu0");
	assert_true(clk <= (double)r.critical_clock);
	assert_true(r.critical_clock / 1000 >= r.counters[C_INIT_US]);
	sc_result_free(&r);

	write_file("c.ini", "[costs]\nexit_contention = 0\n");
	load(td_smp);
	run(&r, false);
	print_message("  exit_contention = 0: fault first %" PRIu64 " ns\n",
		      r.counters[C_FAULT_NS_FIRST]);
	/* 40 vCPUs run; each exit of the faulting one pays for the 39 others */
	assert_true(with - r.counters[C_FAULT_NS_FIRST] >= 39 * 100);
	sc_result_free(&r);
	scenario_free(&sc);
}

static void test_vcpus_section(void **state)
{
	(void)state;
	BANNER("[vcpus] runs on every vCPU without its own [vcpu N]; [vcpus] needs [vm] vcpus; "
	       "--set takes a program's parameter, not a program");
	char err[512];
	const char *t = "[vm]\nvcpus = 3\n[memslot 0]\ngpa = 0\nsize = 64M\n"
			"[vcpu 0]\nstep = accept 0x0 4k\n"
			"[vcpus]\nprogram = accept-race\nlevel = 4k\n";
	load(t);
	assert_non_null(sc_vcpu_of(&sc, 0));
	assert_int_equal(sc_vcpu_of(&sc, 0)->nsteps, 1);
	assert_ptr_equal(sc_vcpu_of(&sc, 1), sc_vcpu_of(&sc, 2));
	assert_string_equal(sc_vcpu_of(&sc, 2)->prog->name, "accept-race");
	assert_int_equal(scenario_set(&sc, "vcpus.program=firmware", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "set in the file"));
	assert_int_equal(scenario_set(&sc, "vcpus.size=4M", err, sizeof(err)), 0);
	assert_int_equal(scenario_set(&sc, "vcpus.size=8M", err, sizeof(err)), 0);
	assert_int_equal(sc_vcpu_of(&sc, 1)->nparams, 2);	/* replaced, not added */
	scenario_free(&sc);
	assert_int_equal(scenario_load(write_file("u.ini", "[memslot 0]\ngpa = 0\nsize = 8M\n"
						  "[vcpus]\nprogram = firmware\n"), &sc, err,
				       sizeof(err)), -1);
	assert_non_null(strstr(err, "[vcpus] needs [vm] vcpus = N"));
	scenario_free(&sc);
}

static void test_cost_files(void **state)
{
	(void)state;
	BANNER("[platform] costs: the built-in table parses; a file changes the prediction; "
	       "estimates are the engine's defaults; a bad file is an error with its name");
	struct cost_table b, e;
	sc_costs_builtin(&b);
	cost_table_default(&e);
	const char *t = "[vm]\nlevel = 4k\n[memslot 0]\ngpa = 0\nsize = 16M\n"
			"[vcpu 0]\nprogram = firmware\n";
	struct sc_result r;
	load(t);
	assert_memory_equal(&sc.costs, &b, sizeof(b));
	run(&r, false);
	uint64_t v0 = r.counters[C_VTIME_NS];
	sc_result_free(&r);
	write_file("x.ini", "[costs]\ntd_exit = 100000\n");
	set("platform.costs=x.ini");
	assert_int_equal(sc.costs.ns[SEAM_COST_TD_EXIT], 100000);
	run(&r, false);
	print_message("  4096 faults: %" PRIu64 " ns, with td_exit = 100 us: %" PRIu64 " ns\n", v0,
		      r.counters[C_VTIME_NS]);
	assert_true(r.counters[C_VTIME_NS] >= v0 + 4096 * (100000 - b.ns[SEAM_COST_TD_EXIT]));
	sc_result_free(&r);
	set("platform.costs=estimates");
	assert_memory_equal(&sc.costs, &e, sizeof(e));
	char err[512];
	write_file("bad.ini", "[costs]\nwarp_drive = 3\n");
	assert_int_equal(scenario_set(&sc, "platform.costs=bad.ini", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "warp_drive"));
	scenario_free(&sc);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	return chdir(tmpdir);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lazy_and_eager),
		cmocka_unit_test(test_huge_boot_counts),
		cmocka_unit_test(test_smp_contention),
		cmocka_unit_test(test_vcpus_section),
		cmocka_unit_test(test_cost_files),
	};
	return cmocka_run_group_tests_name("linux boot profile and calibration model", tests, setup,
					   teardown);
}
