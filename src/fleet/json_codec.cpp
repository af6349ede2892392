#include "fleet/json_codec.hpp"

#include "fleetd/error.hpp"
#include "fleet/json_text.hpp"
#include "fleet/task_file.hpp"
#include "fleet/text.hpp"
#include "fleet/time_text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>

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
          {"paused", x.paused},           {"scheduled", x.scheduled}, {"blocked", x.blocked},
          {"next_run_at", time_or_null(x.next_run_at)},
          {"key", x.key.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.key)}};
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

std::string to_json_text(const task_entry& x) {
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

nlohmann::json to_json(const task_entry& x) {
  return {{"task_id", x.task_id}, {"state", x.state}, {"attempts", x.attempts},
          {"progress", x.progress < 0 ? nlohmann::json(nullptr) : nlohmann::json(x.progress)},
          {"note", x.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(x.note)}, {"after", x.after}};
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

std::string orphan_stopped_detail(const std::string& node, const stopped_orphan& o) {
  nlohmann::json out{{"pid", o.pid}, {"label", o.label}, {"started_at", o.started_at}, {"signal", o.how}};
  if (!node.empty())
    out["node"] = node;
  return dump_json(out);
}

std::string node_dropped_detail(const std::string& name, const std::string& reason, int32_t interrupted) {
  return dump_json({{"node", name}, {"reason", reason}, {"interrupted", interrupted}});
}

std::string run_started_detail(const std::string& version, int64_t pid,
                               const std::vector<std::pair<std::string, std::string>>& options,
                               const fleet_config& cfg, const config_update& overrides) {
  auto value = [](const config_value& v) {
    return std::visit([](auto x) { return nlohmann::json(x); }, v);
  };
  auto in_force = nlohmann::json::object();
  for (const auto& field : config_fields())
    if (auto v = get_field(cfg, field.name))
      in_force[field.option] = value(*v);
  auto stored = nlohmann::json::object();
  for (const auto& [field, v] : set_fields(overrides))
    stored[field.option] = value(v);
  auto daemon = nlohmann::json::object();
  for (const auto& [name, text] : options)
    daemon[name] = text;
  return dump_json(
    {{"version", version}, {"pid", pid}, {"options", daemon}, {"config", in_force}, {"overrides", stored}});
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

nlohmann::json to_json(const schedule_info& x) {
  auto or_null = [](auto value, bool present) { return present ? nlohmann::json(value) : nlohmann::json(nullptr); };
  const auto& spec = x.spec;
  nlohmann::json tasks = nlohmann::json::array();
  for (const auto& t : spec.tasks) {
    nlohmann::json task{{"id", t.id}, {"type", t.type}, {"data", embedded(t.data)}, {"priority", t.priority}};
    if (t.delay_ms != 0)
      task["delay_ms"] = t.delay_ms;
    if (!t.after.empty())
      task["after"] = t.after;
    if (!t.queue.empty())
      task["queue"] = t.queue;
    if (!t.group.empty())
      task["group"] = t.group;
    task.update(policy_members(t.policy));
    tasks.push_back(std::move(task));
  }
  nlohmann::json out = {{"name", spec.name},
          {"cron", or_null(spec.cron, !spec.cron.empty())},
          {"tz", or_null(spec.time_zone, !spec.time_zone.empty())},
          {"every", or_null(format_duration_ms(spec.every_ms), spec.every_ms != 0)},
          {"every_ms", or_null(spec.every_ms, spec.every_ms != 0)},
          {"missed", spec.missed},
          {"overlap", spec.overlap},
          {"template_tasks", x.template_tasks},
          {"paused", x.paused},
          {"source", x.source},
          {"created_at", x.created_at},
          {"updated_at", x.updated_at},
          {"next_run_at", or_null(x.next_run_at, x.next_run_at != 0)},
          {"last_slot", or_null(x.last_slot, x.last_slot != 0)},
          {"last_batch_id", or_null(x.last_batch_id, !x.last_batch_id.empty())},
          {"last_batch_state", or_null(x.last_batch_state, !x.last_batch_state.empty())},
          {"fired", x.fired},
          {"skipped", x.skipped},
          {"missed_slots", x.missed}};
  // A list leaves the templates out (x.spec.tasks empty); one schedule has it.
  if (!spec.tasks.empty())
    out["tasks"] = std::move(tasks);
  return out;
}

nlohmann::json to_json(const std::vector<schedule_info>& xs) {
  auto out = nlohmann::json::array();
  for (const auto& x : xs)
    out.push_back(to_json(x));
  return out;
}

caf::expected<schedule_spec> schedule_from_json(const nlohmann::json& x, const std::string& name) {
  auto bad = [](const std::string& what) { return caf::make_error(errc::invalid_argument, what); };
  if (!x.is_object())
    return bad("a schedule is a JSON object: {\"name\", \"cron\" or \"every\", \"tasks\": [...]}");
  schedule_spec spec;
  spec.name = name;
  bool has_tasks = false;
  for (const auto& item : x.items()) {
    // Named, not a structured binding: clang 14 does not capture those in lambdas.
    const auto& key = item.key();
    const auto& value = item.value();
    auto text = [&](std::string& out) -> caf::error {
      if (!value.is_string())
        return bad(fmt::format("\"{}\" must be a string", key));
      out = value.get<std::string>();
      return caf::none;
    };
    caf::error err;
    if (key == "name") {
      std::string given;
      err = text(given);
      if (!err && !name.empty() && given != name)
        err = bad(fmt::format("the body names schedule {} but the path {}", printable(given, 80), printable(name, 80)));
      spec.name = given;
    } else if (key == "cron") {
      err = text(spec.cron);
    } else if (key == "tz") {
      err = text(spec.time_zone);
    } else if (key == "missed") {
      err = text(spec.missed);
    } else if (key == "overlap") {
      if (!value.is_boolean())
        err = bad("\"overlap\" must be true or false");
      else
        spec.overlap = value.get<bool>();
    } else if (key == "every") {
      std::optional<int64_t> ms;
      if (value.is_number_integer())
        ms = value.get<int64_t>();
      else if (value.is_string())
        ms = parse_duration_ms(value.get<std::string>());
      if (!ms || *ms <= 0)
        err = bad("\"every\" must be a duration such as \"30s\" or \"1h\", or a number of ms");
      else
        spec.every_ms = *ms;
    } else if (key == "tasks") {
      if (!value.is_array())
        err = bad("\"tasks\" must be an array of task objects");
      else {
        auto tasks = parse_task_file(dump_json(value), "tasks");
        if (!tasks)
          return tasks.error();
        spec.tasks = std::move(*tasks);
        has_tasks = true;
      }
    } else {
      err = bad(fmt::format("unknown field {} (a schedule has name, cron, tz, every, missed, overlap, tasks)",
                            printable(key, 80)));
    }
    if (err)
      return err;
  }
  if (!has_tasks)
    return bad("a schedule needs \"tasks\": the task objects of the batch each firing submits");
  return spec;
}

} // namespace fleet
