#include "actors/requesters.hpp"

#include "fleet/text.hpp"

#include <nlohmann/json.hpp>

namespace fleet {

std::string requesters::check_name(const std::string& name) {
  if (name.size() > max_name_bytes)
    return "a client name has at most " + std::to_string(max_name_bytes) + " bytes";
  if (!is_utf8(name))
    return "a client name must be UTF-8";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return "a client name must not contain control characters";
  return {};
}

requesters::peer& requesters::entry(const caf::node_id& node) {
  auto [i, fresh] = peers_.try_emplace(node);
  if (fresh) {
    order_.push_back(node);
    if (order_.size() > max_nodes) {
      peers_.erase(order_.front());
      order_.pop_front();
    }
  }
  return peers_[node];
}

void requesters::announce(const caf::node_id& node, std::string client_name) {
  entry(node).client = std::move(client_name);
}

void requesters::found_at(const caf::node_id& node, const std::string& host, uint16_t port, std::string tls) {
  auto& p = entry(node);
  p.address = host.empty() ? std::string{} : host + ":" + std::to_string(port);
  p.tls = std::move(tls);
  p.located = true;
}

bool requesters::located(const caf::node_id& node) const {
  auto i = peers_.find(node);
  return i != peers_.end() && i->second.located;
}

std::string requesters::describe(const caf::node_id& node) const {
  nlohmann::json out = {{"node", to_string(node)}};
  if (auto i = peers_.find(node); i != peers_.end()) {
    if (!i->second.address.empty())
      out["peer"] = i->second.address;
    if (!i->second.tls.empty())
      out["tls"] = i->second.tls;
    if (!i->second.client.empty())
      out["client"] = i->second.client;
  }
  return out.dump();
}

void requesters::announce_local(caf::actor_id actor, const std::string& announced) {
  auto parsed = nlohmann::json::parse(announced, nullptr, false);
  nlohmann::json out = parsed.is_object() ? parsed : nlohmann::json{{"client", announced}};
  out["local"] = true;
  auto [i, fresh] = local_.insert_or_assign(actor, out.dump());
  if (fresh) {
    local_order_.push_back(actor);
    if (local_order_.size() > max_local) {
      local_.erase(local_order_.front());
      local_order_.pop_front();
    }
  }
}

std::string requesters::describe_local(caf::actor_id actor) const {
  auto i = local_.find(actor);
  return i == local_.end() ? std::string{} : i->second;
}

} // namespace fleet
