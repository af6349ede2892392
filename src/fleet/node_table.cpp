#include "fleet/node_table.hpp"

#include "fleetd/error.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace fleet {

namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
           || c == '_' || c == '-';
  });
}

} // namespace

node_table::node_table(std::vector<std::string> local_types, int32_t local_capacity) {
  node local;
  local.info.name = local_node_name;
  local.info.types = local_types;
  local.types.insert(local_types.begin(), local_types.end());
  local.info.capacity = std::max(local_capacity, -1);
  local.generation = next_generation_++;
  nodes_.emplace(local_node_name, std::move(local));
}

caf::error node_table::validate(const node_announcement& a) {
  auto bad = [](std::string text) { return caf::make_error(errc::invalid_node, std::move(text)); };
  if (!valid_name(a.name))
    return bad(fmt::format("a node name has 1 to 64 characters of A-Z a-z 0-9 . _ - (got {})", quoted_input(a.name)));
  if (a.name == local_node_name)
    return bad("the node name \"local\" stands for fleetd's own workers: choose another");
  if (a.types.empty() || a.types.size() > 100)
    return bad(fmt::format("node {} must offer 1 to 100 task types (got {})", a.name, a.types.size()));
  for (const auto& type : a.types) {
    if (type.empty() || type.size() > 64)
      return bad(fmt::format("node {} offers a task type of {} bytes: types have 1 to 64", a.name, type.size()));
    auto control = std::any_of(type.begin(), type.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
    if (!is_utf8(type) || control)
      return bad(fmt::format("node {} offers the task type {}: types are UTF-8 text without control characters",
                             a.name, quoted_input(type)));
  }
  if (a.capacity < 1 || a.capacity > 10'000)
    return bad(fmt::format("node {} must have a capacity of 1 to 10000 (got {})", a.name, a.capacity));
  if (a.stopped_orphans.size() > max_stopped_orphans)
    return bad(fmt::format("node {} reports {} stopped programs: at most {}", a.name, a.stopped_orphans.size(),
                           max_stopped_orphans));
  for (const auto& o : a.stopped_orphans) {
    if (o.label.empty() || o.label.size() > 256 || !is_utf8(o.label))
      return bad(fmt::format("node {} reports a stopped program labelled {}: labels are 1 to 256 bytes of UTF-8",
                             a.name, quoted_input(o.label)));
    if (o.pid <= 0 || (o.how != "SIGTERM" && o.how != "SIGKILL"))
      return bad(fmt::format("node {} reports a stopped program with pid {} stopped by {}: a pid above 0 and "
                             "SIGTERM or SIGKILL", a.name, o.pid, quoted_input(o.how)));
  }
  // What is in the attempts fleetd checks against its own table when it reads them: here, only
  // their number.
  if (a.running.size() > max_held_attempts || a.finished.size() > max_held_attempts)
    return bad(fmt::format("node {} reports {} running and {} finished attempts: at most {} each", a.name,
                           a.running.size(), a.finished.size(), max_held_attempts));
  size_t bytes = 0;
  for (const auto& o : a.finished)
    bytes += outcome_bytes(o);
  if (bytes > max_join_outcome_bytes)
    return bad(fmt::format("node {} reports {} bytes of finished outcomes in its join: at most {} (the rest go as "
                           "running, and their outcomes after the welcome)",
                           a.name, bytes, max_join_outcome_bytes));
  return caf::none;
}

uint64_t node_table::add(const node_announcement& a, int64_t now) {
  node n;
  n.info.name = a.name;
  n.types.insert(a.types.begin(), a.types.end());
  n.info.types.assign(n.types.begin(), n.types.end());
  n.info.capacity = a.capacity;
  n.info.joined_at = now;
  n.info.last_heartbeat = now;
  n.generation = next_generation_++;
  auto generation = n.generation;
  nodes_[a.name] = std::move(n);
  return generation;
}

bool node_table::remove(const std::string& name) {
  if (name == local_node_name)
    return false;
  return nodes_.erase(name) > 0;
}

bool node_table::contains(const std::string& name) const {
  return nodes_.count(name) > 0;
}

uint64_t node_table::generation(const std::string& name) const {
  auto i = nodes_.find(name);
  return i == nodes_.end() ? 0 : i->second.generation;
}

std::optional<std::string> node_table::place(const std::string& type, int32_t fleet_limit) const {
  const node* best = nullptr;
  double best_share = 0;
  for (const auto& [name, n] : nodes_) {
    if (n.types.count(type) == 0 || n.info.draining)
      continue;
    auto capacity = n.info.capacity < 0 ? fleet_limit : n.info.capacity;
    if (n.info.running >= capacity)
      continue;
    auto share = static_cast<double>(n.info.running) / capacity;
    // Ties go to the local node: its attempts cost no network round trip.
    if (best == nullptr || share < best_share
        || (share == best_share && name == local_node_name)) {
      best = &n;
      best_share = share;
    }
  }
  if (best == nullptr)
    return std::nullopt;
  return best->info.name;
}

bool node_table::runs(const std::string& type) const {
  return std::any_of(nodes_.begin(), nodes_.end(),
                     [&](const auto& entry) { return entry.second.types.count(type) > 0; });
}

void node_table::started(const std::string& name) {
  if (auto i = nodes_.find(name); i != nodes_.end())
    ++i->second.info.running;
}

void node_table::finished(const std::string& name) {
  if (auto i = nodes_.find(name); i != nodes_.end() && i->second.info.running > 0)
    --i->second.info.running;
}

bool node_table::set_draining(const std::string& name) {
  auto i = nodes_.find(name);
  if (i == nodes_.end() || name == local_node_name)
    return false;
  i->second.info.draining = true;
  return true;
}

bool node_table::draining(const std::string& name) const {
  auto i = nodes_.find(name);
  return i != nodes_.end() && i->second.info.draining;
}

void node_table::heartbeat(const std::string& name, int64_t now) {
  if (auto i = nodes_.find(name); i != nodes_.end())
    i->second.info.last_heartbeat = now;
}

std::vector<node_info> node_table::list(int64_t now) const {
  std::vector<node_info> out;
  auto local = nodes_.at(local_node_name).info;
  local.last_heartbeat = now;
  out.push_back(std::move(local));
  for (const auto& [name, n] : nodes_)
    if (name != local_node_name)
      out.push_back(n.info);
  return out;
}

std::vector<std::string> node_table::all_types() const {
  std::set<std::string> types;
  for (const auto& [name, n] : nodes_)
    types.insert(n.types.begin(), n.types.end());
  return {types.begin(), types.end()};
}

void node_table::set_local_capacity(int32_t capacity) {
  nodes_.at(local_node_name).info.capacity = std::max(capacity, -1);
}

} // namespace fleet
