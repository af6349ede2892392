#include "web/http_server.hpp"
#include "fleetd/version.hpp"

#include "fleetd/client.hpp"
#include "fleetd/error.hpp"
#include "fleetd/tls.hpp"
#include "fleet/json_codec.hpp"
#include "fleet/json_text.hpp"
#include "fleet/log.hpp"
#include "fleet/parse_number.hpp"
#include "fleet/queue_settings.hpp"
#include "web/api_v1.hpp"
#include "web/assets.hpp"
#include "web/throughput.hpp"
#include "fleet/batch_tasks.hpp"
#include "web/gated_server.hpp"
#include "fleet/text.hpp"

#include <caf/sec.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <limits>
#include <optional>
#include <cctype>
#include <mutex>
#include <chrono>
#include <set>
#include <tuple>
#include <thread>

namespace fleet {

namespace {

// A page refreshes every second; a manager that has not answered within this long is stuck or
// drowning, and the page says so rather than piling up requests.
constexpr auto manager_timeout = std::chrono::seconds(5);

// Actions must carry this header: a form or a plain link from another site cannot set it, and a
// script from another origin may not without a CORS preflight, which fleetd never grants.
constexpr const char* action_header = "X-Fleetd-Action";

int http_status(const caf::error& err) {
  if (err.category() == error_category)
    return fleet::http_status(static_cast<errc>(err.code()));
  return 503;
}

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void send_error(httplib::Response& res, const caf::error& err) {
  send_json(res, http_status(err), {{"error", error_text(err)}});
}

void send_error(httplib::Response& res, int status, const std::string& text) {
  send_json(res, status, {{"error", text}});
}

/// An error of a check before routing, in the format of the route's family.
void send_error(const httplib::Request& req, httplib::Response& res, int status, const std::string& text) {
  if (req.path.rfind("/api/v1/", 0) != 0) {
    send_error(res, status, text);
    return;
  }
  auto code = status == 411 ? "length_required" : status == 413 ? "payload_too_large" : status == 415 ? "unsupported_media_type" : "misdirected_request";
  send_json(res, status, {{"error", {{"code", code}, {"message", text}}}});
}

/// A query parameter in [lo, hi], `fallback` when absent; none when malformed.
std::optional<int32_t> int_param(const httplib::Request& req, const char* name, int32_t fallback,
                                 int32_t lo, int32_t hi) {
  if (!req.has_param(name))
    return fallback;
  auto x = parse_integer(req.get_param_value(name));
  if (!x || *x < lo || *x > hi)
    return std::nullopt;
  return static_cast<int32_t>(*x);
}

std::string openssl_error() {
  auto code = ERR_get_error();
  if (code == 0)
    return "no detail";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

/// The server context of fleet.http-tls-cert and -key, checked: each file readable, the key the
/// certificate's, TLS 1.2 at least.
caf::expected<SSL_CTX*> https_context(const std::string& cert, const std::string& key) {
  auto bad = [](std::string text) { return caf::make_error(errc::invalid_config, std::move(text)); };
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{SSL_CTX_new(TLS_server_method()), SSL_CTX_free};
  if (!ctx)
    return bad("cannot create an OpenSSL context: " + openssl_error());
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1)
    return bad(fmt::format("fleet.http-tls-cert {}: not a readable PEM certificate ({})", cert, openssl_error()));
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)
    return bad(fmt::format("fleet.http-tls-key {}: not a readable PEM private key without a passphrase, or not "
                           "the key of {} ({})",
                           key, cert, openssl_error()));
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return bad(fmt::format("fleet.http-tls-key {} does not belong to the certificate {}", key, cert));
  return ctx.release();
}

/// The HTTPS context of fleet.http-tls-cert and -key, made again when either file changes (looked
/// at once a second at most, at a handshake): a renewed certificate is served without a restart,
/// and the connections open go on with the one they began with (each session holds its context).
/// Files that do not load (half written, a key of another certificate) leave the last good context
/// in place, with a warning.
class renewing_https_context {
public:
  renewing_https_context(std::string cert, std::string key, SSL_CTX* first)
    : cert_(std::move(cert)), key_(std::move(key)), ctx_(first, SSL_CTX_free), loaded_(stamps()) {}

  SSL_CTX* first() const { return ctx_.get(); }

