#!/usr/bin/env bash
# mixq developer entry point: installs what is missing, builds, and runs one job.
#
#   tools/dev.sh demo    install, build, run mixq on the bundled sample
#   tools/dev.sh test    install, build (warnings as errors), run the whole test suite
#   tools/dev.sh build   install and build only
#
# Safe to run again: installed packages and an up-to-date build are reused. Runs apt-get as root
# (directly, or through sudo when not root). MIXQ_BUILD_DIR overrides the build folder.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MIXQ_BUILD_DIR:-$ROOT/build}
JOBS=$(nproc)

# The product's dependencies are Debian packages only; the CUDA Toolkit at /usr/local/cuda is
# used when present (configure with -DMIXQ_CUDA=OFF to ignore it).
APT_PACKAGES=(
  cmake g++ ninja-build git clang-format
  libonnx-dev libprotobuf-dev protobuf-compiler libeigen3-dev libcli11-dev libgtest-dev
  nlohmann-json3-dev zlib1g-dev libonnx-testdata
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_deps() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "mixq: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
  fi
}

build() {
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMIXQ_WERROR=ON
  cmake --build "$BUILD" -j "$JOBS"
}

case "${1:-}" in
  demo)
    install_deps
    build
    "$BUILD/tools/mixq" inspect "$ROOT/samples/mlp_tiny/model.onnx"
    ;;
  test)
    install_deps
    build
    ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
    ;;
  build)
    install_deps
    build
    ;;
  *)
    echo "usage: tools/dev.sh demo|test|build" >&2
    exit 1
    ;;
esac
