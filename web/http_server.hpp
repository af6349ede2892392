#pragma once

// fleetd's HTTP side: Prometheus metrics (GET /metrics), the web status page (GET /) and the JSON
// it reads (GET /api/overview), only when enabled the page's actions (cancel, pause and resume),
// and the JSON API /api/v1 (web/api_v1.hpp). Runs on threads of its own (cpp-httplib); asks the
// fleet manager like any client.

#include "fleetd/interfaces.hpp"
#include "fleet/api_tokens.hpp"
#include "fleet/batch_tasks.hpp"
#include "fleet/metrics.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace fleet {

struct http_options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;    ///< 0 picks a free port
  bool actions = false; ///< POST /api/... may cancel, pause and resume
  /// Connections still sending their request, at most; more are closed at once (web/http_gate.hpp).
  size_t max_waiting = 1024;
  /// Host header values accepted besides host:port (DNS rebinding: a page from elsewhere that
  /// resolves its own name to this address must not read the fleet).
  std::vector<std::string> extra_host_names = {"localhost", "127.0.0.1", "[::1]"};
  /// Bearer tokens of /api/v1 (and, off loopback, of every route with data); none: read-only.
  std::shared_ptr<const api_tokens> tokens;
  size_t max_body_bytes = 64 << 20;
  size_t max_streams = 16;
  /// HTTPS with this certificate and key (PEM files); empty: plain HTTP.
  std::string tls_cert;
  std::string tls_key;
  /// Reads a page of a batch's tasks for the batch page (batch id, cursor, limit), beside the
  /// manager: the SQLite file read-only, or a session of its own on PostgreSQL. None: 503.
  std::function<caf::expected<task_rows_page>(const std::string&, int64_t, int64_t)> read_tasks;
};

class http_server {
public:
  /// Binds and starts serving; fails when the address cannot be bound.
  static caf::expected<std::unique_ptr<http_server>> start(caf::actor_system& sys, fleet_manager_actor manager,
                                                           std::shared_ptr<const fleet_metrics> metrics,
                                                           http_options opts);

  /// Stops accepting, finishes the requests in progress, joins.
  ~http_server();

  uint16_t port() const;

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace fleet
