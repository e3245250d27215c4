/* SPDX-License-Identifier: MIT */
/*
 * tdxsim - command line.  Commands are a table of {name, function, help}.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
	const char *usage;	/* the synopsis and what it does, for 'tdxsim help NAME' */
} cmds[] = {
	{ "run", cmd_run, "run a scenario once: outcome, counters, virtual time, schedule",
	  "tdxsim run FILE [--set SECTION.KEY=VALUE]... [--inject NAME]...\n"
	  "           [--sched rr|random|pct:D|timed]\n"
	  "           [--seed N] [--json] [--trace OUT.json] [--check[=N]] [--costs FILE]\n"
	  "  One run of the scenario.  Prints its outcome (ok, killed, fail, deadlock,\n"
	  "  livelock, setup-error, invariant-violation), whether it met the file's [expect], the counters, the SEAMCALLs by\n"
	  "  leaf, the virtual time and the schedule string that replays it.  --set\n"
	  "  overrides a key (vm.busy=retry-n; a bare KEY means [vm]).  --trace writes\n"
	  "  the run as Chrome trace-event JSON (open it at https://ui.perfetto.dev): a\n"
	  "  track per task, a span per SEAMCALL and TDCALL with its status, TD exits,\n"
	  "  kicks and BUSY answers, in virtual time.  Exit status 0 when [expect] is met\n"
	  "  (no [expect]: the outcome is ok), 1 when not or when the trace cannot be\n"
	  "  written, 2 for a bad command line.  --inject NAME (run, replay, shrink,\n"
	  "  explore, compare) is --set inject=NAME: a known host bug re-introduced on\n"
	  "  purpose (names: tdxsim list policies; docs/known-bugs.md).\n"
	  "  --check[=N]: checking mode, after every step (every N steps) and at the end:\n"
	  "  1 PAMT (no page owned twice or by a TD and the host; child counts), 2 the\n"
	  "  mirror equals the S-EPT, 3 no live TLB entry to a page the TD lost, 4 guest\n"
	  "  reads return what the guest wrote, 5 epoch refcounts; a violation ends the\n"
	  "  run as invariant-violation naming the invariant, the address and the step.\n"
	  "  Then the VM is torn down (policy teardown = zap | terminate) in an engine\n"
	  "  run of its own, from virtual time 0: 'teardown: X ms virtual (policy)' and\n"
	  "  its BLOCK/TRACK/REMOVE/WBINVD/RECLAIM calls (none after an abandoned run).\n"
	  "  --costs FILE: virtual-time costs ([costs] name = ns, e.g. kick_vcpu = 2000,\n"
	  "  TDH.MEM.PAGE.REMOVE = 3000) over the built-in ones, for the run and teardown.\n"
	  "  [expect] counters: faults private_maps page_adds sept_adds shared_maps zapped\n"
	  "  busy kicks retries local_retries memory_faults conversions map_gpa_exits\n"
	  "  internal_errors exits ept_exits zero_step_refusals enter_busy ves accepts\n"
	  "  accept_busy vmcalls mmu_write_locks ept_levels virtual_time_ns steps; huge\n"
	  "  pages: maps_2m splits_exclusive splits_shared splits_ignored splits_refused\n"
	  "  inhibits promotions demote_interrupted demote_requests pamt_adds\n"
	  "  pamt_removes accepts_4k_huge_possible accept_write_locks; the linux\n"
	  "  program (virtual time of its marks): fw_done_us init_us login_us,\n"
	  "  fault_ns_first fault_ns_last (one 4K ACCEPT's cost at the start and end of\n"
	  "  SMP bring-up) and lazy_blocks (4 MiB blocks it accepted);\n"

	  "  teardown: teardown_us teardown_blocks teardown_tracks\n"
	  "  teardown_removes teardown_wbinvds teardown_reclaims teardown_kick_vcpus\n"
	  "  (vCPUs the teardown's kicks walked)." },
	{ "replay", cmd_replay, "replay a schedule string exactly (same trace hash)",
	  "tdxsim replay FILE SCHEDULE|@FILE [--set ...] [--inject NAME] [--json] [--lenient]\n"
	  "              [--trace OUT.json] [--check[=N]]\n"
	  "  Runs the scenario under the schedule (tdxsim1:...) strictly: a choice that\n"
	  "  does not fit is an error.  Prints the same report as run, trace hash included.\n"
	  "  --trace as for run: the same schedule writes the same file.\n"
	  "  --lenient: where the schedule ends or its choice cannot run, the running task\n"
	  "  goes on (else the lowest-numbered one): any prefix of a schedule runs.\n"
	  "  --check[=N] as for run (checking changes nothing in the run)." },
	{ "shrink", cmd_shrink, "shorten a failing schedule (delta debugging)",
	  "tdxsim shrink FILE SCHEDULE [--set ...] [--inject NAME] [--runs N] [--check[=N]]\n"
	  "  Drops chunks of the schedule's choices and keeps a candidate only if the\n"
	  "  same failure (outcome and message; an invariant violation at any step)\n"
	  "  comes back; prints the shortest found.  At most N runs (default 2000).\n"
	  "  --check[=N] as for run: needed to shrink an invariant violation." },
	{ "explore", cmd_explore, "many runs with fresh seeds; stop, shrink and report at a failure",
	  "tdxsim explore FILE [--runs N] [--time T] [--sched random|pct:D] [--seed N]\n"
	  "               [--shard I/N] [--jobs J] [--report OUT.json] [--set ...]\n"
	  "               [--inject NAME] [--check[=N]|--no-check]\n"
	  "tdxsim explore FILE --exhaustive [--preemptions K] [--runs N] [--time T]\n"
	  "               [--seed N] [--report OUT.json] [--set ...]\n"
	  "  Runs seeds N..N+runs-1 (default 1..100) until one misses [expect], shrinks\n"
	  "  its schedule and prints the replay command.  --shard I/N takes only the runs\n"
	  "  whose index is I modulo N (N machines explore disjoint runs; 'tdxsim merge'\n"
	  "  combines their reports); --jobs J runs J processes.  --exhaustive runs every\n"
	  "  schedule with at most K preemptions (default 2; a preemption switches away\n"
	  "  from a task that could go on), depth first, and says whether it covered\n"
	  "  them all or --runs / --time / a failure stopped it.  Checking mode (see\n"
	  "  run) is on, every 1000 steps: --check[=N] to check more often, --no-check\n"
	  "  to turn it off.  Exit status 1 on a failure." },
	{ "compare", cmd_compare, "the same seeds under design variants: one table",
	  "tdxsim compare FILE --vary KEY=V1,V2,... [--vary ...] [--runs N] [--seed N]\n"
	  "               [--sched ...] [--inject NAME] [--json] [--check[=N]]\n"
	  "  Every combination of the --vary values runs the same N seeds (default 20);\n"
	  "  the table shows outcome counts and means per run of TD exits, EPT\n"
	  "  violations, zero-step refusals, BUSY answers, BUSY VP.ENTERs, kicks,\n"
	  "  exclusive mmu_lock acquisitions, private maps, 2M maps, splits by path\n"
	  "  (x/s/i/r: exclusive lock, shared lock, ignored, refused), virtual time, and\n"
	  "  SEAMCALLs by leaf; variants are numbered so no line passes 100 columns.\n"
	  "  E.g. --vary level=4k,huge-rfc1,huge-v5,huge-nbr,explicit-demotion." },
	{ "merge", cmd_merge, "combine explore reports (sharded runs) into one",
	  "tdxsim merge REPORT.json...\n"
	  "  Sums the runs and outcome counts of explore reports and keeps the failure\n"
	  "  with the lowest seed; prints the merged report." },
	{ "map", cmd_map, "a picture of the TD's private memory: S-EPT ranges by level and state",
	  "tdxsim map FILE [--at STEP] [--set ...] [--sched ...] [--seed N] [--svg OUT.svg]\n"
	  "  Runs the scenario as 'tdxsim run' does and takes a snapshot of the module's\n"
	  "  S-EPT for the TD at the end of the run, or once the engine has taken STEP\n"
	  "  steps (--at; a run that ends earlier is mapped at its end, and the output\n"
	  "  says so).  Adjacent entries of the same level and state are one range.\n"
	  "  Prints one line per range (GPAs, level, state, entries) and the totals by\n"
	  "  state and by level in entries, 4K pages and bytes, and whether KVM's mirror\n"
	  "  of the S-EPT has the same leaves.  A TD whose build failed is mapped as far\n"
	  "  as it got.  --svg also draws it: a strip per memslot, coloured by state, 4K\n"
	  "  pages hatched, GPA ticks and a legend; strips with too many ranges are\n"
	  "  merged into one bar per pixel column ('mixed' where they differ).  Exit\n"
	  "  status 0 with a map, 1 when the scenario does not parse or not even the TD\n"
	  "  was created, 2 for a bad command line." },
	{ "list", cmd_list, "list scenarios, built-in guest programs or design variants",
	  "tdxsim list scenarios|programs|policies\n"
	  "  scenarios: the .ini files in ./scenarios (or $TDXSIM_SCENARIOS, or the\n"
	  "  installed ones) with their descriptions." },
	{ "demo", cmd_demo, "build a small TD, add and accept pages, print what happened and the MRTD",
	  "tdxsim demo\n  A guided tour of the module's ABI." },
	{ "measure", cmd_measure, "load a TDVF firmware image (OVMF.fd) as QEMU does and print its MRTD",
	  "tdxsim measure FIRMWARE.fd [--flow qemu9|qemu8]\n"
	  "  Parses the TDVF metadata (sections, attributes, TD_HOB), builds the TD\n"
	  "  through the host API as QEMU does and prints the sections and MRTD.\n"
	  "  qemu9: per section in metadata order, per page PAGE.ADD then the 16\n"
	  "  MR.EXTENDs when the section has MR_EXTEND; qemu8: all PAGE.ADDs first,\n"
	  "  then all the extends." },
	{ "version", cmd_version, "print the version", "tdxsim version" },
	{ "help", cmd_help, "print this help, or a command's ('tdxsim help run')",
	  "tdxsim help [COMMAND]" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tdxsim [--help] [--version] <command> [args]\n\n"
		   "tdxsim simulates Intel TDX private memory: a software TDX module,\n"
		   "a KVM-style host and guest programs, without TDX hardware.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'tdxsim help COMMAND' says more; docs/tdxsim.1 is the manual.\n");
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("tdxsim %s (TDX module ABI 1.5)\n", TDXSIM_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name)) {
			printf("%s\n", cmds[i].usage);
			return 0;
		}
	fprintf(stderr, "tdxsim help: unknown command '%s' (try 'tdxsim --help')\n", argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "--help") || !strcmp(c, "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(c, "--version") || !strcmp(c, "-V"))
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(c, cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tdxsim: unknown command '%s' (try 'tdxsim --help')\n", c);
	return 2;
}
