#pragma once

#include "fleet/sandbox_config.hpp"

#include "fleet/connection_limits.hpp"
#include "fleet/autoscale.hpp"
#include "fleetd/fleet_config.hpp"
#include "fleet/pool_spec.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/schedule_config.hpp"
#include "fleet/strict_config.hpp"
#include "fleet/validation.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fleet {

/// What fleetd runs with, from `[fleet]` in its config file and `--fleet.NAME=` on the command line.
struct daemon_options {
  /// `[pool.NAME]` sections: worker pools fleetd keeps running.
  std::vector<pool_spec> pools;
  /// `[schedule.NAME]` sections: recurring schedules, added or updated at start.
  std::vector<schedule_spec> schedules;
  /// `[queue.NAME]` sections: queues and their limits (runtime changes win on restart).
  std::map<std::string, queue_limits> queues;
  std::string db = "var/fleet.db";
  std::string store = "sqlite";        ///< sqlite | postgres
  std::string postgres;                ///< fleet.postgres: libpq connection string (may hold a password)
  int64_t failover_timeout_ms = 10000; ///< fleet.failover-timeout: the lease's ttl on PostgreSQL
  std::string host = "127.0.0.1";
  int64_t port = 4242; ///< 0 picks a free port (logged)
  std::string synchronous = "full";
  int64_t drain_timeout_ms = 30000;
  int64_t orphan_grace_ms = 5000; ///< at start: SIGTERM to SIGKILL for programs a killed fleetd left
  int64_t max_db_size_mib = 0; ///< 0: no limit
  std::string log_level = "info";
  int64_t commit_batch = 512;  ///< group commit: commit at once when this many changes wait (and none are being written)
  int64_t commit_delay_ms = 1; ///< group commit: wait this long for more changes (0: mailbox drained)
  fleet_config fleet; ///< max-workers, worker-timeout, retries, backoff
  submit_limits limits; ///< max-batch-tasks, max-task-data, max-id-length, max-pending-batches
  std::vector<std::string> exec_allow; ///< programs `exec` tasks may run; empty: none
  std::vector<std::string> exec_env_allow; ///< variables a task's env may set although they change what runs
  child_sandbox exec_sandbox; ///< `[exec]`: what the programs of `exec` tasks get
  int64_t max_interruptions = 3; ///< lost attempts after which a task fails for good
  int64_t retain_finished_ms = int64_t{7} * 86'400'000; ///< fleet.retain-finished; 0 keeps everything
  int64_t retain_events_ms = int64_t{30} * 86'400'000;  ///< fleet.retain-events; 0 keeps everything
  std::string archive_dir; ///< fleet.archive-dir: pruned batches are archived there first; empty: not
  std::string start_check = "quick"; ///< quick | off: PRAGMA quick_check before anything is written
  connection_limits connections; ///< max-connections, -per-peer, handshake-timeout, max-message-size
  std::string tls_cert; ///< TLS with mutual authentication: all three, or none
  std::string tls_key;
  std::string tls_ca;
  bool plaintext_loopback = false; ///< without TLS, accept plain TCP on a loopback host
  autoscale_policy autoscale; ///< autoscale, autoscale-min/-max/-up-ratio/-idle
  int64_t local_workers = -1;        ///< attempts fleetd runs itself; -1: up to max-workers
  int64_t node_heartbeat_ms = 1000;  ///< between heartbeats to each fleet-node
  int64_t node_timeout_ms = 5000;    ///< a node silent this long is dropped
  int64_t node_start_delay_ms = 20;  ///< a node attempt's start waits this long for its end
  int64_t max_task_result = int64_t{64} << 20; ///< bytes of one attempt's result (and of its error)
  int64_t max_dependency_results = int64_t{64} << 20; ///< bytes of dependency results one task is given
  std::string node_names = "any";    ///< any | certificate: a node joins under its TLS certificate's common name
  int64_t http_port = -1;              ///< metrics and status page; 0 picks a free port, -1: off
  std::string http_host = "127.0.0.1";
  bool http_actions = false;           ///< the status page may cancel, pause and resume
  std::string http_tokens_file;        ///< bearer tokens of /api/v1 (NAME TOKEN SCOPE per line); empty: read-only, loopback
  std::string http_tls_cert;           ///< the HTTP port serves HTTPS with this certificate and key
  std::string http_tls_key;
  int64_t http_max_body_mib = 64;      ///< a request body (a submit) may hold this much
  int64_t http_max_streams = 16;       ///< event streams and large uploads at once
};

/// fleetd's CAF configuration: CAF's own options plus the `fleet` group, checked strictly.
class daemon_config : public strict_config {
public:
  daemon_config();

  daemon_options options;

private:
  caf::error apply() override;
  caf::error take_group(const std::string& name, const caf::settings& group, const std::string& where) override;
  caf::error check_ranges() const;
  int64_t max_workers_ = 10;
  int64_t max_retries_ = 3;
  int64_t worker_timeout_ms_ = 300000;
  bool retry_failed_tasks_ = true;
  int64_t backoff_base_ms_ = 1000;
  double backoff_factor_ = 2.0;
  int64_t backoff_cap_ms_ = 30000;
  int64_t max_batch_tasks_ = 10'000'000;
  int64_t max_task_data_ = 1 << 20;
  int64_t max_id_length_ = 256;
  int64_t max_connections_ = 1024;
  int64_t max_connections_per_peer_ = 256;
  int64_t handshake_timeout_ms_ = 5000;
  int64_t max_message_mib_ = 256;
  int64_t autoscale_min_ = autoscale_policy{}.min_workers;
  int64_t autoscale_max_ = autoscale_policy{}.max_workers;
  int64_t autoscale_up_step_ = 0;
  int64_t autoscale_down_step_ = 0;
};

} // namespace fleet
