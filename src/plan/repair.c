/* SPDX-License-Identifier: Apache-2.0 */
/*
 * repair.c — after the greedy pass, places pods it left out by re-solving small neighbourhoods of nodes
 * with the exact search, and by repacking a GPU family largest first.
 *
 * The greedy never revisits a choice, and its losses have a few shapes (docs/planner.md, "How far from
 * optimal"): a pod that fits on few nodes finds them taken by pods that fit on many; a chain, where the
 * pod in the way is itself scarce and has to move to a node whose pod moves in turn; a congested family
 * where only repacking several nodes together makes room. Each is local: a handful of nodes and the pods
 * on them. So for each pod left out, highest priority first, the repair
 *   1. places it directly if some node now has room (earlier repairs move pods around), else tries an
 *      evacuation of each node it fits on alone: that node's pods move one by one to other nodes with
 *      room until it fits (undone when it never does). Nobody is left out, and it reaches any number of
 *      nodes, where a neighbourhood holds REPAIR_NODES: the pods in the way of a pod that needs whole
 *      GPUs are often many, each with room elsewhere. These cheap moves are swept over every pod left
 *      out first, while they place more; only then
 *   2. builds a neighbourhood around one of the nodes it fits on alone (its "seeds", fewest pods of
 *      its priority or higher first): the seed's pods are free to move (the lowest priorities first
 *      when they are too many), each gets a node it would fit on as the loads stand (an "escape", whose
 *      pods stay where they are), and when it has none, a node it fits on alone whose pods become free
 *      in turn (one more link of a chain); other seeds fill the nodes left, and other pods left out
 *      that may run there join. After REPAIR_SEEDS such neighbourhoods, one last takes its seeds
 *      together, for room that only repacking several of them makes;
 *   3. runs the branch and bound (search.c) on that neighbourhood alone: its nodes, its free pods, and
 *      the pods that stay as fixed load underneath, within a step budget. The search starts from the
 *      current assignment and keeps a new one only when it places lexicographically more (higher
 *      priority first), so a repair never loses a pod at a higher priority for one at a lower. (Trying
 *      each pod's current node first, and limiting how many pods may move, placed fewer on the quality
 *      benchmark: the search's own order with the seen-state memo does better.)
 * The sweep over the pods left out repeats while a repair succeeds (a success can open room for a pod
 * tried before it). When it places no more,
 *   4. each pod still left out, highest priority first, has its family repacked: every node with a GPU
 *      of a model one of its nodes has (its own nodes first, at most REPACK_NODES), every pod on them of
 *      any priority taken off, then put back with the pod and the other pods left out that fit there,
 *      by priority and largest first (then, if that places no more, largest first across priorities),
 *      each on the node of the family it leaves with the fewest compute slices (best fit). The search's
 *      room bound pools a family's slices and cannot see fragmentation; first fit decreasing is what
 *      packs sizes like 7g, 2x7g and 4g well, and the losses left were pods of a higher priority cutting
 *      the GPUs that such pods of a lower one needed. Kept only when no priority places fewer and one
 *      places more; after one is kept, the sweeps run again. Run only once the sweeps end, not inside
 *      them, the repacks start from the plan the repair reached without them and only add to it (inside,
 *      they changed the path of later repairs, and two quality clusters ended with fewer).
 * Limits keep the worst case bounded: at most REPAIR_NODES nodes and REPAIR_PODS pods per
 * neighbourhood, a step budget per search and REPAIR_STEPS_TOTAL for steps 1-3 (node DPs count as steps
 * too); at most REPACK_PODS pods and REPACK_STEPS node DPs per repack, REPACK_STEPS_TOTAL for all. A pod
 * shape that could not be repaired, and a neighbourhood or family already tried, are not tried again
 * until some repair succeeds. Everything runs in a fixed order: the plan is deterministic.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "internal.h"

#define REPAIR_NODES 12
#define REPAIR_PODS 40
#define REPAIR_SEEDS 4
#define REPAIR_STEPS_COUNTS 10000u
#define REPAIR_STEPS_COST 2000u
#define REPAIR_STEPS_TOTAL 400000u
/* The evacuations' share: their steps are node DPs, not memoised lookups, so they cost more each. */
#define EVAC_STEPS_TOTAL 100000u
/* A repack's family, the most pods it re-inserts (else it is not tried), its node DPs (past them it is
 * undone), and all the repacks' node DPs. */
#define REPACK_NODES 64
#define REPACK_PODS 256
#define REPACK_STEPS 20000u
#define REPACK_STEPS_TOTAL 50000u

struct repair {
	struct pl_ctx *c;
	unsigned **cand;       /* per sig: the nodes a pod of that shape fits on alone, or NULL until asked */
	unsigned *n_cand;
	unsigned char *failed; /* per sig: repair failed since the last success */
	unsigned char *no_room; /* per sig: an evacuation found it no other node since the last success */
	unsigned *on_node;      /* the pods by node (evacuate_any()), lowest priority first within a node */
	unsigned *node_first;   /* per node + 1: its first position in on_node */
	int by_node_ok;         /* on_node holds the assignments as they are (cleared by every success) */
	uint64_t steps;
	uint64_t evac_steps;   /* of which the evacuations' */
	/* the neighbourhood being built */
	unsigned nodes[REPAIR_NODES], n_nodes;
	unsigned pods[REPAIR_PODS], n_pods;
	unsigned char *in_hood; /* per node */
	unsigned char *free_pod; /* per pod */
	unsigned *weight;        /* per node: scratch for order_seeds() */
	unsigned n_groups;       /* groups some pod uses (plan_input.groups past those are not read) */
	uint64_t *tried;         /* hashes of the neighbourhoods searched and families repacked since the last success */
	unsigned n_tried;
	size_t cap_tried;
	/* the repack (repack()) */
	unsigned *res_w;         /* per resource: fewest compute slices an instance of it takes */
	unsigned char *in_fam;   /* per node: in the family being repacked */
	unsigned *rk_fam;        /* the family's nodes */
	uint64_t *rk_cost;       /* per family node: its cost before the repack */
	unsigned *rk_pods;       /* the pods it re-inserts, in insertion order */
	int *rk_old;             /* per pod: its node before the repack */
	uint64_t repack_steps;   /* the repacks' steps, against REPACK_STEPS_TOTAL (they count in steps too) */
	int by_size;             /* the repack's order: the most compute slices first, not priority first */
};

