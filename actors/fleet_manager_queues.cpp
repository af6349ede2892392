// Queues: their limits from the config file and from runtime changes, the list with what each
// runs, and the wake-up for a queue held back by its rate.

#include "actors/fleet_manager.hpp"
#include "actors/fleet_manager_internal.hpp"
#include "fleet/log.hpp"
#include "fleet/queue_settings.hpp"
#include "fleet/text.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

namespace fleet {

using namespace manager_detail;

namespace {

/// Queues fleetd keeps at most: each is looked at for every attempt start.
constexpr size_t max_queues = 1000;

} // namespace

caf::error fleet_manager_state::load_queues(int64_t now) {
  for (const auto& [name, limits] : opts_.declared_queues) {
    if (auto problem = queue_name_problem(name); !problem.empty())
      return caf::make_error(errc::invalid_config, fmt::format("[queue.{}] in the config file: {}", name, problem));
    auto& q = queues_.ensure(name);
    q.declared = true;
    queues_.configure(q, limits, now);
  }
  auto stored = reader_->stored_queues();
  if (!stored)
    return stored.error();
  for (const auto& [name, change] : *stored) {
    auto& q = queues_.ensure(name);
    auto limits = apply(q.limits, change);
    if (q.declared && limits != q.limits)
      spdlog::info("queue {}: limits set at runtime win over the config file's", name);
    queues_.configure(q, limits, now);
  }
  // Tasks of a queue that an earlier config file declared and this one does not: the queue is
  // made paused rather than run without the limits its tasks were meant for, and said so, instead
  // of its tasks waiting unseen.
  auto unfinished = reader_->queues_with_unfinished_tasks();
  if (!unfinished) {
    // Only a look for such queues: fleetd starts without it, and a read that needs the same
    // pages meets the damage where the storage's health is tracked.
    spdlog::warn("cannot look for queues taken out of the config file: {}", error_text(unfinished.error()));
    unfinished = std::vector<std::string>{};
  }
  for (const auto& name : *unfinished) {
    if (queues_.find(name) != nullptr)
      continue;
    auto& q = queues_.ensure(name);
    queue_limits paused;
    paused.paused = true;
    queues_.configure(q, paused, now);
    spdlog::warn("queue {} holds unfinished tasks but is neither in the config file nor set at runtime: it "
                 "stays paused until it is declared again or `fleetctl queue set {} paused=false` (with limits of "
                 "its own) runs it",
                 printable(name), printable(name));
  }
  if (queues_.all().size() > 1)
    spdlog::info("{} queues", queues_.all().size());
  return caf::none;
}

caf::error fleet_manager_state::check_queues(const std::vector<task>& tasks) const {
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    if (t.queue.empty() || queues_.find(t.queue) != nullptr)
      continue;
    // Refused rather than made with defaults: a misspelt queue would run without the limits its
    // tasks were meant for, or, were it made paused, never.
    return caf::make_error(errc::invalid_task,
                           fmt::format("task {} (id {}): no queue is named {} (declare it with [queue.{}] in the "
                                       "config file or with fleetctl queue set {})",
                                       i, quoted_input(t.id), quoted_input(t.queue), t.queue, t.queue));
  }
  return caf::none;
}

queue_info fleet_manager_state::queue_info_of(queue_slot& q, int64_t pending, int64_t now) {
  queue_info out;
  out.name = q.name;
  out.limits = q.limits;
  out.pending = pending;
  out.running = q.running;
  out.started = q.started;
  out.groups = static_cast<int32_t>(q.running_groups.size());
  out.tokens = q.bucket.tokens(now);
  out.declared = q.declared;
  return out;
}

caf::result<std::vector<queue_info>> fleet_manager_state::list_queues() {
  auto pending = reader_->pending_by_queue();
  if (!pending)
    return std::move(pending.error());
  auto now = now_ms();
  std::vector<queue_info> out;
  for (auto& q : queues_.all()) {
    auto i = pending->find(q.name);
    out.push_back(queue_info_of(q, i == pending->end() ? 0 : i->second, now));
  }
  return out;
}

