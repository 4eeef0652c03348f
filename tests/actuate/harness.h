/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.h — shared set-up for the actuator tests: a simulated GPU in a temporary state file, a scenario
 * (model, original layout, which instance runs a process, which is allocated, desired layout), and the
 * checks every test makes afterwards (layout, used instances untouched).
 */
#ifndef KERF_TEST_HARNESS_H
#define KERF_TEST_HARNESS_H

#include <stdbool.h>

#include "actuate.h"
#include "fakestate.h"

struct scenario {
	const char *name;
	const char *model;
	const char *orig;
	int busy_start;  /* start of the instance that runs a process, or -1 */
	int alloc_start; /* start of the instance allocated to a pod, or -1 */
	const char *want;
};

struct used_instance {
	unsigned gi_id, profile_id, start;
	unsigned n_ci;
	uint64_t serial[2]; /* of its compute instances: a re-created instance gets new ones (and new UUIDs) */
	bool process, pod;  /* what makes it used, and must still be there: a process, a pod holding it */
};

#define H_MAX_USED 4

struct harness {
	char dir[64], state[128], journals[128];
	struct fk_state snap;          /* the scenario's original state, to reset to */
	char alloc_uuid[NVML_UUID_MAX]; /* MIG UUID of the allocated instance, "" if none */
	const char *alloc_list[1];
	unsigned n_used, n_base; /* n_base: the scenario's own; those after it were made busy during a case */
	struct used_instance used[H_MAX_USED];
	struct actuate_config cfg;
};

/* Creates the temporary directory and points $KERF_FAKENVML_STATE at it. */
void h_begin(struct harness *h);
void h_end(struct harness *h);

/* Writes the scenario's GPU (GPU 0) and remembers the original state and its used instances. */
void h_load(struct harness *h, const struct scenario *s);

/* Puts the original state back (faults and call counts cleared) and forgets instances made busy since. */
void h_reset(struct harness *h);

/* After h_load: another tool splits the instance at start into two 1-slice compute instances (kerf never
 * makes such an instance and must leave it alone). It is part of the original state, and counted as used. */
void h_split(struct harness *h, unsigned start);

/* Counts as used every instance a fired FK_PROCESS, FK_POD or FK_SPLIT fault made busy (call it before the
 * faults are cleared). Returns how many it added. */
unsigned h_note_made_busy(struct harness *h);

/* An actuate_hooks.is_allocated that answers from the simulated state: allocated if a pod holds the MIG
 * device (fk_ci.pod, set by an FK_POD fault). arg: the harness. */
int h_pod_is_allocated(void *arg, const char *mig_uuid, bool *allocated, struct kerf_err *err);

/* Locks the state, lets fn edit it, writes it back. */
void h_edit(struct harness *h, void (*fn)(struct fk_state *st, void *arg), void *arg);
void h_read(struct harness *h, struct fk_state *st);

/* Arms one fault. */
void h_fault(struct harness *h, const char *func, unsigned nth, enum fk_action action, int code);
void h_clear_faults(struct harness *h);

/* True if GPU 0 holds exactly the instances of text (profile@start), each with a compute instance. */
bool h_layout_is(struct harness *h, const char *text);

/* NULL if every used instance is still there with the same GI ID, placement and compute instances, and
 * still runs its process or is held by its pod; otherwise a sentence saying which is not. Also fails if the
 * simulator counted a destroy of a busy CI. */
const char *h_used_intact(struct harness *h);

/* Opens the simulated library (the test fails if it cannot). */
struct nvml *h_open(void);

/* True if no journal file is left in the journal directory. */
bool h_no_journal(struct harness *h);

#endif
