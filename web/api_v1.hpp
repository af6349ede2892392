#pragma once

// fleetd's HTTP JSON API, /api/v1 (docs: README "HTTP API"; the contract: web/openapi.json, served
// at /api/v1/openapi.json). Submit, query, cancel, pause, resume, replay, and a batch's progress as
// Server-Sent Events. Authenticated by bearer tokens (src/fleet/api_tokens.hpp) when a tokens file
// is set; read-only otherwise. Every change made through it is recorded as an api_request event.

#include "fleetd/client.hpp"
#include "fleetd/interfaces.hpp"
#include "fleet/api_tokens.hpp"

#include <caf/fwd.hpp>
#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace fleet {

/// A route as the OpenAPI document names it ("/api/v1/batches/{id}").
struct api_route {
  std::string method; ///< lower case, as OpenAPI's keys
  std::string path;
};

/// The Content-Length of a request, 0 without one (the gate admits only requests whose length is a number).
size_t request_content_length(const httplib::Request& req);

/// Every route /api/v1 answers; a test compares them with web/openapi.json.
const std::vector<api_route>& api_v1_routes();

struct api_settings {
  const api_tokens* tokens = nullptr; ///< none: read-only, no token asked
  size_t max_body_bytes = 64 << 20;   ///< a JSON request body; JSON Lines uploads are streamed
  size_t max_streams = 16;            ///< event streams and large uploads at once
  std::chrono::milliseconds manager_timeout{5000};
  std::chrono::milliseconds stream_poll{250};  ///< how often an event stream looks at its batch
  std::chrono::milliseconds stream_idle{15000}; ///< a keep-alive comment at least this often
};

class api_v1 {
public:
  /// `warn` gets refusals worth an operator's eye (bad tokens), already worded.
  api_v1(caf::actor_system& sys, fleet_manager_actor manager, api_settings settings,
         std::function<void(const std::string&)> warn);

  /// Adds the routes to `server`.
  void serve(httplib::Server& server);

  /// The largest body a request to `method` `path` may carry, in bytes (the pre-routing check).
  size_t max_body(const std::string& method, const std::string& path, const std::string& content_type) const;

  /// For routes outside /api/v1 that need a token too (a non-loopback port): true if the
  /// request carries a valid one; otherwise answers 401 and returns false.
  bool allow_read(const httplib::Request& req, httplib::Response& res);

  /// Ends every event stream at its next look (before the server stops).
  void stop() { stopping_ = true; }

  /// Who sent the request being handled.
  struct request_context {
    std::string token; ///< the token's NAME; empty without tokens
    std::string scope; ///< read, write, or "none" (no tokens configured)
    std::string peer;  ///< address:port
  };

private:
  /// Answers 401/403 itself and returns none when the request may not go on.
  std::optional<request_context> authorize(const httplib::Request& req, httplib::Response& res, bool write);
  /// One per request: fleet_client is not thread-safe, and requests run on the gate's threads.
  fleet_client client() const;
  /// client() for a change: it announces `who` first, so that the change's events name the token
  /// and the peer (events.requested_by).
  fleet_client client(const request_context& who) const;
  /// Records who changed what (an api_request event); returns once it is stored or failed (logged).
  void record(const request_context& who, const httplib::Request& req, int status, const std::string& batch_id,
              nlohmann::json detail);
  /// A slot for an event stream or a large upload (released by the caller); none: answered 503.
  bool take_stream_slot(httplib::Response& res);
  void serve_submit(httplib::Server& server);
  void serve_events(httplib::Server& server);
  void serve_schedules(httplib::Server& server); ///< web/api_v1_schedules.cpp
  void serve_queues(httplib::Server& server);    ///< web/api_v1_queues.cpp

  caf::actor_system& sys_;
  fleet_manager_actor manager_;
  api_settings settings_;
  std::function<void(const std::string&)> warn_;
  std::atomic<size_t> streams_{0};
  std::atomic<bool> stopping_{false};
};

} // namespace fleet
