# The layering, checked: every #include "folder/..." in the library's sources must point to
# the file's own layer or one below it. Run by CTest (tests/CMakeLists.txt) as
#   cmake -DSOURCE_DIR=<repo> -P cmake/check_layers.cmake
# and fails naming each file, line and include that points up (or sideways between nn/ and
# augment/, which know nothing of each other).
#
#   base/      error, device, dtype: the leaf headers every layer needs
#   kernels/   raw compute over pointers           may include base
#   dist/      the communicator (MPI, NCCL) over   may include base, kernels
#              raw buffers: knows no Tensor, no SSL
#   core/      Tensor, autograd, ops               may include base, kernels, dist
#   nn/        modules, optimizers                 may include base, core, dist
#   augment/   image transforms                    may include base, core
#   ssl/       data, methods, trainer, CLI         may include base, core, nn, augment, dist
# tests/, bench/ and examples/ sit on top and may include anything.
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_layers.cmake: pass -DSOURCE_DIR=<repository root>")
endif()

set(allowed_base base)
set(allowed_kernels base kernels)
set(allowed_dist base kernels dist)
set(allowed_core base kernels dist core)
set(allowed_nn base dist core nn)
set(allowed_augment base core augment)
set(allowed_ssl base dist core nn augment ssl)
set(layers base kernels dist core nn augment ssl)

set(violations 0)
set(checked 0)
foreach(layer ${layers})
  file(GLOB_RECURSE files "${SOURCE_DIR}/${layer}/*.h" "${SOURCE_DIR}/${layer}/*.cpp"
                          "${SOURCE_DIR}/${layer}/*.cu" "${SOURCE_DIR}/${layer}/*.cuh")
  foreach(file ${files})
    math(EXPR checked "${checked} + 1")
    file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"[A-Za-z_]+/")
    foreach(line ${lines})
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([A-Za-z_]+)/.*" "\\1" target "${line}")
      # Only our own top-level folders are layers; "CLI/CLI.hpp", "nlohmann/json.hpp" are not.
      list(FIND layers "${target}" is_layer)
      if(is_layer EQUAL -1)
        continue()
      endif()
      list(FIND allowed_${layer} "${target}" ok)
      if(ok EQUAL -1)
        file(RELATIVE_PATH rel "${SOURCE_DIR}" "${file}")
        string(STRIP "${line}" line)
        message(SEND_ERROR "layering: ${rel} (layer ${layer}/) includes from ${target}/: ${line}  "
                           "(${layer}/ may include only: ${allowed_${layer}})")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()

if(NOT MIN_FILES)
  set(MIN_FILES 50)  # fewer files than this means SOURCE_DIR is not the repository
endif()
if(checked LESS MIN_FILES)
  message(FATAL_ERROR "check_layers: only ${checked} files found under ${SOURCE_DIR}: wrong SOURCE_DIR?")
endif()
if(violations GREATER 0)
  message(FATAL_ERROR "check_layers: ${violations} include(s) point up a layer")
endif()
message(STATUS "check_layers: ${checked} files, every include points down")