/* The nodes where pod i's shape fits on an otherwise empty node's free capacity (by the node DP). */
static int candidates(struct repair *rp, unsigned i, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;
	const struct pl_pod *p = &c->pods[i];
	unsigned n_nodes = c->in->n_nodes;

	if (rp->cand[p->sig] != NULL)
		return 0;
	rp->cand[p->sig] = malloc((n_nodes + 1) * sizeof(unsigned));
	if (rp->cand[p->sig] == NULL)
		return kerf_err_set(err, KERF_ENOMEM, "out of memory");
	memset(c->tmp, 0, c->n_res * sizeof(uint16_t));
	pl_add_demand(c->tmp, p, 1);
	for (unsigned n = 0; n < n_nodes; n++) {
		uint64_t cost;
		unsigned j;

		if (!pl_allowed(c, p, n))
			continue;
		if (c->nodes[n].maxcap != NULL) {
			for (j = 0; j < p->n_dem && p->dem_cnt[j] <= c->nodes[n].maxcap[p->dem_res[j]]; j++)
				;
			if (j < p->n_dem)
				continue;
		}
		rp->steps++;
		if (pl_node_cost(c, n, c->tmp, &cost, NULL, err) != 0)
			return -1;
		if (cost != PL_INFEASIBLE)
			rp->cand[p->sig][rp->n_cand[p->sig]++] = n;
	}
	return 0;
}

static void move_pod(struct pl_ctx *c, unsigned i, int to, uint64_t to_cost)
{
	struct pl_node *nd;

	if (c->assign[i] >= 0) {
		nd = &c->nodes[c->assign[i]];
		pl_add_demand(nd->load, &c->pods[i], -1);
		nd->version++;
	}
	c->assign[i] = to;
	if (to >= 0) {
		nd = &c->nodes[to];
		pl_add_demand(nd->load, &c->pods[i], 1);
		nd->cost = to_cost;
		nd->version++;
	}
}

/* The fewest compute slices pod p takes: each demanded instance at its smallest profile's. */
static unsigned pod_slices(const struct repair *rp, const struct pl_pod *p)
{
	unsigned w = 0;

	for (unsigned j = 0; j < p->n_dem; j++)
		w += p->dem_cnt[j] * rp->res_w[p->dem_res[j]];
	return w;
}

/* The compute slices node n's GPUs have that no used instance holds, less those its load takes. */
static long node_room(const struct repair *rp, unsigned n)
{
	const struct pl_ctx *c = rp->c;
	const struct pl_node *nd = &c->nodes[n];
	long room = 0;

	for (unsigned g = 0; g < nd->n_gpus; g++)
		room += c->states[c->gpu_state[nd->first + g]].room_compute;
	for (unsigned r = 0; r < c->n_res; r++)
		room -= (long)nd->load[r] * rp->res_w[r];
	return room;
}

/*
 * The node of pod i's (not `except`) where it adds the least cost as the loads stand, it then placed
 * there; *placed says whether one had room. With best_fit (the repack), only the family's nodes count,
 * and first the one it leaves with the fewest compute slices: a node that would be left with more than
 * the best so far is not asked (no DP).
 */
static int place_best(struct repair *rp, unsigned i, int except, int best_fit, int *placed, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;
	const struct pl_pod *p = &c->pods[i];
	long best_left = LONG_MAX, w = best_fit ? (long)pod_slices(rp, p) : 0;
	uint64_t best_d = PL_INFEASIBLE, best_cost = 0;
	int where = -1;

	*placed = 0;
	for (unsigned k = 0; k < rp->n_cand[p->sig]; k++) {
		unsigned n = rp->cand[p->sig][k];
		uint64_t cost, cost_d;
		long left = 0;

		if ((int)n == except || (best_fit && (!rp->in_fam[n] || (left = node_room(rp, n) - w) > best_left)))
			continue;
		rp->steps++;
		if (pl_node_cost_plus(c, n, p, &cost, err) != 0)
			return -1;
		if (cost == PL_INFEASIBLE)
			continue;
		/* (a node's cost after the greedy's cheap moves is an upper bound: the DP may find less) */
		cost_d = cost > c->nodes[n].cost ? cost - c->nodes[n].cost : 0;
		if (left < best_left || cost_d < best_d) {
			best_left = left;
			best_d = cost_d;
			best_cost = cost;
			where = (int)n;
		}
	}
	if (where >= 0) {
		move_pod(c, i, where, best_cost);
		*placed = 1;
	}
	return 0;
}

/* Step 1: the cheapest node with room for pod i as the loads stand. */
static int place_direct(struct repair *rp, unsigned i, int except, int *placed, struct kerf_err *err)
{
	return place_best(rp, i, except, 0, placed, err);
}

