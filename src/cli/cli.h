/* SPDX-License-Identifier: MIT */
#ifndef TDXSIM_CLI_H
#define TDXSIM_CLI_H

int cmd_demo(int argc, char **argv);
int cmd_measure(int argc, char **argv);

#endif
