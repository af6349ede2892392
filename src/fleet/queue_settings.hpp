#pragma once

// Queues as people write them: names, "100/1s" rates, `key=value` settings from fleetctl and the
// `[queue.NAME]` sections of the config file.

#include "fleetd/queue.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace fleet {

/// The most bytes of a queue name, and of a group.
inline constexpr size_t max_queue_name_bytes = 64;
inline constexpr size_t max_group_bytes = 256;
/// The bounds of a rate: starts per interval, and the interval.
inline constexpr int32_t max_rate_count = 1'000'000;
inline constexpr int64_t max_rate_interval_ms = 86'400'000;
inline constexpr int32_t max_queue_weight = 1000;

/// A queue name: 1 to 64 of ASCII letters, digits, '.', '_' and '-', starting with a letter or a
/// digit (it appears in metric labels, URLs and file names unquoted). The problem, empty if none.
std::string queue_name_problem(std::string_view name);

/// A task's group: up to 256 bytes of UTF-8 without control characters. The problem, empty if none.
std::string group_problem(std::string_view group);

/// "N/DURATION" ("100/1s", "5/250ms", "1000/1m"; "N/s" reads as "N/1s") as {count, interval_ms};
/// "none" or "0" as {0, 0}. The error says what a rate looks like.
caf::expected<std::pair<int32_t, int64_t>> parse_rate(std::string_view text);

/// A rate as parse_rate reads it back ("100/1s"), "none" without one.
std::string rate_text(int32_t count, int64_t interval_ms);

/// Reads one `key=value` of a queue (max-workers, rate, weight, group-max-workers, paused) into
/// `out`. errc::invalid_config names the key and the bounds.
caf::error apply_queue_setting(std::string_view key, std::string_view value, queue_change& out);

/// `limits` with the fields `change` sets.
queue_limits apply(queue_limits limits, const queue_change& change);

/// The queues of the config file: `[queue.NAME]` sections (`group` is the `queue` group), each
/// key as in apply_queue_setting. Errors name the section and key.
caf::error read_queues(const caf::settings& group, const std::string& where,
                       std::map<std::string, queue_limits>& out);

nlohmann::json to_json(const queue_limits& x);
nlohmann::json to_json(const queue_info& x);

/// The detail of a queue_changed event: the queue, what `change` set, and the limits in force.
nlohmann::json queue_changed_detail(const std::string& name, const queue_change& change, const queue_limits& in_force);

} // namespace fleet