/*
 * Step 1b, an evacuation: pods on node n, of any priority (the lowest first), move to other nodes with
 * room (each where it adds the least cost), one at a time, until pod x fits on n. Nobody is left out, so
 * it is kept whenever x fits; else every move is undone. At most REPAIR_PODS moves, each a scan of the
 * pod's nodes: one call is bounded by REPAIR_PODS x nodes DPs. (Chains, where a pod that cannot move
 * evacuates one of its own nodes, placed fewer on the quality benchmark and took longer.)
 */
static int evacuate(struct repair *rp, unsigned x, unsigned n, int *placed, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;
	unsigned moved[REPAIR_PODS], n_moved = 0;
	uint64_t cost = PL_INFEASIBLE, old = c->nodes[n].cost;

	*placed = 0;
	/* Not even with every pod that may move gone (up to REPAIR_PODS): not worth a DP per move. */
	memcpy(c->tmp, c->nodes[n].load, c->n_res * sizeof(uint16_t));
	for (unsigned k = rp->node_first[n], m = 0; k < rp->node_first[n + 1] && m < REPAIR_PODS; k++)
		if (!rp->no_room[c->pods[rp->on_node[k]].sig]) {
			pl_add_demand(c->tmp, &c->pods[rp->on_node[k]], -1);
			m++;
		}
	pl_add_demand(c->tmp, &c->pods[x], 1);
	rp->steps++;
	if (pl_node_cost(c, n, c->tmp, &cost, NULL, err) != 0)
		return -1;
	if (cost == PL_INFEASIBLE)
		return 0;
	cost = PL_INFEASIBLE;
	for (unsigned k = rp->node_first[n]; k < rp->node_first[n + 1] && n_moved < REPAIR_PODS && cost == PL_INFEASIBLE;
	     k++) {
		unsigned z = rp->on_node[k];
		int ok;

		if (rp->no_room[c->pods[z].sig])
			continue;
		if (candidates(rp, z, err) != 0)
			return -1;
		move_pod(c, z, -1, 0);
		if (place_direct(rp, z, (int)n, &ok, err) != 0)
			return -1;
		if (!ok) {
			/* (loads elsewhere are as they were: a pod of its shape finds no room either) */
			rp->no_room[c->pods[z].sig] = 1;
			move_pod(c, z, (int)n, old);
			continue;
		}
		moved[n_moved++] = z;
		rp->steps++;
		if (pl_node_cost_plus(c, n, &c->pods[x], &cost, err) != 0)
			return -1;
	}
	if (cost != PL_INFEASIBLE) {
		move_pod(c, x, (int)n, cost);
		*placed = 1;
		return 0;
	}
	/* undo: back to n, the other nodes' costs recomputed */
	while (n_moved-- > 0) {
		unsigned z = moved[n_moved], from = (unsigned)c->assign[z];

		move_pod(c, z, (int)n, old);
		rp->steps++;
		if (pl_node_cost(c, from, c->nodes[from].load, &c->nodes[from].cost, NULL, err) != 0)
			return -1;
	}
	return 0;
}

/* The pods by node into on_node / node_first, the lowest priority first within a node. */
static void list_by_node(struct repair *rp)
{
	const struct pl_ctx *c = rp->c;
	unsigned n_nodes = c->in->n_nodes;

	memset(rp->node_first, 0, (n_nodes + 1) * sizeof(unsigned));
	for (unsigned i = 0; i < c->n_pods; i++)
		if (c->assign[i] >= 0)
			rp->node_first[c->assign[i]]++;
	for (unsigned n = 1; n <= n_nodes; n++)
		rp->node_first[n] += rp->node_first[n - 1]; /* each node's end (node_first[n_nodes] stays the total) */
	for (unsigned i = 0; i < c->n_pods; i++)
		if (c->assign[i] >= 0)
			rp->on_node[--rp->node_first[c->assign[i]]] = i; /* back to front: the lowest priority first */
	rp->by_node_ok = 1;
}

/* Step 1b for each node pod x fits on alone, until one takes it. The pods are listed by node once per
 * success: assignments change only when a repair succeeds (a failed evacuation undoes its moves, a
 * neighbourhood that places no more is not applied), so the lists hold until then. */
static int evacuate_any(struct repair *rp, unsigned x, int *placed, struct kerf_err *err)
{
	const struct pl_pod *px = &rp->c->pods[x];

	*placed = 0;
	if (rp->evac_steps >= EVAC_STEPS_TOTAL)
		return 0;
	if (!rp->by_node_ok)
		list_by_node(rp);
	for (unsigned k = 0; k < rp->n_cand[px->sig] && rp->steps < REPAIR_STEPS_TOTAL && rp->evac_steps < EVAC_STEPS_TOTAL &&
			    !*placed;
	     k++) {
		uint64_t before = rp->steps;

		if (evacuate(rp, x, rp->cand[px->sig][k], placed, err) != 0)
			return -1;
		rp->evac_steps += rp->steps - before;
	}
	return 0;
}

static int hood_add_node(struct repair *rp, unsigned n)
{
	if (rp->in_hood[n] || rp->n_nodes == REPAIR_NODES)
		return 0;
	rp->in_hood[n] = 1;
	rp->nodes[rp->n_nodes++] = n;
	return 1;
}

static int hood_add_pod(struct repair *rp, unsigned i)
{
	if (rp->free_pod[i] || rp->n_pods == REPAIR_PODS)
		return 0;
	rp->free_pod[i] = 1;
	rp->pods[rp->n_pods++] = i;
	return 1;
}

