#include "fleet/line_process.hpp"

#include "fleetd/error.hpp"
#include "fleet/subprocess.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <ctime>
#include <sys/wait.h>
#include <unistd.h>

namespace fleet {

caf::expected<std::unique_ptr<line_process>> line_process::start(const line_process_spec& spec,
                                                                 line_process_events events) {
  auto spawned = spawn_child(spec.argv, spec.env, true);
  if (!spawned)
    return spawned.error();
  std::unique_ptr<line_process> out{
    new line_process(spawned->pid, spawned->in_fd, spawned->out_fd, spawned->err_fd, spec, std::move(events))};
  out->reader_ = std::thread{[p = out.get()] { p->read_loop(); }};
  out->writer_ = std::thread{[p = out.get()] { p->write_loop(); }};
  return out;
}

line_process::line_process(pid_t pid, int in_fd, int out_fd, int err_fd, line_process_spec spec,
                           line_process_events events)
  : pid_(pid), in_fd_(in_fd), out_fd_(out_fd), err_fd_(err_fd), spec_(std::move(spec)), events_(std::move(events)) {
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

void line_process::write(std::string line) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
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
    }
    size_t done = 0;
    while (done < line.size()) {
      auto n = ::write(in_fd_, line.data() + done, line.size() - done);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
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
  }
}

void line_process::read_loop() {
  std::string pending[2];
  bool overflowed = false;
  auto deliver = [&](int stream, std::string line) {
    if (stream == 0) {
      if (!overflowed)
        events_.on_line(std::move(line));
    } else if (events_.on_log) {
      if (line.size() > spec_.max_log_line)
        line = std::string{utf8_head(line, spec_.max_log_line)} + "...";
      events_.on_log(std::move(line));
    }
  };
  read_outputs(out_fd_, err_fd_, 0, [&](int stream, std::string_view chunk) {
    auto& acc = pending[stream];
    if (chunk.empty()) { // the stream ended: its last line may lack a line break
      if (!acc.empty())
        deliver(stream, std::exchange(acc, {}));
      return;
    }
    acc.append(chunk);
    size_t start = 0;
    for (auto nl = acc.find('\n'); nl != std::string::npos; nl = acc.find('\n', start)) {
      deliver(stream, acc.substr(start, nl - start));
      start = nl + 1;
    }
    acc.erase(0, start);
    auto limit = stream == 0 ? spec_.max_line : spec_.max_log_line * 16;
    if (acc.size() > limit) {
      if (stream == 0 && !overflowed) {
        overflowed = true;
        events_.on_line(caf::make_error(errc::worker_failed,
                                        fmt::format("a line of more than {} bytes", spec_.max_line)));
      } else if (stream == 1) {
        deliver(1, std::move(acc)); // a log line without end: shown in pieces
      }
      acc.clear();
    }
  });
  auto status = reap(pid_, mtx_, reaped_);
  events_.on_exit(WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                      : fmt::format("exited with code {}", WEXITSTATUS(status)));
}

} // namespace fleet
