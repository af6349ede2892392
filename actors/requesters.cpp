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

void requesters::announce(const caf::node_id& node, std::string client_name) {
  peers_[node].client = std::move(client_name);
}

void requesters::found_at(const caf::node_id& node, const std::string& host, uint16_t port, std::string tls) {
  auto& p = peers_[node];
  p.address = host.empty() ? std::string{} : host + ":" + std::to_string(port);
  p.tls = std::move(tls);
  p.located = true;
}

bool requesters::located(const caf::node_id& node) const {
  const auto* p = peers_.find(node);
  return p != nullptr && p->located;
}

std::string requesters::describe(const caf::node_id& node) const {
  nlohmann::json out = {{"node", to_string(node)}};
  if (const auto* p = peers_.find(node)) {
    if (!p->address.empty())
      out["peer"] = p->address;
    if (!p->tls.empty())
      out["tls"] = p->tls;
    if (!p->client.empty())
      out["client"] = p->client;
  }
  return out.dump();
}

void requesters::announce_local(caf::actor_id actor, const std::string& announced) {
  auto parsed = nlohmann::json::parse(announced, nullptr, false);
  nlohmann::json out = parsed.is_object() ? parsed : nlohmann::json{{"client", announced}};
  out["local"] = true;
  local_[actor] = out.dump();
}

std::string requesters::describe_local(caf::actor_id actor) const {
  const auto* found = local_.find(actor);
  return found == nullptr ? std::string{} : *found;
}

} // namespace fleet
