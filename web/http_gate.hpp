#pragma once

// The front of fleetd's HTTP port (issue 16). A connection gets a thread only once its whole
// request has arrived: until then one thread watches every waiting connection (poll with
// SO_RCVLOWAT, so a slow sender costs no wake-ups), and closes it when its time is up. A request
// then runs within a total deadline, and /healthz has a thread of its own, so that a liveness
// probe answers however many slow clients hold the port.
//
// With TLS the watcher also does each handshake and decrypts the request (non-blocking), so that
// a slow HTTPS client holds no thread either; the worker gets the connection and what was
// decrypted of it.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct ssl_ctx_st;
struct ssl_st;

namespace fleet {

class http_gate {
public:
  using clock = std::chrono::steady_clock;

  struct options {
    size_t max_waiting = 1024;           ///< connections whose request is incomplete
    size_t max_queued = 256;             ///< complete requests waiting for a thread
    std::chrono::milliseconds request_timeout{5000}; ///< to send the whole request
    std::chrono::milliseconds answer_timeout{10000}; ///< to handle it and take the answer
    size_t workers = 8;
    /// Head and body that are waited for; bigger go on at once. Below half of a socket's receive
    /// buffer: Linux caps SO_RCVLOWAT there.
    size_t max_request_bytes = 32 * 1024;
    /// HTTPS: connections speak TLS with this context (not owned; outlives the gate), unless
    /// tls_context gives the one for each handshake. Null: HTTP.
    ssl_ctx_st* tls = nullptr;
    /// With TLS: the context for the next handshake, when it may change (a renewed certificate);
    /// empty: `tls`.
    std::function<ssl_ctx_st*()> tls_context;
  };

  /// A connection whose request is whole (or too big to wait for).
  struct connection {
    int fd = -1;
    clock::time_point deadline;
    size_t request_bytes = SIZE_MAX; ///< head and body; SIZE_MAX when too big to wait for
    ssl_st* ssl = nullptr;           ///< with TLS: the session, handshake done
    std::string decrypted;           ///< with TLS: the request's bytes read so far
  };

  /// `serve(c)` handles one complete request on a worker thread, then frees `c.ssl` and closes
  /// `c.fd` (close_connection). A request without Content-Length has no body (RFC 9112 6.3),
  /// whatever follows it. `on_refused(why)` is told (rate-limited by the caller) when a
  /// connection is dropped.
  using serve_function = std::function<void(connection&)>;

  /// Ends a connection: TLS close_notify (without waiting), the session freed, the socket closed.
  static void close_connection(connection& c);

  http_gate(options opts, serve_function serve,
            std::function<void(const std::string&)> on_refused);
  ~http_gate();
  http_gate(const http_gate&) = delete;
  http_gate& operator=(const http_gate&) = delete;

  /// Takes an accepted connection (from the listening thread).
  void admit(int fd);

private:
  struct waiting {
    connection c;
    size_t seen = 0; ///< bytes available at the last look (plain HTTP)
    bool handshaken = false;
  };
  struct lane {
    std::deque<connection> queue;
    std::condition_variable ready;
    std::vector<std::thread> threads;
  };
  enum class verdict { wait, serve_health, serve, drop };

  void watch();
  verdict look(waiting& w);
  verdict look_tls(waiting& w);
  /// Whether `seen`, the start of a request, holds all of it (or all that is waited for).
  verdict judge(waiting& w, std::string_view seen);
  void hand_over(waiting& w, lane& to);
  void work(lane& from);

  options opts_;
  serve_function serve_;
  std::function<void(const std::string&)> on_refused_;
  int wake_fd_ = -1;
  std::mutex mtx_;
  bool stopping_ = false;
  std::vector<int> admitted_; ///< handed in, not yet watched
  std::vector<char> peek_buffer_;
  lane health_;
  lane general_;
  std::thread watcher_;
};

} // namespace fleet
