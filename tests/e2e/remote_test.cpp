#include "client_system.hpp"
#include "fleetd_process.hpp"

#include "fleetd/client.hpp"
#include "fleetd/peer_version.hpp"
#include "client/transport.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

using namespace fleet;
using namespace fleet::test;

namespace {

/// A type fleetd has never heard of.
struct alien {
  int32_t tentacles = 7;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, alien& x) {
  return f(caf::meta::type_name("test.alien"), x.tentacles);
}

/// A CAF node that talks to fleetd over the middleman, as other programs do, and knows alien.
client_system remote_node() {
  return client_system{[](caf::actor_system_config& c) { c.add_message_type<alien>("test.alien"); }};
}

/// The error a raw request gets, or none if it got a (string) reply.
template <class... Ts>
caf::error error_reply(caf::scoped_actor& self, const caf::actor& dest, Ts&&... xs) {
  caf::error out;
  self->request(dest, std::chrono::seconds(30), std::forward<Ts>(xs)...)
    .receive([](std::string&) {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace

TEST_CASE("every public operation works across the middleman through the client library") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto node = remote_node();
  auto client = fleet_client::connect(node.sys, "127.0.0.1", d.port());
  REQUIRE_MESSAGE(client, error_text(client.error()));
  auto id = client->submit_batch({{"a", "echo", R"({"n": 1})", 0}, {"b", "fail", R"({"error": "no"})", 0}});
  REQUIRE(id);
  REQUIRE(eventually([&] { auto st = client->batch_status(*id); return st && st->finished_at != 0; }));
  auto st = client->batch_status(*id);
  REQUIRE(st);
  CHECK(st->status == batch_state::partial);
  auto rs = client->batch_results(*id);
  REQUIRE(rs);
  CHECK(rs->size() == 2);
  auto cfg = client->scale_workers(5);
  REQUIRE(cfg);
  CHECK(cfg->max_concurrent_workers == 5);
  config_update u;
  u.max_retries = 1;
  cfg = client->update_config(u);
  REQUIRE(cfg);
  CHECK(cfg->max_retries == 1);
  auto stats = client->stats();
  REQUIRE(stats);
  CHECK(stats->total_tasks == 2);
  auto ws = client->active_workers();
  REQUIRE(ws);
  CHECK(ws->size() >= 2);
  auto summary = client->summary();
  REQUIRE(summary);
  CHECK(summary->total_results == 2);
  auto cancelled = client->cancel_batch(*id);
  REQUIRE(cancelled);
  CHECK_FALSE(*cancelled);
  auto unknown = client->batch_status("batch-none");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::unknown_batch);
  CHECK(error_text(unknown.error()) == "batch batch-none not found");
  // A batch bigger than a chunk goes up in chunks and comes back whole, in order.
  std::vector<task> many;
  for (int i = 0; i < 95; ++i)
    many.push_back({"m" + std::to_string(i), "echo", "{}", 0});
  auto big = client->submit_batch(many, 20);
  REQUIRE_MESSAGE(big, error_text(big.error()));
  REQUIRE(eventually([&] { auto s = client->batch_status(*big); return s && s->finished_at != 0; }));
  auto big_results = client->batch_results(*big);
  REQUIRE(big_results);
  REQUIRE(big_results->size() == 95);
  CHECK((*big_results)[94].task_id == "m94");
  many.push_back({"m3", "echo", "{}", 0});
  auto dup = client->submit_batch(many, 20);
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == errc::duplicate_task_id);
  // Chunks are checked alone; the seal finds the repeat and says where it is in the batch.
  CHECK(error_text(dup.error()) == "task 95 (id \"m3\"): duplicate task id in this batch");
  auto empty = client->submit_batch({});
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == errc::invalid_batch);
  // Completion notifications across the middleman: a sleeping batch tells when it is done.
  auto slow = client->submit_batch({{"z", "sleep", R"({"ms": 300})", 0}});
  REQUIRE(slow);
  auto now = client->subscribe(*slow);
  REQUIRE(now);
  CHECK(now->finished_at == 0);
  caf::optional<batch_status> done;
  REQUIRE(eventually([&] { return static_cast<bool>(done = client->next_notification(std::chrono::milliseconds(100))); }));
  CHECK(done->batch_id == *slow);
  CHECK(done->status == batch_state::completed);
  auto finished_already = client->subscribe(*slow);
  REQUIRE(finished_already);
  CHECK(finished_already->finished_at != 0);
  CHECK_FALSE(client->next_notification(std::chrono::milliseconds(200)));
}

