#pragma once

// Talking to fleetd from another CAF program. Link the `fleet_client` library, then:
//
//   caf::actor_system_config cfg;
//   fleet::configure_client(cfg);            // message types + CAF's middleman
//   caf::actor_system sys{cfg};
//   auto fleet = fleet::fleet_client::connect(sys, "127.0.0.1", 4242);
//   auto id = fleet->submit_batch({{"t1", "echo", R"({"x": 1})", 0}});
//
// Actors that prefer asynchronous requests use `connect_fleet` and send the messages of
// `fleet_api_actor` (actors/interfaces.hpp) themselves.

#include "fleetd/interfaces.hpp"

#include <caf/expected.hpp>
#include <caf/optional.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fleet {

/// Registers fleetd's message types and error category and loads CAF's middleman. Call it on the
/// config before constructing the actor system.
void configure_client(caf::actor_system_config& cfg);

/// For a program that only talks to fleetd (a command line, a submitter, a monitor): one scheduler
/// thread that waits on a condition, where CAF's default runs a thread per core (at least four)
/// that polls for work. Those polling threads took about 0.8 s of CPU over a 100,000-task submit
/// and its wait, CPU that a fleetd on the same machine could have used (docs/BENCHMARKS.md,
/// 2026-12-06). A scheduler setting made before the call is kept, as are options parsed after it.
/// Not for a program whose own actors compute: they would share the one thread.
void run_client_on_one_thread(caf::actor_system_config& cfg);

/// The name this client gives fleetd for its audit (`connect_fleet` announces it): the
/// environment's FLEET_CLIENT_NAME if set, else user@host; printable ASCII, at most 200 bytes.
std::string default_client_name();

