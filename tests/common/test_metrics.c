/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c — the registry's exposition text, byte for byte where Prometheus' format fixes it: HELP and
 * TYPE lines, label quoting and escaping, cumulative histogram buckets with +Inf, _sum and _count; and the
 * rules: a counter never goes down, a family name is taken once, a bad name is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_counters_gauges_and_labels_render_as_prometheus_reads_them(void **state)
{
	struct metrics *r = metrics_new();
	struct metric *c = metrics_counter(r, "kerf_requests_total", "API requests.", "verb,code");
	struct metric *g = metrics_gauge(r, "kerf_leader", "1 while this process leads.", NULL);
	char *text;

	(void)state;
	assert_non_null(c);
	metric_add(c, 1, "GET", "200");
	metric_add(c, 2, "GET", "200");
	metric_add(c, 1, "PATCH", "409");
	metric_add(c, -5, "GET", "200"); /* a counter never goes down */
	metric_set(g, 1);
	metric_add(NULL, 1, "x"); /* no registry: no-op */
	text = metrics_render(r);
	assert_non_null(text);
	assert_non_null(strstr(text, "# HELP kerf_requests_total API requests.\n# TYPE kerf_requests_total counter\n"
				     "kerf_requests_total{verb=\"GET\",code=\"200\"} 3\n"
				     "kerf_requests_total{verb=\"PATCH\",code=\"409\"} 1\n"));
	assert_non_null(strstr(text, "# TYPE kerf_leader gauge\nkerf_leader 1\n"));
	assert_non_null(strstr(text, "kerf_metrics_dropped_total 0\n"));
	free(text);
	metrics_free(r);
}

static void test_label_values_and_help_are_escaped(void **state)
{
	struct metrics *r = metrics_new();
	struct metric *c = metrics_counter(r, "kerf_x_total", "a \\ and a\nnewline", "reason");
	char *text;

	(void)state;
	metric_add(c, 1, "say \"hi\"\\\n");
	text = metrics_render(r);
	assert_non_null(strstr(text, "# HELP kerf_x_total a \\\\ and a\\nnewline\n"));
	assert_non_null(strstr(text, "kerf_x_total{reason=\"say \\\"hi\\\"\\\\\\n\"} 1\n"));
	free(text);
	metrics_free(r);
}

static void test_histograms_are_cumulative_with_inf_sum_and_count(void **state)
{
	static const double b[] = {0.1, 1, 10};
	struct metrics *r = metrics_new();
	struct metric *h = metrics_histogram(r, "kerf_round_duration_seconds", "Rounds.", NULL, b, 3);
	char *text;

	(void)state;
	metric_observe(h, 0.05);
	metric_observe(h, 0.5);
	metric_observe(h, 0.5);
	metric_observe(h, 50);
	text = metrics_render(r);
	assert_non_null(strstr(text, "# TYPE kerf_round_duration_seconds histogram\n"
				     "kerf_round_duration_seconds_bucket{le=\"0.1\"} 1\n"
				     "kerf_round_duration_seconds_bucket{le=\"1\"} 3\n"
				     "kerf_round_duration_seconds_bucket{le=\"10\"} 3\n"
				     "kerf_round_duration_seconds_bucket{le=\"+Inf\"} 4\n"
				     "kerf_round_duration_seconds_sum 51.05\n"
				     "kerf_round_duration_seconds_count 4\n"));
	free(text);
	metrics_free(r);
}

static void test_names_are_checked_and_families_shared(void **state)
{
	static const double b[] = {2, 1};
	struct metrics *r = metrics_new();
	struct metric *a = metrics_counter(r, "kerf_a_total", "A.", "x");

	(void)state;
	assert_ptr_equal(metrics_counter(r, "kerf_a_total", "A again.", "x"), a); /* same shape: shared */
	assert_null(metrics_gauge(r, "kerf_a_total", "A.", "x"));                /* another type */
	assert_null(metrics_counter(r, "kerf_a_total", "A.", "y"));              /* other labels */
	assert_null(metrics_counter(r, "9lives", "bad.", NULL));
	assert_null(metrics_counter(r, "kerf-dash", "bad.", NULL));
	assert_null(metrics_counter(r, "kerf_b_total", "bad label.", "a:b"));
	assert_null(metrics_counter(r, "kerf_c_total", "too many.", "a,b,c,d,e"));
	assert_null(metrics_histogram(r, "kerf_h", "unordered.", NULL, b, 2));
	metrics_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_gauges_and_labels_render_as_prometheus_reads_them),
		cmocka_unit_test(test_label_values_and_help_are_escaped),
		cmocka_unit_test(test_histograms_are_cumulative_with_inf_sum_and_count),
		cmocka_unit_test(test_names_are_checked_and_families_shared),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
