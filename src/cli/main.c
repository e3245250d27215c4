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
} cmds[] = {
	{ "demo", cmd_demo, "build a small TD, add and accept pages, print what happened and the MRTD" },
	{ "measure", cmd_measure, "load a TDVF firmware image (OVMF.fd) as QEMU does and print its MRTD" },
	{ "version", cmd_version, "print the version" },
	{ "help", cmd_help, "print this help" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tdxsim [--help] [--version] <command> [args]\n\n"
		   "tdxsim simulates Intel TDX private memory: a software TDX module,\n"
		   "a KVM-style host and guest programs, without TDX hardware.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
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
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
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
