/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload of the real-cluster tests, and the pod sandbox ("pause") image of their containerd: prints its
 * environment, one variable a line, so the container's log shows what the kubelet's Allocate gave it
 * (NVIDIA_VISIBLE_DEVICES), then sleeps until SIGTERM or SIGINT and exits 0.
 *
 * Built static (no libc in the image: it is the only file there) by tests/cluster/workload/build.sh. As PID 1 of
 * its container it must handle SIGTERM itself: the kernel ignores unhandled signals sent to a namespace's init.
 * If KERF_WORKLOAD_EXIT_AFTER is set to N, it exits 0 after N seconds instead, like a finished batch job.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	const char *after = getenv("KERF_WORKLOAD_EXIT_AFTER");
	sigset_t stops, old;
	char **e;

	/* Blocked until sigsuspend, so a signal between the check of `stop` and the wait is not lost. */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGALRM);
	sigprocmask(SIG_BLOCK, &stops, &old);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	for (e = environ; *e != NULL; e++)
		printf("%s\n", *e);
	printf("workload: started\n");
	fflush(stdout);
	if (after != NULL)
		alarm((unsigned)strtoul(after, NULL, 10));
	while (!stop)
		sigsuspend(&old);
	printf("workload: exiting\n");
	return 0;
}
