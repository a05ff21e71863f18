# cmake -DHARNESS=... -DCORPUS=... -DWORK=... [-DDICT=...] -DSECONDS=... [-DSEED=...] -P run_fuzz.cmake
# Fuzzes for SECONDS on a copy of the seed corpus (new inputs and crash artifacts go under WORK,
# never into the source tree). Fails on any crash, sanitizer report, timeout or leak.
#
# SEED (MIXQ_FUZZ_SEED) fixes libFuzzer's random seed, so that a failing run is repeated by the
# same command on the same binary; 0 lets libFuzzer draw one (it prints it as "INFO: Seed:").
#
# libFuzzer ends a run on one input after -timeout=10 s itself. If the process stops making
# progress some other way, the run is stopped SECONDS + 120 s after it started, and that is a
# failure that says so, instead of CTest's timeout with nothing said.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/artifacts)
file(COPY ${CORPUS}/ DESTINATION ${WORK}/corpus)
set(args ${WORK}/corpus -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048
  -max_len=65536 -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/)
if(DICT)
  list(APPEND args -dict=${DICT})
endif()
if(SEED)
  list(APPEND args -seed=${SEED})
endif()
math(EXPR limit "${SECONDS} + 120")
execute_process(COMMAND ${HARNESS} ${args} RESULT_VARIABLE rc TIMEOUT ${limit})
file(GLOB found ${WORK}/artifacts/*)
if(NOT rc MATCHES "^[0-9]+$")
  list(JOIN args " " shown)
  message(FATAL_ERROR "${HARNESS} was stopped after ${limit} s (${rc}): it fuzzes for ${SECONDS} s, "
    "and libFuzzer's own -timeout=10 did not end the hang. Inputs that fail: ${found}\n"
    "Reproduce with: ${HARNESS} ${shown}")
endif()
if(NOT rc EQUAL 0 OR found)
  message(FATAL_ERROR "${HARNESS} failed (exit ${rc}); inputs that fail: ${found}\n"
    "Reproduce with: ${HARNESS} <input>; once fixed, add the input to tests/fuzz/regressions/.")
endif()
