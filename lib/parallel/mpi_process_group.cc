// The MPI process group (built only with OCKPT_MPI): MPI_COMM_WORLD of a job
// that mpirun, mpiexec or srun started. MPI is initialized in
// JoinLaunchedGroup and finalized when the group is destroyed; the library
// calls collectives from the thread that joined only (MPI_THREAD_FUNNELED).

#include <mpi.h>

#include <fmt/format.h>

#include <cstdlib>

#include "lib/parallel/process_group.h"

namespace ockpt {
namespace {

Status MpiError(int rc, std::string_view what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  return Status(StatusCode::kIoError, fmt::format("MPI {}: {}", what, std::string_view(text, len)));
}

class MpiProcessGroup final : public ProcessGroup {
 public:
  MpiProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  ~MpiProcessGroup() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status Barrier() override {
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? Status::Ok() : MpiError(rc, "barrier");
  }

  Result<std::vector<std::string>> AllGather(std::string_view bytes) override {
    if (bytes.size() > (1u << 30)) return Status(StatusCode::kInternal, "MPI all-gather: over 1 GiB");
    int mine = static_cast<int>(bytes.size());
    std::vector<int> sizes(size_);
    int rc = MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return MpiError(rc, "all-gather");
    std::vector<int> offsets(size_);
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[r] = static_cast<int>(total);
      total += sizes[r];
    }
    if (total > (int64_t{1} << 30)) return Status(StatusCode::kInternal, "MPI all-gather: over 1 GiB");
    std::string all(static_cast<size_t>(total), '\0');
    rc = MPI_Allgatherv(bytes.data(), mine, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE,
                        MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return MpiError(rc, "all-gather");
    std::vector<std::string> out;
    out.reserve(size_);
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(offsets[r], sizes[r]));
    return out;
  }

  Status Broadcast(int root, std::string* bytes) override {
    if (root < 0 || root >= size_) {
      return Status(StatusCode::kInvalidArgument, fmt::format("broadcast from process {} of {}", root, size_));
    }
    uint64_t n = bytes->size();
    int rc = MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return MpiError(rc, "broadcast");
    if (n > (uint64_t{1} << 30)) return Status(StatusCode::kInternal, "MPI broadcast: over 1 GiB");
    bytes->resize(n);
    rc = MPI_Bcast(bytes->data(), static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? Status::Ok() : MpiError(rc, "broadcast");
  }

 private:
  int rank_;
  int size_;
};

// Set by the launchers of Open MPI (mpirun), MPICH / Hydra and SLURM
// (srun with PMI-2 or PMIx).
bool LaunchedByMpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"}) {
    if (std::getenv(v) != nullptr) return true;
  }
  return false;
}

}  // namespace

bool MpiCompiledIn() { return true; }

Result<std::unique_ptr<ProcessGroup>> JoinLaunchedGroup(int* argc, char*** argv) {
  if (!LaunchedByMpi()) return std::unique_ptr<ProcessGroup>(std::make_unique<SingleProcessGroup>());
  int provided = 0;
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) return Status(StatusCode::kIoError, "MPI_Init_thread failed");
  // Errors come back as values (Status), not as an abort inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::unique_ptr<ProcessGroup>(std::make_unique<MpiProcessGroup>(rank, size));
}

}  // namespace ockpt
