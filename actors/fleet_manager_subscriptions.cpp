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
  if (subscriptions_.full())
    return caf::make_error(errc::limit_exceeded, fmt::format("fleetd holds {} subscriptions already",
                                                             subscriptions_.max_subscriptions));
  // fleetd's own subscribers (the HTTP API's event streams) have their own cap (http-max-streams).
  if (!sent_from_local_node(self_) && subscriptions_.full(who.node()))
    return caf::make_error(errc::limit_exceeded,
                           fmt::format("this client's process holds {} subscriptions already, its share: wait "
                                       "for some of its batches to finish", subscriptions_.max_per_peer));
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
  }
  // One monitor per actor, however many batches it waits for: a client that subscribes to every
  // batch it submits must not collect a monitor per batch for as long as it lives.
  if (subscriptions_.add(batch_id, who.address(), who.node(), who))
    self_->monitor(who);
  publish_subscription_gauges();
  return now;
}

void fleet_manager_state::publish_subscription_gauges() {
  opts_.metrics->subscriptions.set(static_cast<int64_t>(subscriptions_.subscriptions()));
  opts_.metrics->subscribers.set(static_cast<int64_t>(subscriptions_.subscribers()));
}

void fleet_manager_state::notify_finished(const batch_status& st) {
  auto served = subscriptions_.finish(st.batch_id);
  for (auto& who : served.notify)
    caf::anon_send(who, batch_done_atom::value, st);
  for (auto& who : served.released)
    self_->demonitor(who);
  publish_subscription_gauges();
}

} // namespace fleet
