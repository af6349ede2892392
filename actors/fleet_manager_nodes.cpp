#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "actors/exception_guard.hpp"
#include "actors/origin.hpp"
#include "fleet/ids.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/log.hpp"
#include "fleet/retry_policy.hpp"
#include "fleet/text.hpp"
#include "fleet/upload_part.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

namespace fleet {

using namespace manager_detail;

// -- fleet-nodes ----------------------------------------------------------------

task_type_check fleet_manager_state::type_check() const {
  return [this, local = opts_.registry->checker()](const task& t, const nlohmann::json& data) -> caf::error {
    if (opts_.registry->contains(t.type) || !nodes_.table().runs(t.type))
      return local(t, data);
    return caf::none; // a type only fleet-nodes run: the node checks the data
  };
}

caf::result<node_welcome> fleet_manager_state::join_node(const node_announcement& a,
                                                         const node_actor& handle) {
  if (!handle)
    return caf::make_error(errc::invalid_node, "a node joins with the handle of its node actor");
  if (auto err = node_table::validate(a))
    return err;
  if (drain_.draining())
    return caf::make_error(errc::shutting_down, "fleetd is shutting down and takes no nodes");
  auto kind = nodes_.check(a, handle, opts_.node_timeout_ms);
  if (!kind)
    return std::move(kind.error());
  if (*kind == decltype(nodes_)::join::again)
    drop_node(a.name, "it joined again");
  auto now = now_ms();
  nodes_.add(a, handle, now);
  opts_.metrics->nodes.set(static_cast<int64_t>(nodes_.count()));
  self_->monitor(handle);
  spdlog::info("node {} joined: capacity {}, types {}", a.name, a.capacity, fmt::join(a.types, ","));
  schedule_node_tick();
  auto rp = self_->make_response_promise<node_welcome>();
  node_welcome welcome{opts_.node_heartbeat_ms, opts_.node_timeout_ms};
  if (!a.stopped_orphans.empty())
    spdlog::warn("node {} stopped {} programs its last run had left running", a.name, a.stopped_orphans.size());
  write([now, detail = node_joined_detail(a), node = a.name, stopped = a.stopped_orphans](fleet_store& store) {
          if (auto err = store.log_event(now, event_kind::node_joined, {}, {}, detail))
            return err;
          // The attempt behind a label is in attempts.worker_id (docs/AUDIT.md): the node lost it
          // when it died, and fleetd ended it then.
          for (const auto& o : stopped)
            if (auto err = store.log_event(now, event_kind::orphan_stopped, {}, {},
                                           orphan_stopped_detail(node, o)))
              return err;
          return caf::error{};
        },
        [this, rp, welcome](caf::error err) mutable {
          if (err)
            rp.deliver(std::move(err));
          else
            rp.deliver(welcome);
          dispatch();
        });
  return rp;
}

caf::result<int32_t> fleet_manager_state::drain_node(const std::string& name) {
  auto handle = nodes_.handle(name);
  const auto& sender = self_->current_sender();
  if (handle == nullptr || sender == nullptr || sender->address() != handle->address())
    return caf::make_error(errc::not_permitted, fmt::format("only node {} itself may drain it", name));
  if (nodes_.table().set_draining(name))
    spdlog::info("node {} drains: no more attempts go there", name);
  int32_t running = 0;
  for (const auto& n : nodes_.table().list(now_ms()))
    if (n.name == name)
      running = n.running;
  return running;
}

std::vector<node_info> fleet_manager_state::nodes() const {
  return nodes_.table().list(now_ms());
}

void fleet_manager_state::drop_node(std::string name, const std::string& reason) {
  auto handle = nodes_.remove(name);
  if (!handle)
    return;
  self_->demonitor(handle->address());
  // A node that merely paused (stopped, slow network) learns it at once when it resumes.
  self_->send(*handle, dropped_atom::value, reason);
  opts_.metrics->nodes.set(static_cast<int64_t>(nodes_.count()));
  auto now = now_ms();
  auto lost = attempts_.take_if([&](const running_attempt& r) { return r.node == name; });
  for (const auto& r : lost) {
    queue(lost_attempt(r, now, fmt::format("node {} was dropped: {}", name, reason)));
    attempts_.remember_finished(r, false, now);
    attempt_left(r);
  }
  auto interrupted = static_cast<int32_t>(lost.size());
  spdlog::warn("node {} dropped ({}): {} running attempts run again", name, reason, interrupted);
  auto detail = node_dropped_detail(name, reason, interrupted);
  write([now, detail](fleet_store& store) { return store.log_event(now, event_kind::node_dropped, {}, {}, detail); },
        [this](caf::error err) {
          if (err)
            spdlog::error("cannot record the dropped node: {}", error_text(err));
          // The interrupted attempts' tasks are pending again.
          invalidate_ready();
          dispatch();
        });
}

void fleet_manager_state::schedule_node_tick() {
  if (nodes_.empty())
    return;
  node_tick_timer_.arm(self_, std::chrono::milliseconds(opts_.node_heartbeat_ms), node_tick_atom::value);
}

void fleet_manager_state::on_node_tick() {
  node_tick_timer_.fired();
  auto timeout = std::chrono::milliseconds(opts_.node_timeout_ms);
  for (const auto& [name, handle] : nodes_.handles()) {
    // A late answer or failure for a node that has since been dropped (or replaced) changes nothing.
    auto stale = [this, name = name, generation = nodes_.table().generation(name)] {
      return !nodes_.current(name, generation);
    };
    self_->request(handle, timeout, heartbeat_atom::value)
      .then(
        guarded([this, name = name, stale](int32_t) {
          if (!stale())
            nodes_.table().heartbeat(name, now_ms());
        }),
        guarded([this, name = name, stale](caf::error& err) {
          if (!stale())
            drop_node(name, err == caf::sec::request_timeout
                              ? fmt::format("no answer to a heartbeat within {} ms", opts_.node_timeout_ms)
                              : error_text(err));
        }));
  }
  schedule_node_tick();
}

} // namespace fleet
