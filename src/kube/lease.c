/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lease.c — leader election on a coordination.k8s.io/v1 Lease.
 *
 * Expiry is judged on this process's monotonic clock from the moment it last saw the Lease change
 * (holder or renewTime), never by comparing renewTime with the local wall clock: contenders run on
 * different machines whose clocks may disagree, and client-go's leader election does the same for that
 * reason. Every write is a conditional PUT (resourceVersion), so two contenders racing for an expired
 * Lease cannot both win: the loser gets 409.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube.h"
#include "kube_internal.h"

struct kube_elector {
	struct kube_client *c;
	char *ns, *name, *identity;
	long duration_s;
	char seen[512];        /* holder + renewTime last observed */
	long long seen_at_ms;  /* when it was observed (monotonic) */
	long long renewed_ms;  /* our last successful renewal (monotonic), 0 = not holding */
};

struct kube_elector *kube_elector_new(struct kube_client *c, const struct kube_elector_config *cfg,
				      struct kerf_err *err)
{
	struct kube_elector *e;

	if (!cfg->ns || !cfg->name || !cfg->identity || !*cfg->identity || cfg->lease_duration_s <= 0) {
		kerf_err_set(err, KERF_EINVAL, "elector: ns, name, identity and lease_duration_s must be set");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->ns = strdup(cfg->ns)) || !(e->name = strdup(cfg->name)) ||
	    !(e->identity = strdup(cfg->identity))) {
		kube_elector_free(e);
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		return NULL;
	}
	e->c = c;
	e->duration_s = cfg->lease_duration_s;
	return e;
}

void kube_elector_free(struct kube_elector *e)
{
	if (!e)
		return;
	free(e->ns);
	free(e->name);
	free(e->identity);
	free(e);
}

static void micro_time(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06ldZ", base, ts.tv_nsec / 1000);
}

static int create_lease(struct kube_elector *e, bool *leader, struct kerf_err *err)
{
	char now[40];
	json_t *obj, *out;

	micro_time(now, sizeof(now));
	obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:I, s:s, s:s, s:i}}", "apiVersion",
			"coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", e->name, "namespace", e->ns,
			"spec", "holderIdentity", e->identity, "leaseDurationSeconds", (json_int_t)e->duration_s,
			"acquireTime", now, "renewTime", now, "leaseTransitions", 0);
	if (!obj)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	out = kube_create(e->c, &KUBE_LEASES, e->ns, obj, err);
	json_decref(obj);
	if (!out)
		return err->code == KERF_ECONFLICT ? 0 : -1; /* someone created it first: not ours this round */
	json_decref(out);
	*leader = true;
	e->renewed_ms = kube_now_ms();
	return 0;
}

/* Writes lease (read at some resourceVersion) back with us as holder. 409 = lost the race, not an error. */
static int claim(struct kube_elector *e, json_t *lease, bool takeover, bool *leader, struct kerf_err *err)
{
	json_t *spec = json_object_get(lease, "spec"), *out;
	char now[40];

	micro_time(now, sizeof(now));
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(lease, "spec", spec);
	}
	json_object_set_new(spec, "renewTime", json_string(now));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(e->duration_s));
	if (takeover) {
		json_int_t t = json_integer_value(json_object_get(spec, "leaseTransitions"));
		json_object_set_new(spec, "holderIdentity", json_string(e->identity));
		json_object_set_new(spec, "acquireTime", json_string(now));
		json_object_set_new(spec, "leaseTransitions", json_integer(t + 1));
	}
	out = kube_update(e->c, &KUBE_LEASES, e->ns, lease, err);
	if (!out) {
		if (err->code == KERF_ECONFLICT) {
			e->renewed_ms = 0;
			return 0;
		}
		return -1;
	}
	json_decref(out);
	*leader = true;
	e->renewed_ms = kube_now_ms();
	return 0;
}

int kube_elector_step(struct kube_elector *e, bool *leader, struct kerf_err *err)
{
	struct kerf_err local;
	json_t *lease, *spec;
	const char *holder, *renew;
	char seen[512];
	long long now = kube_now_ms();
	long duration;
	int rc;

	if (!err)
		err = &local;
	*leader = false;
	lease = kube_get(e->c, &KUBE_LEASES, e->ns, e->name, err);
	if (!lease) {
		if (err->code == KERF_ENOTFOUND)
			return create_lease(e, leader, err);
		/* Unreachable server: we stay leader only while our last renewal is still within the lease. */
		*leader = e->renewed_ms && now - e->renewed_ms < e->duration_s * 1000;
		return -1;
	}
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	renew = json_string_value(json_object_get(spec, "renewTime"));
	duration = (long)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	if (duration <= 0)
		duration = e->duration_s;

	if (holder && strcmp(holder, e->identity) == 0) {
		rc = claim(e, lease, false, leader, err);
	} else {
		snprintf(seen, sizeof(seen), "%s|%s", holder ? holder : "", renew ? renew : "");
		if (strcmp(seen, e->seen) != 0 || !e->seen_at_ms) {
			snprintf(e->seen, sizeof(e->seen), "%s", seen);
			e->seen_at_ms = now;
		}
		e->renewed_ms = 0;
		/* An empty holder is a clean hand-over: take it at once. */
		if (!holder || !*holder || now - e->seen_at_ms >= (long long)duration * 1000)
			rc = claim(e, lease, true, leader, err);
		else
			rc = 0;
	}
	json_decref(lease);
	return rc;
}

int kube_elector_release(struct kube_elector *e, struct kerf_err *err)
{
	struct kerf_err local;
	json_t *lease, *spec, *out;
	const char *holder;

	if (!err)
		err = &local;
	if (!e->renewed_ms)
		return 0;
	lease = kube_get(e->c, &KUBE_LEASES, e->ns, e->name, err);
	if (!lease)
		return -1;
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	e->renewed_ms = 0;
	if (!holder || strcmp(holder, e->identity) != 0) {
		json_decref(lease);
		return 0; /* already someone else's */
	}
	json_object_set_new(spec, "holderIdentity", json_string(""));
	out = kube_update(e->c, &KUBE_LEASES, e->ns, lease, err);
	json_decref(lease);
	if (!out)
		return err->code == KERF_ECONFLICT ? 0 : -1;
	json_decref(out);
	return 0;
}
