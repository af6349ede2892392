#pragma once

// cpp-httplib's server behind fleetd's HTTP gate (web/http_gate.hpp): a connection reaches the
// server's handlers only with its whole request, and is answered within a total deadline.

#include "web/http_gate.hpp"

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>

namespace fleet {

class gated_server final : public httplib::Server {
public:
  /// `on_refused` hears of each connection the gate drops (already worded).
  gated_server(http_gate::options opts, std::function<void(const std::string&)> on_refused);
  ~gated_server() override;

private:
  // httplib's own: called for each accepted connection on the listening thread. Overriding a
  // private virtual is allowed, and the gate takes the connection from here.
  bool process_and_close_socket(socket_t sock) override;
  void serve(int fd, http_gate::clock::time_point deadline, size_t request_bytes);

  std::unique_ptr<http_gate> gate_;
};

} // namespace fleet
