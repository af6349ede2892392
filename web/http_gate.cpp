#include "web/http_gate.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <poll.h>
#include <pthread.h>
#include <string_view>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace fleet {

namespace {

void close_fd(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

/// OpenSSL writes to a socket with write(): a peer that went away must not end fleetd with
/// SIGPIPE. Blocked on the gate's threads, the signal stays pending there, harmless.
void block_sigpipe() {
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
}

/// poll() reports the socket readable only once `bytes` are there (or it closed).
void wake_at(int fd, size_t bytes) {
  int lowat = static_cast<int>(std::max<size_t>(bytes, 1));
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
}

bool same_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// The Content-Length of a request head, 0 without one, SIZE_MAX if it is not a number.
size_t content_length(std::string_view head) {
  size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    auto end = head.find("\r\n", pos);
    auto line = head.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && same_ignoring_case(line.substr(0, colon), "content-length")) {
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      size_t n = 0;
      if (value.empty() || value.size() > 12)
        return SIZE_MAX;
      for (char c : value) {
        if (c < '0' || c > '9')
          return SIZE_MAX;
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      return n;
    }
  }
  return 0;
}

} // namespace

http_gate::http_gate(options opts, serve_function serve,
                     std::function<void(const std::string&)> on_refused)
  : opts_(opts), serve_(std::move(serve)), on_refused_(std::move(on_refused)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  health_.threads.emplace_back([this] { work(health_); });
  for (size_t i = 0; i < std::max<size_t>(opts_.workers, 1); ++i)
    general_.threads.emplace_back([this] { work(general_); });
  watcher_ = std::thread{[this] { watch(); }};
}

http_gate::~http_gate() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  watcher_.join();
  health_.ready.notify_all();
  general_.ready.notify_all();
  for (auto* l : {&health_, &general_})
    for (auto& t : l->threads)
      t.join();
  for (auto* l : {&health_, &general_})
    for (auto& q : l->queue)
      close_connection(q);
  for (int fd : admitted_)
    close_fd(fd);
  ::close(wake_fd_);
}

void http_gate::admit(int fd) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    admitted_.push_back(fd);
  }
  uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

void http_gate::close_connection(connection& c) {
  if (c.ssl != nullptr) {
    SSL_shutdown(c.ssl); // one close_notify, no waiting for the peer's
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0)
    close_fd(c.fd);
  c.fd = -1;
}

http_gate::verdict http_gate::look(waiting& w) {
  if (opts_.tls != nullptr)
    return look_tls(w);
  auto& buf = peek_buffer_; // the watcher's alone
  buf.resize(opts_.max_request_bytes);
  auto n = ::recv(w.c.fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0)
    return verdict::drop; // closed before its request was whole
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? verdict::wait : verdict::drop;
  w.seen = static_cast<size_t>(n);
  return judge(w, std::string_view{buf.data(), w.seen});
}

http_gate::verdict http_gate::look_tls(waiting& w) {
  if (w.c.ssl == nullptr) {
    ::fcntl(w.c.fd, F_SETFL, ::fcntl(w.c.fd, F_GETFL) | O_NONBLOCK);
    w.c.ssl = SSL_new(opts_.tls_context ? opts_.tls_context() : opts_.tls);
    if (w.c.ssl == nullptr || SSL_set_fd(w.c.ssl, w.c.fd) != 1)
      return verdict::drop;
    SSL_set_accept_state(w.c.ssl);
  }
  auto again = [&](int rc) {
    auto e = SSL_get_error(w.c.ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  };
  if (!w.handshaken) {
    auto rc = SSL_do_handshake(w.c.ssl);
    if (rc != 1)
      return again(rc) ? verdict::wait : verdict::drop;
    w.handshaken = true;
  }
  char buf[16 * 1024];
  auto& got = w.c.decrypted;
  while (got.size() < opts_.max_request_bytes) {
    auto rc = SSL_read(w.c.ssl, buf, static_cast<int>(std::min(sizeof buf, opts_.max_request_bytes - got.size())));
    if (rc > 0) {
      got.append(buf, static_cast<size_t>(rc));
      continue;
    }
    if (!again(rc))
      return verdict::drop; // closed, or not TLS
    break;
  }
  return judge(w, got);
}

http_gate::verdict http_gate::judge(waiting& w, std::string_view seen) {
  auto got = seen.size();
  auto head_end = seen.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    // A head larger than what is waited for goes on at once: the server refuses it (431, 414).
    return got >= opts_.max_request_bytes ? verdict::serve : verdict::wait;
  }
  auto head = seen.substr(0, head_end + 4);
  auto body = content_length(head);
  auto whole = body == SIZE_MAX ? SIZE_MAX : head.size() + body;
  if (got < whole && whole <= opts_.max_request_bytes)
    return verdict::wait;
  w.c.request_bytes = whole;
  auto first_line = head.substr(0, head.find("\r\n"));
  if (first_line.rfind("GET /healthz ", 0) == 0)
    return verdict::serve_health;
  return verdict::serve;
}

