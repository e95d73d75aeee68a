#!/bin/sh
# Builds the libFuzzer targets with clang (meson's build uses gcc, which has no libFuzzer).
# Usage: tests/fuzz/build.sh OUTPUT_DIR [TARGET...]   -> OUTPUT_DIR/fuzz_TARGET
#        TARGET: virtq, http (default: all of them)
set -eu

out=${1:?usage: $0 OUTPUT_DIR [virtq|http ...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC_FUZZ:-clang-14}
[ $# -gt 0 ] || set -- virtq http

build() {
	name=$1
	shift
	"$cc" -std=c17 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$root/src" \
		"$@" -o "$out/fuzz_$name"
	echo "built $out/fuzz_$name"
}

mkdir -p "$out"
for target in "$@"; do
	case $target in
	virtq)
		build virtq "$root/tests/fuzz/fuzz_virtq.c" \
			"$root/src/virtio/queue.c" \
			"$root/src/base/guest_mem.c" \
			"$root/src/base/error.c"
		;;
	http)
		# http-parser and json-c are not instrumented: the coverage is that of http_conn.c.
		build http "$root/tests/fuzz/fuzz_http.c" \
			"$root/src/api/http_conn.c" \
			-lhttp_parser $(pkg-config --libs json-c)
		;;
	*)
		echo "$0: unknown target '$target' (virtq, http)" >&2
		exit 2
		;;
	esac
done
