// Pause and resume (issue 7): of one batch or the whole fleet; waiting work stays queued, running
// attempts finish, and the pause survives a restart.

#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

bool set_paused(fleet_fixture& f, const std::string& id, bool paused) {
  auto changed = paused ? f.ask<bool>(pause_atom::value, id) : f.ask<bool>(resume_atom::value, id);
  REQUIRE_MESSAGE(changed, (changed ? "" : error_text(changed.error())));
  return *changed;
}

} // namespace

TEST_CASE("a paused batch lets its running attempts finish, starts no new ones, and lets other batches pass") {
  fleet_fixture f; // 2 workers
  f.start();
  auto paused = f.submit_ok(sleep_tasks(6, 100, "p"));
  f.run();
  CHECK(set_paused(f, paused, true));
  CHECK_FALSE(set_paused(f, paused, true)); // already
  CHECK(f.status_of(paused).paused);
  auto other = f.submit_ok(sleep_tasks(3, 100, "o"));
  REQUIRE(f.advance_until([&] { return f.finished(other); }));
  f.advance(1000);
  // The two attempts that were running finished; nothing else of the batch started.
  CHECK(f.status_of(paused).completed == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.batch_id = '"
                    + paused + "'") == 2);
  CHECK(f.status_of(paused).finished_at == 0);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_paused'") == 1);
  CHECK(set_paused(f, paused, false));
  CHECK_FALSE(f.status_of(paused).paused);
  REQUIRE(f.advance_until([&] { return f.finished(paused); }));
  CHECK(f.status_of(paused).completed == 6);
  // A finished batch cannot be paused; an unknown one is unknown.
  auto finished = f.ask<bool>(pause_atom::value, paused);
  REQUIRE_FALSE(finished);
  CHECK(error_text(finished.error()).find("has finished") != std::string::npos);
  auto unknown = f.ask<bool>(pause_atom::value, std::string{"batch-nope"});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::unknown_batch);
}

TEST_CASE("a paused fleet starts nothing, and stays paused across a restart until resumed") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture f{fleet_fixture::small_config(), db};
    f.start();
    CHECK(set_paused(f, "", true));
    CHECK(f.stats().paused);
    id = f.submit_ok(echo_tasks(3)); // submits are still taken
    f.advance(5000);
    CHECK(f.status_of(id).completed == 0);
    CHECK(f.query_int("SELECT count(*) FROM attempts") == 0);
    f.stop();
  }
  fleet_fixture again{fleet_fixture::small_config(), db};
  again.start();
  CHECK(again.stats().paused);
  again.advance(5000);
  CHECK(again.query_int("SELECT count(*) FROM attempts") == 0);
  CHECK(set_paused(again, "", false));
  CHECK_FALSE(again.stats().paused);
  REQUIRE(again.advance_until([&] { return again.finished(id); }));
  CHECK(again.status_of(id).completed == 3);
  CHECK(again.query_int("SELECT count(*) FROM events WHERE kind IN ('fleet_paused', 'fleet_resumed')") == 2);
}
