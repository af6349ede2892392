// Several fleetd addresses (issue 24): "a:4242,b:4242". With fleetd on PostgreSQL only the active
// one listens, so the first that answers is the one to talk to.

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"

#include <fmt/format.h>

#include <charconv>

namespace fleet {

namespace {

caf::error bad_entry(std::string_view entry, std::string_view why) {
  return caf::make_error(errc::invalid_config,
                         fmt::format("fleetd address \"{}\": {} (addresses are host[:port], separated by commas, "
                                     "an IPv6 address in brackets: [::1]:4242)",
                                     entry, why));
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

std::string fleet_endpoint::text() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

caf::expected<std::vector<fleet_endpoint>> parse_endpoints(std::string_view text, uint16_t default_port) {
  std::vector<fleet_endpoint> out;
  constexpr size_t most = 16;
  for (size_t start = 0; start <= text.size();) {
    auto comma = text.find(',', start);
    auto entry = trimmed(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (entry.empty())
      return bad_entry(entry, "empty");
    fleet_endpoint e{{}, default_port};
    std::string_view port_text;
    if (entry.front() == '[') {
      auto close = entry.find(']');
      if (close == std::string_view::npos)
        return bad_entry(entry, "an opening [ without ]");
      e.host = std::string{entry.substr(1, close - 1)};
      auto rest = entry.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':')
          return bad_entry(entry, "something after ] that is not :PORT");
        port_text = rest.substr(1);
        if (port_text.empty())
          return bad_entry(entry, "a : without a port");
      }
    } else if (auto colon = entry.find(':'); colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
      e.host = std::string{entry.substr(0, colon)};
      port_text = entry.substr(colon + 1);
      if (port_text.empty())
        return bad_entry(entry, "a : without a port");
    } else {
      e.host = std::string{entry}; // a name, an IPv4 address, or a bare IPv6 address
    }
    if (e.host.empty())
      return bad_entry(entry, "no host");
    if (!port_text.empty()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
      if (ec != std::errc{} || end != port_text.data() + port_text.size() || value < 1 || value > 65535)
        return bad_entry(entry, "the port is not a number from 1 to 65535");
      e.port = static_cast<uint16_t>(value);
    }
    out.push_back(std::move(e));
    if (out.size() > most)
      return caf::make_error(errc::invalid_config, fmt::format("more than {} fleetd addresses", most));
  }
  return out;
}

caf::expected<fleet_api_actor> connect_fleet(caf::actor_system& sys, const std::vector<fleet_endpoint>& endpoints,
                                             std::chrono::milliseconds timeout) {
  if (endpoints.empty())
    return caf::make_error(errc::invalid_config, "no fleetd address to connect to");
  std::string tried;
  for (const auto& e : endpoints) {
    auto manager = connect_fleet(sys, e.host, e.port, timeout);
    if (manager)
      return manager;
    // Another release or a refusal by the one that answered: no other address makes that right.
    if (manager.error() != errc::unreachable || endpoints.size() == 1)
      return manager.error();
    tried += fmt::format("{}{}: {}", tried.empty() ? "" : "; ", e.text(), error_text(manager.error()));
  }
  return caf::make_error(errc::unreachable, fmt::format("no fleetd answered at any of {} addresses ({})",
                                                        endpoints.size(), tried));
}

caf::expected<fleet_client> fleet_client::connect(caf::actor_system& sys, const std::vector<fleet_endpoint>& endpoints,
                                                  duration timeout) {
  auto manager = connect_fleet(sys, endpoints, timeout);
  if (!manager)
    return manager.error();
  return fleet_client{sys, std::move(*manager), timeout};
}

} // namespace fleet
