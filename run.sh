#!/usr/bin/env bash
# mvq's two entry points, on a fresh Debian bookworm machine:
#   ./run.sh demo   install what is missing, build (release), run the main job (mvq report)
#   ./run.sh test   the same set-up, then every test: release build, asan build, fuzzers
# Both are idempotent: installed packages and built trees are reused.
#
# Environment: MVQ_JOBS (build jobs, default: number of cores), MVQ_FUZZ_SECONDS (per fuzz target, default 30),
# MVQ_MODELS_DIR (shared pretrained weights, default ../shared/models).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

readonly PACKAGES=(
  cmake ninja-build g++ ccache
  libxsimd-dev libexpected-dev nlohmann-json3-dev libcli11-dev                   # the library and its CLI
  catch2 libbenchmark-dev python3-numpy                                         # tests and benchmarks
  clang-14 libclang-rt-14-dev                                                   # libFuzzer targets
  libopenblas-dev libeigen3-dev libfaiss-dev                                    # benchmark peers
)
JOBS=${MVQ_JOBS:-$(nproc)}
FUZZ_SECONDS=${MVQ_FUZZ_SECONDS:-30}
export MVQ_MODELS_DIR=${MVQ_MODELS_DIR:-$(cd .. && pwd)/shared/models}
# ccache keys relative to the checkout, so a second clone of the same sources reuses the cache
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

say() { printf '\n== %s\n' "$*"; }

ensure_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: these Debian packages are missing: ${missing[*]}" >&2
    echo "run.sh: install them as root with:" >&2
    echo "  $line" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure (once) and build a preset; extra arguments are build targets
build() {
  local preset=$1; shift
  if [ ! -f "build/$preset/CMakeCache.txt" ]; then
    say "configuring $preset"
    cmake --preset "$preset" -DMVQ_MODELS_DIR="$MVQ_MODELS_DIR" >/dev/null
  fi
  say "building $preset"
  if [ $# -gt 0 ]; then
    cmake --build --preset "$preset" -j "$JOBS" --target "$@"
  else
    cmake --build --preset "$preset" -j "$JOBS"
  fi
}

passed=0 failed=0 skipped=0
run_ctest() {
  local preset=$1 log
  log=$(mktemp)
  say "ctest $preset"
  set +e
  ctest --preset "$preset" -j "$JOBS" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local line total bad skip
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1 || true)
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  skip=$(grep -c '\*\*\*Skipped' "$log" || true)
  rm -f "$log"
  if [ -z "$line" ]; then failed=$((failed + 1)); return 0; fi
  passed=$((passed + total - bad - skip)); failed=$((failed + bad)); skipped=$((skipped + skip))
  [ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || failed=$((failed + 1))
}

run_fuzzers() {
  build fuzz
  local corpus
  for f in build/fuzz/tests/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    local name=${f##*/}
    corpus=$(mktemp -d)
    say "fuzzing ${name} for ${FUZZ_SECONDS} s"
    # new inputs go to the scratch folder; the committed seed corpus is read only
    if "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -rss_limit_mb=2048 \
         "$corpus" "tests/fuzz/corpus/${name#fuzz_}" 2>"$corpus.log"; then
      grep -E 'stat::number_of_executed_units' "$corpus.log" || true
      passed=$((passed + 1))
    else
      tail -n 40 "$corpus.log"; failed=$((failed + 1))
    fi
    rm -rf "$corpus" "$corpus.log"
  done
}

case "${1:-}" in
  demo)
    ensure_packages
    build release mvq_cli
    say "mvq report: ResNet-18 on a 64x64 array, MVQ-compressed weights, five designs side by side"
    shift
    build/release/examples/mvq_cli/mvq report -o build/demo --json "$@"
    echo "report.json and energy_breakdown.svg are in build/demo/"
    ;;
  test)
    ensure_packages
    build release
    run_ctest release
    build asan
    run_ctest asan
    run_fuzzers
    say "summary (release + asan ctest, fuzz targets)"
    echo "${passed} passed, ${failed} failed, ${skipped} skipped"
    [ "$failed" -eq 0 ]
    ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh test" >&2
    exit 2
    ;;
esac
