# `cmake --install build --prefix P` puts under P:
#   include/simclr/{base,core,kernels,nn,augment,ssl}/*.h   the headers ("core/tensor.h" ...)
#   lib/libsimclr_{core,nn,augment,ssl}.a                   the layers, one library each
#   bin/simclr                                              the program
#   lib/cmake/simclr/simclrConfig.cmake (+ version, targets) for find_package(simclr)
#   lib/pkgconfig/simclr.pc                                  for pkg-config
# A consumer links simclr::ssl (or a lower layer) and gets C++20, OpenMP, zlib, the image
# library, CUDA and (linked privately into the static simclr::ssl) ONNX and protobuf as usage
# requirements: examples/consumer is such a program.
include(CMakePackageConfigHelpers)

# simclr::core, simclr::nn, simclr::augment, simclr::ssl, inside this build too.
foreach(layer core nn augment ssl)
  set_target_properties(sc_${layer} PROPERTIES EXPORT_NAME ${layer} OUTPUT_NAME simclr_${layer})
  add_library(simclr::${layer} ALIAS sc_${layer})
endforeach()
set_target_properties(sc_stb PROPERTIES EXPORT_NAME stb)

install(TARGETS sc_core sc_nn sc_augment sc_ssl sc_stb EXPORT simclrTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS simclr RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY base dist core kernels nn augment ssl DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/simclr
        FILES_MATCHING PATTERN "*.h")
install(EXPORT simclrTargets NAMESPACE simclr:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/simclr)

set(SC_CONFIG_WITH_CUDA ${SC_WITH_CUDA})
set(SC_CONFIG_WITH_ONNX ${SC_WITH_ONNX})
set(SC_CONFIG_WITH_MPI ${SC_WITH_MPI})
configure_package_config_file(cmake/simclrConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/simclrConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/simclr)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/simclrConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/simclrConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/simclrConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/simclr)

# pkg-config: the same libraries in link order, and the flags a compiler needs.
set(SC_PC_LIBS "-lsimclr_ssl -lsimclr_augment -lsimclr_nn -lsimclr_core ${SC_STB_LIBRARY} -lpng -ljpeg -lz -fopenmp")
if(SC_WITH_MPI)
  foreach(_lib ${MPI_CXX_LIBRARIES})
    string(APPEND SC_PC_LIBS " ${_lib}")
  endforeach()
endif()
if(SC_WITH_CUDA)
  string(APPEND SC_PC_LIBS " -L${CUDAToolkit_LIBRARY_DIR} -lcudart -lcublas ${SC_CUDNN_LIBRARY}")
endif()
if(SC_WITH_ONNX)
  # ONNX's libraries, then protobuf (which libonnx_proto needs); see cmake/onnx.cmake.
  string(APPEND SC_PC_LIBS " -lonnx -lonnx_proto -lprotobuf")
endif()
configure_file(cmake/simclr.pc.in ${CMAKE_CURRENT_BINARY_DIR}/simclr.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/simclr.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