void http_gate::hand_over(waiting& w, lane& to) {
  wake_at(w.c.fd, 1); // the server reads it as any socket from now on
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (to.queue.size() < opts_.max_queued) {
      w.c.deadline = clock::now() + opts_.answer_timeout;
      to.queue.push_back(std::move(w.c));
      to.ready.notify_one();
      return;
    }
  }
  close_connection(w.c);
  on_refused_(fmt::format("{} complete requests wait for a thread: one more was dropped", opts_.max_queued));
}

void http_gate::watch() {
  pthread_setname_np(pthread_self(), "fleet.http.gate");
  block_sigpipe();
  std::vector<waiting> waiting_list;
  std::vector<pollfd> fds;
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopping_)
        break;
      for (int fd : admitted_) {
        if (waiting_list.size() >= opts_.max_waiting) {
          close_fd(fd);
          on_refused_(fmt::format("{} connections are still sending their request: one more was dropped",
                                  opts_.max_waiting));
          continue;
        }
        wake_at(fd, 1);
        waiting w;
        w.c.fd = fd;
        w.c.deadline = clock::now() + opts_.request_timeout;
        waiting_list.push_back(std::move(w));
      }
      admitted_.clear();
    }
    auto now = clock::now();
    auto next_deadline = now + std::chrono::seconds(1);
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    for (const auto& w : waiting_list) {
      fds.push_back(pollfd{w.c.fd, POLLIN | POLLRDHUP, 0});
      next_deadline = std::min(next_deadline, w.c.deadline);
    }
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now).count() + 1;
    auto ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(timeout, 0)));
    if (ready < 0 && errno != EINTR)
      continue;
    if (fds[0].revents != 0) {
      uint64_t count = 0;
      [[maybe_unused]] auto got = ::read(wake_fd_, &count, sizeof count);
    }
    now = clock::now();
    std::vector<waiting> still;
    for (size_t i = 0; i < waiting_list.size(); ++i) {
      auto& w = waiting_list[i];
      auto events = fds[i + 1].revents;
      auto v = events != 0 ? look(w) : verdict::wait;
      if (v == verdict::wait && (events & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
        v = verdict::drop; // the sender is done, and what it sent is not a whole request
      if (v == verdict::wait && now >= w.c.deadline) {
        on_refused_(fmt::format("a connection did not send a whole request within {} ms: closed",
                                opts_.request_timeout.count()));
        v = verdict::drop;
      }
      switch (v) {
        case verdict::wait:
          // TLS records arrive whole or not at all: any byte may complete one.
          wake_at(w.c.fd, opts_.tls != nullptr ? 1 : w.seen + 1);
          still.push_back(std::move(w));
          break;
        case verdict::serve_health: hand_over(w, health_); break;
        case verdict::serve: hand_over(w, general_); break;
        case verdict::drop: close_connection(w.c); break;
      }
    }
    waiting_list = std::move(still);
  }
  for (auto& w : waiting_list)
    close_connection(w.c);
}

void http_gate::work(lane& from) {
  pthread_setname_np(pthread_self(), &from == &health_ ? "fleet.http.live" : "fleet.http");
  block_sigpipe();
  for (;;) {
    std::unique_lock<std::mutex> lock{mtx_};
    from.ready.wait(lock, [&] { return stopping_ || !from.queue.empty(); });
    if (stopping_)
      return;
    auto next = std::move(from.queue.front());
    from.queue.pop_front();
    lock.unlock();
    serve_(next);
  }
}

} // namespace fleet