/* Frees the pods of node n, as many as the pod limit allows: the lowest priority (last in decision order)
 * first, since those are the ones a pod left out may displace. */
static void hood_free_node_pods(struct repair *rp, unsigned n)
{
	struct pl_ctx *c = rp->c;

	for (unsigned i = c->n_pods; i-- > 0 && rp->n_pods < REPAIR_PODS;)
		if (c->assign[i] == (int)n)
			hood_add_pod(rp, i);
}

static void hood_clear(struct repair *rp)
{
	for (unsigned k = 0; k < rp->n_nodes; k++)
		rp->in_hood[rp->nodes[k]] = 0;
	for (unsigned k = 0; k < rp->n_pods; k++)
		rp->free_pod[rp->pods[k]] = 0;
	rp->n_nodes = rp->n_pods = 0;
}

/* Other pods left out that may run on the neighbourhood's nodes join: the search places whichever it can. */
static void hood_add_unplaced(struct repair *rp)
{
	struct pl_ctx *c = rp->c;

	for (unsigned i = 0; i < c->n_pods && rp->n_pods < REPAIR_PODS; i++) {
		if (c->assign[i] >= 0 || rp->free_pod[i] || c->pods[i].missing >= 0 || rp->cand[c->pods[i].sig] == NULL)
			continue;
		for (unsigned k = 0; k < rp->n_cand[c->pods[i].sig]; k++)
			if (rp->in_hood[rp->cand[c->pods[i].sig][k]]) {
				hood_add_pod(rp, i);
				break;
			}
	}
}

/* Step 2, second form: x's seeds together (up to REPAIR_NODES), their pods free; for room that only
 * repacking several of them makes. */
static void build_hood_seeds(struct repair *rp, unsigned x, const unsigned *seeds, unsigned n_seeds)
{
	hood_clear(rp);
	hood_add_pod(rp, x);
	for (unsigned k = 0; k < n_seeds; k++)
		if (hood_add_node(rp, seeds[k]))
			hood_free_node_pods(rp, seeds[k]);
	hood_add_unplaced(rp);
}

