#include "fleet/upload_part.hpp"

#include "fleetd/error.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <array>

namespace fleet {

namespace {

constexpr std::string_view part_magic = "FUP3";
constexpr std::string_view part_magic_v2 = "FUP2";
constexpr std::string_view part_magic_v1 = "FUP1";

enum extension_tag : uint8_t { policy_tag = 1, after_tag = 2, queue_tag = 3, group_tag = 4 };
constexpr uint32_t policy_bytes = 8 + 4 + 8 + 4;

void put_u32(std::string& out, uint32_t x) {
  std::array<char, 4> bytes{static_cast<char>(x & 0xff), static_cast<char>((x >> 8) & 0xff),
                            static_cast<char>((x >> 16) & 0xff), static_cast<char>((x >> 24) & 0xff)};
  out.append(bytes.data(), bytes.size());
}

void put_u64(std::string& out, uint64_t x) {
  put_u32(out, static_cast<uint32_t>(x & 0xffffffffu));
  put_u32(out, static_cast<uint32_t>(x >> 32));
}

void put_string(std::string& out, std::string_view x) {
  put_u32(out, static_cast<uint32_t>(x.size()));
  out.append(x);
}

void put_task(std::string& out, const task& t) {
  put_string(out, t.id);
  put_string(out, t.type);
  put_string(out, t.data);
  put_u32(out, static_cast<uint32_t>(t.priority));
  put_u64(out, static_cast<uint64_t>(t.run_at));
  put_u64(out, static_cast<uint64_t>(t.delay_ms));
  auto with_policy = !t.policy.empty();
  auto with_after = !t.after.empty();
  auto with_queue = !t.queue.empty();
  auto with_group = !t.group.empty();
  put_u32(out, (with_policy ? 1 : 0) + (with_after ? 1 : 0) + (with_queue ? 1 : 0) + (with_group ? 1 : 0));
  if (with_queue) {
    out.push_back(static_cast<char>(queue_tag));
    put_string(out, t.queue);
  }
  if (with_group) {
    out.push_back(static_cast<char>(group_tag));
    put_string(out, t.group);
  }
  if (with_after) {
    std::string ids;
    put_u32(ids, static_cast<uint32_t>(t.after.size()));
    for (const auto& id : t.after)
      put_string(ids, id);
    out.push_back(static_cast<char>(after_tag));
    put_string(out, ids);
  }
  if (with_policy) {
    out.push_back(static_cast<char>(policy_tag));
    put_u32(out, policy_bytes);
    put_u64(out, static_cast<uint64_t>(t.policy.timeout_ms));
    put_u32(out, static_cast<uint32_t>(t.policy.max_retries));
    put_u64(out, static_cast<uint64_t>(t.policy.backoff_ms));
    put_u32(out, static_cast<uint32_t>(t.policy.retry));
  }
}

} // namespace

std::vector<upload_part> encode_upload_chunk(const std::vector<task>& tasks, size_t max_body_bytes) {
  std::vector<upload_part> parts;
  upload_part part;
  part.body = part_magic;
  auto close_part = [&](int64_t end) {
    part.tasks = end - part.offset;
    parts.push_back(std::move(part));
    part = upload_part{};
    part.offset = end;
    part.body = part_magic;
  };
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    put_task(part.body, t);
    if (part.body.size() >= max_body_bytes)
      close_part(static_cast<int64_t>(i) + 1);
  }
  if (static_cast<size_t>(part.offset) < tasks.size())
    close_part(static_cast<int64_t>(tasks.size()));
  return parts;
}

upload_part_reader::upload_part_reader(std::string_view body) {
  auto magic = body.substr(0, part_magic.size());
  if (magic == part_magic)
    version_ = 3;
  else if (magic == part_magic_v2)
    version_ = 2;
  else if (magic == part_magic_v1)
    version_ = 1;
  else
    damaged_ = true;
  if (!damaged_)
    rest_ = body.substr(part_magic.size());
}