  SSL_CTX* current() {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = std::chrono::steady_clock::now();
    if (now - checked_ < std::chrono::seconds{1})
      return ctx_.get();
    checked_ = now;
    auto seen = stamps();
    if (seen == loaded_ || seen == refused_)
      return ctx_.get();
    auto next = https_context(cert_, key_);
    if (!next) {
      refused_ = seen;
      spdlog::warn("http: the changed certificate or key does not load, still serving the one before: {}",
                   error_text(next.error()));
      return ctx_.get();
    }
    ctx_.reset(*next);
    loaded_ = seen;
    spdlog::info("http: serving the renewed certificate {}", cert_);
    return ctx_.get();
  }

private:
  /// What tells a file's versions apart: a rename gives a new inode, a rewrite a new time or size.
  using stamp = std::tuple<dev_t, ino_t, off_t, int64_t>;
  static stamp stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      return {};
    return {st.st_dev, st.st_ino, st.st_size, int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  std::pair<stamp, stamp> stamps() const { return {stamp_of(cert_), stamp_of(key_)}; }

  std::mutex mtx_;
  std::string cert_;
  std::string key_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
  std::pair<stamp, stamp> loaded_;
  std::pair<stamp, stamp> refused_{};
  std::chrono::steady_clock::time_point checked_ = std::chrono::steady_clock::now();
};

} // namespace

struct http_server::impl {
  impl(caf::actor_system& sys, fleet_manager_actor manager, std::shared_ptr<const fleet_metrics> metrics,
       http_options opts, SSL_CTX* tls)
    : sys(sys), manager(manager), metrics(std::move(metrics)), opts(std::move(opts)),
      https(tls == nullptr ? nullptr
                           : std::make_unique<renewing_https_context>(this->opts.tls_cert, this->opts.tls_key, tls)),
      api(sys, manager, api_settings_of(this->opts), [this](const std::string& why) { warn_refused(why); }) {}

  static api_settings api_settings_of(const http_options& opts) {
    api_settings out;
    out.tokens = opts.tokens.get();
    out.max_body_bytes = opts.max_body_bytes;
    out.max_streams = opts.max_streams;
    out.manager_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(manager_timeout);
    return out;
  }

  caf::actor_system& sys;
  fleet_api_actor manager;
  std::shared_ptr<const fleet_metrics> metrics;
  http_options opts;
  std::unique_ptr<renewing_https_context> https; ///< before the server, whose gate uses it
  api_v1 api;
  // Before the server: its gate's threads report through them until the server is gone.
  std::mutex warn_mtx;
  std::chrono::steady_clock::time_point last_warning;
  size_t suppressed = 0;
  gated_server server{gate_options(opts, https.get()), [this](const std::string& why) { warn_refused(why); }};

  static http_gate::options gate_options(const http_options& opts, renewing_https_context* https) {
    http_gate::options out;
    if (https != nullptr) {
      out.tls = https->first();
      out.tls_context = [https] { return https->current(); };
    }
    out.max_waiting = opts.max_waiting;
    // Event streams and big uploads hold a thread each: they get threads of their own.
    out.workers += opts.max_streams;
    return out;
  }
  std::unique_ptr<throughput_history> throughput; ///< the front page's chart
  std::set<std::string> hosts; ///< accepted Host header values
  uint16_t port = 0;
  std::atomic<bool> listen_returned{false};
  std::thread thread;

  /// One per request: fleet_client is not thread-safe, and requests run on the pool's threads.
  fleet_client client() {
    return fleet_client{sys, manager, std::chrono::duration_cast<fleet_client::duration>(manager_timeout)};
  }

  /// client() for a change from the status page: its events name the page and the peer.
  fleet_client client_for(const httplib::Request& req) {
    auto c = client();
    (void) c.identify(nlohmann::json{{"http_peer", fmt::format("{}:{}", req.remote_addr, req.remote_port)},
                                     {"status_page", true}}.dump());
    return c;
  }

  void accept_hosts() {
    for (const auto& name : opts.extra_host_names) {
      hosts.insert(lowercase(name));
      hosts.insert(lowercase(fmt::format("{}:{}", name, port)));
    }
    auto host = opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host;
    hosts.insert(lowercase(host));
    hosts.insert(lowercase(fmt::format("{}:{}", host, port)));
  }

  /// Host names compare without case (RFC 9110).
  static std::string lowercase(std::string x) {
    for (auto& c : x)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return x;
  }

