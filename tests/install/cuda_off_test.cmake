# cmake -DSOURCE_DIR=... -DWORK_DIR=... -P cuda_off_test.cmake
# Configures mixq with -DMIXQ_CUDA=OFF and builds the GPU layer: a machine without the CUDA
# Toolkit must be able to build mixq, and this checks the no-CUDA code path compiles and links
# without CUDA symbols.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUTPUT "${out}" PARENT_SCOPE)
endfunction()
file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR} -DMIXQ_CUDA=OFF -DMIXQ_BUILD_TESTS=OFF
    -DMIXQ_WERROR=ON)
run(${CMAKE_COMMAND} --build ${WORK_DIR} --target mixq_gpu)
file(GLOB_RECURSE libs ${WORK_DIR}/lib/gpu/*.a)
if(NOT libs)
  message(FATAL_ERROR "libmixq_gpu.a was not built")
endif()
run(nm -C ${libs})
if(LAST_OUTPUT MATCHES "cuda")
  message(FATAL_ERROR "the MIXQ_CUDA=OFF build references CUDA symbols:\n${LAST_OUTPUT}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
