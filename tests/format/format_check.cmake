# cmake -DSOURCE_DIR=... -DCLANG_FORMAT=... -P format_check.cmake
# Fails when any C++ source differs from what clang-format (.clang-format) would write.
file(GLOB_RECURSE files
  ${SOURCE_DIR}/lib/*.h ${SOURCE_DIR}/lib/*.cc ${SOURCE_DIR}/lib/*.cu ${SOURCE_DIR}/lib/*.cuh
  ${SOURCE_DIR}/tools/*.h ${SOURCE_DIR}/tools/*.cc
  ${SOURCE_DIR}/calibration/*.h ${SOURCE_DIR}/calibration/*.cc
  ${SOURCE_DIR}/tests/*.h ${SOURCE_DIR}/tests/*.cc ${SOURCE_DIR}/samples/*.cc)
list(LENGTH files count)
if(count LESS 10)
  message(FATAL_ERROR "format check found only ${count} files under ${SOURCE_DIR}")
endif()
execute_process(COMMAND ${CLANG_FORMAT} --dry-run -Werror ${files}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "clang-format would change these files (run clang-format -i):\n${err}")
endif()
message(STATUS "${count} files formatted")
