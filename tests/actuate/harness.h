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
	uint64_t serial; /* of its compute instance: a re-created instance gets a new one (and a new UUID) */
};

struct harness {
	char dir[64], state[128], journals[128];
	struct fk_state snap;          /* the scenario's original state, to reset to */
	char alloc_uuid[NVML_UUID_MAX]; /* MIG UUID of the allocated instance, "" if none */
	const char *alloc_list[1];
	unsigned n_used;
	struct used_instance used[2];
	struct actuate_config cfg;
};

/* Creates the temporary directory and points $KERF_FAKENVML_STATE at it. */
void h_begin(struct harness *h);
void h_end(struct harness *h);

/* Writes the scenario's GPU (GPU 0) and remembers the original state and its used instances. */
void h_load(struct harness *h, const struct scenario *s);

/* Puts the original state back (faults and call counts cleared). */
void h_reset(struct harness *h);

/* Locks the state, lets fn edit it, writes it back. */
void h_edit(struct harness *h, void (*fn)(struct fk_state *st, void *arg), void *arg);
void h_read(struct harness *h, struct fk_state *st);

/* Arms one fault. */
void h_fault(struct harness *h, const char *func, unsigned nth, enum fk_action action, int code);
void h_clear_faults(struct harness *h);

/* True if GPU 0 holds exactly the instances of text (profile@start), each with a compute instance. */
bool h_layout_is(struct harness *h, const char *text);

/* NULL if every used instance is still there with the same GI ID, placement and compute instance;
 * otherwise a sentence saying which is not. Also fails if the simulator counted a destroy of a busy CI. */
const char *h_used_intact(struct harness *h);

/* Opens the simulated library (the test fails if it cannot). */
struct nvml *h_open(void);

/* True if no journal file is left in the journal directory. */
bool h_no_journal(struct harness *h);

#endif
