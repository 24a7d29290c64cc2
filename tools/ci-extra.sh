#!/usr/bin/env bash
# tools/ci-extra.sh - the second CI pass (issue 6): the whole test suite
# again under AddressSanitizer + UndefinedBehaviorSanitizer, the
# concurrency tests under ThreadSanitizer, and the libFuzzer targets.
#
#   tools/ci-extra.sh [asan] [tsan] [fuzz]     (no argument: all three)
#
#   asan  gcc, -DTOPICFS_SANITIZE=ON in build-asan, every CTest test (unit,
#         integration with the instrumented daemon, faults, kill -9 loop)
#   tsan  gcc, -DTOPICFS_TSAN=ON in build-tsan, every test but unit.faults
#         (its workload is single-threaded and forks; 200 s under TSan) and
#         integration.test_net_mirror (librdkafka, see run_tsan):
#         concurrent appends, the maintenance thread, the server thread and
#         its append hook, FUSE threads, all with the real daemon
#   fuzz  clang, -DTOPICFS_FUZZ=ON in build-fuzz, each libFuzzer target for
#         TOPICFS_FUZZ_SECONDS (default 20) from tests/fuzz/corpus
#
# Any sanitizer report fails the run: halt_on_error everywhere, UBSan is
# built with -fno-sanitize-recover, LeakSanitizer is on, and every report
# is also written under <build>/sanitizer-logs (a report in a daemon that a
# test did not notice still fails the pass).  Exit status: 0 when clean.
#
# Environment: TOPICFS_CI_BUILD_ROOT (default: the checkout) holds the
# build-* directories; JOBS (default: nproc); TOPICFS_FUZZ_SECONDS;
# TOPICFS_TIME_SCALE (default 5 for asan, 10 for tsan) multiplies the
# tests' timeouts and time bounds (tests/integration/harness.py scaled(),
# tests/unit/testutil.h tu_time_scale()): the instrumented builds run 3-10
# times slower, on a machine the parallel tests load.
# Long runs by hand: TOPICFS_FUZZ_SECONDS=3600 tools/ci-extra.sh fuzz;
# TOPICFS_KILL9_ROUNDS=200 and TOPICFS_FAULT_SCALE=20 work here too.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
ROOT=${TOPICFS_CI_BUILD_ROOT:-$SRC}
JOBS=${JOBS:-$(nproc)}
export TOPICFS_FUZZ_SECONDS=${TOPICFS_FUZZ_SECONDS:-20}

# a TOPICFS_TIME_SCALE given by the caller wins over the per-pass defaults
TIME_SCALE_SET=${TOPICFS_TIME_SCALE:-}

passes=("$@")
[ ${#passes[@]} -eq 0 ] && passes=(asan tsan fuzz)

say() { printf 'ci-extra: %s\n' "$*" >&2; }

# Fail when a sanitizer wrote a report file.
check_logs() {
	local dir=$1 found=0 f
	for f in "$dir"/*; do
		[ -e "$f" ] || continue
		found=1
		say "sanitizer report: $f"
		head -60 "$f" >&2
	done
	return $found
}

configure_build() {
	local dir=$1; shift
	cmake -S "$SRC" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
}

run_asan() {
	local b=$ROOT/build-asan logs
	logs=$b/sanitizer-logs
	say "asan: build in $b"
	configure_build "$b" -DTOPICFS_SANITIZE=ON
	cmake --build "$b" -j"$JOBS"
	rm -rf "$logs"
	mkdir -p "$logs"
	export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:exitcode=86:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$logs/asan"
	export LSAN_OPTIONS="exitcode=86:log_path=$logs/lsan"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$logs/ubsan"
	export TOPICFS_TIME_SCALE=${TIME_SCALE_SET:-5}
	local rc=0
	(cd "$b" && ctest --output-on-failure --timeout 1200 -j"$JOBS") || rc=1
	check_logs "$logs" || rc=1
	unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS TOPICFS_TIME_SCALE
	return $rc
}

run_tsan() {
	local b=$ROOT/build-tsan logs
	logs=$b/sanitizer-logs
	say "tsan: build in $b"
	configure_build "$b" -DTOPICFS_TSAN=ON
	cmake --build "$b" -j"$JOBS"
	rm -rf "$logs"
	mkdir -p "$logs"
	export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:log_path=$logs/tsan"
	export TOPICFS_TIME_SCALE=${TIME_SCALE_SET:-10}
	local rc=0
	# integration.test_net_mirror is left to the plain and ASan passes: the
	# mirror runs librdkafka (not instrumented, with its own atomics) in the
	# daemon, and TSan's report on memory librdkafka frees crashes TSan's
	# own unwinder (SIGSEGV in VarSizeStackTrace::Init, also with
	# ignore_noninstrumented_modules and called_from_lib suppressions)
	(cd "$b" && ctest --output-on-failure --timeout 1200 -j"$JOBS" \
		-E '^(unit\.faults|integration\.test_net_mirror)$') || rc=1
	check_logs "$logs" || rc=1
	unset TSAN_OPTIONS TOPICFS_TIME_SCALE
	return $rc
}

run_fuzz() {
	local b=$ROOT/build-fuzz
	if ! command -v clang >/dev/null; then
		say "fuzz: clang is not installed"
		return 1
	fi
	say "fuzz: build in $b (clang, ${TOPICFS_FUZZ_SECONDS}s per target)"
	CC=clang configure_build "$b" -DTOPICFS_FUZZ=ON \
		-DTOPICFS_FUZZ_SECONDS="$TOPICFS_FUZZ_SECONDS"
	cmake --build "$b" -j"$JOBS" --target fuzz_all
	(cd "$b" && ctest --output-on-failure -L fuzz -j"$JOBS")
}

status=0
for p in "${passes[@]}"; do
	start=$(date +%s)
	case $p in
	asan) run_asan || status=1 ;;
	tsan) run_tsan || status=1 ;;
	fuzz) run_fuzz || status=1 ;;
	*) say "unknown pass $p (asan, tsan, fuzz)"; exit 2 ;;
	esac
	say "$p: $(( $(date +%s) - start ))s"
done
[ $status -eq 0 ] && say "all passes clean" || say "FAILED"
exit $status