caf::result<queue_info> fleet_manager_state::set_queue(const std::string& name, const queue_change& change) {
  if (auto problem = queue_name_problem(name); !problem.empty())
    return caf::make_error(errc::invalid_config, problem);
  if (change.empty())
    return caf::make_error(errc::invalid_config, "a queue change sets nothing: give max-workers, rate, weight, "
                                                 "group-max-workers or paused");
  // Each field within the bounds a config file's value has (a change from a remote node is checked
  // as one from fleetctl is).
  auto bad = [](std::string_view field, int64_t value, int64_t low, int64_t high) {
    return caf::make_error(errc::invalid_config, fmt::format("queue {} must be from {} to {}, or left as it is "
                                                             "(got {})", field, low, high, value));
  };
  if (change.max_workers < -1 || change.max_workers > config_bounds::max_workers)
    return bad("max-workers", change.max_workers, 0, config_bounds::max_workers);
  if (change.group_max_workers < -1 || change.group_max_workers > config_bounds::max_workers)
    return bad("group-max-workers", change.group_max_workers, 0, config_bounds::max_workers);
  if (change.weight != -1 && (change.weight < 1 || change.weight > max_queue_weight))
    return bad("weight", change.weight, 1, max_queue_weight);
  if (change.paused < -1 || change.paused > 1)
    return bad("paused", change.paused, 0, 1);
  auto no_rate = change.rate_count == -1 && change.rate_interval_ms == -1;
  auto rate_off = change.rate_count == 0 && change.rate_interval_ms == 0;
  auto rate_on = change.rate_count >= 1 && change.rate_count <= max_rate_count && change.rate_interval_ms >= 1
                 && change.rate_interval_ms <= max_rate_interval_ms;
  if (!no_rate && !rate_off && !rate_on)
    return caf::make_error(errc::invalid_config,
                           fmt::format("queue rate must be 1 to {} starts per 1 ms to 1 d, or none (got {} per {} ms)",
                                       max_rate_count, change.rate_count, change.rate_interval_ms));
  auto* existing = queues_.find(name);
  if (existing == nullptr && queues_.all().size() >= max_queues)
    return caf::make_error(errc::limit_exceeded, fmt::format("fleetd keeps at most {} queues", max_queues));
  auto in_force = apply(existing != nullptr ? existing->limits : queue_limits{}, change);
  auto rp = self_->make_response_promise<queue_info>();
  write([name, change, in_force, now = now_ms()](fleet_store& store) {
          return store.set_queue(name, change, in_force, now);
        },
        [this, rp, name, in_force](caf::error err) mutable {
          if (err) {
            rp.deliver(std::move(err));
            return;
          }
          auto now = now_ms();
          auto made = queues_.find(name) == nullptr;
          auto& q = queues_.ensure(name);
          queues_.configure(q, in_force, now);
          spdlog::info("queue {}: max-workers {}, rate {}, weight {}, group-max-workers {}{}", name,
                       in_force.max_workers, rate_text(in_force.rate_count, in_force.rate_interval_ms),
                       in_force.weight, in_force.group_max_workers, in_force.paused ? ", paused" : "");
          auto pending = reader_->pending_by_queue();
          int64_t waiting = 0;
          if (pending)
            if (auto i = pending->find(name); i != pending->end())
              waiting = i->second;
          // Submits refuse a queue until it exists: a queue made now has nothing to read, unless
          // an earlier run's config file had it (its tasks then come with the first read).
          if (made && pending && waiting == 0)
            q.window.known_empty();
          rp.deliver(queue_info_of(q, waiting, now));
          dispatch();
        });
  return rp;
}

void fleet_manager_state::arm_rate_timer() {
  auto now = now_ms();
  if (auto at = queues_.next_token_at(now))
    rate_timer_.arm(self_, std::chrono::milliseconds{*at - now}, rate_tick_atom::value);
}

void fleet_manager_state::on_rate_tick() {
  rate_timer_.fired();
  dispatch();
}

} // namespace fleet
