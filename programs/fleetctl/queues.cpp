// `fleetctl queues` and `fleetctl queue set NAME KEY=VALUE...`.

#include "render.hpp"
#include "session.hpp"

#include "fleetd/error.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace fleetctl {

namespace {

std::string limit_text(int32_t n) {
  return n > 0 ? std::to_string(n) : "-";
}

std::vector<std::string> queue_row(const fleet::queue_info& q) {
  const auto& l = q.limits;
  auto rate = l.rate_count > 0 ? fmt::format("{} ({:.1f} now)", fleet::rate_text(l.rate_count, l.rate_interval_ms),
                                             q.tokens)
                               : std::string{"-"};
  return {q.name,
          limit_text(l.max_workers),
          rate,
          std::to_string(l.weight),
          limit_text(l.group_max_workers),
          l.paused ? "paused" : "running",
          std::to_string(q.pending),
          std::to_string(q.running),
          std::to_string(q.groups),
          std::to_string(q.started)};
}

const std::vector<std::string> queue_header{"QUEUE", "MAX-WORKERS", "RATE", "WEIGHT", "GROUP-MAX", "STATE",
                                            "PENDING", "RUNNING", "GROUPS", "STARTED"};

} // namespace

int cmd_queues(session& s) {
  auto qs = s.client->queues();
  if (!qs)
    return error(fleet::error_text(qs.error()));
  if (s.inv.json) {
    auto out = nlohmann::json::array();
    for (const auto& q : *qs)
      out.push_back(fleet::to_json(q));
    print_json(out);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& q : *qs)
    rows.push_back(queue_row(q));
  print_table(queue_header, rows);
  return exit_ok;
}

int cmd_queue(session& s) {
  const auto& args = s.inv.args;
  if (args.size() < 3 || args[0] != "set")
    return error("usage: fleetctl queue set NAME KEY=VALUE... (max-workers, rate, weight, group-max-workers, paused)");
  const auto& name = args[1];
  if (auto problem = fleet::queue_name_problem(name); !problem.empty())
    return error(problem);
  fleet::queue_change change;
  for (size_t i = 2; i < args.size(); ++i) {
    auto eq = args[i].find('=');
    if (eq == std::string::npos)
      return error(fmt::format("{} is not KEY=VALUE (e.g. max-workers=4, rate=100/1s)", fleet::quoted_input(args[i])));
    if (auto err = fleet::apply_queue_setting(std::string_view{args[i]}.substr(0, eq),
                                              std::string_view{args[i]}.substr(eq + 1), change))
      return error(fleet::error_text(err));
  }
  auto q = s.client->set_queue(name, change);
  if (!q)
    return error(fleet::error_text(q.error()));
  if (s.inv.json) {
    print_json(fleet::to_json(*q));
    return exit_ok;
  }
  print_table(queue_header, {queue_row(*q)});
  return exit_ok;
}

} // namespace fleetctl
