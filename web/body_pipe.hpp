#pragma once

// A request body handed from the thread that reads the socket (httplib pushes it in pieces) to a
// thread that parses it as a stream (task_stream pulls): a bounded buffer between the two, so that
// a big upload is never in memory at once and a slow parser slows the sender down.

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <streambuf>
#include <string>

namespace fleet {

class body_pipe final : public std::streambuf {
public:
  explicit body_pipe(size_t max_buffered = 4 << 20) : max_buffered_(max_buffered) {}

  /// From the socket's thread: false once the reader gave up (then stop reading the body).
  bool push(const char* data, size_t size) {
    std::unique_lock<std::mutex> lock{mtx_};
    room_.wait(lock, [&] { return abandoned_ || buffered_ < max_buffered_; });
    if (abandoned_)
      return false;
    pieces_.emplace_back(data, size);
    buffered_ += size;
    ready_.notify_one();
    return true;
  }

  /// From the socket's thread: no more bytes come (the reader sees the end of the input).
  void close() {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
    ready_.notify_one();
  }

  /// From the parsing thread: it reads nothing more (an error, or it is done).
  void abandon() {
    std::lock_guard<std::mutex> guard{mtx_};
    abandoned_ = true;
    room_.notify_one();
  }

protected:
  int_type underflow() override {
    if (gptr() < egptr())
      return traits_type::to_int_type(*gptr());
    std::unique_lock<std::mutex> lock{mtx_};
    if (!current_.empty()) {
      buffered_ -= current_.size();
      current_.clear();
      room_.notify_one();
    }
    ready_.wait(lock, [&] { return closed_ || !pieces_.empty(); });
    if (pieces_.empty())
      return traits_type::eof();
    current_ = std::move(pieces_.front());
    pieces_.pop_front();
    setg(current_.data(), current_.data(), current_.data() + current_.size());
    return traits_type::to_int_type(*gptr());
  }

private:
  size_t max_buffered_;
  std::mutex mtx_;
  std::condition_variable ready_;
  std::condition_variable room_;
  std::deque<std::string> pieces_;
  std::string current_; ///< the piece being read; counted in buffered_ until it is used up
  size_t buffered_ = 0;
  bool closed_ = false;
  bool abandoned_ = false;
};

} // namespace fleet
