/* SPDX-License-Identifier: MIT */
#ifndef TDXSIM_CLI_H
#define TDXSIM_CLI_H

#ifndef TDXSIM_DATADIR
#define TDXSIM_DATADIR "/usr/local/share/tdxsim"
#endif

int cmd_demo(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_shrink(int argc, char **argv);
int cmd_explore(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_map(int argc, char **argv);

#endif
