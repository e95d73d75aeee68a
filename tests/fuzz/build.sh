#!/bin/sh
# Builds the libFuzzer targets with clang (meson's build uses gcc, which has no libFuzzer).
# Usage: tests/fuzz/build.sh OUTPUT_DIR    -> OUTPUT_DIR/fuzz_virtq
set -eu

out=${1:?usage: $0 OUTPUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC_FUZZ:-clang-14}

mkdir -p "$out"
"$cc" -std=c17 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$root/src" \
	"$root/tests/fuzz/fuzz_virtq.c" \
	"$root/src/virtio/queue.c" \
	"$root/src/base/guest_mem.c" \
	"$root/src/base/error.c" \
	-o "$out/fuzz_virtq"
echo "built $out/fuzz_virtq"
