// Idempotent submit (issue 7): a client key names at most one batch, across restarts.

#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

std::string submit_with_key(fleet_fixture& f, std::vector<task> tasks, const std::string& key) {
  auto id = f.ask<std::string>(submit_atom::value, std::move(tasks), key);
  REQUIRE_MESSAGE(id, (id ? "" : error_text(id.error())));
  return *id;
}

std::string upload_with_key(fleet_fixture& f, std::vector<task> tasks, const std::string& key,
                            std::string* upload_id = nullptr) {
  auto upload = f.ask<std::string>(upload_open_atom::value);
  REQUIRE(upload);
  if (upload_id != nullptr)
    *upload_id = *upload;
  REQUIRE(f.ask<int64_t>(upload_chunk_atom::value, *upload, std::move(tasks)));
  auto id = f.ask<std::string>(upload_seal_atom::value, *upload, key);
  REQUIRE_MESSAGE(id, (id ? "" : error_text(id.error())));
  return *id;
}

} // namespace

TEST_CASE("a second submit with the same key returns the first batch and stores nothing, across restarts") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string first_id;
  {
    fleet_fixture f{fleet_fixture::small_config(), db};
    f.start();
    first_id = submit_with_key(f, echo_tasks(3), "nightly-2026-11-28");
    CHECK(submit_with_key(f, echo_tasks(3), "nightly-2026-11-28") == first_id);
    // The key wins over the tasks: a different body under the same key is the same batch.
    CHECK(submit_with_key(f, echo_tasks(5), "nightly-2026-11-28") == first_id);
    // Another key, or none, is another batch.
    auto other = submit_with_key(f, echo_tasks(1), "nightly-2026-11-29");
    CHECK(other != first_id);
    auto keyless = submit_with_key(f, echo_tasks(1), "");
    CHECK(keyless != first_id);
    CHECK(submit_with_key(f, echo_tasks(1), "") != keyless); // no key: never deduplicated
    CHECK(f.query_int("SELECT count(*) FROM batches") == 4);
    CHECK(f.query_int("SELECT count(*) FROM tasks") == 6);
    CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_submitted'") == 4);
    REQUIRE(f.advance_until([&] { return f.finished(first_id); }));
    f.stop();
  }
  fleet_fixture again{fleet_fixture::small_config(), db};
  again.start();
  CHECK(submit_with_key(again, echo_tasks(3), "nightly-2026-11-28") == first_id);
  CHECK(again.query_int("SELECT count(*) FROM batches") == 4);
  CHECK(again.status_of(first_id).total == 3);
}

TEST_CASE("a batch uploaded in chunks under a key: a repeated upload or a retried seal returns it") {
  fleet_fixture f;
  f.start();
  std::string upload;
  auto id = upload_with_key(f, echo_tasks(4), "import-7", &upload);
  // The whole upload again (a client that never saw the answer): dropped, same id.
  CHECK(upload_with_key(f, echo_tasks(4), "import-7") == id);
  CHECK(f.query_int("SELECT count(*) FROM uploads") == 0);
  CHECK(f.query_int("SELECT count(*) FROM upload_parts") == 0);
  // Only the seal again: the upload is gone, the key still answers.
  auto resealed = f.ask<std::string>(upload_seal_atom::value, upload, std::string{"import-7"});
  REQUIRE(resealed);
  CHECK(*resealed == id);
  // A plain submit with the key finds the uploaded batch too.
  CHECK(submit_with_key(f, echo_tasks(1), "import-7") == id);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks") == 4);
  CHECK(f.query_int("SELECT count(*) FROM batches WHERE client_key = 'import-7'") == 1);
}

TEST_CASE("bad keys are refused and store nothing") {
  fleet_fixture f;
  f.start();
  auto refused = [&](const std::string& key, const std::string& expected) {
    auto id = f.ask<std::string>(submit_atom::value, echo_tasks(1), key);
    REQUIRE_FALSE(id);
    CHECK(id.error() == errc::invalid_batch);
    CHECK_MESSAGE(error_text(id.error()).find(expected) != std::string::npos, error_text(id.error()));
  };
  refused(std::string(257, 'k'), "the batch key has 257 bytes, more than fleet.max-id-length (256)");
  refused("line\nbreak", "control character");
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);
  // A good key after the refusals works as usual.
  auto id = submit_with_key(f, echo_tasks(1), "k");
  CHECK(submit_with_key(f, echo_tasks(1), "k") == id);
}