  /// The gate's drops, one line a second at most.
  void warn_refused(const std::string& why) {
    std::lock_guard<std::mutex> guard{warn_mtx};
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning < std::chrono::seconds(1)) {
      ++suppressed;
      return;
    }
    last_warning = now;
    spdlog::warn("http: {}{}", why, suppressed == 0 ? "" : fmt::format(" (and {} more)", std::exchange(suppressed, 0)));
  }
  /// A body this server does not read: why (status, text), or none.
  std::optional<std::pair<int, std::string>> refused_body(const httplib::Request& req) const {
    if (req.has_header("Transfer-Encoding"))
      return std::pair{411, std::string{"send the body with a Content-Length (chunked bodies are not read)"}};
    auto encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity")
      return std::pair{415, fmt::format("Content-Encoding {} is not accepted: send the body uncompressed",
                                        quoted_input(encoding))};
    auto type = req.get_header_value("Content-Type");
    auto limit = api.max_body(req.method, req.path, type.substr(0, type.find(';')));
    if (request_content_length(req) > limit)
      return std::pair{413, fmt::format("the body is larger than {} bytes{}", limit,
                                        limit > 64 * 1024 ? " (fleet.http-max-body; send big batches as application/x-ndjson)" : "")};
    return std::nullopt;
  }

  static bool is_public(const std::string& path) {
    if (path == "/" || path == "/healthz" || path.rfind("/batches/", 0) == 0)
      return true;
    for (const auto& asset : web_assets())
      if (path.size() == asset.name.size() + 1 && path.compare(1, std::string::npos, asset.name) == 0)
        return true;
    return false;
  }

  void routes();
  void serve_assets();
  void serve_metrics();
  void serve_queries();
  void serve_actions();
};

void http_server::impl::routes() {
  server.set_default_headers({
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'none'"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
  });
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Exactly one Host: a second one could say something else to a proxy in front.
    if (req.get_header_value_count("Host") != 1 || hosts.count(lowercase(req.get_header_value("Host"))) == 0) {
      send_error(req, res, 421,
                 fmt::format("unexpected Host header {}: fleetd answers to {}:{} and localhost only",
                             quoted_input(req.get_header_value("Host")), opts.host, port));
      return httplib::Server::HandlerResponse::Handled;
    }
    if (auto refused = refused_body(req)) {
      send_error(req, res, refused->first, refused->second);
      return httplib::Server::HandlerResponse::Handled;
    }
    // Off loopback, every route with data needs a token; the page's files and /healthz hold none.
    if (!is_loopback(opts.host) && opts.tokens && !is_public(req.path) && req.path.rfind("/api/v1/", 0) != 0
        && !api.allow_read(req, res))
      return httplib::Server::HandlerResponse::Handled;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("http: {}", what);
    send_error(res, 500, what);
  });
  serve_assets();
  serve_metrics();
  serve_queries();
  serve_actions();
  api.serve(server);
}

void http_server::impl::serve_assets() {
  for (const auto& asset : web_assets()) {
    auto handler = [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(asset.body.data(), asset.body.size(), std::string{asset.content_type}.c_str());
    };
    std::string path = "/"; // not "/" + name: GCC 12 warns falsely (-Wrestrict) in Release
    path += asset.name;
    server.Get(path, handler);
    if (asset.name == "status.html")
      server.Get("/", handler);
    if (asset.name == "batch.html")
      server.Get(R"(/batches/([^/]+))", handler);
  }
}

void http_server::impl::serve_metrics() {
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    // Counters come from memory; the gauges need the manager. Without its answer the counters
    // still go out, and fleetd_manager_up (0) says why the gauges are missing.
    auto c = client();
    auto st = c.stats();
    auto text = render_prometheus(*metrics, st ? &*st : nullptr);
    if (st)
      if (auto queues = c.queues())
        text += render_queue_metrics(*queues);
    res.set_content(std::move(text), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    if (auto cfg = client().get_config(); !cfg)
      send_error(res, 503, "the fleet manager does not answer: " + error_text(cfg.error()));
    else
      res.set_content("ok\n", "text/plain");
  });
}

