// Dead letters and replay (issue 7): failed tasks are listed and run again with a fresh retry
// budget, their history kept.

#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

dead_letter_page failed_page(fleet_fixture& f, const std::string& batch, int64_t cursor = 0, int32_t limit = 100) {
  auto page = f.ask<dead_letter_page>(failed_atom::value, batch, cursor, limit);
  REQUIRE_MESSAGE(page, (page ? "" : error_text(page.error())));
  return *page;
}

caf::expected<int64_t> replay(fleet_fixture& f, const std::string& batch, std::vector<std::string> ids = {}) {
  return f.ask<int64_t>(replay_atom::value, batch, std::move(ids));
}

} // namespace

TEST_CASE("failed tasks are listed, and replayed ones run again with a fresh retry budget and their history") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1; // two attempts per series
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("ok", "echo"), make_task("late", "fail", R"({"times":3})"),
                         make_task("never", "fail", R"({"error":"always"})")});
  auto other = f.submit_ok({make_task("x", "fail", R"({"error":"other batch"})")});
  REQUIRE(f.advance_until([&] { return f.finished(id) && f.finished(other); }));
  CHECK(f.status_of(id).status == batch_state::partial);
  auto page = failed_page(f, id);
  REQUIRE(page.items.size() == 2);
  CHECK(page.done);
  CHECK(page.items[0].task_id == "late");
  CHECK(page.items[0].type == "fail");
  CHECK(page.items[0].attempts == 2);
  CHECK(page.items[1].task_id == "never");
  CHECK(page.items[1].error.find("always") != std::string::npos);
  CHECK(page.items[1].failed_at > 0);
  CHECK(failed_page(f, "").items.size() == 3); // every batch
  // Paged: one at a time.
  auto first = failed_page(f, "", 0, 1);
  REQUIRE(first.items.size() == 1);
  CHECK_FALSE(first.done);
  auto second = failed_page(f, "", first.next_cursor, 1);
  REQUIRE(second.items.size() == 1);
  CHECK(second.items[0].task_id == "never");

  // Replay one task: attempts 3 and 4, the fourth succeeds.
  auto n = replay(f, id, {"late"});
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK(f.status_of(id).finished_at == 0);
  CHECK(f.status_of(id).failed == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.query_int("SELECT state = 'succeeded' FROM tasks WHERE task_id = 'late'") == 1);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = 'late'") == 4);
  CHECK(f.query_int("SELECT max(attempt) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = 'late'") == 4);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_replayed' AND task_id = 'late'") == 1);
  auto st = f.status_of(id);
  CHECK(st.completed == 2);
  CHECK(st.failed == 1);
  CHECK(st.status == batch_state::partial);

  // Replay the rest of the batch: "never" fails again after two more attempts, counted once.
  n = replay(f, id);
  REQUIRE(n);
  CHECK(*n == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.query_int("SELECT attempts FROM tasks WHERE task_id = 'never'") == 4);
  CHECK(f.status_of(id).failed == 1);
  CHECK(f.stats().failed_tasks == 2); // "never" and the other batch's "x"
  CHECK(f.query_int("SELECT failed FROM fleet_totals") == 2);
  // A task that did not fail is not replayed.
  auto refused = replay(f, id, {"ok"});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::invalid_task);
  CHECK(error_text(refused.error()).find("is succeeded, not failed") != std::string::npos);
}

TEST_CASE("replays that do not fit are refused and change nothing") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("a", "fail", R"({"error":"no"})"), make_task("b", "fail", R"({"error":"no"})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto unknown_batch = replay(f, "batch-nope");
  REQUIRE_FALSE(unknown_batch);
  CHECK(unknown_batch.error() == errc::unknown_batch);
  // One unknown id spoils the whole request: "a" stays failed too.
  auto unknown_task = replay(f, id, {"a", "zzz"});
  REQUIRE_FALSE(unknown_task);
  CHECK(error_text(unknown_task.error()).find("has no task \"zzz\"") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'failed'") == 2);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_replayed'") == 0);
  auto bad_listing = f.ask<dead_letter_page>(failed_atom::value, std::string{"batch-nope"}, int64_t{0}, int32_t{10});
  REQUIRE_FALSE(bad_listing);
  CHECK(bad_listing.error() == errc::unknown_batch);
  auto bad_limit = f.ask<dead_letter_page>(failed_atom::value, id, int64_t{0}, int32_t{0});
  REQUIRE_FALSE(bad_limit);
  // A cancelled batch is not replayed.
  auto sleeping = f.submit_ok({make_task("s", "sleep", R"({"ms":60000})"), make_task("t", "fail", R"({"error":"no"})")});
  f.run();
  REQUIRE(f.ask<bool>(cancel_atom::value, sleeping));
  auto cancelled = replay(f, sleeping);
  REQUIRE_FALSE(cancelled);
  CHECK(error_text(cancelled.error()).find("was cancelled") != std::string::npos);
}
