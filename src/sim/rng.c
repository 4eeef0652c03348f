/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rng.c — the simulator's random numbers: splitmix64 (Steele, Lea, Flood 2014), chosen because it is a
 * few lines, passes BigCrush, and gives the same sequence on every platform, which libc's rand() does not.
 */
#include <math.h>

#include "internal.h"

void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

double sim_rng_unit(struct sim_rng *r)
{
	/* 53 random bits, offset by half a step so that 0 and 1 never come out (log() below needs that). */
	return ((double)(sim_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double sim_rng_normal(struct sim_rng *r)
{
	/* Box–Muller; one of the pair is thrown away so that each call consumes a fixed amount of the stream. */
	double u = sim_rng_unit(r), v = sim_rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

unsigned sim_rng_below(struct sim_rng *r, unsigned n)
{
	return n == 0 ? 0 : (unsigned)(sim_rng_next(r) % n);
}
