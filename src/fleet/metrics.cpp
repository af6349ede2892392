#include "fleet/metrics.hpp"
#include "fleetd/version.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

namespace fleet {

histogram::histogram(std::vector<double> bounds_s) : bounds_s_(std::move(bounds_s)) {
  if (bounds_s_.size() > max_buckets || !std::is_sorted(bounds_s_.begin(), bounds_s_.end()))
    throw std::invalid_argument("histogram bounds must be ascending, at most max_buckets");
  for (auto b : bounds_s_)
    bounds_us_.push_back(std::llround(b * 1e6));
}

void histogram::observe_us(int64_t us) {
  us = std::max<int64_t>(us, 0);
  auto i = std::lower_bound(bounds_us_.begin(), bounds_us_.end(), us) - bounds_us_.begin();
  counts_[static_cast<size_t>(i)].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
  snapshot out;
  out.bounds_s = bounds_s_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_s_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    out.cumulative.push_back(running);
  }
  out.sum_s = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
  return out;
}

void fleet_metrics::count(const attempt_ended& end) {
  switch (end.next) {
    case task_disposition::succeeded: tasks_succeeded.add(); break;
    case task_disposition::failed: tasks_failed.add(); break;
    case task_disposition::retry: tasks_retried.add(); break;
    case task_disposition::cancelled: tasks_cancelled.add(); break;
    case task_disposition::requeue: break;
  }
  // A poison task's last attempt is interrupted and fails the task: it counts as both.
  if (end.outcome == attempt_outcome::interrupted)
    tasks_interrupted.add();
  // Only attempts that ran their course: a cancelled or interrupted one says nothing of the task.
  if (end.outcome == attempt_outcome::succeeded || end.outcome == attempt_outcome::failed
      || end.outcome == attempt_outcome::timed_out)
    attempt_duration.observe_ms(end.duration_ms);
}