/// The fleet manager published by fleetd at host:port; errc::unreachable if nothing answers there
/// or if connecting and the handshake take longer than `timeout`. After the hello it announces
/// `default_client_name()` (identify_atom).
caf::expected<fleet_api_actor> connect_fleet(caf::actor_system& sys, const std::string& host, uint16_t port,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// One address of a fleetd.
struct fleet_endpoint {
  std::string host{};
  uint16_t port = 4242;
  /// host:port ([host]:port for IPv6), for messages.
  std::string text() const;
};

/// Parses a list of fleetd addresses, "host[:port],..." ("db1:4242,db2", "[::1]:4243"); an entry
/// without a port gets `default_port`. errc::invalid_config naming the entry that is not one.
caf::expected<std::vector<fleet_endpoint>> parse_endpoints(std::string_view text, uint16_t default_port);

/// The first of several fleetd that answers, tried in order: with fleetd on PostgreSQL, only the
/// active one of them listens (the standbys do not). errc::unreachable names every address tried
/// and why each failed; another error (an incompatible release) ends the search at once.
caf::expected<fleet_api_actor> connect_fleet(caf::actor_system& sys, const std::vector<fleet_endpoint>& endpoints,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Blocking calls to fleetd, one per public operation, each with a deadline. Not thread-safe.
class fleet_client {
public:
  using duration = std::chrono::milliseconds;

  static caf::expected<fleet_client> connect(caf::actor_system& sys, const std::string& host,
                                             uint16_t port, duration timeout = std::chrono::seconds(30));
  /// The first of `endpoints` that answers (see connect_fleet).
  static caf::expected<fleet_client> connect(caf::actor_system& sys, const std::vector<fleet_endpoint>& endpoints,
                                             duration timeout = std::chrono::seconds(30));

  fleet_client(caf::actor_system& sys, fleet_api_actor manager, duration timeout);
  fleet_client(fleet_client&&) noexcept;
  fleet_client& operator=(fleet_client&&) noexcept;
  ~fleet_client();

  /// What fleetd accepts (asked once, then kept): tasks per batch, bytes of data and id, and the
  /// largest message, by which submits are split.
  caf::expected<submit_limits> limits();
  /// One message up to `chunk_size` tasks and a quarter of fleetd's largest message; bigger
  /// batches go up in chunks within both (an upload, sealed at the end), so that neither side
  /// holds one giant message.
  caf::expected<std::string> submit_batch(std::vector<task> tasks, size_t chunk_size = 10'000);
  /// Idempotent submit: the first call with `key` stores the batch, every later one (also after a
  /// restart of either side, e.g. a retry after a lost reply) returns that batch's id and stores
  /// nothing. An empty key is no key.
  caf::expected<std::string> submit_batch(const std::string& key, std::vector<task> tasks,
                                          size_t chunk_size = 10'000);
  class upload;
  /// A chunked submit for callers that produce tasks as they go (fleetctl reading a file): add
  /// chunks, then seal. Nothing is visible before the seal. The upload must not outlive this client.
  caf::expected<upload> open_upload();

  caf::expected<::fleet::batch_status> batch_status(const std::string& batch_id);
  caf::expected<std::vector<task_result>> batch_results(const std::string& batch_id);
  /// A page of results after `cursor` (0 at first); continue with `next_cursor` until `done`.
  caf::expected<results_page> batch_results(const std::string& batch_id, int64_t cursor, int32_t limit);
  caf::expected<bool> cancel_batch(const std::string& batch_id);
  /// Cancels some tasks of a batch (see cancel_atom); how many were cancelled.
  caf::expected<int64_t> cancel_tasks(const std::string& batch_id, std::vector<std::string> task_ids);
  /// Pauses / resumes a batch; true if that changed anything. An empty id is refused: the whole
  /// fleet is paused by name, with pause_fleet (a variable left unset must not pause everything).
  caf::expected<bool> pause(const std::string& batch_id);
  caf::expected<bool> resume(const std::string& batch_id);
  caf::expected<bool> pause_fleet();
  caf::expected<bool> resume_fleet();
  /// Asks to be told when the batch finishes (all batches: empty id); the batch's status now.
  /// The notification then comes through `next_notification`.
  caf::expected<::fleet::batch_status> subscribe(const std::string& batch_id);
  /// Waits up to `timeout` for a batch a subscription names to finish: its final status, or none.
  caf::optional<::fleet::batch_status> next_notification(duration timeout);
  /// Failed tasks (dead letters) of one batch, or of all with an empty id, after `cursor` (0 at
  /// first); continue with `next_cursor` until `done`.
  caf::expected<dead_letter_page> dead_letters(const std::string& batch_id, int64_t cursor, int32_t limit);
  /// A page of a batch's tasks where they are now (fleetctl status --tasks, fleetctl graph): those
  /// after `cursor` (0 at first), up to `limit` (1..10000).
  caf::expected<task_page> tasks(const std::string& batch_id, int64_t cursor, int32_t limit);
  /// Replays failed tasks of a batch (all of them without ids); how many were replayed.
  caf::expected<int64_t> replay(const std::string& batch_id, std::vector<std::string> task_ids = {});
  caf::expected<fleet_config> scale_workers(int32_t n);
  caf::expected<fleet_stats> stats();
  /// Runs a retention pass now (fleet.retain-finished, fleet.retain-events): what it removed.
  caf::expected<prune_report> prune();
  /// Recurring schedules: add one (`replace`: or redefine the one of that name, keeping its
  /// history), list them, pause, resume, remove, or fire one now (the batch's id).
  caf::expected<schedule_info> add_schedule(const schedule_spec& spec, bool replace = false);
  caf::expected<std::vector<schedule_info>> schedules();
  caf::expected<schedule_info> schedule(const std::string& name);
  /// Every queue with its limits and what it runs now.
  caf::expected<std::vector<queue_info>> queues();
  /// Sets some of a queue's limits at runtime (creating it); the queue as it is now.
  caf::expected<queue_info> set_queue(const std::string& name, const queue_change& change);
  caf::expected<bool> pause_schedule(const std::string& name);
  caf::expected<bool> resume_schedule(const std::string& name);
  caf::expected<bool> remove_schedule(const std::string& name);
  caf::expected<std::string> run_schedule(const std::string& name);
  caf::expected<std::vector<worker_info>> active_workers();
  /// The nodes of the fleet: fleetd's own workers ("local") first, then each fleet-node.
  caf::expected<std::vector<node_info>> nodes();
  /// One snapshot for a status page: stats, the newest `batches` batches, workers, the latest
  /// `failures` failed tasks, nodes, and whether the database takes writes.
  caf::expected<fleet_overview> overview(int32_t batches = 20, int32_t failures = 20);
  caf::expected<fleet_config> update_config(const config_update& update);
  caf::expected<fleet_config> get_config();
  /// Clears the runtime overrides of the named settings (`max-workers` or `max_concurrent_workers`):
  /// each goes back to fleetd's config file.
  caf::expected<fleet_config> reset_config(const std::vector<std::string>& names);
  /// How fleetd records this client in its events: {"node", "peer", "tls", "client"} as JSON.
  caf::expected<std::string> identify(const std::string& name);
  /// The coordinator's aggregate: totals, success rate, average duration.
  caf::expected<result_summary> summary();

  const fleet_api_actor& manager() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// One chunked submit (fleet_client::open_upload): `add` sends chunks with two messages in flight,
/// so that fleetd stores one while the next crosses the wire; `seal` waits for them and makes the
/// batch visible. An error of any chunk names the task it starts at, counted across all chunks.
class fleet_client::upload {
public:
  upload(upload&&) noexcept;
  upload& operator=(upload&&) noexcept;
  /// Waits for the messages still in flight (an upload never sealed is dropped by fleetd later).
  ~upload();

  /// Stages `tasks`, split by fleetd's message size; waits only while two messages are in flight.
  /// The first error of any chunk sent so far is returned here or by `seal`, and ends the upload.
  caf::error add(std::vector<task> tasks);
  /// Waits for every staged chunk, then seals: the new batch's id (or, with `key`, the id of the
  /// batch stored before under it).
  caf::expected<std::string> seal(const std::string& key = {});
  const std::string& id() const;

private:
  friend class fleet_client;
  struct state;
  explicit upload(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

} // namespace fleet
