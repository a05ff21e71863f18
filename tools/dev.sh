#!/usr/bin/env bash
# mixq developer entry point: installs what is missing, builds, and runs one job.
#
#   tools/dev.sh demo    install, build, run mixq on the bundled sample
#   tools/dev.sh test    install, build (warnings as errors), run the whole test suite; then
#                        build it again with clang, AddressSanitizer + UBSan and the libFuzzer
#                        harnesses, and run the whole suite there too (docs/fuzzing.md)
#   tools/dev.sh bench   install, build, and time mixq against ONNX Runtime (docs/benchmarks.md)
#   tools/dev.sh build   install and build only
#
# Safe to run again: installed packages and an up-to-date build are reused. Runs apt-get as root
# (directly, or through sudo when not root). MIXQ_BUILD_DIR overrides the build folder;
# MIXQ_SANITIZE_BUILD_DIR the sanitizer build's (default: the build folder + "-sanitize").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${MIXQ_BUILD_DIR:-$ROOT/build}
JOBS=$(nproc)

# The product's dependencies are Debian packages only; the CUDA Toolkit at /usr/local/cuda is
# used when present (configure with -DMIXQ_CUDA=OFF to ignore it).
APT_PACKAGES=(
  cmake g++ ninja-build git clang-format python3 python3-venv
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

# The test suite's Python packages (ONNX Runtime as the oracle), pinned, in .venv.
setup_venv() {
  local venv="$ROOT/.venv" req="$ROOT/tests/requirements.txt"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  # Reinstall only when the requirements changed.
  local stamp="$venv/.requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
  fi
}

build() {
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMIXQ_WERROR=ON \
    -DMIXQ_PYTHON="$ROOT/.venv/bin/python"
  cmake --build "$BUILD" -j "$JOBS"
}

# The sanitizer build: clang, -fsanitize=address,undefined on every target (UBSan findings abort),
# libFuzzer coverage on the product and the fuzz harnesses (tests/fuzz), no CUDA (the stub device
# executor: nvcc with a clang host compiler under ASan is not worth it). -O2 with line tables
# keeps the suite's run time near the Release build's while reports still name file:line.
SANITIZE_BUILD=${MIXQ_SANITIZE_BUILD_DIR:-$BUILD-sanitize}
# Tests not run in the sanitizer build, each with its reason:
#   install_consumer_test  builds a nested find_package(mixq) consumer with its own flags against
#                          the installed archives; ASan-instrumented archives need the sanitizer
#                          runtime at that link, which an installed package must not impose
#                          (the Release run above covers it).
#   cuda_off_build_test    configures and builds a third, nested MIXQ_CUDA=OFF build; the
#                          sanitizer build is itself a MIXQ_CUDA=OFF build of everything.
# and tests that run one command many times over to check a property of its output files, which
# the Release run checks and which no sanitizer can see: every command they run is run here by
# other tests, and instrumented each run is about 30x slower (together they took 1,636 of the
# sanitizer suite's 3,853 test-seconds here; the CI run that had them took 3,682 s in all):
#   CliDeterminism.*       the same conversions at 1, 2, 3 and 5 threads and in several data
#                          layouts, compared byte for byte (ASan does not see races either);
#   CliAtomic.AnalyzeKilled*, CliAtomic.ConvertWithExternalDataKilled*
#                          analyze and convert SIGKILLed again and again, before each rename
#                          and at random moments (nothing of a killed process gets checked;
#                          CliAtomic.CalibrateKilled* stays, as the one kill loop run here);
#   ConvertOracle.*        every sample converted to every precision, then given to the ONNX
#                          checker and ONNX Runtime: the same conversions run here in
#                          CliConvert.EverySampleToEveryPrecisionWithinTheDocumentedBounds, and
#                          the oracles' verdict is on the files, not on mixq's instrumentation.
SANITIZE_EXCLUDE='^(install_consumer_test|cuda_off_build_test|CliDeterminism\..*|CliAtomic\.(AnalyzeKilled|ConvertWithExternalDataKilled).*|ConvertOracle\..*)$'

sanitize_build_and_test() {
  local start=$SECONDS
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$SANITIZE_BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG" \
    -DMIXQ_SANITIZE=address,undefined -DMIXQ_FUZZ=ON -DMIXQ_CUDA=OFF \
    -DMIXQ_PYTHON="$ROOT/.venv/bin/python"
  cmake --build "$SANITIZE_BUILD" -j "$JOBS"
  # Leaks fail a test like any other report; reports carry symbolized stacks. An allocation too
  # large to satisfy returns null as glibc's would (the hostile-input tests check that mixq
  # turns that into exit 2), instead of ASan aborting the process.
  ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer) \
    ctest --test-dir "$SANITIZE_BUILD" --output-on-failure -j "$JOBS" -E "$SANITIZE_EXCLUDE"
  echo "mixq: sanitizer build and test suite took $((SECONDS - start)) s"
}

