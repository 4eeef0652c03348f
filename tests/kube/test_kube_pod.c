/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_pod.c — what a Pod asks for, read as Kubernetes reads it (no server needed): resource quantities
 * (kube_quantity.h) and a pod's effective requests (kube_pod.h), with the cases Kubernetes' own tests pin
 * down: rounding up, binary and decimal suffixes, exponents, init containers, sidecars, overhead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube_pod.h"
#include "kube_quantity.h"

static int64_t q(const char *s, bool milli)
{
	int64_t v = -7;

	if (kube_quantity_parse(s, milli, &v) < 0)
		return -1;
	return v;
}

static void test_quantities_are_whole_numbers_rounded_up(void **state)
{
	(void)state;
	assert_int_equal(q("500m", true), 500);
	assert_int_equal(q("0.1", true), 100); /* exact: floating point would round 100.000...1 up to 101 */
	assert_int_equal(q("2", true), 2000);
	assert_int_equal(q("1.5", true), 1500);
	assert_int_equal(q("1u", true), 1); /* 0.001 millicores, rounded up */
	assert_int_equal(q("100n", false), 1);
	assert_int_equal(q("1Gi", false), 1073741824);
	assert_int_equal(q("1.5Gi", false), 1610612736);
	assert_int_equal(q("512Mi", false), 536870912);
	assert_int_equal(q("1G", false), 1000000000);
	assert_int_equal(q("1e9", false), 1000000000);
	assert_int_equal(q("5E-1", false), 1);
	assert_int_equal(q("128974848", false), 128974848);
	assert_int_equal(q("129e6", false), 129000000);
	assert_int_equal(q("123Mi", false), 128974848);
	assert_int_equal(q("+3k", false), 3000);
	assert_int_equal(q("8Ei", false), -1); /* past INT64_MAX */
	assert_int_equal(q("-1", false), -1);
	assert_int_equal(q("", false), -1);
	assert_int_equal(q("Gi", false), -1);
	assert_int_equal(q("1GB", false), -1);
	assert_int_equal(q("1.2.3", false), -1);
	assert_int_equal(q("1e", false), -1);
	assert_int_equal(q("99999999999999999999999", false), -1);
	assert_int_equal(kube_quantity_parse(NULL, false, &(int64_t){0}), -1);
}

static json_t *spec(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (v == NULL)
		fail_msg("%s", jerr.text);
	return v;
}

static json_int_t amount(const json_t *req, const char *resource)
{
	return json_integer_value(json_object_get(req, resource));
}

/*
 * The effective request: per resource, the larger of the app containers' sum plus the sidecars', and each
 * ordinary init container's own plus the sidecars before it; then the overhead. A request wins over its
 * limit, a limit alone counts as the request, MIG resources are not in it.
 */
static void test_pod_requests_follow_the_effective_request_rule(void **state)
{
	json_t *s = spec("{\"initContainers\":["
			 "{\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}},"
			 "{\"resources\":{\"requests\":{\"cpu\":\"3\",\"memory\":\"1Gi\"}}}],"
			 "\"containers\":["
			 "{\"resources\":{\"requests\":{\"cpu\":\"500m\"},\"limits\":{\"cpu\":\"4\",\"memory\":\"2Gi\","
			 "\"nvidia.com/mig-1g.10gb\":\"1\"}}},"
			 "{\"resources\":{\"limits\":{\"example.com/foo\":\"2\"}}}],"
			 "\"overhead\":{\"cpu\":\"250m\"}}");
	json_t *r = kube_pod_requests(s);

	(void)state;
	assert_non_null(r);
	/* cpu: init 3000 + sidecar 100 = 3100 beats app 500 + sidecar 100; plus overhead 250 */
	assert_int_equal(amount(r, "cpu"), 3350);
	/* memory: app 2Gi (limit only) + sidecar 64Mi beats init 1Gi + 64Mi */
	assert_int_equal(amount(r, "memory"), 2147483648 + 67108864);
	assert_int_equal(amount(r, "example.com/foo"), 2);
	assert_null(json_object_get(r, "nvidia.com/mig-1g.10gb"));
	json_decref(r);
	json_decref(s);

	s = spec("{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"lots\"}}}]}");
	r = kube_pod_requests(s);
	assert_int_equal(json_object_size(r), 0); /* not a quantity: left out */
	json_decref(r);
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantities_are_whole_numbers_rounded_up),
		cmocka_unit_test(test_pod_requests_follow_the_effective_request_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
