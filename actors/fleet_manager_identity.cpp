// Who asks: a client's announced name, and the address and TLS subject of its connection, for
// the events of the changes it asks for (actors/requesters.hpp); and the uploads a client process
// may hold open (its share).

#include "actors/fleet_manager.hpp"

#include "actors/origin.hpp"
#include "fleetd/error.hpp"
#include "fleetd/tls.hpp"

#include <caf/io/middleman.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <tuple>

namespace fleet {

namespace {

/// Asks CAF's middleman where `node`'s connection comes from, then calls `done`.
template <class Self, class Done>
void locate(Self* self, const caf::node_id& node, Done done) {
  auto& sys = self->home_system();
  if (!sys.has_middleman()) {
    done(std::string{}, uint16_t{0});
    return;
  }
  self->request(sys.middleman().actor_handle(), std::chrono::seconds(5), caf::get_atom::value, node)
    .then([done](const caf::node_id&, const std::string& host, uint16_t port) mutable { done(host, port); },
          [done](const caf::error&) mutable { done(std::string{}, uint16_t{0}); });
}

/// Notes that `node` is at `host:port`, with the subject of the TLS certificate it presented there.
void note_location(requesters& known, const caf::node_id& node, const std::string& host, uint16_t port) {
  known.found_at(node, host, port, host.empty() ? std::string{} : tls_peer_subject(host + ":" + std::to_string(port)));
}

} // namespace

void fleet_manager_state::common_name_of(const caf::node_id& node, std::function<void(const std::string&)> done) {
  locate(self_, node, [done = std::move(done)](const std::string& host, uint16_t port) {
    done(host.empty() ? std::string{} : tls_peer_common_name(host + ":" + std::to_string(port)));
  });
}

caf::result<std::string> fleet_manager_state::identify(const std::string& client_name) {
  if (auto problem = requesters::check_name(client_name); !problem.empty())
    return caf::make_error(errc::invalid_argument, problem);
  if (sent_from_local_node(self_)) {
    if (self_->current_sender() == nullptr)
      return nlohmann::json{{"local", true}, {"client", client_name}}.dump();
    requesters_.announce_local(self_->current_sender()->id(), client_name);
    return requesters_.describe_local(self_->current_sender()->id());
  }
  auto node = self_->current_sender()->node();
  requesters_.announce(node, client_name);
  auto rp = self_->make_response_promise<std::string>();
  locate(self_, node, [this, rp, node](const std::string& host, uint16_t port) mutable {
    note_location(requesters_, node, host, port);
    rp.deliver(requesters_.describe(node));
  });
  return rp;
}

void fleet_manager_state::begin_client_change() {
  if (self_->current_sender() == nullptr) {
    requester_.clear();
    return;
  }
  if (sent_from_local_node(self_)) {
    // fleetd's own actors (the schedules, retention) ask for no one; the HTTP API for its token.
    requester_ = requesters_.describe_local(self_->current_sender()->id());
    return;
  }
  auto node = self_->current_sender()->node();
  if (!requesters_.located(node)) {
    // A client that did not identify itself: its node id now, its address for its next changes.
    locate(self_, node, [this, node](const std::string& host, uint16_t port) {
      note_location(requesters_, node, host, port);
    });
  }
  requester_ = requesters_.describe(node);
}

caf::error fleet_manager_state::claim_upload_place(const std::string& upload_id, int64_t now) {
  // fleetd's own HTTP API uploads under http-max-streams; a client process gets its share.
  if (sent_from_local_node(self_) || self_->current_sender() == nullptr)
    return caf::none;
  using verdict = decltype(upload_quota_)::verdict;
  switch (upload_quota_.open(upload_id, self_->current_sender()->node(), now)) {
    case verdict::opened:
      return caf::none;
    case verdict::peer_full:
      return caf::make_error(errc::limit_exceeded,
                             fmt::format("this client's process has {} uploads open already, its share: seal "
                                         "one, or wait {} minutes for an abandoned one to free its place",
                                         upload_quota_.per_peer(), upload_quota_.idle_ms() / 60'000));
    case verdict::fleet_full:
      return caf::make_error(errc::limit_exceeded,
                             fmt::format("fleetd has {} uploads open already: try again later", upload_quota_.in_all()));
  }
  return caf::none;
}

} // namespace fleet
