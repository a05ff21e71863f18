# cmake -DHARNESS=... -DDIRS="dir1|dir2" -P replay.cmake
# Runs the harness once on every file in DIRS (libFuzzer runs file arguments and exits); fails
# when any of them crashes. An empty folder list is an error: it would replay nothing.
string(REPLACE "|" ";" dirs "${DIRS}")
set(inputs "")
foreach(d ${dirs})
  file(GLOB files ${d}/*)
  list(APPEND inputs ${files})
endforeach()
list(LENGTH inputs n)
if(n EQUAL 0)
  message(FATAL_ERROR "no inputs to replay in ${DIRS}")
endif()
message(STATUS "replaying ${n} inputs through ${HARNESS}")
execute_process(COMMAND ${HARNESS} -timeout=10 -rss_limit_mb=2048 ${inputs} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${HARNESS} failed (exit ${rc}) on one of: ${inputs}")
endif()
