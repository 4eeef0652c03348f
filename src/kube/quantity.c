/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity.c — see kube_quantity.h.
 *
 * Exact integer arithmetic throughout: a quantity is a decimal mantissa (integer digits and fraction digits
 * read as one integer m and a count f of fraction digits) times a power of ten (decimal suffixes and
 * exponents) or of two (binary suffixes). Floating point would make "0.1" CPU 100.000000001 millicores, one
 * more than Kubernetes counts once rounded up.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "kube_quantity.h"

#define LIMIT INT64_MAX

/* m * 10^e for e >= 0, or m / 10^-e rounded up for e < 0; -1 past LIMIT. */
static int scale10(uint64_t m, int e, int64_t *out)
{
	for (; e > 0; e--) {
		if (m > (uint64_t)LIMIT / 10)
			return -1;
		m *= 10;
	}
	for (; e < 0; e++)
		m = m / 10 + (m % 10 != 0);
	if (m > (uint64_t)LIMIT)
		return -1;
	*out = (int64_t)m;
	return 0;
}

/* The suffix at s: sets *e10 (power of ten) or *e2 (power of two); -1 for an unknown one. */
static int suffix(const char *s, int *e10, int *e2)
{
	static const struct {
		const char *s;
		int e10, e2;
	} tab[] = {{"", 0, 0},   {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
		   {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0}, {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
		   {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60}};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(s, tab[i].s) == 0) {
			*e10 = tab[i].e10;
			*e2 = tab[i].e2;
			return 0;
		}
	if ((s[0] == 'e' || s[0] == 'E') && s[1] != '\0') { /* a decimal exponent: "1e3", "5E-2" */
		const char *p = s + 1;
		int sign = 1, e = 0;

		if (*p == '+' || *p == '-')
			sign = *p++ == '-' ? -1 : 1;
		if (*p == '\0')
			return -1;
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p) || e > 100)
				return -1;
			e = e * 10 + (*p - '0');
		}
		*e10 = sign * e;
		*e2 = 0;
		return 0;
	}
	return -1;
}

int kube_quantity_parse(const char *s, bool milli, int64_t *out)
{
	uint64_t m = 0;
	int f = 0, e10, e2, digits = 0;
	bool frac = false;

	if (s == NULL)
		return -1;
	if (*s == '+')
		s++;
	for (; isdigit((unsigned char)*s) || (*s == '.' && !frac); s++) {
		if (*s == '.') {
			frac = true;
			continue;
		}
		digits++;
		if (m > (UINT64_MAX - 9) / 10) /* a mantissa past 64 bits: refused, not rounded */
			return -1;
		m = m * 10 + (uint64_t)(*s - '0');
		f += frac;
	}
	if (digits == 0 || suffix(s, &e10, &e2) < 0)
		return -1;
	for (; e2 > 0; e2--) {
		if (m > (uint64_t)LIMIT / 2)
			return -1;
		m *= 2;
	}
	return scale10(m, e10 - f + (milli ? 3 : 0), out);
}

int64_t kube_resource_amount(const char *resource, const json_t *v)
{
	bool cpu = strcmp(resource, "cpu") == 0;
	int64_t n;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		return i < 0 || i > INT64_MAX / 1000 ? -1 : (int64_t)i * (cpu ? 1000 : 1);
	}
	if (kube_quantity_parse(json_string_value(v), cpu, &n) < 0)
		return -1;
	return n;
}