/* Step 2: the neighbourhood around seed node `seed` for pod x. */
static int build_hood(struct repair *rp, unsigned x, unsigned seed, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;
	const struct pl_pod *px = &c->pods[x];

	hood_clear(rp);
	hood_add_pod(rp, x);
	hood_add_node(rp, seed);
	hood_free_node_pods(rp, seed);
	/* Each free pod (the list grows as chains are followed) gets an escape, or a node to chain through. */
	for (unsigned k = 1; k < rp->n_pods && rp->n_nodes < REPAIR_NODES; k++) {
		unsigned i = rp->pods[k], chain = UINT32_MAX, j;
		const struct pl_pod *p = &c->pods[i];
		int escaped = 0;

		if (candidates(rp, i, err) != 0)
			return -1;
		for (j = 0; j < rp->n_cand[p->sig] && !escaped; j++) {
			unsigned n = rp->cand[p->sig][j];
			uint64_t cost;

			if (rp->in_hood[n])
				continue;
			rp->steps++;
			if (pl_node_cost_plus(c, n, p, &cost, err) != 0)
				return -1;
			if (cost != PL_INFEASIBLE)
				escaped = hood_add_node(rp, n);
			else if (chain == UINT32_MAX)
				chain = n;
		}
		if (!escaped && chain != UINT32_MAX && hood_add_node(rp, chain))
			hood_free_node_pods(rp, chain);
	}
	/* More of x's nodes, with their pods free when they fit in the limit: room made across several. */
	for (unsigned k = 0; k < rp->n_cand[px->sig] && rp->n_nodes < REPAIR_NODES; k++)
		if (hood_add_node(rp, rp->cand[px->sig][k]))
			hood_free_node_pods(rp, rp->cand[px->sig][k]);
	hood_add_unplaced(rp);
	return 0;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* Same GPU states in the same order and the same pods allowed: interchangeable in the search. */
static int same_class(const struct repair *rp, unsigned a, unsigned b)
{
	const struct pl_ctx *c = rp->c;
	const struct pl_node *x = &c->nodes[a], *y = &c->nodes[b];

	if (x->n_gpus != y->n_gpus || memcmp(&c->gpu_state[x->first], &c->gpu_state[y->first], x->n_gpus * sizeof(unsigned)) != 0)
		return 0;
	for (unsigned g = 0; g < rp->n_groups; g++)
		if (c->in->groups[g].allowed != NULL && c->in->groups[g].allowed[a] != c->in->groups[g].allowed[b])
			return 0;
	return 1;
}

/* Whether the searched pods now placed are lexicographically more than `before` (per level). */
static int placed_more(const struct pl_ctx *c, const struct pl_pod *pods, const int *assign, unsigned np,
		       const unsigned *before)
{
	unsigned after[64] = { 0 };

	for (unsigned k = 0; k < np; k++)
		if (assign[k] >= 0 && pods[k].level < 64)
			after[pods[k].level]++;
	for (unsigned l = 0; l < 64 && l < c->n_levels; l++)
		if (after[l] != before[l])
			return after[l] > before[l];
	return 0;
}

/*
 * Step 3: the exact search on the neighbourhood, in a context that shares the parent's tables and
 * scratch but sees only the neighbourhood's nodes and free pods. *better is set when it placed more.
 */
static int solve_hood(struct repair *rp, int *better, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c, sub = *c;
	unsigned ns = rp->n_nodes, np = rp->n_pods, ng = rp->n_groups, n_res = c->n_res;
	struct plan_input in = *c->in;
	struct plan_node *in_nodes = calloc(ns, sizeof(*in_nodes));
	struct plan_group *groups = calloc(ng + 1, sizeof(*groups));
	unsigned char *allowed = calloc((size_t)ng * ns + 1, 1);
	struct pl_node *nodes = calloc(ns, sizeof(*nodes));
	struct pl_pod *pods = calloc(np, sizeof(*pods));
	int *assign = calloc(np, sizeof(int));
	uint16_t *loads = calloc((size_t)2 * ns * n_res + 1, sizeof(uint16_t));
	unsigned before[64] = { 0 };
	int rc = -1, complete;
	uint64_t steps = 0;

	*better = 0;
	if (!in_nodes || !groups || !allowed || !nodes || !pods || !assign || !loads) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	qsort(rp->pods, np, sizeof(unsigned), cmp_unsigned); /* decision order */
	{
		/* The same neighbourhood, searched again with the same loads, gives the same answer. Kept as a
		 * list of 64-bit fingerprints scanned in order, not in a dict (dict.h): it is emptied at each
		 * success and holds only the neighbourhoods built since, and a collision only skips one search
		 * (no promise of plan.h rests on it). */
		unsigned sorted[REPAIR_NODES];
		uint64_t h = KERF_FNV_OFFSET; /* FNV-1a over 32-bit items (hash.h's constants) */

		memcpy(sorted, rp->nodes, ns * sizeof(unsigned));
		qsort(sorted, ns, sizeof(unsigned), cmp_unsigned);
		for (unsigned k = 0; k < ns + np; k++) {
			h ^= k < ns ? sorted[k] : 0x80000000u + rp->pods[k - ns];
			h *= KERF_FNV_PRIME;
		}
		for (unsigned k = 0; k < rp->n_tried; k++)
			if (rp->tried[k] == h) {
				rc = 0;
				goto out;
			}
		if (kerf_grow(&rp->tried, &rp->cap_tried, (size_t)rp->n_tried + 1, sizeof(*rp->tried), UINT_MAX,
			      "repair: neighbourhoods tried", err) < 0)
			goto out;
		rp->tried[rp->n_tried++] = h;
	}
	for (unsigned g = 0; g < ng; g++) {
		if (c->in->groups[g].allowed == NULL)
			continue; /* a group no pod uses may have no table (plan.h) */
		groups[g].allowed = &allowed[(size_t)g * ns];
		for (unsigned k = 0; k < ns; k++)
			groups[g].allowed[k] = c->in->groups[g].allowed[rp->nodes[k]];
	}
	in.n_nodes = ns;
	in.nodes = in_nodes;
	in.groups = groups;
	for (unsigned k = 0; k < ns; k++) {
		uint16_t *fixed = &loads[(size_t)(ns + k) * n_res];

		in_nodes[k] = c->in->nodes[rp->nodes[k]];
		nodes[k] = c->nodes[rp->nodes[k]];
		nodes[k].load = &loads[(size_t)k * n_res];
		memcpy(nodes[k].load, c->nodes[rp->nodes[k]].load, n_res * sizeof(uint16_t));
		memcpy(fixed, nodes[k].load, n_res * sizeof(uint16_t));
		nodes[k].fixed = fixed;
		nodes[k].cls = k;
		for (unsigned j = 0; j < k; j++)
			if (nodes[j].cls == j && same_class(rp, rp->nodes[j], rp->nodes[k])) {
				nodes[k].cls = j;
				break;
			}
	}
	for (unsigned k = 0; k < np; k++) {
		unsigned i = rp->pods[k];

		pods[k] = c->pods[i];
		assign[k] = -1;
		for (unsigned m = 0; m < ns; m++)
			if (c->assign[i] == (int)rp->nodes[m]) {
				assign[k] = (int)m;
				pl_add_demand((uint16_t *)nodes[m].fixed, &pods[k], -1);
			}
		if (c->assign[i] >= 0 && c->pods[i].level < 64)
			before[c->pods[i].level]++;
	}
	sub.in = &in;
	sub.nodes = nodes;
	sub.pods = pods;
	sub.n_pods = np;
	sub.assign = assign;
	for (unsigned k = 0; k < ns; k++)
		if (pl_node_cost(&sub, k, nodes[k].fixed, &nodes[k].fixed_cost, NULL, err) != 0)
			goto back;
	if (pl_exact_run(&sub, REPAIR_STEPS_COUNTS, REPAIR_STEPS_COST, &complete, &steps, err) != 0)
		goto back;
	*better = placed_more(c, pods, assign, np, before);
	if (*better) {
		for (unsigned k = 0; k < np; k++)
			c->assign[rp->pods[k]] = assign[k] >= 0 ? (int)rp->nodes[assign[k]] : -1;
		for (unsigned k = 0; k < ns; k++) {
			struct pl_node *nd = &c->nodes[rp->nodes[k]];

			memcpy(nd->load, nodes[k].load, n_res * sizeof(uint16_t));
			nd->cost = nodes[k].cost;
			nd->version++;
		}
	}
	rc = 0;
back:
	/* The search may have grown the shared scratch (the DP arrays) and the nodes' capacity tables. */
	rp->steps += steps;
	{
		struct pl_ctx keep = *c;

		*c = sub;
		c->in = keep.in;
		c->nodes = keep.nodes;
		c->pods = keep.pods;
		c->n_pods = keep.n_pods;
		c->assign = keep.assign;
	}
	for (unsigned k = 0; k < ns; k++)
		c->nodes[rp->nodes[k]].maxcap = nodes[k].maxcap;
out:
	free(in_nodes);
	free(groups);
	free(allowed);
	free(nodes);
	free(pods);
	free(assign);
	free(loads);
	return rc;
}

/* The seeds of pod x in the order tried: fewest pods of x's priority or higher on them, then node order. */
static unsigned order_seeds(struct repair *rp, unsigned x, unsigned *seeds)
{
	struct pl_ctx *c = rp->c;
	const struct pl_pod *px = &c->pods[x];
	unsigned n = rp->n_cand[px->sig], weight[REPAIR_NODES], k_out = 0;

	for (unsigned k = 0; k < n; k++)
		rp->weight[rp->cand[px->sig][k]] = 0;
	for (unsigned i = 0; i < c->n_pods && c->pods[i].level <= px->level; i++)
		if (c->assign[i] >= 0)
			rp->weight[c->assign[i]]++;
	for (unsigned k = 0; k < n; k++) {
		unsigned node = rp->cand[px->sig][k], w = rp->weight[node], pos;

		/* insertion into the REPAIR_SEEDS lightest, stable */
		for (pos = k_out; pos > 0 && weight[pos - 1] > w; pos--)
			;
		if (pos == REPAIR_NODES)
			continue;
		if (k_out < REPAIR_NODES)
			k_out++;
		memmove(&seeds[pos + 1], &seeds[pos], (k_out - 1 - pos) * sizeof(unsigned));
		memmove(&weight[pos + 1], &weight[pos], (k_out - 1 - pos) * sizeof(unsigned));
		seeds[pos] = node;
		weight[pos] = w;
	}
	return k_out;
}

/* The repack's insertion order: priority, then the most compute slices (or, with by_size, the most compute
 * slices, then priority), then the fewest nodes it fits on, then decision order. */
static int cmp_repack(const void *a, const void *b, void *arg)
{
	const struct repair *rp = arg;
	unsigned i = *(const unsigned *)a, j = *(const unsigned *)b;
	const struct pl_pod *p = &rp->c->pods[i], *q = &rp->c->pods[j];
	unsigned wp = pod_slices(rp, p), wq = pod_slices(rp, q);

	if (p->level != q->level && !rp->by_size)
		return p->level < q->level ? -1 : 1;
	if (wp != wq)
		return wp > wq ? -1 : 1;
	if (p->level != q->level)
		return p->level < q->level ? -1 : 1;
	if (rp->n_cand[p->sig] != rp->n_cand[q->sig])
		return rp->n_cand[p->sig] < rp->n_cand[q->sig] ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* The placed counts per level (the first 64) of the repack's pods. */
static void repack_counts(const struct repair *rp, unsigned n, unsigned *cnt)
{
	const struct pl_ctx *c = rp->c;

	memset(cnt, 0, 64 * sizeof(unsigned));
	for (unsigned k = 0; k < n; k++)
		if (c->assign[rp->rk_pods[k]] >= 0 && c->pods[rp->rk_pods[k]].level < 64)
			cnt[c->pods[rp->rk_pods[k]].level]++;
}

/* Pod x's family, into rp->rk_fam: the nodes it fits on alone, then the other nodes with a GPU of a model
 * those have (where the pods in the way can go), in node order, at most REPACK_NODES. */
static unsigned repack_family(struct repair *rp, unsigned x)
{
	const struct pl_ctx *c = rp->c;
	const struct pl_pod *px = &c->pods[x];
	unsigned char want[MIG_MAX_MODELS] = { 0 };
	unsigned n_fam = 0;

	for (unsigned k = 0; k < rp->n_cand[px->sig] && n_fam < REPACK_NODES; k++) {
		const struct pl_node *nd = &c->nodes[rp->cand[px->sig][k]];

		for (unsigned g = 0; g < nd->n_gpus; g++)
			want[c->states[c->gpu_state[nd->first + g]].model] = 1;
		rp->in_fam[rp->cand[px->sig][k]] = 1;
		rp->rk_fam[n_fam++] = rp->cand[px->sig][k];
	}
	for (unsigned n = 0; n < c->in->n_nodes && n_fam < REPACK_NODES; n++) {
		const struct pl_node *nd = &c->nodes[n];
		unsigned g = 0;

		while (g < nd->n_gpus && !want[c->states[c->gpu_state[nd->first + g]].model])
			g++;
		if (g < nd->n_gpus && !rp->in_fam[n]) {
			rp->in_fam[n] = 1;
			rp->rk_fam[n_fam++] = n;
		}
	}
	return n_fam;
}

/* Whether this family was repacked, with the same loads, since the last success; else notes it. */
static int repack_tried(struct repair *rp, unsigned n_fam, int *seen, struct kerf_err *err)
{
	uint64_t h = KERF_FNV_OFFSET ^ (0xC0000000u + (unsigned)rp->by_size); /* apart from the neighbourhoods' */

	*seen = 0;
	for (unsigned k = 0; k < n_fam; k++) {
		h ^= rp->rk_fam[k];
		h *= KERF_FNV_PRIME;
	}
	for (unsigned k = 0; k < rp->n_tried; k++)
		if (rp->tried[k] == h) {
			*seen = 1;
			return 0;
		}
	if (kerf_grow(&rp->tried, &rp->cap_tried, (size_t)rp->n_tried + 1, sizeof(*rp->tried), UINT_MAX,
		      "repair: neighbourhoods tried", err) < 0)
		return -1;
	rp->tried[rp->n_tried++] = h;
	return 0;
}

/* Every pod of the family's nodes, and every pod left out that fits on one of them alone, into rk_pods
 * with its node in rk_old; returns how many. */
static int repack_collect(struct repair *rp, unsigned *n_out, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_pods; i++) {
		const struct pl_pod *p = &c->pods[i];
		int join = c->assign[i] >= 0 && rp->in_fam[c->assign[i]];

		if (c->assign[i] < 0 && p->missing < 0) {
			if (candidates(rp, i, err) != 0)
				return -1;
			for (unsigned k = 0; k < rp->n_cand[p->sig] && !join; k++)
				join = rp->in_fam[rp->cand[p->sig][k]];
		}
		if (!join)
			continue;
		if (candidates(rp, i, err) != 0)
			return -1;
		rp->rk_pods[n++] = i;
		rp->rk_old[i] = c->assign[i];
	}
	*n_out = n;
	return 0;
}

/*
 * Step 4, a repack of pod x's family (repack_family()): every pod on those nodes, of any priority,
 * leaves, and they, x and the other pods left out that fit there re-enter in cmp_repack()'s order, each
 * on the family node it fits best (first fit decreasing with best fit: the search's room bound pools the
 * slices and cannot see fragmentation, this packs against it). Kept only when no priority places fewer
 * of these pods and one places more (stricter than lexicographically more: a repack rebuilds a whole
 * family, and trading pods of a lower priority for one of a higher placed fewer at the lower levels on
 * the quality benchmark); else every pod goes back where it was, with the nodes' costs as they were.
 * At most REPACK_STEPS node DPs: past them it is undone.
 */
static int repack(struct repair *rp, unsigned x, int *placed, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;
	unsigned n_fam, n = 0, before[64], after[64];
	uint64_t start = rp->steps;
	int seen, ok, better = 0, rc = -1;

	*placed = 0;
	n_fam = repack_family(rp, x);
	if (repack_tried(rp, n_fam, &seen, err) != 0)
		goto out;
	if (seen) {
		rc = 0;
		goto out;
	}
	if (repack_collect(rp, &n, err) != 0)
		goto out;
	if (n > REPACK_PODS) { /* (an overloaded cluster: each insertion asks most of the family) */
		rc = 0;
		goto out;
	}
	for (unsigned k = 0; k < n_fam; k++)
		rp->rk_cost[k] = c->nodes[rp->rk_fam[k]].cost;
	repack_counts(rp, n, before);
	for (unsigned k = 0; k < n; k++)
		move_pod(c, rp->rk_pods[k], -1, 0);
	for (unsigned k = 0; k < n_fam; k++) {
		struct pl_node *nd = &c->nodes[rp->rk_fam[k]];

		rp->steps++;
		if (pl_node_cost(c, rp->rk_fam[k], nd->load, &nd->cost, NULL, err) != 0)
			goto out;
	}
	qsort_r(rp->rk_pods, n, sizeof(unsigned), cmp_repack, rp);
	for (unsigned k = 0; k < n && rp->steps - start <= REPACK_STEPS; k++)
		if (place_best(rp, rp->rk_pods[k], -1, 1, &ok, err) != 0)
			goto out;
	repack_counts(rp, n, after);
	for (unsigned l = 0; l < 64 && l < c->n_levels && rp->steps - start <= REPACK_STEPS; l++) {
		if (after[l] < before[l]) {
			better = 0;
			break;
		}
		better |= after[l] > before[l];
	}
	if (!better) {
		for (unsigned k = 0; k < n; k++)
			move_pod(c, rp->rk_pods[k], -1, 0);
		for (unsigned k = 0; k < n; k++)
			if (rp->rk_old[rp->rk_pods[k]] >= 0)
				move_pod(c, rp->rk_pods[k], rp->rk_old[rp->rk_pods[k]], 0);
		for (unsigned k = 0; k < n_fam; k++)
			c->nodes[rp->rk_fam[k]].cost = rp->rk_cost[k];
	}
	*placed = better;
	rc = 0;
out:
	for (unsigned k = 0; k < n_fam; k++)
		rp->in_fam[rp->rk_fam[k]] = 0;
	return rc;
}

/* What a success changes: the shapes, evacuations, neighbourhoods and families that failed may not now. */
static void succeeded(struct repair *rp)
{
	memset(rp->failed, 0, rp->c->n_sigs + 1);
	memset(rp->no_room, 0, rp->c->n_sigs + 1);
	rp->by_node_ok = 0;
	rp->n_tried = 0;
}

/* Steps 1 to 3 over the pods left out, starting with the cheap moves alone when `cheap` is set. */
static int sweeps(struct repair *rp, int cheap, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;

	/* Sweeps over the pods left out, again while one places more: a success can open room for a pod
	 * tried before it. Each success places lexicographically more, so the sweeps end even without the
	 * budget. The first sweeps try the cheap moves alone (direct, evacuation); once they place nothing
	 * more, the neighbourhood searches join, and the evacuations, which just failed on these loads, wait
	 * for the next success. */
	for (int progress = 1, evac = 1; (progress || cheap) && rp->steps < REPAIR_STEPS_TOTAL;) {
		if (!progress && cheap) {
			cheap = evac = 0;
			memset(rp->failed, 0, c->n_sigs + 1);
		}
		progress = 0;
		for (unsigned x = 0; x < c->n_pods && rp->steps < REPAIR_STEPS_TOTAL; x++) {
			const struct pl_pod *px = &c->pods[x];
			unsigned seeds[REPAIR_NODES], n_seeds;
			int done = 0;

			if (c->assign[x] >= 0 || px->missing >= 0 || rp->failed[px->sig])
				continue;
			if (candidates(rp, x, err) != 0 || place_direct(rp, x, -1, &done, err) != 0)
				return -1;
			if (!done && evac && evacuate_any(rp, x, &done, err) != 0)
				return -1;
			n_seeds = cheap ? 0 : order_seeds(rp, x, seeds);
			for (unsigned k = 0; k < n_seeds && k < REPAIR_SEEDS && !done && rp->steps < REPAIR_STEPS_TOTAL; k++)
				if (build_hood(rp, x, seeds[k], err) != 0 || solve_hood(rp, &done, err) != 0)
					return -1;
			if (!done && n_seeds > 1 && rp->steps < REPAIR_STEPS_TOTAL) {
				build_hood_seeds(rp, x, seeds, n_seeds);
				if (solve_hood(rp, &done, err) != 0)
					return -1;
			}
			if (!done) {
				rp->failed[px->sig] = 1;
				continue;
			}
			succeeded(rp);
			progress = evac = 1;
		}
	}
	return 0;
}

/* Step 4 over the pods left out, highest priority first, until one repack places more. */
static int repack_sweep(struct repair *rp, int *placed, struct kerf_err *err)
{
	struct pl_ctx *c = rp->c;

	*placed = 0;
	for (unsigned x = 0; x < c->n_pods && !*placed && rp->repack_steps < REPACK_STEPS_TOTAL; x++) {
		uint64_t before = rp->steps;

		if (c->assign[x] >= 0 || c->pods[x].missing >= 0)
			continue;
		if (candidates(rp, x, err) != 0)
			return -1;
		rp->repack_steps += rp->steps - before;
		for (rp->by_size = 0; rp->by_size < 2 && !*placed && rp->repack_steps < REPACK_STEPS_TOTAL; rp->by_size++) {
			before = rp->steps;
			if (repack(rp, x, placed, err) != 0)
				return -1;
			rp->repack_steps += rp->steps - before;
		}
	}
	if (*placed)
		succeeded(rp);
	return 0;
}

int pl_repair(struct pl_ctx *c, struct kerf_err *err)
{
	struct repair rp;
	int rc = -1;

	memset(&rp, 0, sizeof(rp));
	rp.c = c;
	for (unsigned i = 0; i < c->n_pods; i++)
		rp.n_groups = c->pods[i].group > rp.n_groups ? c->pods[i].group : rp.n_groups;
	rp.cand = calloc(c->n_sigs + 1, sizeof(*rp.cand));
	rp.n_cand = calloc(c->n_sigs + 1, sizeof(unsigned));
	rp.failed = calloc(c->n_sigs + 1, 1);
	rp.in_hood = calloc(c->in->n_nodes + 1, 1);
	rp.free_pod = calloc(c->n_pods + 1, 1);
	rp.weight = calloc(c->in->n_nodes + 1, sizeof(unsigned));
	rp.no_room = calloc(c->n_sigs + 1, 1);
	rp.on_node = calloc(c->n_pods + 1, sizeof(unsigned));
	rp.node_first = calloc(c->in->n_nodes + 1, sizeof(unsigned));
	rp.res_w = calloc(c->n_res + 1, sizeof(unsigned));
	rp.in_fam = calloc(c->in->n_nodes + 1, 1);
	rp.rk_fam = calloc(REPACK_NODES, sizeof(unsigned));
	rp.rk_cost = calloc(REPACK_NODES, sizeof(uint64_t));
	rp.rk_pods = calloc(c->n_pods + 1, sizeof(unsigned));
	rp.rk_old = calloc(c->n_pods + 1, sizeof(int));
	if (!rp.no_room || !rp.on_node || !rp.node_first || !rp.cand || !rp.n_cand || !rp.failed || !rp.in_hood || !rp.free_pod || !rp.weight ||
	    !rp.res_w || !rp.in_fam || !rp.rk_fam || !rp.rk_cost || !rp.rk_pods || !rp.rk_old) {
		kerf_err_set(err, KERF_ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned m = 0; m < c->n_models; m++)
		for (unsigned q = 0; q < c->models[m].m->n_profiles; q++) {
			int r = c->models[m].res[q];
			unsigned w = c->models[m].m->profiles[q].compute_slices;

			if (r >= 0 && (rp.res_w[r] == 0 || w < rp.res_w[r]))
				rp.res_w[r] = w;
		}
	/* Steps 1 to 3 run as before the repack existed, until they place no more: what they reach is
	 * the plan without it, and each repack after that, and each sweep after a repack, places more
	 * (no priority fewer, by the repack's rule; lexicographically more, by the sweeps'), so the plan is
	 * never worse than without. The repacks have a budget of their own. */
	if (sweeps(&rp, 1, err) != 0)
		goto out;
	for (int placed = 1; placed;) {
		if (repack_sweep(&rp, &placed, err) != 0)
			goto out;
		if (placed && sweeps(&rp, 0, err) != 0)
			goto out;
	}
	rc = 0;
out:
	for (unsigned s = 0; rp.cand != NULL && s < c->n_sigs; s++)
		free(rp.cand[s]);
	free(rp.cand);
	free(rp.n_cand);
	free(rp.failed);
	free(rp.in_hood);
	free(rp.free_pod);
	free(rp.weight);
	free(rp.tried);
	free(rp.no_room);
	free(rp.on_node);
	free(rp.node_first);
	free(rp.res_w);
	free(rp.in_fam);
	free(rp.rk_fam);
	free(rp.rk_cost);
	free(rp.rk_pods);
	free(rp.rk_old);
	return rc;
}
