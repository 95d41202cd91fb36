// The process group without MPI: the single-process group's collectives,
// status encoding, and the test hook's fault specs. (The MPI group itself
// runs under mpirun in tests/cli/mpi_test.py.)

#include "lib/parallel/process_group.h"

#include <catch2/catch.hpp>

#include "lib/parallel/fault_injection.h"

namespace ockpt {
namespace {

TEST_CASE("SingleProcessGroup: rank 0 of 1, collectives return at once") {
  SingleProcessGroup g;
  CHECK(g.rank() == 0);
  CHECK(g.size() == 1);
  CHECK(g.Barrier().ok());
  auto all = g.AllGather("abc");
  REQUIRE(all.ok());
  CHECK(*all == std::vector<std::string>{"abc"});
  std::string bytes = "xyz";
  CHECK(g.Broadcast(0, &bytes).ok());
  CHECK(bytes == "xyz");
  CHECK(g.Broadcast(1, &bytes).code() == StatusCode::kInvalidArgument);
  CHECK(g.AllOk(Status::Ok()).ok());
  // One process: its own failure comes back as it was (no "process 0:").
  Status s = g.AllOk(Status(StatusCode::kNotFound, "missing x"));
  CHECK(s.code() == StatusCode::kNotFound);
  CHECK(s.message() == "missing x");
  CHECK(g.ShareStatus(0, Status(StatusCode::kDataLoss, "bad")).code() == StatusCode::kDataLoss);
  CHECK_FALSE(g.failed_together());
}

TEST_CASE("statuses travel as bytes") {
  for (StatusCode c : {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kAlreadyExists,
                       StatusCode::kFailedPrecondition}) {
    Status s = c == StatusCode::kOk ? Status::Ok() : Status(c, "message with\nnewline and \xff bytes");
    Status back = DecodeStatus(EncodeStatus(s));
    CHECK(back.code() == s.code());
    CHECK(back.message() == s.message());
  }
  CHECK(DecodeStatus("ab").code() == StatusCode::kInternal);
}

TEST_CASE("process fault specs (the OCKPT_TEST_PROCESS_FAULT hook)") {
  auto f = ParseProcessFault("1:2:kill");
  REQUIRE(f.ok());
  CHECK(f->rank == 1);
  CHECK(f->call == 2);
  CHECK(f->kill);
  f = ParseProcessFault("0:1:fail");
  REQUIRE(f.ok());
  CHECK_FALSE(f->kill);
  for (const char* bad : {"", "1", "1:2", "1:2:boom", "x:2:fail", "1:y:kill", "1:2:fail:3"}) {
    CHECK(ParseProcessFault(bad).status().code() == StatusCode::kInvalidArgument);
  }
  // On a single process, rank 0's second AllOk fails; others pass through.
  auto g = WithProcessFault(std::make_unique<SingleProcessGroup>(), *ParseProcessFault("0:2:fail"));
  CHECK(g->AllOk(Status::Ok()).ok());
  Status s = g->AllOk(Status::Ok());
  CHECK(s.code() == StatusCode::kIoError);
  CHECK(g->AllOk(Status::Ok()).ok());
}

}  // namespace
}  // namespace ockpt
