#include "fleet/daemon_config.hpp"

#include "fleet/autoscale.hpp"
#include "fleetd/error.hpp"
#include "fleet/store_options.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/transitions.hpp"

#include <caf/settings.hpp>
#include <fmt/format.h>
#include <spdlog/common.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace fleet {

namespace {

// The `[fleet]` options. Names are fixed by the public interface (issue 3).
const std::vector<option_spec>& fleet_options() {
  static const std::vector<option_spec> specs{
    {"db", value_kind::text, "SQLite database file; its directory is created; with store=postgres the local files (start journal, children, instance lock) are named after it (default var/fleet.db)"},
    {"store", value_kind::text, "sqlite: the embedded file fleet.db; postgres: the database fleet.postgres names, shared by any number of fleetd of which one is active (default sqlite)"},
    {"postgres", value_kind::text, "libpq connection string of the PostgreSQL database (store=postgres), e.g. \"host=db1 dbname=fleet user=fleetd\"; keep a password in ~/.pgpass rather than here"},
    {"failover-timeout", value_kind::duration, "store=postgres: a standby takes over within this long after the active fleetd died or lost the database, e.g. \"10s\" (default 10s)"},
    {"host", value_kind::text, "address to listen on (default 127.0.0.1, loopback only)"},
    {"port", value_kind::integer, "TCP port for CAF nodes and fleetctl; 0 picks a free one (default 4242)"},
    {"max-workers", value_kind::integer, "max_concurrent_workers, fleet-wide (default 10)"},
    {"worker-timeout", value_kind::integer, "worker_timeout in ms per attempt (default 300000)"},
    {"retry-failed-tasks", value_kind::boolean, "retry failed attempts: true|false (default true)"},
    {"max-retries", value_kind::integer, "retries after the first attempt (default 3)"},
    {"backoff-base", value_kind::integer, "first retry delay in ms (default 1000)"},
    {"backoff-factor", value_kind::real, "delay multiplier per retry (default 2)"},
    {"backoff-cap", value_kind::integer, "longest retry delay in ms (default 30000)"},
    {"synchronous", value_kind::text, "SQLite synchronous mode: off|normal|full (default full)"},
    {"max-db-size", value_kind::integer, "largest database file in MiB; beyond it fleetd reports the database full and takes no new work (default 0: no limit)"},
    {"drain-timeout", value_kind::integer, "ms that running attempts get to finish on SIGTERM (default 30000)"},
    {"orphan-grace", value_kind::integer, "at start, ms the programs a killed fleetd left running get between SIGTERM and SIGKILL (default 5000)"},
    {"log-level", value_kind::text, "trace|debug|info|warn|error|off (default info)"},
    {"commit-batch", value_kind::integer, "group commit: commit at once when this many changes wait and no group is being written; 16 times as many pause new attempts (default 512)"},
    {"commit-delay", value_kind::integer, "group commit: ms a change waits for others; 0 commits when the mailbox is empty (default 1)"},
    {"max-batch-tasks", value_kind::integer, "most tasks in one batch (default 10000000)"},
    {"max-task-data", value_kind::integer, "most bytes of JSON data in one task (default 1048576)"},
    {"max-task-result", value_kind::integer, "most bytes of one attempt's result; a bigger one fails the task, a longer error is cut (default 67108864)"},
    {"max-dependency-results", value_kind::integer, "most bytes of dependency results one task is given; a task with more fails at its start (default 67108864)"},
    {"max-id-length", value_kind::integer, "most bytes in a task id (default 256)"},
    {"max-pending-batches", value_kind::integer, "most unfinished batches; further submits are refused (default 10000)"},
    {"retain-finished", value_kind::duration, "finished batches older than this are deleted with their tasks and attempts, e.g. \"7d\"; 0 keeps everything (default 7d)"},
    {"retain-events", value_kind::duration, "events older than this are deleted, e.g. \"30d\"; 0 keeps everything (default 30d)"},
    {"archive-dir", value_kind::text, "directory where each finished batch is written (gzip JSON Lines) before retention deletes it; empty: none (default)"},
    {"max-delay", value_kind::duration, "furthest a delayed task may start after its submit, e.g. \"30d\" (default 365d)"},
    {"tls-cert", value_kind::text, "PEM certificate (chain) fleetd presents to clients; with tls-key and tls-ca: TLS with mutual authentication"},
    {"tls-key", value_kind::text, "PEM private key of tls-cert (no passphrase)"},
    {"tls-ca", value_kind::text, "PEM certificate of the CA that signs the clients fleetd accepts"},
    {"plaintext-loopback", value_kind::boolean, "accept plain TCP when host is a loopback address and no TLS is set (default false)"},
    {"autoscale", value_kind::boolean, "move max-workers with the backlog, between autoscale-min and autoscale-max (default false)"},
    {"autoscale-min", value_kind::integer, "autoscaling: fewest workers (default 1)"},
    {"autoscale-max", value_kind::integer, "autoscaling: most workers (default 100)"},
    {"autoscale-up-ratio", value_kind::real, "autoscaling: double the limit while more than this many tasks wait per running one (default 2)"},
    {"autoscale-idle", value_kind::integer, "autoscaling: halve the limit after this many ms idle (default 60000)"},
    {"autoscale-up-step", value_kind::integer, "autoscaling: grow by this many workers instead of doubling (default 0: double)"},
    {"autoscale-down-step", value_kind::integer, "autoscaling: shrink by this many workers instead of halving (default 0: halve)"},
    {"autoscale-down-ratio", value_kind::real, "autoscaling: shrink whenever fewer than this many tasks wait per running one, instead of after autoscale-idle (default 0: after idle)"},
    {"local-workers", value_kind::integer, "most attempts fleetd runs itself; the rest go to fleet-node processes; -1: up to max-workers (default -1)"},
    {"node-heartbeat", value_kind::integer, "ms between heartbeats to each fleet-node (default 1000)"},
    {"node-timeout", value_kind::integer, "a fleet-node that does not answer a heartbeat within this many ms is dropped and its attempts run again (default 5000)"},
    {"node-start-delay", value_kind::integer, "ms the start of an attempt on a fleet-node waits for its end, so that both are written as one row; 0 writes each start at once (default 20)"},
    {"node-names", value_kind::text, "any: a fleet-node joins under any free name; certificate: only under the common name of its TLS client certificate (needs TLS; default any)"},
    {"http-port", value_kind::integer, "HTTP port for Prometheus metrics (/metrics) and the web status page (/); 0 picks a free one, -1 turns HTTP off (default -1; config/fleetd.ini: 4280)"},
    {"http-host", value_kind::text, "address the HTTP port listens on (default 127.0.0.1)"},
    {"http-actions", value_kind::boolean, "the status page may cancel, pause and resume (loopback http-host only; default false: read-only)"},
    {"http-tokens-file", value_kind::text, "bearer tokens of the HTTP API /api/v1, one NAME TOKEN SCOPE (read|write) per line, not readable by others; without it the API is read-only and loopback-only (default \"\")"},
    {"http-tls-cert", value_kind::text, "PEM certificate (chain): the HTTP port serves HTTPS (with http-tls-key)"},
    {"http-tls-key", value_kind::text, "PEM private key of http-tls-cert (no passphrase)"},
    {"http-max-body", value_kind::integer, "MiB an HTTP request body may hold; a submit of more goes as JSON Lines in several requests (default 64)"},
    {"http-max-streams", value_kind::integer, "HTTP event streams and large uploads at once; more are refused with 503 (default 16)"},
    {"exec-allow", value_kind::text, "programs `exec` tasks may run, comma-separated argv[0] values; empty: no exec (default \"\")"},
    {"exec-env-allow", value_kind::text, "variables a task's exec env may set although they change what runs (LD_*, PATH, ...), comma-separated (default \"\": none)"},
    {"max-connections", value_kind::integer, "connections fleetd accepts at once on its CAF port; more are closed at once (default 1024, at most half the descriptor limit)"},
    {"max-connections-per-peer", value_kind::integer, "connections from one address at once (default 256)"},
    {"handshake-timeout", value_kind::integer, "ms a connection has to complete CAF's handshake (and TLS's) before it is closed (default 5000)"},
    {"max-message-size", value_kind::integer, "MiB a message from a client or node may hold; more closes its connection (default 256)"},
    {"start-check", value_kind::text, "quick: PRAGMA quick_check refuses a damaged database before anything is written (about 2 s per GiB cached, 20 s per GiB cold); off: skip it (default quick)"},
    {"max-interruptions", value_kind::integer, "a task whose attempts were lost this many times to a crash of fleetd or of their node fails for good (default 3)"},
  };
  return specs;
}

} // namespace

