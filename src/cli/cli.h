/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h — the `kerf` command: one file per subcommand (cmd_<name>.c), each exporting
 *
 *     int cmd_<name>(int argc, char **argv);   argv[0] is the subcommand's name
 *
 * returning the process exit status: 0 success, 1 the command ran but found a failure (a plan left pods
 * unplaced is *not* a failure), 2 bad usage or bad input (the message on stderr names the field; nothing
 * on stdout). main.c dispatches; a new subcommand is a cmd_<name>.c, a line in main.c's table and one in
 * src/cli/CMakeLists.txt.
 */
#ifndef KERF_CLI_H
#define KERF_CLI_H

#define KERF_EXIT_OK 0
#define KERF_EXIT_FAIL 1
#define KERF_EXIT_USAGE 2

int cmd_models(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_controller(int argc, char **argv);

#endif
