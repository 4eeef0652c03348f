/* SPDX-License-Identifier: Apache-2.0 */
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
 * docs/actuator.md records it. KERF_FAULT_SCENARIO=TEXT runs only the scenarios whose name holds TEXT.
 *
 * Beyond the representative re-layouts, the scenarios include:
 *   - stale plans: an instance the desired layout destroys becomes busy after the actuator planned, at the
 *     run's first destroy (a fault action of the simulated library, fakestate.h): a process starts on it, a
 *     pod is given it, or another tool splits it into compute instances of its own. Only the destroy-time
 *     re-check can see it; the run rolls back, and every case of the matrix runs with that change armed too;
 *   - an instance another tool split into several compute instances (nvml_instance_whole() false): in the
 *     way of the desired layout (refused before anything changes, under every fault) and beside a re-cut
 *     (left untouched through every fault, rollback and recovery).
 * Faults of the matrix are single, so two more passes make the second fault: kills during a rollback (a
 * create fails, then the process is killed at each change the rollback makes) and kills during recovery (a
 * run killed after one of its changes, then the recovery of its journal killed before or after each change
 * it makes). A last recovery, as the next start would run it, must then converge, as above.
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

/*
 * A scenario of the matrix: the re-layout (harness.h), and optionally an instance another tool split into
 * compute instances before the run (split), and a change after planning: the instance at stale_start becomes
 * busy (stale: FK_PROCESS, FK_POD or FK_SPLIT) on entry to the run's first compute-instance destroy, which is
 * another instance's, so the busy one's destroy-time re-check comes after it. -1: none.
 */
struct mscenario {
	struct scenario s;
	int split;
	enum fk_action stale;
	int stale_start;
};

#define NO_STALE FK_FAIL, -1
#define STALE_AT "nvmlComputeInstanceDestroy" /* the trigger: its first use, the run's first destroy */

static const struct mscenario scenarios[] = {
	{ { "h100-busy-1g-recut", "H100-80GB-SXM", "2g.20gb@0,1g.10gb@2,3g.40gb@4", 2, -1,
	    "1g.20gb@0,1g.10gb@2,1g.10gb@4,1g.10gb@5,1g.10gb@6" }, -1, NO_STALE },
	{ { "h100-allocated-1g-split-2g", "H100-80GB-SXM", "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4", -1, 0,
	    "1g.10gb@0,1g.10gb@1,1g.10gb@2,1g.10gb@3,3g.40gb@4" }, -1, NO_STALE },
	{ { "a30-split-full", "A30-24GB", "4g.24gb@0", -1, -1, "2g.12gb@0,1g.6gb@2,1g.6gb@3" }, -1, NO_STALE },
	{ { "rtxpro6000-merge-beside-busy", "RTX-PRO-6000-Blackwell", "2g.48gb@0,1g.24gb@6,1g.24gb@9", 0, -1,
	    "2g.48gb@0,2g.48gb@6" }, -1, NO_STALE },
	/* Stale plans. Planned free, the 2g.20gb@2 runs a process by its destroy: the destroy-time re-check of
	 * processes (guarded_destroy(), KERF_MUTATION 1) refuses it; the busy 3g.40gb@4 is kept throughout. */
	{ { "h100-stale-process", "H100-80GB-SXM", "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4", 4, -1,
	    "2g.20gb@0,1g.10gb@2,1g.10gb@3,3g.40gb@4" }, -1, FK_PROCESS, 2 },
	/* A pod is given the 1g.6gb@1 after planning: only hooks.is_allocated, asked afresh right before the
	 * destroy (KERF_MUTATION 1; 2 removes the question), sees it. NVML sees nothing. */
	{ { "a30-stale-pod", "A30-24GB", "1g.6gb@0,1g.6gb@1,2g.12gb@2", -1, -1, "2g.12gb@0,1g.6gb@2,1g.6gb@3" }, -1,
	  FK_POD, 1 },
	/* Another tool splits the 3g.40gb@4 into two 1-slice compute instances after planning: the re-check's
	 * nvml_instance_whole() (in used_reason(), KERF_MUTATION 1) refuses it. */
	{ { "h100-stale-split", "H100-80GB-SXM", "1g.10gb@0,1g.10gb@1,3g.40gb@4", -1, -1,
	    "2g.20gb@0,2g.20gb@2,2g.20gb@4,1g.10gb@6" }, -1, FK_SPLIT, 4 },
	/* Several compute instances, split by another tool before the run. In the way: actuate_plan() refuses
	 * (used_reason(): "kerf did not make"), nothing changes, under every fault. */
	{ { "h100-multi-ci-in-the-way", "H100-80GB-SXM", "1g.10gb@0,1g.10gb@1,3g.40gb@4", -1, -1,
	    "1g.10gb@0,1g.10gb@1,2g.20gb@4,1g.10gb@6" }, 4, NO_STALE },
	/* Beside a re-cut: kept by the layout, never destroyed by a rollback (it is not the run's) nor by a
	 * recovery (converge() leaves what the target holds). */
	{ { "h100-multi-ci-beside-recut", "H100-80GB-SXM", "2g.20gb@0,1g.10gb@2,1g.10gb@3,3g.40gb@4", -1, -1,
	    "1g.10gb@0,1g.10gb@1,2g.20gb@2,3g.40gb@4" }, 4, NO_STALE },
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

static int recover_now(struct actuate_result *res, struct kerf_err *err)
{
	struct nvml *nv = nvml_open(FAKENVML_LIB, err);
	int rc;

	if (nv == NULL)
		return -1;
	rc = actuate_recover(nv, 0, &H.cfg, res, err);
	nvml_close(nv);
	return rc;
}

/* Runs the actuator (recover: only actuate_recover(), as an agent's start) in a child; returns its wait
 * status. */
static int run_child(const struct scenario *s, bool recover)
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
		_exit((recover ? recover_now(&res, &err) : apply_want(s, &res, &err)) == 0 ? 0 : 1);
	if (waitpid(pid, &status, 0) != pid)
		fail_msg("waitpid failed");
	return status;
}

