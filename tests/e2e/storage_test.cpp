// A database that stops taking writes (issue 5): fleet.max-db-size caps the file as a full disk
// would (SQLite's max_page_count: the same SQLITE_FULL). fleetd reports it, takes no new work,
// loses nothing committed, and resumes once writes succeed again.

#include "fleetd_process.hpp"

#include <fmt/format.h>

using namespace fleet::test;

namespace {

/// 100 sleeping tasks of about 2 KiB each: a batch is about 200 KiB in the database.
std::string heavy_batch(int batch) {
  std::string pad(2000, 'x');
  std::string out;
  for (int i = 0; i < 100; ++i)
    out += fmt::format("{{\"id\":\"b{}-{}\",\"type\":\"sleep\",\"data\":{{\"ms\":600000,\"pad\":\"{}\"}}}}\n",
                       batch, i, pad);
  return out;
}

} // namespace

TEST_CASE("a full database is reported, refuses new work, loses nothing committed, and recovers") {
  fleetd_process d("max-db-size=2\nmax-workers=1\ndrain-timeout=200\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("tasks.jsonl");
  std::vector<std::string> acked;
  run_result refused;
  for (int batch = 0; batch < 40; ++batch) {
    write_file(file, heavy_batch(batch));
    auto r = d.ctl({"submit", file});
    if (r.exit_code != 0) {
      refused = r;
      break;
    }
    acked.push_back(r.out.substr(0, r.out.find('\n')));
  }
  REQUIRE_MESSAGE(refused.exit_code == 2, "the 2 MiB limit was never reached");
  CHECK(acked.size() >= 3);
  CHECK_MESSAGE(refused.err.find("full") != std::string::npos, refused.err);
  CHECK(eventually([&] { return d.count_in_log("the database cannot take writes") >= 1; }, 30));
  // fleetd keeps running and answering; every acknowledged batch is whole.
  CHECK(d.alive());
  auto stats = d.ctl_json({"stats"});
  CHECK(stats["total_batches"].get<int64_t>() == static_cast<int64_t>(acked.size()));
  for (const auto& id : acked)
    CHECK(d.query_int("SELECT count(*) FROM tasks WHERE batch_id = '" + id + "'") == 100);
  CHECK(d.query_int("SELECT count(*) FROM batches") == static_cast<int64_t>(acked.size()));
  // A small submit is refused as well while the file is full.
  write_file(file, "{\"id\":\"small\",\"type\":\"echo\"}\n");
  auto again = d.ctl({"submit", file});
  CHECK(again.exit_code == 2);
  CHECK_MESSAGE((again.err.find("full") != std::string::npos
                 || again.err.find("cannot take writes") != std::string::npos),
                again.err);
  CHECK(d.terminate() == 0);

  // With room again (no limit), the same file: everything is there and work goes on.
  REQUIRE_MESSAGE(d.start({"--fleet.max-db-size=0"}), d.log());
  CHECK(d.query_int("SELECT count(*) FROM batches") == static_cast<int64_t>(acked.size()));
  // The sleeping batches hold the one worker: cancelling them writes to the file and frees it.
  for (const auto& old : acked)
    CHECK(d.ctl({"cancel", old}).exit_code == 0);
  auto id = d.submit(file);
  CHECK(d.ctl({"wait", id}).exit_code == 0);
  CHECK(d.terminate() == 0);
  CHECK(integrity_check(d.db()) == "ok");
}
