#pragma once

// How fleetctl shows things to people: aligned tables, times, a progress bar.

#include "fleetd/batch_state.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace fleetctl {

/// Prints one JSON document on one line (--json).
void print_json(const nlohmann::json& x);

/// Prints rows under a header (none if empty) with columns padded to their widest cell.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

/// Local time with milliseconds, "-" for 0.
std::string format_time(int64_t ms_since_epoch);

/// "1.5 s", "250 ms".
std::string format_duration(int64_t ms);

/// One line: "[#########-----------]  45.0%  9/20  succeeded 8  failed 1  processing".
std::string progress_line(const fleet::batch_status& st, int width = 30);

/// A result or error on one line of at most `max` characters ("..." where it was cut).
std::string compact(const std::string& json_text, size_t max = 60);

} // namespace fleetctl
