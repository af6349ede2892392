#pragma once

// cpp-httplib's server behind fleetd's HTTP gate (web/http_gate.hpp): a connection reaches the
// server's handlers only with its whole request, and is answered within a total deadline.

#include "web/http_gate.hpp"

#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace fleet {

class gated_server final : public httplib::Server {
public:
  /// `on_refused` hears of each connection the gate drops (already worded).
  gated_server(http_gate::options opts, std::function<void(const std::string&)> on_refused);
  ~gated_server() override;

  /// For the request being handled on this thread: instead of the gate's total deadline, the
  /// connection stays open as long as a byte moves every `idle` (an event stream, a big upload).
  /// Callers bound how many requests do this at once.
  static void keep_open_while_active(std::chrono::milliseconds idle);

private:
  // httplib's own: called for each accepted connection on the listening thread. Overriding a
  // private virtual is allowed, and the gate takes the connection from here.
  bool process_and_close_socket(socket_t sock) override;
  void serve(http_gate::connection& c);

  std::unique_ptr<http_gate> gate_;
};

} // namespace fleet