TEST_CASE("a remote peer sending wrong or internal messages gets errors while fleetd runs on with its data untouched") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.json");
  write_file(tasks, R"([{"id": "x", "type": "echo"}])");
  REQUIRE(d.ctl({"submit", "--wait", tasks}).exit_code == 0);
  auto events_before = d.query_int("SELECT count(*) FROM events");

  auto node = remote_node();
  auto typed = connect_fleet(node.sys, "127.0.0.1", d.port());
  REQUIRE(typed);
  auto raw = caf::actor_cast<caf::actor>(*typed);
  caf::scoped_actor self{node.sys};
  // Wrong shapes of public messages.
  CHECK(error_reply(self, raw, submit_atom::value, int32_t{42}) == caf::sec::unexpected_message);
  CHECK(error_reply(self, raw, status_atom::value) == caf::sec::unexpected_message);
  CHECK(error_reply(self, raw, std::string{"hello"}) == caf::sec::unexpected_message);
  CHECK(error_reply(self, raw, alien{}) == caf::sec::unexpected_message);
  CHECK(error_reply(self, raw, submit_atom::value, alien{}) == caf::sec::unexpected_message);
  CHECK(error_reply(self, raw, scale_atom::value, int32_t{0}) == errc::invalid_config);
  // Internal messages are not for other nodes.
  auto drain = error_reply(self, raw, drain_atom::value, int64_t{0});
  CHECK(drain == errc::not_permitted);
  CHECK(error_text(drain) == "only fleetd itself may drain the fleet");
  caf::expected<coordinator_actor> coord{caf::sec::none};
  self->request(*typed, std::chrono::seconds(30), coordinator_atom::value)
    .receive([&](coordinator_actor& c) { coord = c; }, [&](caf::error& err) { coord = err; });
  REQUIRE(coord);
  caf::anon_send(*coord, result_atom::value, std::vector<task_result>{{"z", false, "", "forged", 1, 5}});
  caf::anon_send(raw, drain_deadline_atom::value);
  caf::anon_send(raw, flush_atom::value);
  caf::anon_send(raw, wakeup_atom::value);

  // Still serving, still taking work, nothing changed by the above.
  auto client = fleet_client::connect(node.sys, "127.0.0.1", d.port());
  REQUIRE(client);
  auto stats = client->stats();
  REQUIRE(stats);
  CHECK(stats->total_batches == 1);
  CHECK(stats->max_concurrent_workers == 10);
  CHECK(d.query_int("SELECT count(*) FROM events") == events_before);
  auto summary = client->summary();
  REQUIRE(summary);
  CHECK(summary->total_results == 1); // the forged result did not count
  auto id = client->submit_batch({{"y", "echo", "{}", 0}});
  REQUIRE(id);
  CHECK(d.ctl({"wait", *id}).exit_code == 0);
  CHECK(d.alive());
}

