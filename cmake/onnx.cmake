# Decides SC_WITH_ONNX from SC_ONNX (AUTO|ON|OFF), the optional dependency of
# `simclr export --format onnx` (ssl/onnx_write.cpp): Debian's libonnx-dev (ONNX's protobuf
# classes, its checker and shape inference) and libprotobuf-dev under it.
# AUTO builds the exporter when both are found; ON fails loudly when one is missing; OFF (or
# AUTO without them) builds stand-ins that say this build has no ONNX support.
# Sets SC_WITH_ONNX, and SC_ONNX_REASON when it is off.
set(SC_WITH_ONNX OFF)
set(SC_ONNX_REASON "configured with SC_ONNX=OFF")
string(TOUPPER "${SC_ONNX}" _sc_onnx)
if(NOT _sc_onnx MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "SC_ONNX must be AUTO, ON or OFF (got '${SC_ONNX}')")
endif()

if(NOT _sc_onnx STREQUAL "OFF")
  # ONNX's CMake package links protobuf::libprotobuf without looking for it: find protobuf first.
  find_package(Protobuf QUIET)
  if(Protobuf_FOUND)
    find_package(ONNX CONFIG QUIET)
  endif()
  if(Protobuf_FOUND AND ONNX_FOUND AND TARGET onnx)
    set(SC_WITH_ONNX ON)
  elseif(_sc_onnx STREQUAL "ON")
    message(FATAL_ERROR "SC_ONNX=ON but ONNX or protobuf was not found (protobuf: ${Protobuf_FOUND}, ONNX: ${ONNX_FOUND}); "
                        "Debian: apt-get install libonnx-dev libprotobuf-dev, or use SC_ONNX=OFF")
  else()
    set(SC_ONNX_REASON "libonnx-dev or libprotobuf-dev was not found when it was configured")
  endif()
endif()
