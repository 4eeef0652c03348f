/*
 * test_actuate_faults.c — the fault-injection matrix: for representative re-layouts, every NVML call the
 * actuator makes is made to fail (with each error code that call can plausibly return) and, separately,
 * the process is SIGKILLed at that call (before it takes effect, and for changes also after). Each case
 * runs the actuator in a forked child against the simulated GPU; then the parent runs recovery as the next
 * start of the agent would, and asserts:
 *   - no used instance (running a process, or allocated to a pod) was ever destroyed or moved, and the
 *     simulator never saw a destroy attempted on a busy instance;
 *   - after recovery the GPU is in the desired or in the original layout, and no journal is left;
 *   - applying the desired layout again then succeeds (the system converges).
 *
 * Which calls: a first, fault-free run of each scenario with call tracing on gives every NVML function and
 * how many times the run calls it. Calls that change the GPU, and the process query that guards every
 * destroy, are failed at every one of their uses, and so are read-only calls, unless KERF_FAULT_MATRIX=sampled
 * asks for only READ_SAMPLES uses of each read spread over the run (first and last included): the
 * sanitized build does that, as its forks cost four times as much. The count of cases run is printed;
 * docs/actuator.md records it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "nvml_abi.h"

#define READ_SAMPLES 4

static struct harness H;
static unsigned total_cases;
static bool full;

static const struct scenario scenarios[] = {
	{ "h100-busy-1g-recut", "H100-80GB-SXM", "2g.20gb@0,1g.10gb@2,3g.40gb@4", 2, -1,
	  "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" },
	{ "h100-allocated-1g-split-2g", "H100-80GB-SXM", "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4", -1, 0,
	  "1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,3g.40gb@4" },
	{ "a30-split-full", "A30-24GB", "4g.24gb@0", -1, -1, "2g.12gb@0,1g.6gb@2,1g.6gb@3" },
	{ "rtxpro6000-merge-beside-busy", "RTX-PRO-6000-Blackwell", "2g.48gb@0,1g.24gb@6,1g.24gb@9", 0, -1,
	  "2g.48gb@0,2g.48gb@6" },
};

struct codes {
	const char *func;
	bool changes; /* changes the GPU: also kill after it takes effect */
	int codes[4];
};

/* Error codes per call, from nvml.h's documented returns; every other call gets UNKNOWN and GPU_IS_LOST. */
static const struct codes call_codes[] = {
	{ "nvmlDeviceCreateGpuInstanceWithPlacement", true,
	  { NVML_ERROR_INSUFFICIENT_RESOURCES, NVML_ERROR_NO_PERMISSION, NVML_ERROR_UNKNOWN, 0 } },
	{ "nvmlGpuInstanceCreateComputeInstance", true, { NVML_ERROR_INSUFFICIENT_RESOURCES, NVML_ERROR_UNKNOWN, 0 } },
	{ "nvmlComputeInstanceDestroy", true, { NVML_ERROR_IN_USE, NVML_ERROR_NO_PERMISSION, NVML_ERROR_UNKNOWN, 0 } },
	{ "nvmlGpuInstanceDestroy", true, { NVML_ERROR_IN_USE, NVML_ERROR_UNKNOWN, 0 } },
	{ "nvmlDeviceGetComputeRunningProcesses_v3", false, { NVML_ERROR_NO_PERMISSION, NVML_ERROR_UNKNOWN, 0 } },
};
static const struct codes read_codes = { "", false, { NVML_ERROR_UNKNOWN, NVML_ERROR_GPU_IS_LOST, 0 } };

static const struct codes *codes_for(const char *func, bool *every_use)
{
	for (size_t i = 0; i < sizeof(call_codes) / sizeof(call_codes[0]); i++)
		if (strcmp(call_codes[i].func, func) == 0) {
			*every_use = true;
			return &call_codes[i];
		}
	*every_use = full;
	return &read_codes;
}

static int apply_want(const struct scenario *s, struct actuate_result *res, struct kerf_err *err)
{
	struct nvml *nv = nvml_open(FAKENVML_LIB, err);
	struct nvml_gpu *gpu;
	struct mig_layout want;
	int rc = -1;

	if (nv == NULL)
		return -1;
	gpu = malloc(sizeof(*gpu));
	if (gpu != NULL && nvml_read_gpu(nv, 0, gpu, err) == 0 && mig_layout_parse(&gpu->model, s->want, &want, err) == 0)
		rc = actuate_apply(nv, 0, &gpu->model, &want, &H.cfg, res, err);
	free(gpu);
	nvml_close(nv);
	return rc;
}

/* Runs the actuator in a child; returns its wait status. */
static int run_child(const struct scenario *s)
{
	struct actuate_result res;
	struct kerf_err err;
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail_msg("fork failed");
	if (pid == 0)
		_exit(apply_want(s, &res, &err) == 0 ? 0 : 1);
	if (waitpid(pid, &status, 0) != pid)
		fail_msg("waitpid failed");
	return status;
}

