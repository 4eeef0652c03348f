# Makes scenarios/sample-trace.csv, kerf's own sample trace (no outside data): about five days of a shared
# 16-GPU H100 cluster (4x4xH100-80GB-SXM), 1500 pods of three kinds:
#   notebooks   45 %  a memory need of 4..18 GB (-> 1g.10gb or 1g.20gb), 30..120 min
#   inference   30 %  2g.20gb or 3g.40gb by name, 1..4 h
#   training    25 %  a memory need of 30..80 GB (-> 3g.40gb or 7g.80gb), 1..4 h, 30 % at priority 100
# Arrivals are Poisson, a mean 300 s apart (about five days); about two thirds of the compute slices end up in use.
# Park-Miller's generator keeps the output identical under any awk (mawk, gawk, busybox):
#     awk -f scenarios/make-sample-trace.awk > scenarios/sample-trace.csv
function u() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
BEGIN {
	seed = 20261125
	t = 0
	print "# kerf sample trace, made by scenarios/make-sample-trace.awk (see its header)"
	print "arrival_s,duration_s,demand,priority"
	for (i = 0; i < 1500; i++) {
		t += -log(u()) * 300
		k = u()
		prio = 0
		if (k < 0.45) {
			demand = sprintf("%dgb", 4 + int(u() * 15))
			dur = 1800 + u() * 5400
		} else if (k < 0.75) {
			demand = u() < 0.6 ? "2g.20gb" : "3g.40gb"
			dur = 3600 + u() * 10800
		} else {
			demand = sprintf("%dgb", 30 + int(u() * 51))
			dur = 3600 * (1 + u() * 3)
			if (u() < 0.3)
				prio = 100
		}
		printf "%.1f,%.0f,%s,%d\n", t, dur, demand, prio
	}
}
