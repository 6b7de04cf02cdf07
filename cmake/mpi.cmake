# Decides SC_WITH_MPI from SC_MPI (AUTO|ON|OFF), and SC_WITH_NCCL (CUDA builds with NCCL).
# AUTO builds the MPI backend (dist/mpi_communicator.cpp) when MPI's C library is found; ON
# fails loudly when it is missing; OFF leaves only the local (one-process) communicator.
set(SC_WITH_MPI OFF)
set(SC_MPI_REASON "SC_MPI=${SC_MPI}")
string(TOUPPER "${SC_MPI}" _sc_mpi)
if(NOT _sc_mpi MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "SC_MPI must be AUTO, ON or OFF (got '${SC_MPI}')")
endif()
if(NOT _sc_mpi STREQUAL "OFF")
  # The C API from C++ (MPI::MPI_CXX); the deprecated C++ bindings are left out.
  set(MPI_CXX_SKIP_MPICXX ON)
  find_package(MPI COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(SC_WITH_MPI ON)
  elseif(_sc_mpi STREQUAL "ON")
    message(FATAL_ERROR "SC_MPI=ON but MPI was not found (Debian: apt-get install libopenmpi-dev openmpi-bin), or use SC_MPI=OFF")
  else()
    set(SC_MPI_REASON "MPI not found (Debian: libopenmpi-dev)")
  endif()
endif()
# mpiexec for the CTest entries that start several ranks (tests/CMakeLists.txt).
if(SC_WITH_MPI AND NOT MPIEXEC_EXECUTABLE)
  find_program(MPIEXEC_EXECUTABLE NAMES mpiexec mpirun)
endif()

# NCCL, for collectives on CUDA buffers: needs the CUDA build and MPI (which bootstraps it).
set(SC_WITH_NCCL OFF)
set(SC_NCCL_REASON "built without CUDA")
if(SC_WITH_CUDA AND NOT SC_WITH_MPI)
  set(SC_NCCL_REASON "built without MPI, which NCCL's set-up needs")
elseif(SC_WITH_CUDA)
  find_path(SC_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/include)
  find_library(SC_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib /usr/local/cuda/lib64
               /usr/lib/x86_64-linux-gnu)
  if(SC_NCCL_INCLUDE_DIR AND SC_NCCL_LIBRARY)
    set(SC_WITH_NCCL ON)
    set(SC_NCCL_REASON "")
  else()
    set(SC_NCCL_REASON "NCCL not found (nccl.h / libnccl)")
  endif()
endif()
