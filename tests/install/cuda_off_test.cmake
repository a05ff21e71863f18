# cmake -DSOURCE_DIR=... -DWORK_DIR=... [-DGENERATOR=...] -P cuda_off_test.cmake
# Configures mixq with -DMIXQ_CUDA=OFF and compiles the GPU layer: a machine without the CUDA
# Toolkit must be able to build mixq, and this checks that the no-CUDA code path compiles (warnings
# as errors) and references no CUDA symbol.
#
# Only lib/gpu's sources change with MIXQ_CUDA (nothing else reads MIXQ_HAVE_CUDA), so with Ninja
# only that layer's object files are compiled: the layers below it are the same objects the
# enclosing build already compiled, and compiling them again here took 7 of the Release suite's
# 9 minutes. Other generators cannot name one object file portably, so there the whole mixq_gpu
# target (the layers below included) is built as before. Linking with MIXQ_CUDA=OFF is covered by
# the sanitizer build of tools/dev.sh test, which is a MIXQ_CUDA=OFF build of every target.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUTPUT "${out}" PARENT_SCOPE)
endfunction()
file(REMOVE_RECURSE ${WORK_DIR})
set(generator_args)
if(GENERATOR)
  set(generator_args -G ${GENERATOR})
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR} ${generator_args} -DMIXQ_CUDA=OFF
    -DMIXQ_BUILD_TESTS=OFF -DMIXQ_WERROR=ON)
if(GENERATOR STREQUAL "Ninja")
  # The archive's inputs are the layer's objects; its order-only inputs (after "||") are the
  # layers below, which are left out.
  run(${CMAKE_COMMAND} --build ${WORK_DIR} -- -t query lib/gpu/libmixq_gpu.a)
  string(REGEX MATCHALL "lib/gpu/CMakeFiles/mixq_gpu\\.dir/[^\n ]+\\.o" objects "${LAST_OUTPUT}")
  if(NOT objects MATCHES "device_executor_stub")
    message(FATAL_ERROR "no stub device executor among mixq_gpu's objects:\n${LAST_OUTPUT}")
  endif()
  run(${CMAKE_COMMAND} --build ${WORK_DIR} -- ${objects})
  list(TRANSFORM objects PREPEND ${WORK_DIR}/)
else()
  run(${CMAKE_COMMAND} --build ${WORK_DIR} --target mixq_gpu)
  file(GLOB_RECURSE objects ${WORK_DIR}/lib/gpu/*.a)
endif()
if(NOT objects)
  message(FATAL_ERROR "the GPU layer was not built")
endif()
run(nm -C ${objects})
# nm heads each object's symbols with its path ("<path>.o:"), and the work folder's name has
# "cuda" in it: only the symbols are checked.
string(REGEX REPLACE "[^\n]*\\.o:\n" "" symbols "${LAST_OUTPUT}")
if(NOT symbols MATCHES "mixq")
  message(FATAL_ERROR "nm listed no mixq symbols in the GPU layer:\n${LAST_OUTPUT}")
endif()
if(symbols MATCHES "cuda")
  message(FATAL_ERROR "the MIXQ_CUDA=OFF build references CUDA symbols:\n${symbols}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
