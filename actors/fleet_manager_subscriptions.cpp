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

// -- subscriptions ---------------------------------------------------------------

caf::result<batch_status> fleet_manager_state::subscribe(const std::string& batch_id) {
  auto who = caf::actor_cast<caf::actor>(self_->current_sender());
  if (!who)
    return caf::make_error(errc::invalid_argument, "only an actor can subscribe (it receives the notification)");
  constexpr size_t max_subscriptions = 10'000;
  if (subscriptions_ >= max_subscriptions)
    return caf::make_error(errc::limit_exceeded,
                           fmt::format("fleetd holds {} subscriptions already", max_subscriptions));
  batch_status now;
  if (!batch_id.empty()) {
    auto st = reader_->status(batch_id);
    if (!st)
      return st.error();
    // Finished already: the reply says so. A finish committed after this read is notified by the
    // continuation of its commit, which runs after this handler.
    if (st->finished_at != 0)
      return std::move(*st);
    now = std::move(*st);
    batch_subscribers_[batch_id].push_back(who);
  } else {
    all_subscribers_.push_back(who);
  }
  add_subscription(who);
  return now;
}

void fleet_manager_state::add_subscription(const caf::actor& who) {
  ++subscriptions_;
  // One monitor per actor, however many batches it waits for: a client that subscribes to every
  // batch it submits must not collect a monitor per batch for as long as it lives.
  if (subscription_holders_[who.address()]++ == 0)
    self_->monitor(who);
  publish_subscription_gauges();
}

void fleet_manager_state::end_subscription(const caf::actor& who) {
  --subscriptions_;
  auto i = subscription_holders_.find(who.address());
  if (i != subscription_holders_.end() && --i->second == 0) {
    self_->demonitor(who);
    subscription_holders_.erase(i);
  }
}

void fleet_manager_state::publish_subscription_gauges() {
  opts_.metrics->subscriptions.set(static_cast<int64_t>(subscriptions_));
  opts_.metrics->subscribers.set(static_cast<int64_t>(subscription_holders_.size()));
}

void fleet_manager_state::notify_finished(const batch_status& st) {
  if (auto i = batch_subscribers_.find(st.batch_id); i != batch_subscribers_.end()) {
    auto served = std::move(i->second);
    batch_subscribers_.erase(i);
    for (auto& who : served) {
      caf::anon_send(who, batch_done_atom::value, st);
      end_subscription(who);
    }
    publish_subscription_gauges();
  }
  for (auto& who : all_subscribers_)
    caf::anon_send(who, batch_done_atom::value, st);
}

bool fleet_manager_state::unsubscribe(const caf::actor_addr& who) {
  auto holder = subscription_holders_.find(who);
  if (holder == subscription_holders_.end())
    return false;
  subscriptions_ -= holder->second;
  subscription_holders_.erase(holder);
  auto held_by_who = [&](const caf::actor& x) { return x.address() == who; };
  std::erase_if(all_subscribers_, held_by_who);
  for (auto i = batch_subscribers_.begin(); i != batch_subscribers_.end();) {
    std::erase_if(i->second, held_by_who);
    i = i->second.empty() ? batch_subscribers_.erase(i) : std::next(i);
  }
  publish_subscription_gauges();
  return true;
}

} // namespace fleet