static void check_case(const struct scenario *s, const char *what)
{
	struct actuate_result res;
	struct kerf_err err;
	struct nvml *nv;
	const char *why;

	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: %s: after the faulty run: %s", s->name, what, why);
	h_clear_faults(&H);
	nv = h_open();
	if (actuate_recover(nv, 0, &H.cfg, &res, &err) != 0)
		fail_msg("%s: %s: recovery failed: %s", s->name, what, err.msg);
	nvml_close(nv);
	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: %s: after recovery: %s", s->name, what, why);
	if (!h_layout_is(&H, s->want) && !h_layout_is(&H, s->orig))
		fail_msg("%s: %s: after recovery the GPU is at %s, neither desired nor original", s->name, what, res.after);
	if (!h_no_journal(&H))
		fail_msg("%s: %s: a journal is left after recovery", s->name, what);
	if (apply_want(s, &res, &err) != 0 || !h_layout_is(&H, s->want))
		fail_msg("%s: %s: applying again did not converge: %s", s->name, what, err.msg);
	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: %s: after applying again: %s", s->name, what, why);
	total_cases++;
}

static void one_case(const struct scenario *s, const char *func, unsigned nth, enum fk_action a, int code)
{
	static const char *const names[] = { "fail", "kill-before", "kill-after", "delay" };
	char what[160];
	int status;

	snprintf(what, sizeof(what), "%s use %u: %s %d", func, nth, names[a], code);
	h_reset(&H);
	h_fault(&H, func, nth, a, code);
	status = run_child(s);
	if (a != FK_FAIL && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		fail_msg("%s: %s: the child was not killed (status %d)", s->name, what, status);
	if (a == FK_FAIL && !WIFEXITED(status))
		fail_msg("%s: %s: the child died (status %d)", s->name, what, status);
	check_case(s, what);
}

struct traced {
	unsigned n;
	struct {
		char func[FK_FUNC_MAX];
		unsigned count;
	} f[FK_MAX_FUNCS];
};

static void trace_on(struct fk_state *st, void *arg)
{
	(void)arg;
	st->trace = true;
	st->n_calls = 0;
}

static void trace_run(const struct scenario *s, struct traced *t)
{
	static struct fk_state st;
	int status;

	h_reset(&H);
	h_edit(&H, trace_on, NULL);
	status = run_child(s);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !h_layout_is(&H, s->want))
		fail_msg("%s: the fault-free run did not reach the desired layout", s->name);
	h_read(&H, &st);
	t->n = st.n_calls;
	for (unsigned i = 0; i < st.n_calls; i++) {
		snprintf(t->f[i].func, sizeof(t->f[i].func), "%s", st.calls[i].func);
		t->f[i].count = st.calls[i].n;
	}
}

static void run_scenario(const struct scenario *s)
{
	struct traced t;
	unsigned before = total_cases, calls = 0;

	h_load(&H, s);
	trace_run(s, &t);
	for (unsigned i = 0; i < t.n; i++) {
		bool every;
		const struct codes *c = codes_for(t.f[i].func, &every);
		unsigned step = every || t.f[i].count <= READ_SAMPLES ? 1 : (t.f[i].count - 1) / (READ_SAMPLES - 1);

		calls += t.f[i].count;
		for (unsigned nth = 1; nth <= t.f[i].count; nth += step ? step : 1) {
			/* the sampled uses: every step-th, and always the last */
			unsigned use = (nth + step > t.f[i].count && step > 1) ? t.f[i].count : nth;

			for (unsigned k = 0; k < 4 && c->codes[k] != 0; k++)
				one_case(s, t.f[i].func, use, FK_FAIL, c->codes[k]);
			one_case(s, t.f[i].func, use, FK_KILL_BEFORE, 0);
			if (c->changes)
				one_case(s, t.f[i].func, use, FK_KILL_AFTER, 0);
			if (use == t.f[i].count)
				break;
		}
	}
	printf("fault matrix: %-30s %3u NVML calls in the run, %2u functions, %4u cases\n", s->name, calls, t.n,
	       total_cases - before);
}

static void test_fault_matrix_never_harms_used_instances_and_converges(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
	printf("fault matrix: %u cases run (%s)\n", total_cases,
	       full ? "every use of every call" : "every use of changing calls, sampled reads");
	assert_true(total_cases > 0);
}

static int setup(void **state)
{
	const char *mode = getenv("KERF_FAULT_MATRIX");

	(void)state;
	full = mode == NULL || strcmp(mode, "sampled") != 0;
	h_begin(&H);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	h_end(&H);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_matrix_never_harms_used_instances_and_converges),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