daemon_config::daemon_config()
  : strict_config("fleet", fleet_options(),
                  "usage: fleetd [--config-file=FILE] [--fleet.NAME=VALUE]...\n\n"
                  "Runs the fleet manager and publishes it for CAF nodes and fleetctl.\n"
                  "Options (section [fleet] in the config file, --fleet.NAME=VALUE on the command line,\n"
                  "which wins over the file):\n",
                  "\nCAF's own options: --long-help. Settings changed at runtime (fleetctl scale, config set)\n"
                  "are stored in the database and win over these on restart. Worker pools: sections\n"
                  "[pool.NAME] with argv, types and size (docs/WORKER-PROTOCOL.md). Recurring schedules:\n"
                  "sections [schedule.NAME] with cron (and tz) or every, tasks-file or tasks (README.md). Queues:\n"
                  "sections [queue.NAME] with max-workers, rate, weight, group-max-workers, paused.\n") {
  groups_ = {"pool", "schedule", "queue", "exec"};
  // CAF's middleman hands each message it receives to a BASP worker thread to deserialize, one more
  // wake-up on the way to the manager; read where it arrives, an attempt's outcome from a
  // fleet-node reaches the manager sooner: 1.2x the no-op throughput through a node on 2 cores
  // (docs/BENCHMARKS.md). The order of messages is CAF's either way. --middleman.workers=N wins.
  caf::put(content, "middleman.workers", 0);
  // A scheduler thread per core. CAF's default is at least 4: on 2 cores the two idle ones polled
  // (a 50 us sleep, a wake-up, again), which cost a tenth of fleetd's CPU; with 2 threads no-op
  // tasks ran 1.08-1.12x as fast (docs/BENCHMARKS.md, 2026-12-06). From 4 cores up it is CAF's
  // own choice. Task functions run on threads of their own either way. --scheduler.max-threads wins.
  caf::put(content, "scheduler.max-threads", size_t{std::max(1u, std::thread::hardware_concurrency())});
  // An idle scheduler thread of CAF's work stealing polls 500 times with a 50 us sleep between
  // (a wake-up each) before it waits on a condition, and fleetd's bursts of work come closer than
  // those 25 ms, so its idle threads never stopped waking. Waiting at once (woken by work from
  // outside, stealing from the other threads every 5 ms instead of CAF's 10): fleetd's CPU per
  // no-op task 13-16 us against 18-23, no-op tasks 1.18-1.38x as fast on 2 cores, and an idle
  // fleetd half the CPU (1 ms stole as fast and cost an idle fleetd twice CAF's default;
  // docs/BENCHMARKS.md, 2026-12-07). --work-stealing.moderate-poll-attempts and
  // --work-stealing.relaxed-sleep-duration win.
  caf::put(content, "work-stealing.moderate-poll-attempts", size_t{0});
  caf::put(content, "work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds{5}});
}

caf::error daemon_config::take_group(const std::string& name, const caf::settings& group, const std::string& where) {
  if (name == "schedule")
    return read_schedules(group, where, options.schedules);
  if (name == "queue")
    return read_queues(group, where, options.queues);
  if (name == "exec")
    return read_sandbox(group, where, "exec", options.exec_sandbox);
  return read_pools(group, where, options.pools);
}

caf::error daemon_config::apply() {
  text("db", options.db);
  text("store", options.store);
  text("postgres", options.postgres);
  duration("failover-timeout", options.failover_timeout_ms);
  text("host", options.host);
  integer("port", options.port);
  text("synchronous", options.synchronous);
  integer("drain-timeout", options.drain_timeout_ms);
  integer("orphan-grace", options.orphan_grace_ms);
  integer("max-db-size", options.max_db_size_mib);
  integer("commit-batch", options.commit_batch);
  integer("commit-delay", options.commit_delay_ms);
  text("log-level", options.log_level);
  integer("max-batch-tasks", max_batch_tasks_);
  integer("max-task-data", max_task_data_);
  integer("max-task-result", options.max_task_result);
  integer("max-dependency-results", options.max_dependency_results);
  integer("max-id-length", max_id_length_);
  integer("max-pending-batches", options.limits.max_pending_batches);
  duration("max-delay", options.limits.max_delay_ms);
  duration("retain-finished", options.retain_finished_ms);
  text("archive-dir", options.archive_dir);
  duration("retain-events", options.retain_events_ms);
  text("tls-cert", options.tls_cert);
  text("tls-key", options.tls_key);
  text("tls-ca", options.tls_ca);
  boolean("plaintext-loopback", options.plaintext_loopback);
  auto& scaling = options.autoscale;
  boolean("autoscale", scaling.enabled);
  integer("autoscale-min", autoscale_min_);
  integer("autoscale-max", autoscale_max_);
  integer("autoscale-idle", scaling.idle_ms);
  real("autoscale-up-ratio", scaling.up_ratio);
  real("autoscale-down-ratio", scaling.down_ratio);
  integer("autoscale-up-step", autoscale_up_step_);
  integer("autoscale-down-step", autoscale_down_step_);
  integer("local-workers", options.local_workers);
  integer("node-heartbeat", options.node_heartbeat_ms);
  integer("node-timeout", options.node_timeout_ms);
  integer("node-start-delay", options.node_start_delay_ms);
  text("node-names", options.node_names);
  integer("http-port", options.http_port);
  text("http-host", options.http_host);
  boolean("http-actions", options.http_actions);
  text("http-tokens-file", options.http_tokens_file);
  text("http-tls-cert", options.http_tls_cert);
  text("http-tls-key", options.http_tls_key);
  integer("http-max-body", options.http_max_body_mib);
  integer("http-max-streams", options.http_max_streams);
  std::string exec_allow;
  text("exec-allow", exec_allow);
  options.exec_allow = split_list(exec_allow);
  std::string exec_env_allow;
  text("exec-env-allow", exec_env_allow);
  options.exec_env_allow = split_list(exec_env_allow);
  integer("max-interruptions", options.max_interruptions);
  text("start-check", options.start_check);
  integer("max-connections", max_connections_);
  integer("max-connections-per-peer", max_connections_per_peer_);
  integer("handshake-timeout", handshake_timeout_ms_);
  integer("max-message-size", max_message_mib_);
  integer("max-workers", max_workers_);
  integer("worker-timeout", worker_timeout_ms_);
  integer("max-retries", max_retries_);
  integer("backoff-base", backoff_base_ms_);
  integer("backoff-cap", backoff_cap_ms_);
  boolean("retry-failed-tasks", retry_failed_tasks_);
  real("backoff-factor", backoff_factor_);
  if (auto err = check_ranges())
    return err;
  scaling.min_workers = static_cast<int32_t>(autoscale_min_);
  scaling.max_workers = static_cast<int32_t>(autoscale_max_);
  scaling.up_step = static_cast<int32_t>(autoscale_up_step_);
  scaling.down_step = static_cast<int32_t>(autoscale_down_step_);
  if (auto err = validate(scaling))
    return config_error("fleet." + error_text(err));
  if (auto err = validate(options.pools))
    return err;
  if (auto err = resolve_sandboxes(options.pools))
    return err;
  if (auto err = resolve(options.exec_sandbox, "exec"))
    return err;
  options.connections.max_connections = static_cast<size_t>(max_connections_);
  options.connections.max_connections_per_peer = static_cast<size_t>(max_connections_per_peer_);
  options.connections.handshake_timeout_ms = handshake_timeout_ms_;
  options.connections.max_message_bytes = static_cast<size_t>(max_message_mib_) << 20;
  options.limits.max_tasks_per_batch = static_cast<size_t>(max_batch_tasks_);
  options.limits.max_data_bytes = static_cast<size_t>(max_task_data_);
  options.limits.max_id_bytes = static_cast<size_t>(max_id_length_);
  auto& f = options.fleet;
  f.max_concurrent_workers = static_cast<int32_t>(max_workers_);
  f.worker_timeout_ms = worker_timeout_ms_;
  f.retry_failed_tasks = retry_failed_tasks_;
  f.max_retries = static_cast<int32_t>(max_retries_);
  f.backoff_base_ms = backoff_base_ms_;
  f.backoff_factor = backoff_factor_;
  f.backoff_cap_ms = backoff_cap_ms_;
  if (auto err = validate(f))
    return config_error("fleet." + error_text(err));
  return caf::none;
}

caf::error daemon_config::check_ranges() const {
  constexpr auto week_ms = config_bounds::max_duration_ms;
  if (options.db.empty())
    return config_error("fleet.db must name a file");
  if (options.host.empty())
    return config_error("fleet.host must name an address, e.g. 127.0.0.1");
  if (options.store != "sqlite" && options.store != "postgres")
    return config_error(fmt::format("fleet.store must be sqlite or postgres (got \"{}\")", options.store));
  if (options.store == "postgres" && options.postgres.empty())
    return config_error("fleet.store=postgres needs fleet.postgres, the connection string of the database "
                        "(e.g. \"host=db1 dbname=fleet user=fleetd\")");
  if (options.store == "sqlite" && !options.postgres.empty())
    return config_error("fleet.postgres is set but fleet.store is sqlite: set fleet.store=postgres to use it, or "
                        "remove fleet.postgres");
  if (options.store == "postgres" && options.max_db_size_mib != 0)
    return config_error("fleet.max-db-size bounds the SQLite file: with fleet.store=postgres, bound the "
                        "database with PostgreSQL's own means (a tablespace on a volume of its own)");
  if (auto err = range("failover-timeout", options.failover_timeout_ms, 3000, 600'000, " ms"))
    return err;
  if (auto err = validate_synchronous(options.synchronous))
    return config_error("fleet." + error_text(err));
  if (spdlog::level::from_str(options.log_level) == spdlog::level::off && options.log_level != "off")
    return config_error(fmt::format("fleet.log-level must be trace, debug, info, warn, error or off (got \"{}\")",
                                    options.log_level));
  if (auto err = range("port", options.port, 0, 65535))
    return err;
  if (auto err = range("http-port", options.http_port, -1, 65535))
    return err;
  if (options.http_host.empty())
    return config_error("fleet.http-host must name an address, e.g. 127.0.0.1");
  if (options.http_tls_cert.empty() != options.http_tls_key.empty())
    return config_error("fleet.http-tls-cert and fleet.http-tls-key go together: set both, or neither");
  if (auto err = range("http-max-body", options.http_max_body_mib, 1, 4096, " MiB"))
    return err;
  if (auto err = range("http-max-streams", options.http_max_streams, 1, 1024))
    return err;
  if (auto err = range("max-db-size", options.max_db_size_mib, 0, int64_t{1} << 24, " MiB"))
    return err;
  if (auto err = range("orphan-grace", options.orphan_grace_ms, 0, 600'000, " ms"))
    return err;
  if (auto err = range("drain-timeout", options.drain_timeout_ms, 0, week_ms, " ms"))
    return err;
  if (auto err = range("commit-batch", options.commit_batch, 1, 1'000'000))
    return err;
  if (auto err = range("commit-delay", options.commit_delay_ms, 0, 1000, " ms"))
    return err;
  if (auto err = range("max-batch-tasks", max_batch_tasks_, 1, 100'000'000))
    return err;
  if (auto err = range("max-task-data", max_task_data_, 2, int64_t{64} << 20, " bytes"))
    return err;
  // Below SQLite's own limit on a value (SQLITE_MAX_LENGTH, 1,000,000,000 bytes), with room for
  // the task's data in the same row: a result SQLite could not bind would fail every group commit.
  if (auto err = range("max-task-result", options.max_task_result, 1024, int64_t{512} << 20, " bytes"))
    return err;
  // The read of runnable tasks builds no bigger object (transitions.hpp).
  if (auto err = range("max-dependency-results", options.max_dependency_results, 1024, max_dependency_object_bytes,
                       " bytes"))
    return err;
  if (auto err = range("max-id-length", max_id_length_, 1, 4096, " bytes"))
    return err;
  if (options.retain_finished_ms != 0)
    if (auto err = range("retain-finished", options.retain_finished_ms, 60'000, int64_t{100} * 365 * 86'400'000, " ms (or 0)"))
      return err;
  if (options.retain_events_ms != 0)
    if (auto err = range("retain-events", options.retain_events_ms, 60'000, int64_t{100} * 365 * 86'400'000, " ms (or 0)"))
      return err;
  if (auto err = range("max-delay", options.limits.max_delay_ms, 1000, int64_t{10} * 365 * 86'400'000, " ms"))
    return err;
  if (auto err = range("max-pending-batches", options.limits.max_pending_batches, 1, 10'000'000))
    return err;
  if (auto err = range("local-workers", options.local_workers, -1, config_bounds::max_workers))
    return err;
  if (auto err = range("node-heartbeat", options.node_heartbeat_ms, 10, 3'600'000, " ms"))
    return err;
  if (auto err = range("node-start-delay", options.node_start_delay_ms, 0, 10'000, " ms"))
    return err;
  if (auto err = range("node-timeout", options.node_timeout_ms, options.node_heartbeat_ms, week_ms,
                       " ms (at least node-heartbeat)"))
    return err;
  if (options.node_names != "any" && options.node_names != "certificate")
    return config_error(fmt::format("fleet.node-names must be any or certificate (got \"{}\")", options.node_names));
  if (options.node_names == "certificate" && options.tls_cert.empty())
    return config_error("fleet.node-names = \"certificate\" needs TLS (fleet.tls-cert, tls-key and tls-ca): "
                        "without it a node has no certificate to take its name from");
  for (const auto& program : options.exec_allow)
    if (program.find_first_of(" \t") != std::string::npos)
      return config_error(fmt::format("fleet.exec-allow names programs separated by commas, without "
                                      "arguments (got \"{}\")", program));
  for (const auto& name : options.exec_env_allow)
    if (name.empty() || name.find_first_of("= \t") != std::string::npos)
      return config_error(fmt::format("fleet.exec-env-allow names environment variables separated by commas "
                                      "(got \"{}\")", name));
  if (auto err = range("max-interruptions", options.max_interruptions, 1, 1000))
    return err;
  if (options.start_check != "quick" && options.start_check != "off")
    return config_error(fmt::format("fleet.start-check must be quick or off (got \"{}\")", options.start_check));
  if (auto err = range("max-connections", max_connections_, 1, 1'000'000))
    return err;
  if (auto err = range("max-connections-per-peer", max_connections_per_peer_, 1, max_connections_,
                       " (at most max-connections)"))
    return err;
  if (auto err = range("handshake-timeout", handshake_timeout_ms_, 100, 600'000, " ms"))
    return err;
  // A message must hold one task of the largest data allowed, with room for the rest of it.
  auto least_mib = (max_task_data_ >> 20) + 2;
  if (auto err = range("max-message-size", max_message_mib_, least_mib, 4095,
                       " MiB (at least max-task-data + 2 MiB)"))
    return err;
  if (auto err = range("autoscale-min", autoscale_min_, 1, config_bounds::max_workers))
    return err;
  if (auto err = range("autoscale-max", autoscale_max_, autoscale_min_, config_bounds::max_workers,
                       " (at least autoscale-min)"))
    return err;
  if (auto err = range("autoscale-up-step", autoscale_up_step_, 0, config_bounds::max_workers))
    return err;
  if (auto err = range("autoscale-down-step", autoscale_down_step_, 0, config_bounds::max_workers))
    return err;
  if (auto err = range("max-workers", max_workers_, 1, config_bounds::max_workers))
    return err;
  if (auto err = range("worker-timeout", worker_timeout_ms_, 1, week_ms, " ms"))
    return err;
  if (auto err = range("max-retries", max_retries_, 0, config_bounds::max_retries))
    return err;
  if (auto err = range("backoff-base", backoff_base_ms_, 0, week_ms, " ms"))
    return err;
  if (auto err = range("backoff-cap", backoff_cap_ms_, backoff_base_ms_, week_ms, " ms (at least backoff-base)"))
    return err;
  if (!(backoff_factor_ >= config_bounds::min_backoff_factor
        && backoff_factor_ <= config_bounds::max_backoff_factor))
    return config_error(fmt::format("fleet.backoff-factor must be between {} and {} (got {})",
                                    config_bounds::min_backoff_factor,
                                    config_bounds::max_backoff_factor, backoff_factor_));
  return caf::none;
}

} // namespace fleet
