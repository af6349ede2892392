#include "web/http_gate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
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
      close_fd(q.fd);
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

http_gate::verdict http_gate::look(waiting& w) {
  auto& buf = peek_buffer_; // the watcher's alone
  buf.resize(opts_.max_request_bytes);
  auto n = ::recv(w.fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0)
    return verdict::drop; // closed before its request was whole
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? verdict::wait : verdict::drop;
  auto got = static_cast<size_t>(n);
  std::string_view seen{buf.data(), got};
  auto head_end = seen.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    // A head larger than what is waited for goes on at once: the server refuses it (431, 414).
    if (got >= buf.size())
      return verdict::serve;
    w.seen = got;
    return verdict::wait;
  }
  auto head = seen.substr(0, head_end + 4);
  auto body = content_length(head);
  auto whole = body == SIZE_MAX ? SIZE_MAX : head.size() + body;
  if (got < whole && whole <= buf.size()) {
    w.seen = got;
    return verdict::wait;
  }
  w.request_bytes = whole;
  auto first_line = head.substr(0, head.find("\r\n"));
  if (first_line.rfind("GET /healthz ", 0) == 0)
    return verdict::serve_health;
  return verdict::serve;
}

void http_gate::hand_over(const waiting& w, lane& to) {
  wake_at(w.fd, 1); // the server reads it as any socket from now on
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (to.queue.size() < opts_.max_queued) {
      to.queue.push_back({w.fd, clock::now() + opts_.answer_timeout, w.request_bytes});
      to.ready.notify_one();
      return;
    }
  }
  close_fd(w.fd);
  on_refused_(fmt::format("{} complete requests wait for a thread: one more was dropped", opts_.max_queued));
}

void http_gate::watch() {
  pthread_setname_np(pthread_self(), "fleet.http.gate");
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
        waiting_list.push_back({fd, clock::now() + opts_.request_timeout});
      }
      admitted_.clear();
    }
    auto now = clock::now();
    auto next_deadline = now + std::chrono::seconds(1);
    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    for (const auto& w : waiting_list) {
      fds.push_back(pollfd{w.fd, POLLIN | POLLRDHUP, 0});
      next_deadline = std::min(next_deadline, w.deadline);
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
      if (v == verdict::wait && now >= w.deadline) {
        on_refused_(fmt::format("a connection did not send a whole request within {} ms: closed",
                                opts_.request_timeout.count()));
        v = verdict::drop;
      }
      switch (v) {
        case verdict::wait:
          wake_at(w.fd, w.seen + 1);
          still.push_back(w);
          break;
        case verdict::serve_health: hand_over(w, health_); break;
        case verdict::serve: hand_over(w, general_); break;
        case verdict::drop: close_fd(w.fd); break;
      }
    }
    waiting_list = std::move(still);
  }
  for (const auto& w : waiting_list)
    close_fd(w.fd);
}

void http_gate::work(lane& from) {
  pthread_setname_np(pthread_self(), &from == &health_ ? "fleet.http.live" : "fleet.http");
  for (;;) {
    std::unique_lock<std::mutex> lock{mtx_};
    from.ready.wait(lock, [&] { return stopping_ || !from.queue.empty(); });
    if (stopping_)
      return;
    auto next = from.queue.front();
    from.queue.pop_front();
    lock.unlock();
    serve_(next.fd, next.deadline, next.request_bytes);
  }
}

} // namespace fleet
