# Shared by tests/bench/run and tests/bench/watch (sourced from the repository's root).

now() { date +%s.%N; }
# secs FROM TO: TO - FROM, two decimals (awk: bc is not among the fleet's packages).
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
# bench_spec NAME TAG PORT: examples/web.toml as DaemonSet NAME, image tag TAG, hostPort PORT.
bench_spec() {
  sed -e "s/^name = \"web\"/name = \"$1\"/" -e "s/app = \"web\"/app = \"$1\"/g" \
      -e "s|localhost/dsctl-test/web:1|localhost/dsctl-test/web:$2|" -e "s/hostPort = 8480/hostPort = $3/" examples/web.toml
}