void http_server::impl::serve_queries() {
  server.Get("/api/overview", [this](const httplib::Request& req, httplib::Response& res) {
    auto batches = int_param(req, "batches", 20, 0, 1000);
    auto failures = int_param(req, "failures", 20, 0, 1000);
    if (!batches || !failures) {
      send_error(res, 400, "batches and failures are whole numbers from 0 to 1000");
      return;
    }
    auto ov = client().overview(*batches, *failures);
    if (!ov) {
      send_error(res, ov.error());
      return;
    }
    auto body = to_json(*ov);
    body["queues"] = nlohmann::json::array();
    if (auto queues = client().queues())
      for (const auto& q : *queues)
        body["queues"].push_back(to_json(q));
    body["actions"] = opts.actions;
    body["version"] = FLEETD_VERSION;
    send_json(res, 200, body);
  });
  server.Get("/api/throughput", [this](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, throughput->to_json());
  });
  server.Get(R"(/api/batches/([^/]+)/tasks)", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = req.matches[1].str();
    auto cursor = int_param(req, "cursor", 0, 0, INT32_MAX);
    auto limit = int_param(req, "limit", 50, 1, 500);
    if (!cursor || !limit || !is_utf8(id)) {
      send_error(res, 400, "cursor is a whole number from 0, limit from 1 to 500, the batch id UTF-8");
      return;
    }
    if (!opts.read_tasks) {
      send_error(res, 503, "this server has no database to read the tasks from");
      return;
    }
    auto page = opts.read_tasks(id, *cursor, *limit);
    if (!page) {
      send_error(res, page.error());
      return;
    }
    auto tasks = nlohmann::json::array();
    for (const auto& t : page->tasks) {
      auto attempts = nlohmann::json::array();
      for (const auto& a : t.attempt_rows)
        attempts.push_back({{"attempt", a.attempt}, {"worker_id", a.worker_id}, {"node", a.node},
                            {"started_at", a.started_at},
                            {"finished_at", a.finished_at == 0 ? nlohmann::json(nullptr) : nlohmann::json(a.finished_at)},
                            {"outcome", a.outcome.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.outcome)},
                            {"error", a.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.error)}});
      auto result = t.result.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(t.result, nullptr, false);
      tasks.push_back({{"task_id", t.task_id}, {"type", t.type}, {"priority", t.priority}, {"state", t.state},
                       {"attempts", t.attempts},
                       {"duration_ms", t.duration_ms < 0 ? nlohmann::json(nullptr) : nlohmann::json(t.duration_ms)},
                       {"result", result.is_discarded() ? nlohmann::json(t.result) : result},
                       {"error", t.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.error)},
                       {"progress", t.progress < 0 ? nlohmann::json(nullptr) : nlohmann::json(t.progress)},
                       {"note", t.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.note)},
                       {"after", nlohmann::json::parse(t.after_json, nullptr, false)},
                       {"attempt_rows", std::move(attempts)}});
    }
    send_json(res, 200, {{"batch_id", id}, {"tasks", std::move(tasks)}, {"next_cursor", page->next_cursor},
                         {"done", page->done}});
  });
  server.Get(R"(/api/batches/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = req.matches[1].str();
    if (!is_utf8(id)) {
      send_error(res, 404, fmt::format("batch {} not found (batch ids are UTF-8)", quoted_input(id)));
      return;
    }
    auto st = client().batch_status(id);
    if (!st)
      send_error(res, st.error());
    else
      send_json(res, 200, to_json(*st));
  });
}

