#!/usr/bin/env bash
# tools/dev.sh - install, build, run and test topicfs on Debian bookworm.
#
#   tools/dev.sh deps    install the Debian packages topicfs needs (root)
#   tools/dev.sh build   configure and build into ./build
#   tools/dev.sh run     deps + build + mount topicfs on /mnt/topics
#                        (data in /var/lib/topicfs, TCP on 127.0.0.1:9092)
#   tools/dev.sh test    deps + build + the whole test suite (CTest), then again
#                        under ASan+UBSan and TSan, and brief fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config fuse3 libfuse3-dev libzstd-dev
          liblz4-dev libinih-dev zlib1g-dev python3 python3-kafka kcat attr
          clang libclang-rt-14-dev procps psmisc groff-base man-db)

deps() {
	if [ "$(id -u)" != 0 ]; then
		echo "dev.sh: installing packages needs root (try: sudo $0 $*)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y "${PACKAGES[@]}"
}

build() {
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
	cmake --build build -j"$(nproc)"
}

case "${1:-}" in
deps) deps ;;
build) shift; build "$@" ;;
run)
	deps
	build
	mkdir -p /mnt/topics /var/lib/topicfs
	echo "dev.sh: mounting topicfs on /mnt/topics (data /var/lib/topicfs, TCP 127.0.0.1:9092); Ctrl-C unmounts"
	exec ./build/daemon/topicfs -f
	;;
test)
	deps
	build
	(cd build && ctest --output-on-failure --timeout 900 -j2)
	# The second pass: the suite again under ASan+UBSan and TSan, and
	# each libFuzzer target briefly (see tools/ci-extra.sh).
	tools/ci-extra.sh
	;;
*)
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
