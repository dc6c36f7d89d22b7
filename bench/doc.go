// Package bench holds Tandem's end-to-end benchmarks: each builds its own lab,
// measures Tandem and, in the same run on the same lab, the baseline it is
// judged against, and reports both and their ratio with b.ReportMetric.
//
// They need root and network namespaces; outside CI they skip with the
// reason, in CI (CI=true) a missing capability fails them. Run them with
// `make bench`, or for instance:
//
//	go test ./bench -run '^$' -bench RxDrop -benchtime 2000000x -count 5
//
// CPU placement: the sender runs on CPU 0 and Tandem's worker on CPU 1. On a
// veth pair the receiver's XDP work and the copy into the UMEM happen in
// softirq on the sending CPU, so the sender's CPU bounds both the ceiling and
// our receive rate; docs/performance.md says this beside every figure.
package bench
