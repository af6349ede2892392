#include "fleet/line_process.hpp"

#include "fleetd/error.hpp"
#include "fleet/subprocess.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fleet {

caf::expected<std::unique_ptr<line_process>> line_process::start(const line_process_spec& spec,
                                                                 line_process_events events) {
  auto spawned = spawn_child(spec.argv, spec.env, true, spec.label, spec.sandbox.get());
  if (!spawned)
    return spawned.error();
  std::unique_ptr<line_process> out{new line_process(spawned->pid, spawned->in_fd, spawned->out_fd, spawned->err_fd,
                                                     spec, std::move(events), spawned->record)};
  // Written from the caller's thread when the pipe has room (write()), by the writer thread otherwise.
  ::fcntl(spawned->in_fd, F_SETFL, ::fcntl(spawned->in_fd, F_GETFL) | O_NONBLOCK);
  out->reader_ = std::thread{[p = out.get()] { p->read_loop(); }};
  out->writer_ = std::thread{[p = out.get()] { p->write_loop(); }};
  return out;
}

line_process::line_process(pid_t pid, int in_fd, int out_fd, int err_fd, line_process_spec spec,
                           line_process_events events, child_record record)
  : pid_(pid), in_fd_(in_fd), out_fd_(out_fd), err_fd_(err_fd), spec_(std::move(spec)), events_(std::move(events)),
    record_(record) {
}

line_process::~line_process() {
  kill();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  wake_writer_.notify_all();
  if (writer_.joinable())
    writer_.join();
  if (reader_.joinable())
    reader_.join();
  for (int fd : {in_fd_, out_fd_, err_fd_})
    if (fd >= 0)
      ::close(fd);
}

namespace {

/// write() that neither blocks nor raises SIGPIPE on the calling thread: the bytes written, 0
/// when the pipe is full, -1 when the child closed it (or another error).
ssize_t write_now(int fd, std::string_view bytes) {
  sigset_t pipe_signal, before;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &before);
  ssize_t n;
  do
    n = ::write(fd, bytes.data(), bytes.size());
  while (n < 0 && errno == EINTR);
  auto error = errno;
  if (n < 0 && error == EPIPE) {
    timespec none{0, 0};
    sigtimedwait(&pipe_signal, nullptr, &none); // the SIGPIPE this write raised, if still pending
  }
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  if (n < 0)
    return error == EAGAIN || error == EWOULDBLOCK ? 0 : -1;
  return n;
}

} // namespace

void line_process::write(std::string line) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // The common case, a pipe with room and nothing queued: written here, without waking the
    // writer thread (a round trip to a pool worker is dominated by such hand-offs).
    if (outbox_.empty() && !writing_) {
      auto n = write_now(in_fd_, line);
      if (n < 0 || static_cast<size_t>(n) == line.size())
        return; // written, or the child is gone: its reader reports the end
      line.erase(0, static_cast<size_t>(n));
    }
    outbox_.push_back(std::move(line));
  }
  wake_writer_.notify_one();
}

void line_process::kill() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!reaped_)
    ::kill(-pid_, SIGKILL);
}

void line_process::write_loop() {
  // A child that closed its stdin must not kill fleetd with SIGPIPE: the write fails with EPIPE.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  for (;;) {
    std::string line;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      wake_writer_.wait(guard, [this] { return stopping_ || !outbox_.empty(); });
      if (stopping_)
        return;
      line = std::move(outbox_.front());
      outbox_.pop_front();
      writing_ = true;
    }
    size_t done = 0;
    while (done < line.size()) {
      auto n = ::write(in_fd_, line.data() + done, line.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{in_fd_, POLLOUT, 0};
        ::poll(&p, 1, 100); // stdin is non-blocking (write() above); wait for room, or look again
        std::lock_guard<std::mutex> guard{mtx_};
        if (stopping_)
          return;
      } else {
        // EPIPE: the child is gone or stopped reading; the reader reports its end. Take the
        // pending SIGPIPE off this thread.
        timespec none{0, 0};
        sigtimedwait(&pipe_signal, nullptr, &none);
        std::lock_guard<std::mutex> guard{mtx_};
        outbox_.clear();
        break;
      }
    }
    std::lock_guard<std::mutex> guard{mtx_};
    writing_ = false;
  }
}

void line_process::read_loop() {
  std::string pending[2];
  bool overflowed = false;
  auto log = [&](std::string line) {
    if (!events_.on_log)
      return;
    if (line.size() > spec_.max_log_line)
      line = std::string{utf8_head(line, spec_.max_log_line)} + "...";
    events_.on_log(std::move(line));
  };
  read_outputs(out_fd_, err_fd_, 0, [&](int stream, std::string_view chunk) {
    auto& acc = pending[stream];
    std::vector<std::string> lines;
    if (chunk.empty()) { // the stream ended: its last line may lack a line break
      if (!acc.empty())
        lines.push_back(std::exchange(acc, {}));
    } else {
      acc.append(chunk);
      size_t start = 0;
      for (auto nl = acc.find('\n'); nl != std::string::npos; nl = acc.find('\n', start)) {
        lines.push_back(acc.substr(start, nl - start));
        start = nl + 1;
      }
      acc.erase(0, start);
    }
    if (stream == 1) {
      for (auto& line : lines)
        log(std::move(line));
      if (acc.size() > spec_.max_log_line * 16)
        log(std::exchange(acc, {})); // a log line without end: shown in pieces
      return;
    }
    if (overflowed) {
      acc.clear(); // nobody listens any more: read on, so that the child never blocks on a full pipe
      return;
    }
    if (!lines.empty())
      events_.on_lines(std::move(lines));
    if (acc.size() > spec_.max_line) {
      overflowed = true;
      acc.clear();
      events_.on_broken(caf::make_error(errc::worker_failed, fmt::format("a line of more than {} bytes", spec_.max_line)));
    }
  });
  auto status = reap(pid_, mtx_, reaped_, record_);
  events_.on_exit(WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                      : fmt::format("exited with code {}", WEXITSTATUS(status)));
}

} // namespace fleet