case "${1:-}" in
  demo)
    install_deps
    build
    # The main job: the GPT sample with a format per layer (FP8, INT8 or FP16) chosen for a
    # perplexity budget of +1 %, calibrated on its calibration set, verified on its held-out
    # sequences against FP32, with the reports next to the model.
    mkdir -p "$BUILD/demo"
    "$BUILD/tools/mixq" convert "$ROOT/samples/tinygpt/model.onnx" --precision auto \
      --metric ppl --max-drop 1 \
      --data "$ROOT/samples/tinygpt/calib.npz" --eval "$ROOT/samples/tinygpt/eval.npz" \
      -o "$BUILD/demo/tinygpt_auto.onnx"
    ;;
  test)
    install_deps
    # Headless Chromium renders the HTML reports in tests/report (console errors fail them);
    # clang, its sanitizer and libFuzzer runtimes and llvm-symbolizer make the sanitizer build;
    # strace stops the converter just before each rename in tests/cli/cli_atomic_test.
    APT_PACKAGES=(chromium clang libclang-rt-14-dev llvm strace)
    install_deps
    setup_venv
    build
    ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
    sanitize_build_and_test
    ;;
  bench)
    install_deps
    # The benchmark models are exported with Debian's PyTorch (CPU) by the system Python.
    APT_PACKAGES=(python3-torch)
    install_deps
    setup_venv
    build
    models="$BUILD/bench/models"
    if [ ! -f "$models/gpt.onnx" ] || [ ! -f "$models/resnet.onnx" ]; then
      /usr/bin/python3 "$ROOT/tools/bench/make_models.py" "$models"
    fi
    "$ROOT/.venv/bin/python" "$ROOT/tools/bench/run.py" --mixq "$BUILD/tools/mixq" \
      --models "$models" --threads "${MIXQ_BENCH_THREADS:-$JOBS}" --out "$BUILD/bench/results.json"
    # Calibration against onnxruntime.quantization's calibrators (needs onnx as well).
    "$ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$ROOT/tools/bench/requirements.txt"
    for sample in tinygpt digits_cnn digits_mobile; do
      "$ROOT/.venv/bin/python" "$ROOT/tools/bench/calib_vs_ort.py" --mixq "$BUILD/tools/mixq" \
        --model "$ROOT/samples/$sample/model.onnx" --data "$ROOT/samples/$sample/calib.npz" \
        --threads "${MIXQ_BENCH_THREADS:-$JOBS}"
    done
    "$ROOT/.venv/bin/python" "$ROOT/tools/bench/calib_vs_ort.py" --mixq "$BUILD/tools/mixq" \
      --model "$ROOT/samples/digits_cnn/model.onnx" --data "$ROOT/samples/digits_cnn/calib.npz" \
      --repeat 100 --batch 32 --threads "${MIXQ_BENCH_THREADS:-$JOBS}"
    # GPU: GEMM throughput per format and the end-to-end wide-MLP benchmark (docs/gpu.md), when
    # this machine has a usable CUDA device.
    if "$BUILD/tools/mixq" --version | grep -q "devices:"; then
      "$BUILD/tests/gpu_gemm_bench" 4096 8192 16384
      "$ROOT/.venv/bin/python" "$ROOT/tools/bench/gpu_e2e.py" --mixq "$BUILD/tools/mixq" \
        --work "$BUILD/bench/gpu_e2e"
    else
      echo "mixq: no usable CUDA device here; GPU benchmarks skipped ($("$BUILD/tools/mixq" --version | tail -1))"
    fi
    # Calibration cost against a plain forward pass.
    for sample in tinygpt digits_cnn; do
      "$ROOT/.venv/bin/python" "$ROOT/tools/bench/calib_cost.py" --mixq "$BUILD/tools/mixq" \
        --model "$ROOT/samples/$sample/model.onnx" --data "$ROOT/samples/$sample/calib.npz" \
        --threads "${MIXQ_BENCH_THREADS:-$JOBS}"
    done
    ;;
  build)
    install_deps
    build
    ;;
  *)
    echo "usage: tools/dev.sh demo|test|bench|build" >&2
    exit 1
    ;;
esac