TEST_CASE("a client killed in the middle of a chunked submit leaves fleetd running and no partial batch") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto file = d.file("big.jsonl");
  {
    std::ofstream out{file};
    for (int i = 0; i < 200'000; ++i)
      out << "{\"id\":\"t" << i << "\",\"type\":\"echo\",\"data\":{\"n\":" << i << "}}\n";
  }
  subprocess_spec spec;
  spec.argv = {bin("fleetctl"), "--port", std::to_string(d.port()), "submit", file};
  auto client = child_process::start(spec);
  REQUIRE(client);
  // Killed once fleetd has staged part of the upload, before the seal.
  auto staged = [&] { return d.query_int("SELECT count(*) FROM upload_parts") > 0; };
  CHECK(eventually(staged, 60));
  ::kill((*client)->pid(), SIGKILL);
  (*client)->wait();
  auto st = d.ctl_json({"stats"});
  CHECK(st["total_batches"].get<int64_t>() == d.query_int("SELECT count(*) FROM batches"));
  // Either the seal made it before the kill (a whole batch) or there is no batch at all.
  auto batches = d.query_int("SELECT count(*) FROM batches");
  CHECK(batches <= 1);
  if (batches == 1)
    CHECK(d.query_int("SELECT count(*) FROM tasks") == 200'000);
  else
    CHECK(d.query_int("SELECT count(*) FROM tasks") == 0);
  // fleetd goes on serving other clients.
  auto small = d.file("small.jsonl");
  write_file(small, "{\"id\":\"a\",\"type\":\"echo\"}\n");
  auto id = d.submit(small);
  CHECK(d.ctl({"wait", id}).exit_code == 0);
}

TEST_CASE("a client or node of another protocol version is told both versions, in both directions") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto node = remote_node();
  // fleetd refuses a hello of another version, naming both.
  auto raw = connect_actor(node.sys, "127.0.0.1", d.port(), std::chrono::seconds(30));
  REQUIRE_MESSAGE(raw, (raw ? "" : error_text(raw.error())));
  caf::scoped_actor self{node.sys};
  caf::error refused;
  self->request(caf::actor_cast<caf::actor>(*raw), std::chrono::seconds(30), hello_atom::value,
                peer_version{interface_version + 1, "9.9.9"})
    .receive([](peer_version&) {}, [&](caf::error& err) { refused = std::move(err); });
  REQUIRE(refused);
  CHECK(refused == errc::incompatible_version);
  CHECK_MESSAGE(error_text(refused).find(fmt::format("fleetd {} speaks protocol version {}", FLEETD_VERSION,
                                                     interface_version))
                  != std::string::npos,
                error_text(refused));
  CHECK(error_text(refused).find("(fleetd 9.9.9) speaks version") != std::string::npos);
  // The same release is welcome, and the client library says hello on its own.
  peer_version welcome;
  self->request(caf::actor_cast<caf::actor>(*raw), std::chrono::seconds(30), hello_atom::value, this_release())
    .receive([&](peer_version& v) { welcome = v; }, [](caf::error&) {});
  CHECK(welcome.interface_version == interface_version);
  CHECK(welcome.release == FLEETD_VERSION);
  REQUIRE(fleet_client::connect(node.sys, "127.0.0.1", d.port()));

  // A fleetd from before the hello (an actor that knows none of it) is named as older.
  auto mute = node.sys.spawn([]() -> caf::behavior { return {[](int32_t) {}}; });
  auto port = publish_actor(node.sys, caf::actor_cast<caf::strong_actor_ptr>(mute), {}, "127.0.0.1", 0);
  REQUIRE(port);
  auto old = connect_fleet(node.sys, "127.0.0.1", *port, std::chrono::seconds(30));
  REQUIRE_FALSE(old);
  CHECK(old.error() == errc::incompatible_version);
  CHECK_MESSAGE(error_text(old.error()).find("does not know protocol versions: it is older than this client")
                  != std::string::npos,
                error_text(old.error()));
  caf::anon_send_exit(mute, caf::exit_reason::user_shutdown);
}

TEST_CASE("one client cannot take every upload or subscription: it gets its share, the others are served") {
  fleetd_process d{"max-workers=1\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto greedy = remote_node();
  auto client = fleet_client::connect(greedy.sys, "127.0.0.1", d.port());
  REQUIRE_MESSAGE(client, error_text(client.error()));
  std::vector<fleet_client::upload> uploads;
  for (int i = 0; i < 16; ++i) {
    auto u = client->open_upload();
    REQUIRE_MESSAGE(u, error_text(u.error()));
    uploads.push_back(std::move(*u));
  }
  auto refused = client->open_upload();
  REQUIRE_FALSE(refused);
  CHECK(error_text(refused.error()).find("has 16 uploads open already, its share") != std::string::npos);
  // A batch that stays pending while the greedy client subscribes to it up to its share.
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, "{\"id\":\"s\",\"type\":\"sleep\",\"data\":{\"ms\":60000}}\n{\"id\":\"e\",\"type\":\"echo\"}\n");
  auto id = d.submit(tasks);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(client->subscribe(id));
  auto too_many = client->subscribe(id);
  REQUIRE_FALSE(too_many);
  CHECK(error_text(too_many.error()).find("holds 1000 subscriptions already, its share") != std::string::npos);
  // Another client (fleetctl, its own process) still uploads, submits and waits.
  std::string lines;
  for (int i = 0; i < 30; ++i)
    lines += "{\"type\":\"echo\",\"data\":{\"i\":" + std::to_string(i) + "}}\n";
  auto many = d.file("many.jsonl");
  write_file(many, lines);
  CHECK_FALSE(d.submit(many).empty());
  CHECK(d.ctl({"scale", "2"}).exit_code == 0);
  auto other = d.submit(tasks);
  CHECK(d.ctl({"cancel", other}).exit_code == 0);
  CHECK(d.ctl({"wait", other}).exit_code != 2);
  // A sealed upload gives its place back.
  REQUIRE_FALSE(uploads.back().add({task{"x", "echo", "{}", 0}}));
  REQUIRE(uploads.back().seal());
  uploads.pop_back();
  CHECK(client->open_upload());
}