bool upload_part_reader::next(staged_task& out) {
  if (damaged_ || rest_.empty())
    return false;
  auto take_u32 = [this](uint32_t& x) {
    if (rest_.size() < 4) {
      damaged_ = true;
      return false;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(rest_.data());
    x = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    rest_.remove_prefix(4);
    return true;
  };
  auto take_string = [&](std::string_view& x) {
    uint32_t n = 0;
    if (!take_u32(n))
      return false;
    if (rest_.size() < n) {
      damaged_ = true;
      return false;
    }
    x = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  };
  auto take_i64 = [&](int64_t& x) {
    uint32_t low = 0;
    uint32_t high = 0;
    if (!take_u32(low) || !take_u32(high))
      return false;
    x = static_cast<int64_t>(uint64_t{high} << 32 | low);
    return true;
  };
  uint32_t priority = 0;
  if (!take_string(out.id) || !take_string(out.type) || !take_string(out.data) || !take_u32(priority))
    return false;
  out.priority = static_cast<int32_t>(priority);
  out.run_at = 0;
  out.delay_ms = 0;
  out.policy = task_policy{};
  out.after_json.clear();
  out.queue = {};
  out.group = {};
  if (version_ >= 2 && (!take_i64(out.run_at) || !take_i64(out.delay_ms)))
    return false;
  if (version_ < 3)
    return true;
  uint32_t extensions = 0;
  if (!take_u32(extensions))
    return false;
  // The encoder writes each extension at most once, a policy only when it sets something, a list
  // of dependencies only when it names one, a queue and a group only when not empty: a part that
  // says otherwise was not written by fleetd.
  if (extensions > 4) {
    damaged_ = true;
    return false;
  }
  bool seen_policy = false;
  bool seen_after = false;
  bool seen_queue = false;
  bool seen_group = false;
  // The writer puts them in one order (queue, group, after, policy): one encoding per part, so
  // that a part in another order is damage, not a second spelling of the same tasks.
  auto rank = [](uint8_t tag) {
    switch (tag) {
      case queue_tag: return 0;
      case group_tag: return 1;
      case after_tag: return 2;
      case policy_tag: return 3;
      default: return 4;
    }
  };
  int last_rank = -1;
  for (uint32_t i = 0; i < extensions; ++i) {
    if (rest_.empty()) {
      damaged_ = true;
      return false;
    }
    auto tag = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    if (rank(tag) <= last_rank) {
      damaged_ = true;
      return false;
    }
    last_rank = rank(tag);
    std::string_view bytes;
    if (!take_string(bytes))
      return false;
    auto rest = rest_;
    rest_ = bytes;
    bool read = false;
    if (tag == policy_tag && !seen_policy && bytes.size() == policy_bytes) {
      seen_policy = true;
      uint32_t max_retries = 0;
      uint32_t retry = 0;
      take_i64(out.policy.timeout_ms);
      take_u32(max_retries);
      take_i64(out.policy.backoff_ms);
      take_u32(retry);
      out.policy.max_retries = static_cast<int32_t>(max_retries);
      out.policy.retry = static_cast<int8_t>(static_cast<int32_t>(retry));
      read = !out.policy.empty() && static_cast<int32_t>(retry) == out.policy.retry;
    } else if (tag == after_tag && !seen_after) {
      seen_after = true;
      uint32_t n = 0;
      auto ids = nlohmann::json::array();
      read = take_u32(n) && n > 0;
      for (uint32_t k = 0; read && k < n; ++k) {
        std::string_view id;
        // fleetd checked every id before it staged the part: bytes that are not UTF-8 are damage.
        read = take_string(id) && !id.empty() && is_utf8(id);
        if (read)
          ids.push_back(std::string{id});
      }
      read = read && rest_.empty();
      if (read)
        out.after_json = ids.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else if ((tag == queue_tag && !seen_queue) || (tag == group_tag && !seen_group)) {
      (tag == queue_tag ? seen_queue : seen_group) = true;
      (tag == queue_tag ? out.queue : out.group) = bytes;
      read = !bytes.empty() && is_utf8(bytes);
    }
    rest_ = rest;
    // An unknown tag was written by a newer fleetd, or the part is damaged: either way not to be
    // guessed at.
    if (!read) {
      damaged_ = true;
      return false;
    }
  }
  return true;
}

caf::error damaged_part_error(std::string_view why) {
  return caf::make_error(errc::database_error, fmt::format("a staged upload part is damaged: {}", why));
}

} // namespace fleet
