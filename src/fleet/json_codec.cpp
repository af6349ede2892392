#include "fleet/json_codec.hpp"

#include "fleet/json_text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fleet {

namespace {

/// Whether JSON text may be embedded as it is: valid, and shallow enough to be written again.
bool embeddable(const std::string& text) {
  return !text.empty() && json_nesting(text) <= max_json_nesting && nlohmann::json::accept(text);
}

/// Task data and results are JSON text: embed them as JSON, or as a string if they are not.
nlohmann::json embedded(const std::string& text) {
  if (text.empty())
    return nullptr;
  if (json_nesting(text) > max_json_nesting)
    return text;
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  return parsed.is_discarded() ? nlohmann::json(text) : parsed;
}

nlohmann::json time_or_null(int64_t ms) {
  return ms == 0 ? nlohmann::json(nullptr) : nlohmann::json(ms);
}

} // namespace

nlohmann::json to_json(const batch_status& x) {
  return {{"batch_id", x.batch_id},       {"status", to_string(x.status)},
          {"total", x.total},             {"completed", x.completed},
          {"failed", x.failed},           {"cancelled", x.cancelled},
          {"progress", x.progress},       {"created_at", x.created_at},
          {"started_at", time_or_null(x.started_at)}, {"finished_at", time_or_null(x.finished_at)},
          {"paused", x.paused},           {"scheduled", x.scheduled},
          {"next_run_at", time_or_null(x.next_run_at)}};
}

nlohmann::json to_json(const task_result& x) {
  nlohmann::json out{{"task_id", x.task_id}, {"success", x.success}, {"attempts", x.attempts},
                     {"duration_ms", x.duration_ms}};
  out["result"] = x.success ? embedded(x.result) : nlohmann::json(nullptr);
  out["error"] = x.success ? nlohmann::json(nullptr) : nlohmann::json(x.error);
  return out;
}

std::string to_json_text(const task_result& x) {
  std::string result = "null";
  if (x.success)
    result = embeddable(x.result) ? json_compact(x.result) : dump_json(embedded(x.result));
  // The keys in nlohmann's (sorted) order, as to_json writes them.
  return fmt::format(R"({{"attempts":{},"duration_ms":{},"error":{},"result":{},"success":{},"task_id":{}}})",
                     x.attempts, x.duration_ms, x.success ? "null" : dump_json(x.error), result,
                     x.success ? "true" : "false", dump_json(x.task_id));
}

std::string to_json_text(const dead_letter& x) {
  return dump_json(to_json(x));
}

nlohmann::json to_json(const std::vector<task_result>& xs) {
  auto out = nlohmann::json::array();
  for (const auto& x : xs)
    out.push_back(to_json(x));
  return out;
}

nlohmann::json to_json(const fleet_stats& x) {
  return {{"total_batches", x.total_batches},   {"total_tasks", x.total_tasks},
          {"completed_tasks", x.completed_tasks}, {"failed_tasks", x.failed_tasks},
          {"cancelled_tasks", x.cancelled_tasks}, {"pending_tasks", x.pending_tasks},
          {"running_tasks", x.running_tasks},   {"retries", x.retries},
          {"active_workers", x.active_workers}, {"max_concurrent_workers", x.max_concurrent_workers},
          {"paused", x.paused}, {"scheduled_tasks", x.scheduled_tasks}};
}

nlohmann::json to_json(const worker_info& x) {
  nlohmann::json out{{"worker_id", x.worker_id},   {"batch_id", x.batch_id},
                     {"task_id", x.task_id},       {"attempt", x.attempt},
                     {"status", to_string(x.status)}, {"spawned_at", x.spawned_at},
                     {"completed_at", time_or_null(x.completed_at)}, {"node", x.node}};
  out["progress"] = x.progress < 0 ? nlohmann::json(nullptr) : nlohmann::json(x.progress);
  out["note"] = x.progress < 0 ? nlohmann::json(nullptr) : nlohmann::json(x.note);
  return out;
}

nlohmann::json to_json(const node_info& x) {
  return {{"name", x.name},
          {"types", x.types},
          {"capacity", x.capacity < 0 ? nlohmann::json(nullptr) : nlohmann::json(x.capacity)},
          {"running", x.running},
          {"joined_at", time_or_null(x.joined_at)},
          {"last_heartbeat", x.last_heartbeat}};
}

nlohmann::json to_json(const dead_letter& x) {
  return {{"batch_id", x.batch_id}, {"task_id", x.task_id}, {"type", x.type},
          {"attempts", x.attempts}, {"error", x.error}, {"failed_at", time_or_null(x.failed_at)}};
}

nlohmann::json to_json(const std::vector<node_info>& xs) {
  auto out = nlohmann::json::array();
  for (const auto& x : xs)
    out.push_back(to_json(x));
  return out;
}

nlohmann::json to_json(const fleet_overview& x) {
  auto batches = nlohmann::json::array();
  for (const auto& b : x.batches)
    batches.push_back(to_json(b));
  auto failures = nlohmann::json::array();
  for (const auto& f : x.failures)
    failures.push_back(to_json(f));
  return {{"at", x.at},
          {"stats", to_json(x.stats)},
          {"batches", std::move(batches)},
          {"workers", to_json(x.workers)},
          {"failures", std::move(failures)},
          {"nodes", to_json(x.nodes)},
          {"storage_error", x.storage_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.storage_error)}};
}

std::string node_joined_detail(const node_announcement& a) {
  return dump_json({{"node", a.name}, {"types", a.types}, {"capacity", a.capacity}});
}

std::string node_dropped_detail(const std::string& name, const std::string& reason, int32_t interrupted) {
  return dump_json({{"node", name}, {"reason", reason}, {"interrupted", interrupted}});
}

nlohmann::json to_json(const std::vector<worker_info>& xs) {
  auto out = nlohmann::json::array();
  for (const auto& x : xs)
    out.push_back(to_json(x));
  return out;
}

nlohmann::json to_json(const fleet_config& x) {
  return {{"max_concurrent_workers", x.max_concurrent_workers},
          {"worker_timeout_ms", x.worker_timeout_ms},
          {"retry_failed_tasks", x.retry_failed_tasks},
          {"max_retries", x.max_retries},
          {"backoff_base_ms", x.backoff_base_ms},
          {"backoff_factor", x.backoff_factor},
          {"backoff_cap_ms", x.backoff_cap_ms}};
}

nlohmann::json to_json(const result_summary& x) {
  return {{"total_results", x.total_results}, {"success_count", x.success_count},
          {"failure_count", x.failure_count}, {"success_rate", x.success_rate},
          {"average_duration_ms", x.average_duration_ms}};
}

} // namespace fleet
