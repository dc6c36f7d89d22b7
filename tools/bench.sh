#!/usr/bin/env bash
# `make bench`: run the benchmarks BENCHCOUNT times and print the medians
# with benchstat. Raw results stay in out/bench.txt for later comparison
# (benchstat old.txt new.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
bench="${BENCH:-.}"
count="${BENCHCOUNT:-5}"
go test -run '^$' -bench "$bench" -count "$count" -timeout 60m -p 1 ./... | tee out/bench.txt
echo
"$(go env GOPATH)/bin/benchstat" out/bench.txt
