# Project-wide build helpers: warnings, sanitizers, and the add_* wrappers every folder uses.
include_guard(GLOBAL)

# One interface target carries the warning flags; every project target links it.
# -Wnull-dereference is left out: GCC 12 reports false positives inside libstdc++'s std::variant at -O2.
add_library(portcullis_warnings INTERFACE)
target_compile_options(portcullis_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2
  $<$<BOOL:${PORTCULLIS_WERROR}>:-Werror>)

if(PORTCULLIS_SANITIZE)
  add_compile_options(-fsanitize=${PORTCULLIS_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  # GCC documents that -fsanitize=address makes -Wmaybe-uninitialized report false positives (seen
  # in libstdc++'s std::optional<std::variant<...>> at -O2); plain builds keep the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(portcullis_warnings INTERFACE -Wno-maybe-uninitialized)
  endif()
  add_link_options(-fsanitize=${PORTCULLIS_SANITIZE})
endif()

set(PORTCULLIS_LIBFUZZER OFF)
if(PORTCULLIS_FUZZ)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(PORTCULLIS_LIBFUZZER ON)
  else()
    message(WARNING "PORTCULLIS_FUZZ needs clang; fuzz targets fall back to corpus replay")
  endif()
endif()

# portcullis_add_library(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A static library whose include root is the repository root, so includes read
# "controller/sip/message/sip_message.h" and the layer of every header is visible.
function(portcullis_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS} portcullis_warnings)
endfunction()

# portcullis_add_executable(NAME SOURCES ... [DEPS ...])
function(portcullis_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} portcullis_warnings)
endfunction()

# portcullis_add_test(NAME SOURCES ... [DEPS ...] [LABELS ...] [LSAN_SUPPRESSIONS file])
# A Catch2 test binary; every TEST_CASE becomes a CTest test carrying LABELS. LSAN_SUPPRESSIONS names a
# LeakSanitizer suppression file for leaks inside third-party libraries that this binary exercises.
function(portcullis_add_test name)
  cmake_parse_arguments(ARG "" "LSAN_SUPPRESSIONS" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE portcullis_catch_main portcullis_test_support ${ARG_DEPS} portcullis_warnings)
  if(ARG_LSAN_SUPPRESSIONS)
    catch_discover_tests(${name} TEST_PREFIX "${name}:" PROPERTIES LABELS "${ARG_LABELS}"
      ENVIRONMENT "LSAN_OPTIONS=suppressions=${ARG_LSAN_SUPPRESSIONS}:print_suppressions=0")
  else()
    catch_discover_tests(${name} TEST_PREFIX "${name}:" PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# portcullis_add_fuzzer(NAME SOURCES ... [DEPS ...] CORPUS dir...)
# With clang + PORTCULLIS_FUZZ: a libFuzzer binary. Otherwise: the same entry point linked to
# a replay main, registered in CTest (label fuzz-replay) to run every corpus file as a regression test.
function(portcullis_add_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;CORPUS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} portcullis_warnings)
  if(PORTCULLIS_LIBFUZZER)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_link_libraries(${name} PRIVATE portcullis_fuzz_replay_main)
  endif()
  if(PORTCULLIS_BUILD_TESTS AND ARG_CORPUS)
    add_test(NAME fuzz_replay:${name} COMMAND ${name} ${ARG_CORPUS})
    set_tests_properties(fuzz_replay:${name} PROPERTIES LABELS fuzz-replay)
  endif()
endfunction()
