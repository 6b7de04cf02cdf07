// Stand-in for dist/mpi_communicator.cpp in a build without MPI (SC_MPI=OFF, or AUTO without
// OpenMPI found): world() then always gives the local communicator.
#include "base/error.h"
#include "dist/backends.h"
#include "dist/communicator.h"

#ifndef SC_MPI_REASON
#define SC_MPI_REASON "built without MPI"
#endif

namespace sc::dist {

bool mpi_built() { return false; }
const char* mpi_unavailable_reason() { return SC_MPI_REASON; }

namespace detail {
CommunicatorPtr mpi_world() {
  throw Error(std::string("no MPI backend: ") + SC_MPI_REASON +
              " (install libopenmpi-dev and configure with -DSC_MPI=ON)");
}
}  // namespace detail

}  // namespace sc::dist