namespace {

using out_it = std::back_insert_iterator<std::string>;

void header(out_it out, const char* name, const char* type, const char* help) {
  fmt::format_to(out, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void write_counter(out_it out, const char* name, const char* help, uint64_t value) {
  header(out, name, "counter", help);
  fmt::format_to(out, "{} {}\n", name, value);
}

void write_gauge(out_it out, const char* name, const char* help, int64_t value) {
  header(out, name, "gauge", help);
  fmt::format_to(out, "{} {}\n", name, value);
}

void write_histogram(out_it out, const char* name, const char* help, const histogram& h) {
  header(out, name, "histogram", help);
  auto s = h.read();
  for (size_t i = 0; i < s.bounds_s.size(); ++i)
    fmt::format_to(out, "{}_bucket{{le=\"{}\"}} {}\n", name, s.bounds_s[i], s.cumulative[i]);
  fmt::format_to(out, "{}_bucket{{le=\"+Inf\"}} {}\n", name, s.cumulative.back());
  fmt::format_to(out, "{}_sum {}\n", name, s.sum_s);
  fmt::format_to(out, "{}_count {}\n", name, s.cumulative.back());
}

} // namespace

std::string render_prometheus(const fleet_metrics& m, const fleet_stats* stats) {
  std::string text;
  auto out = std::back_inserter(text);
  header(out, "fleetd_build_info", "gauge", "fleetd's version, as a label.");
  fmt::format_to(out, "fleetd_build_info{{version=\"{}\"}} 1\n", FLEETD_VERSION);
  write_counter(out, "fleetd_batches_submitted_total", "Batches accepted since fleetd started.",
                m.batches_submitted.value());
  write_counter(out, "fleetd_tasks_submitted_total", "Tasks accepted since fleetd started.",
                m.tasks_submitted.value());
  write_counter(out, "fleetd_tasks_succeeded_total", "Tasks that succeeded since fleetd started.",
                m.tasks_succeeded.value());
  write_counter(out, "fleetd_tasks_failed_total",
                "Tasks that failed with no retry left since fleetd started.", m.tasks_failed.value());
  write_counter(out, "fleetd_tasks_retried_total",
                "Failed attempts scheduled to run again since fleetd started.", m.tasks_retried.value());
  write_counter(out, "fleetd_tasks_cancelled_total", "Tasks cancelled since fleetd started.",
                m.tasks_cancelled.value());
  write_counter(out, "fleetd_tasks_interrupted_total",
                "Attempts cut short by a shutdown, a crash or a lost node, to run again, since fleetd "
                "started (a crash's are counted at the next start).",
                m.tasks_interrupted.value());
  write_counter(out, "fleetd_tasks_replayed_total", "Failed tasks replayed since fleetd started.",
                m.tasks_replayed.value());
  write_counter(out, "fleetd_pruned_batches_total",
                "Finished batches deleted by retention (fleet.retain-finished) since fleetd started.",
                m.pruned_batches.value());
  write_counter(out, "fleetd_pruned_tasks_total", "Tasks deleted with their batches by retention since fleetd started.",
                m.pruned_tasks.value());
  write_counter(out, "fleetd_pruned_events_total",
                "Events deleted by retention (fleet.retain-events) since fleetd started.", m.pruned_events.value());
  write_counter(out, "fleetd_pruned_bytes_total",
                "Bytes of the database file returned to the file system after pruning since fleetd started.",
                m.pruned_bytes.value());
  write_counter(out, "fleetd_archived_batches_total",
                "Finished batches written to fleet.archive-dir before retention deleted them.",
                m.archived_batches.value());
  write_counter(out, "fleetd_archived_bytes_total", "Compressed bytes of those archives.",
                m.archived_bytes.value());
  if (stats) {
    write_gauge(out, "fleetd_tasks_pending",
                "Tasks that may start now or after a retry's backoff, not running.", stats->pending_tasks);
    write_gauge(out, "fleetd_tasks_scheduled", "Delayed tasks waiting for their start time.", stats->scheduled_tasks);
    write_gauge(out, "fleetd_tasks_running", "Attempts running now.", stats->running_tasks);
    write_gauge(out, "fleetd_workers_limit", "max_concurrent_workers: attempts that may run at once.",
                stats->max_concurrent_workers);
    write_gauge(out, "fleetd_workers_active", "Workers running an attempt now.", stats->active_workers);
    write_gauge(out, "fleetd_fleet_paused", "1 while the whole fleet is paused.", stats->paused ? 1 : 0);
    write_gauge(out, "fleetd_batches", "Batches in the database.", stats->total_batches);
  }
  write_gauge(out, "fleetd_manager_up", "1 if the fleet manager answered this scrape in time.", stats ? 1 : 0);
  write_gauge(out, "fleetd_nodes", "fleetd's own workers plus the joined fleet-nodes.", m.nodes.value());
  write_gauge(out, "fleetd_subscriptions", "Completion notifications promised: one per batch and subscriber.",
              m.subscriptions.value());
  write_gauge(out, "fleetd_subscribers", "Actors (clients) holding a subscription.", m.subscribers.value());
  write_gauge(out, "fleetd_storage_writable",
              "1 while the database takes writes; 0 while fleetd refuses new work for want of room or rights.",
              m.storage_writable.value());
  write_histogram(out, "fleetd_attempt_duration_seconds",
                  "Attempts that succeeded, failed or timed out, by duration.", m.attempt_duration);
  write_histogram(out, "fleetd_queue_wait_seconds",
                  "From a task becoming runnable (submitted, retry due, requeued) to its attempt's start.",
                  m.queue_wait);
  write_histogram(out, "fleetd_sqlite_commit_seconds",
                  "Each write transaction of fleetd's writer, BEGIN to COMMIT (fsync included).",
                  m.sqlite_commit);
  return text;
}

std::string render_queue_metrics(const std::vector<queue_info>& queues) {
  std::string text;
  auto out = std::back_inserter(text);
  // Queue names are letters, digits, '.', '_' and '-': safe as label values as they are.
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    header(out, name, type, help);
    for (const auto& q : queues)
      fmt::format_to(out, "{}{{queue=\"{}\"}} {}\n", name, q.name, value(q));
  };
  family("fleetd_queue_pending", "gauge", "Runnable tasks of the queue waiting to start.",
         [](const queue_info& q) { return q.pending; });
  family("fleetd_queue_running", "gauge", "Attempts of the queue running now.",
         [](const queue_info& q) { return q.running; });
  family("fleetd_queue_started_total", "counter", "Attempts of the queue started since fleetd started.",
         [](const queue_info& q) { return q.started; });
  family("fleetd_queue_groups_running", "gauge", "Groups of the queue with an attempt running now.",
         [](const queue_info& q) { return q.groups; });
  family("fleetd_queue_max_workers", "gauge", "The queue's max-workers (0: no limit of its own).",
         [](const queue_info& q) { return q.limits.max_workers; });
  family("fleetd_queue_rate_tokens", "gauge", "Attempt starts the queue's rate allows now (0 without a rate).",
         [](const queue_info& q) { return q.tokens; });
  family("fleetd_queue_paused", "gauge", "1 while the queue is paused.",
         [](const queue_info& q) { return q.limits.paused ? 1 : 0; });
  return text;
}

} // namespace fleet