void http_server::impl::serve_actions() {
  auto refuse = [this](const httplib::Request& req, httplib::Response& res) {
    if (!opts.actions) {
      send_error(res, 403, "actions are off: set fleet.http-actions=true to cancel, pause and resume from the page");
      return true;
    }
    if (req.get_header_value(action_header) != "1") {
      send_error(res, 403, fmt::format("an action needs the header {}: 1", action_header));
      return true;
    }
    return false;
  };
  server.Post(R"(/api/batches/([^/]+)/(cancel|pause|resume))",
              [this, refuse](const httplib::Request& req, httplib::Response& res) {
                if (refuse(req, res))
                  return;
                auto id = req.matches[1].str();
                auto verb = req.matches[2].str();
                auto c = client_for(req);
                auto changed = verb == "cancel" ? c.cancel_batch(id) : verb == "pause" ? c.pause(id) : c.resume(id);
                if (!changed) {
                  send_error(res, changed.error());
                  return;
                }
                spdlog::info("http: {} batch {} from the status page ({})", verb, id,
                             *changed ? "done" : "nothing to change");
                send_json(res, 200, {{"batch_id", id}, {"action", verb}, {"changed", *changed}});
              });
  server.Post(R"(/api/batches/([^/]+)/replay)", [this, refuse](const httplib::Request& req, httplib::Response& res) {
    if (refuse(req, res))
      return;
    auto id = req.matches[1].str();
    std::vector<std::string> task_ids;
    if (!req.body.empty()) {
      auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object() || (body.contains("task_ids") && !body["task_ids"].is_array())) {
        send_error(res, 400, "a replay's body is {} or {\"task_ids\": [...]}");
        return;
      }
      for (const auto& t : body.value("task_ids", nlohmann::json::array())) {
        if (!t.is_string()) {
          send_error(res, 400, "task_ids are strings");
          return;
        }
        task_ids.push_back(t.get<std::string>());
      }
    }
    auto replayed = client_for(req).replay(id, task_ids);
    if (!replayed) {
      send_error(res, replayed.error());
      return;
    }
    spdlog::info("http: replay of {} failed tasks of batch {} from the status page", *replayed, id);
    send_json(res, 200, {{"batch_id", id}, {"action", "replay"}, {"replayed", *replayed}});
  });
  server.Post(R"(/api/fleet/(pause|resume))", [this, refuse](const httplib::Request& req, httplib::Response& res) {
    if (refuse(req, res))
      return;
    auto verb = req.matches[1].str();
    auto c = client_for(req);
    auto changed = verb == "pause" ? c.pause_fleet() : c.resume_fleet();
    if (!changed) {
      send_error(res, changed.error());
      return;
    }
    spdlog::info("http: {} the fleet from the status page ({})", verb, *changed ? "done" : "nothing to change");
    send_json(res, 200, {{"action", verb}, {"changed", *changed}});
  });
}

caf::expected<std::unique_ptr<http_server>> http_server::start(caf::actor_system& sys, fleet_manager_actor manager,
                                                               std::shared_ptr<const fleet_metrics> metrics,
                                                               http_options opts) {
  SSL_CTX* tls = nullptr;
  if (!opts.tls_cert.empty()) {
    auto ctx = https_context(opts.tls_cert, opts.tls_key);
    if (!ctx)
      return ctx.error();
    tls = *ctx;
  }
  auto p = std::make_unique<impl>(sys, std::move(manager), std::move(metrics), std::move(opts), tls);
  // Bodies are bounded before routing (refused_body): by route, and for uploads as they stream.
  p->server.set_payload_max_length(std::numeric_limits<size_t>::max());
  // httplib's default adds SO_REUSEPORT, with which a second fleetd would bind the same port and
  // silently take half of the requests: a port in use must be an error.
  p->server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Each request's total deadline is the gate's (web/http_gate.hpp); these bound single waits.
  p->server.set_read_timeout(std::chrono::seconds(5));
  p->server.set_write_timeout(std::chrono::seconds(5));
  int port = 0;
  if (p->opts.port == 0)
    port = p->server.bind_to_any_port(p->opts.host);
  else if (p->server.bind_to_port(p->opts.host, p->opts.port))
    port = p->opts.port;
  if (port <= 0)
    return caf::make_error(errc::invalid_config,
                           fmt::format("cannot listen for HTTP on {}:{} (port in use, or not an address of "
                                       "this machine)",
                                       p->opts.host, p->opts.port));
  p->port = static_cast<uint16_t>(port);
  auto* sampler_owner = p.get();
  p->throughput = std::make_unique<throughput_history>(p->metrics, [sampler_owner]() -> caf::expected<int64_t> {
    auto st = sampler_owner->client().stats();
    if (!st)
      return st.error();
    return st->pending_tasks;
  });
  p->accept_hosts();
  p->routes();
  auto* raw = p.get();
  p->thread = std::thread([raw] {
    pthread_setname_np(pthread_self(), "fleet.http");
    if (!raw->server.listen_after_bind())
      spdlog::error("http: the server on port {} stopped with an error", raw->port);
    raw->listen_returned = true;
  });
  // stop() does nothing until the server runs: wait, so that a quick shutdown cannot hang.
  while (!p->server.is_running() && !p->listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return std::unique_ptr<http_server>(new http_server(std::move(p)));
}

http_server::http_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

http_server::~http_server() {
  impl_->throughput.reset(); // its thread asks the manager: it ends first
  impl_->api.stop();
  impl_->server.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
}

uint16_t http_server::port() const {
  return impl_->port;
}

} // namespace fleet
