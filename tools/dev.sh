#!/usr/bin/env bash
# tools/dev.sh - install, build, run and test topicfs on Debian bookworm.
#
#   tools/dev.sh deps     install the Debian packages topicfs needs that are
#                         missing (root only when something is missing), and
#                         the npm test clients pinned in tests/clients
#   tools/dev.sh build [CMAKE_ARGS...]
#                         configure and build into $BUILD_DIR
#   tools/dev.sh quick    build + the unit tests only (ctest -L unit): the
#                         fast loop; no apt, no root
#   tools/dev.sh unit NAME [CASE...]
#                         build, then run one unit test binary (NAME: engine,
#                         net, batch, faults, config, view), only the named
#                         cases if any (function names, "test_" optional, or
#                         patterns: tools/dev.sh unit engine 'recover_*');
#                         an unknown case fails; --list lists them
#   tools/dev.sh run      deps + build + mount topicfs on /mnt/topics
#                         (data in /var/lib/topicfs, TCP on 127.0.0.1:9092)
#   tools/dev.sh test     what CI runs (.ci/run): deps + build + the whole
#                         test suite (CTest), then again under ASan+UBSan and
#                         TSan, and brief fuzzing (tools/ci-extra.sh); "ci"
#                         is the same
#
# Environment: BUILD_DIR (default: build, relative to the checkout) is the
# build directory of build, quick, unit, run and test; JOBS (default: nproc)
# the parallel jobs.  Use your own BUILD_DIR (e.g. BUILD_DIR=build-dev) when
# others share the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

PACKAGES=(build-essential cmake pkg-config fuse3 libfuse3-dev libzstd-dev
          liblz4-dev libinih-dev zlib1g-dev libsnappy-dev libssl-dev python3 python3-kafka
          librdkafka-dev python3-snappy python3-lz4 python3-zstandard python3-confluent-kafka
          kcat attr openssl
          clang libclang-rt-14-dev procps psmisc groff-base man-db)

say() { printf 'dev.sh: %s\n' "$*" >&2; }

usage() {
	# the comment block at the top of this file, up to "set -euo"
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

# The packages of PACKAGES that dpkg does not list as installed.
missing_packages() {
	local p status
	for p in "${PACKAGES[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || printf '%s\n' "$p"
	done
}

# The npm clients of the integration tests (kafkajs, @platformatic/kafka),
# pinned in tests/clients/package-lock.json, installed with npm ci into
# tests/clients/node_modules when missing or when the lock file changed.
npm_deps() {
	local dir=tests/clients stamp=tests/clients/node_modules/.topicfs-lock-sha256 want
	if ! command -v npm >/dev/null; then
		say "npm not found: the JavaScript client tests need node and npm"
		exit 1
	fi
	want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return 0
	fi
	say "installing the npm test clients (npm ci in $dir)"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$want" > "$stamp"
}

deps() {
	debian_deps
	npm_deps
}

debian_deps() {
	if ! command -v dpkg-query >/dev/null; then
		say "dpkg-query not found: deps works on Debian only; install by hand: ${PACKAGES[*]}"
		exit 1
	fi
	local missing
	mapfile -t missing < <(missing_packages)
	if [ ${#missing[@]} -eq 0 ]; then
		say "all ${#PACKAGES[@]} Debian packages present"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		say "missing Debian packages: ${missing[*]}"
		say "installing them needs root (try: sudo $0 deps)"
		exit 1
	fi
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y "${missing[@]}"
}

build() {
	cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
	cmake --build "$BUILD_DIR" -j"$JOBS"
}

# Configure only when $BUILD_DIR is not configured yet (cmake --build
# re-runs cmake by itself when a CMakeLists.txt changed); then build.
build_quiet() {
	if ! command -v cmake >/dev/null; then
		say "cmake is not installed: run sudo $0 deps"
		exit 1
	fi
	if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
		cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	cmake --build "$BUILD_DIR" -j"$JOBS" | { grep -Ev '^\[ *[0-9]+%\] (Built target|Building|Linking)|^Consolidate compiler' || true; }
}

# The unit test binaries built in $BUILD_DIR: engine net ...
unit_names() {
	local f
	for f in "$BUILD_DIR"/tests/unit/test_*; do
		[ -x "$f" ] && [ -f "$f" ] && printf '%s ' "${f##*/test_}"
	done
}

unit() {
	local name=${1:-}
	if [ -z "$name" ]; then
		say "usage: $0 unit NAME [CASE...]   (NAME: $(unit_names))"
		exit 2
	fi
	shift
	name=${name#unit.}
	name=${name#test_}
	build_quiet
	local bin=$BUILD_DIR/tests/unit/test_$name
	if [ ! -x "$bin" ]; then
		say "no unit test $name (have: $(unit_names))"
		exit 2
	fi
	# the environment CTest gives the unit tests (tests/unit/CMakeLists.txt)
	local testdata
	testdata=$(sed -n 's/^TOPICFS_TESTDATA:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
	local abs_build
	abs_build=$(cd "$BUILD_DIR" && pwd)
	say "running: (cd $BUILD_DIR/tests/unit && TOPICFS_TESTDATA=$testdata TOPICFS_TOOLS=$abs_build/tools ./test_$name${*:+ $*})"
	cd "$BUILD_DIR/tests/unit"
	TOPICFS_TESTDATA=$testdata TOPICFS_TOOLS=$abs_build/tools exec "./test_$name" "$@"
}

case "${1:-}" in
deps) deps ;;
build) shift; build "$@" ;;
quick)
	start=$(date +%s)
	build_quiet
	rc=0
	(cd "$BUILD_DIR" && ctest -L unit --output-on-failure -j"$JOBS") || rc=$?
	say "quick: $(( $(date +%s) - start ))s"
	exit $rc
	;;
unit) shift; unit "$@" ;;
run)
	deps
	build
	mkdir -p /mnt/topics /var/lib/topicfs
	say "mounting topicfs on /mnt/topics (data /var/lib/topicfs, TCP 127.0.0.1:9092); Ctrl-C unmounts"
	exec "$BUILD_DIR/daemon/topicfs" -f
	;;
test|ci)
	deps
	build
	(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 900 -j2)
	# The second pass: the suite again under ASan+UBSan and TSan, and
	# each libFuzzer target briefly (see tools/ci-extra.sh).
	tools/ci-extra.sh
	;;
*)
	usage
	exit 2
	;;
esac