static bool killed(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* True if the desired layout keeps every used instance (those made busy during the case included): then
 * applying it must succeed; otherwise it must be refused, changing nothing. */
static bool want_keeps_used(const struct scenario *s)
{
	static struct fk_state st;
	const struct mig_model *m;
	struct mig_layout want;
	struct kerf_err err;

	h_read(&H, &st);
	m = fk_model(&st.gpu[0]);
	if (mig_layout_parse(m, s->want, &want, &err) != 0)
		fail_msg("%s: %s", s->name, err.msg);
	for (unsigned u = 0; u < H.n_used; u++) {
		bool kept = false;

		for (unsigned k = 0; k < want.n; k++)
			kept |= m->profiles[want.inst[k].profile].nvml_id == H.used[u].profile_id &&
				want.inst[k].start == H.used[u].start;
		if (!kept)
			return false;
	}
	return true;
}

/* What a case is checked against, after the faulty run (and any killed recovery) is over; see the top. */
static void check_case(const struct scenario *s, const char *what)
{
	struct actuate_result res;
	struct kerf_err err;
	const char *why;
	bool keeps;

	h_note_made_busy(&H);
	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: %s: after the faulty run: %s", s->name, what, why);
	h_clear_faults(&H);
	if (recover_now(&res, &err) != 0)
		fail_msg("%s: %s: recovery failed: %s", s->name, what, err.msg);
	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: %s: after recovery: %s", s->name, what, why);
	if (!h_layout_is(&H, s->want) && !h_layout_is(&H, s->orig))
		fail_msg("%s: %s: after recovery the GPU is at %s, neither desired nor original", s->name, what, res.after);
	if (!h_no_journal(&H))
		fail_msg("%s: %s: a journal is left after recovery", s->name, what);
	keeps = want_keeps_used(s);
	if (keeps && (apply_want(s, &res, &err) != 0 || !h_layout_is(&H, s->want)))
		fail_msg("%s: %s: applying again did not converge: %s", s->name, what, err.msg);
	if (!keeps && (apply_want(s, &res, &err) == 0 || err.code != KERF_EBUSY || res.changes != 0 ||
		       !h_layout_is(&H, s->orig)))
		fail_msg("%s: %s: applying again with a used instance in the way was not refused (%s)", s->name, what,
			 err.msg);
	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: %s: after applying again: %s", s->name, what, why);
	total_cases++;
}

static void add_fault_fn(struct fk_state *st, void *arg)
{
	struct kerf_err err;

	if (fk_add_fault(st, arg, &err) != 0)
		fail_msg("fk_add_fault: %s", err.msg);
}

/* Back to the scenario's original state, with its stale-plan change (if any) armed. */
static void reset(const struct mscenario *m)
{
	struct fk_fault f = { .func = STALE_AT, .nth = 1, .action = m->stale, .start = (unsigned)m->stale_start };

	h_reset(&H);
	if (m->stale_start >= 0)
		h_edit(&H, add_fault_fn, &f);
}

static const char *const action_names[] = { "fail", "kill-before", "kill-after", "delay" };

/* One armed fault, as a case's or a chain's step. */
struct step {
	const char *func;
	unsigned nth;
	enum fk_action action;
	int code;
};

static void arm(const struct step *st)
{
	if (st != NULL && st->func != NULL)
		h_fault(&H, st->func, st->nth, st->action, st->code);
}

static int describe(char *out, size_t n, const struct step *st)
{
	return snprintf(out, n, "%s use %u: %s %d", st->func, st->nth, action_names[st->action], st->code);
}

static void one_case(const struct mscenario *m, const char *func, unsigned nth, enum fk_action a, int code)
{
	const struct step st = { func, nth, a, code };
	char what[160];
	int status;

	describe(what, sizeof(what), &st);
	reset(m);
	arm(&st);
	status = run_child(&m->s, false);
	if (a != FK_FAIL && !killed(status))
		fail_msg("%s: %s: the child was not killed (status %d)", m->s.name, what, status);
	if (a == FK_FAIL && !WIFEXITED(status))
		fail_msg("%s: %s: the child died (status %d)", m->s.name, what, status);
	check_case(&m->s, what);
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

static void trace_read(struct traced *t)
{
	static struct fk_state st;

	h_read(&H, &st);
	t->n = st.n_calls;
	for (unsigned i = 0; i < st.n_calls; i++) {
		snprintf(t->f[i].func, sizeof(t->f[i].func), "%s", st.calls[i].func);
		t->f[i].count = st.calls[i].n;
	}
}

static unsigned trace_count(const struct traced *t, const char *func)
{
	for (unsigned i = 0; i < t->n; i++)
		if (strcmp(t->f[i].func, func) == 0)
			return t->f[i].count;
	return 0;
}

/* The run without a fault (its stale-plan change armed): it reaches the desired layout, or, when an instance
 * in the way is used, it is refused or rolled back to the original. */
static void trace_run(const struct mscenario *m, struct traced *t)
{
	const char *why;
	int status;
	bool ok;

	reset(m);
	h_edit(&H, trace_on, NULL);
	status = run_child(&m->s, false);
	h_note_made_busy(&H);
	if ((why = h_used_intact(&H)) != NULL)
		fail_msg("%s: the fault-free run: %s", m->s.name, why);
	ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (want_keeps_used(&m->s) ? !ok || !h_layout_is(&H, m->s.want) : ok || !h_layout_is(&H, m->s.orig))
		fail_msg("%s: the fault-free run did not end as expected (status %d)", m->s.name, status);
	trace_read(t);
}

/* The use of a function to fault after use (0: none left): every one, or (sampled) READ_SAMPLES spread over
 * its count, the first and the last included. */
static unsigned next_use(unsigned use, unsigned count, bool every)
{
	unsigned step = every || count <= READ_SAMPLES ? 1 : (count - 1) / (READ_SAMPLES - 1);

	if (use >= count)
		return 0;
	return step > 1 && use + 2 * step > count ? count : use + step;
}

static unsigned matrix(const struct mscenario *m, const struct traced *t)
{
	unsigned before = total_cases;

	for (unsigned i = 0; i < t->n; i++) {
		bool every;
		const struct codes *c = codes_for(t->f[i].func, &every);

		for (unsigned use = 1; use != 0; use = next_use(use, t->f[i].count, every)) {
			for (unsigned k = 0; k < 4 && c->codes[k] != 0; k++)
				one_case(m, t->f[i].func, use, FK_FAIL, c->codes[k]);
			one_case(m, t->f[i].func, use, FK_KILL_BEFORE, 0);
			if (c->changes)
				one_case(m, t->f[i].func, use, FK_KILL_AFTER, 0);
		}
	}
	return total_cases - before;
}

/* ---- second faults: kills during a rollback, and during recovery ----------------------------------- */

static bool changing(const char *func)
{
	bool every;

	return codes_for(func, &every)->changes;
}

/*
 * Kills during a rollback: the run's last GPU-instance create fails (INSUFFICIENT_RESOURCES), so the run
 * has made all its other changes and must undo them; the process is then killed before and after each use
 * of each changing call the failing run makes (uses before the failure kill the forward run; the matrix has
 * those already, and they cost little). Fills rb with the failing run's trace.
 */
static unsigned rollback_kills(const struct mscenario *m, const struct step *first, struct traced *rb)
{
	unsigned before = total_cases;
	int status;

	reset(m);
	arm(first);
	h_edit(&H, trace_on, NULL);
	status = run_child(&m->s, false);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !h_layout_is(&H, m->s.orig))
		fail_msg("%s: a failed last create did not roll back (status %d)", m->s.name, status);
	trace_read(rb);
	for (unsigned i = 0; i < rb->n; i++) {
		if (!changing(rb->f[i].func))
			continue;
		for (unsigned use = 1; use <= rb->f[i].count; use++)
			for (enum fk_action a = FK_KILL_BEFORE; a <= FK_KILL_AFTER; a++) {
				const struct step kill = { rb->f[i].func, use, a, 0 };
				char what[320];
				int n;

				/* the failing use is itself the failure, not a kill point */
				if (strcmp(kill.func, first->func) == 0 && use == first->nth)
					continue;
				n = describe(what, sizeof(what), first);
				snprintf(what + n, sizeof(what) - (size_t)n, ", then %s use %u: %s", kill.func, use,
					 action_names[a]);
				reset(m);
				arm(first);
				arm(&kill);
				status = run_child(&m->s, false);
				if (!killed(status))
					fail_msg("%s: %s: the child was not killed (status %d)", m->s.name, what, status);
				check_case(&m->s, what);
			}
	}
	return total_cases - before;
}

/* Runs the apply with first (and kill) armed, which must kill it; notes what it made busy; clears faults. */
static void killed_apply(const struct mscenario *m, const struct step *first, const struct step *kill,
			 const char *what)
{
	int status;

	reset(m);
	arm(first);
	arm(kill);
	status = run_child(&m->s, false);
	if (!killed(status))
		fail_msg("%s: %s: the apply was not killed (status %d)", m->s.name, what, status);
	h_note_made_busy(&H);
	h_clear_faults(&H);
}

/*
 * Kills during recovery: the apply is killed right after one of its changes (first, if not NULL, failed
 * before it, so that the kill may land in the rollback), leaving a journal; sampled, only after the last use
 * of each changing call. The recovery of that journal,
 * run in a child as an agent's start, is traced, then killed before and after each of its changes in turn;
 * check_case() then runs the last recovery and the checks.
 */
static unsigned recovery_kills(const struct mscenario *m, const struct step *first, const struct traced *t)
{
	unsigned before = total_cases;

	for (unsigned i = 0; i < t->n; i++) {
		if (!changing(t->f[i].func))
			continue;
		/* sampled: only after the last use of each changing call (the longest journal of each kind) */
		for (unsigned use = full ? 1 : t->f[i].count; use != 0; use = full ? next_use(use, t->f[i].count, true) : 0) {
			const struct step kill = { t->f[i].func, use, FK_KILL_AFTER, 0 };
			struct traced rec;
			char what[320];
			int n = 0, status;

			if (first != NULL && strcmp(kill.func, first->func) == 0 && use == first->nth)
				continue;
			if (first != NULL) {
				n = describe(what, sizeof(what), first);
				n += snprintf(what + n, sizeof(what) - (size_t)n, ", then ");
			}
			describe(what + n, sizeof(what) - (size_t)n, &kill);
			killed_apply(m, first, &kill, what);
			h_edit(&H, trace_on, NULL);
			status = run_child(&m->s, true);
			trace_read(&rec);
			if (!WIFEXITED(status))
				fail_msg("%s: %s: the recovery died (status %d)", m->s.name, what, status);
			for (unsigned r = 0; r < rec.n; r++) {
				if (!changing(rec.f[r].func))
					continue;
				for (unsigned v = 1; v <= rec.f[r].count; v++)
					for (enum fk_action a = FK_KILL_BEFORE; a <= FK_KILL_AFTER; a++) {
						const struct step rkill = { rec.f[r].func, v, a, 0 };
						char all[480];

						snprintf(all, sizeof(all), "%s; recovery killed at %s use %u: %s", what,
							 rkill.func, v, action_names[a]);
						killed_apply(m, first, &kill, what);
						arm(&rkill);
						status = run_child(&m->s, true);
						if (!killed(status))
							fail_msg("%s: %s: the recovery was not killed (status %d)", m->s.name,
								 all, status);
						check_case(&m->s, all);
					}
			}
		}
	}
	return total_cases - before;
}

static void run_scenario(const struct mscenario *m)
{
	const struct step last_create = { "nvmlDeviceCreateGpuInstanceWithPlacement", 0, FK_FAIL,
					  NVML_ERROR_INSUFFICIENT_RESOURCES };
	struct traced t, rb;
	unsigned calls = 0, n_matrix, n_rb = 0, n_rec, n_rbrec = 0;
	struct step first = last_create;

	h_load(&H, &m->s);
	if (m->split >= 0)
		h_split(&H, (unsigned)m->split);
	trace_run(m, &t);
	for (unsigned i = 0; i < t.n; i++)
		calls += t.f[i].count;
	n_matrix = matrix(m, &t);
	/* kills after each change, then during the recovery of what they left */
	n_rec = recovery_kills(m, NULL, &t);
	/* a re-layout that goes through (no stale change) and creates: fail its last create, then kill the
	 * rollback, and the recovery of a killed rollback. A stale plan's own run is a rollback already. */
	first.nth = trace_count(&t, first.func);
	if (m->stale_start < 0 && first.nth > 0 && want_keeps_used(&m->s)) {
		n_rb = rollback_kills(m, &first, &rb);
		n_rbrec = recovery_kills(m, &first, &rb);
	}
	printf("fault matrix: %-30s %3u NVML calls, %2u functions; %4u cases, %3u rollback kills, "
	       "%4u recovery kills (%4u after a rollback)\n",
	       m->s.name, calls, t.n, n_matrix, n_rb, n_rec + n_rbrec, n_rbrec);
	/* Each scenario's own coverage, not just the whole run's: a trace that came back empty, or a matrix
	 * that skipped a call, would otherwise pass on the strength of the other scenarios. Every traced
	 * function gets at least one fail and one kill; the full matrix faults every use of every call. */
	if (t.n == 0 || calls == 0)
		fail_msg("%s: the re-layout made no NVML call: nothing was tested", m->s.name);
	if (n_matrix < 2 * t.n)
		fail_msg("%s: %u cases for %u traced functions (want at least a fail and a kill each)", m->s.name,
			 n_matrix, t.n);
	if (full && n_matrix < calls)
		fail_msg("%s: %u cases for %u NVML calls (the full matrix faults every use)", m->s.name, n_matrix,
			 calls);
}

static void test_fault_matrix_never_harms_used_instances_and_converges(void **state)
{
	const char *only = getenv("KERF_FAULT_SCENARIO"); /* runs only the scenarios whose name holds it */

	(void)state;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (only == NULL || strstr(scenarios[i].s.name, only) != NULL)
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
	/* pod-resources, as the simulated state says: a pod given an instance after planning (FK_POD) */
	H.cfg.hooks = (struct actuate_hooks){ NULL, h_pod_is_allocated, &H };
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
