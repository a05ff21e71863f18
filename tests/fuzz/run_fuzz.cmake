# cmake -DHARNESS=... -DCORPUS=... -DWORK=... [-DDICT=...] -DSECONDS=... -P run_fuzz.cmake
# Fuzzes for SECONDS on a copy of the seed corpus (new inputs and crash artifacts go under WORK,
# never into the source tree). Fails on any crash, sanitizer report, timeout or leak.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/artifacts)
file(COPY ${CORPUS}/ DESTINATION ${WORK}/corpus)
set(args ${WORK}/corpus -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048
  -max_len=65536 -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/)
if(DICT)
  list(APPEND args -dict=${DICT})
endif()
execute_process(COMMAND ${HARNESS} ${args} RESULT_VARIABLE rc)
file(GLOB found ${WORK}/artifacts/*)
if(NOT rc EQUAL 0 OR found)
  message(FATAL_ERROR "${HARNESS} failed (exit ${rc}); inputs that fail: ${found}\n"
    "Reproduce with: ${HARNESS} <input>; once fixed, add the input to tests/fuzz/regressions/.")
endif()
