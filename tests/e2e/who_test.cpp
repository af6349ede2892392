// Who did what (issue 22): the events of a change a client asked for name the client (its CAF
// node, the address of its connection, the name it announced); `fleetctl config reset` clears a
// stored override and says so in the events.

#include "fleetd_process.hpp"

#include "fleetd/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <cstdlib>

using namespace fleet;
using namespace fleet::test;

namespace {

/// The requested_by field `field` of the newest event of `kind`; "NULL" if it has none.
std::string requested(fleetd_process& d, const std::string& kind, const std::string& field) {
  return d.query_text("SELECT coalesce(json_extract(requested_by, '$." + field + "'), 'NULL') FROM events WHERE kind = '"
                      + kind + "' ORDER BY id DESC LIMIT 1");
}

} // namespace

TEST_CASE("the events of each change a client asks for name the client, its node and its address") {
  ::setenv("FLEET_CLIENT_NAME", "alice@laptop", 1);
  fleetd_process d("max-retries=3\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, "{\"id\":\"a\",\"type\":\"sleep\",\"data\":{\"ms\":60000}}\n");
  auto id = d.submit(tasks);
  for (std::vector<std::string> args : {std::vector<std::string>{"pause", id}, {"resume", id}, {"cancel", id},
                                        {"scale", "3"}, {"config", "set", "max-retries=5"},
                                        {"config", "reset", "max-retries"}, {"queue", "set", "q1", "max-workers=2"}}) {
    auto r = d.ctl(args);
    CHECK_MESSAGE(r.exit_code == 0, args[0] << ": " << r.err);
  }
  for (const char* kind : {"batch_submitted", "batch_paused", "batch_resumed", "batch_cancelled", "config_updated",
                           "config_reset", "queue_changed"}) {
    CAPTURE(kind);
    CHECK(requested(d, kind, "client") == "alice@laptop");
    CHECK(requested(d, kind, "peer").starts_with("127.0.0.1:"));
    CHECK(requested(d, kind, "node").size() > 10);
    CHECK(requested(d, kind, "tls") == "NULL"); // no TLS here
  }
  // What fleetd does by itself names nobody.
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'fleetd_started' AND requested_by IS NULL") == 1);
  // Who cancelled this batch (docs/AUDIT.md).
  CHECK(d.query_text("SELECT json_extract(requested_by, '$.client') FROM events WHERE kind = 'batch_cancelled'"
                     " AND batch_id = '" + id + "'")
        == "alice@laptop");
  ::unsetenv("FLEET_CLIENT_NAME");
}

TEST_CASE("a client announcing a bad name is refused, and a client without one is still recorded by node") {
  fleetd_process d("");
  REQUIRE_MESSAGE(d.start(), d.log());
  caf::actor_system_config cfg;
  configure_client(cfg);
  caf::actor_system sys{cfg};
  auto client = fleet_client::connect(sys, "127.0.0.1", d.port());
  REQUIRE_MESSAGE(client, error_text(client.error()));
  for (const std::string& bad : {std::string(201, 'x'), std::string{"a\x01z"}, std::string{"\xff\xfe"}}) {
    auto r = client->identify(bad);
    CHECK_FALSE(r);
  }
  // The reply is what the events will say.
  auto seen = client->identify("bob@box");
  REQUIRE(seen);
  auto who = nlohmann::json::parse(*seen);
  CHECK(who["client"] == "bob@box");
  CHECK(who["peer"].get<std::string>().starts_with("127.0.0.1:"));
  REQUIRE(client->scale_workers(4));
  CHECK(requested(d, "config_updated", "client") == "bob@box");
  CHECK(requested(d, "config_updated", "peer") == who["peer"].get<std::string>());
  CHECK(client->stats());
}

TEST_CASE("fleetctl config reset puts the config file's value back in force, stored, and records it") {
  fleetd_process d("max-workers=4\nworker-timeout=5000\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  REQUIRE(d.ctl({"config", "set", "max-workers=7", "worker-timeout=9000"}).exit_code == 0);
  CHECK(d.terminate() == 0);
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.ctl_json({"config"})["max_concurrent_workers"] == 7); // the override wins at restart
  auto reset = d.ctl({"--json", "config", "reset", "max-workers"});
  REQUIRE_MESSAGE(reset.exit_code == 0, reset.err);
  CHECK(nlohmann::json::parse(reset.out)["max_concurrent_workers"] == 4);
  CHECK(nlohmann::json::parse(reset.out)["worker_timeout_ms"] == 9000); // not reset
  CHECK(d.query_int("SELECT count(*) FROM config_overrides WHERE name = 'max_concurrent_workers'") == 0);
  CHECK(d.query_int("SELECT count(*) FROM config_overrides WHERE name = 'worker_timeout_ms'") == 1);
  CHECK(d.query_int("SELECT json_extract(detail, '$.max_concurrent_workers') FROM events WHERE kind = 'config_reset'")
        == 4);
  CHECK(d.terminate() == 0);
  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.ctl_json({"config"})["max_concurrent_workers"] == 4);
  // Bad requests change nothing.
  auto unknown = d.ctl({"config", "reset", "max-wrokers"});
  CHECK(unknown.exit_code != 0);
  CHECK_MESSAGE(unknown.err.find("max-wrokers") != std::string::npos, unknown.err);
  auto bare = d.ctl({"config", "reset"});
  CHECK(bare.exit_code != 0);
  CHECK_MESSAGE(bare.err.find("usage") != std::string::npos, bare.err);
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'config_reset'") == 1);
  CHECK(d.query_int("SELECT count(*) FROM config_overrides WHERE name = 'worker_timeout_ms'") == 1);
}

TEST_CASE("a pass of retention a client asked for names it in the batch_pruned events") {
  fleetd_process d{"retain-finished=\"1h\"\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("one.jsonl");
  write_file(file, "{\"type\":\"echo\"}\n");
  auto id = d.submit(file);
  REQUIRE(d.ctl({"wait", id}).exit_code == 0);
  REQUIRE(d.terminate() == 0);
  {
    // Two hours later, as far as retention can tell.
    auto db = fleet::sqlite::database::open(d.db());
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("UPDATE batches SET finished_at = finished_at - 7200000"));
  }
  REQUIRE_MESSAGE(d.start(), d.log());
  ::setenv("FLEET_CLIENT_NAME", "bob@ops", 1);
  auto r = d.ctl({"prune", "--now"});
  ::unsetenv("FLEET_CLIENT_NAME");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(d.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(d.query_text("SELECT json_extract(requested_by, '$.client') FROM events WHERE kind = 'batch_pruned'"
                     " AND batch_id = '" + id + "'")
        == "bob@ops");
}
