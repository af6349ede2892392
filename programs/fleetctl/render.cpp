#include "render.hpp"

#include "fleet/json_text.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>

namespace fleetctl {

void print_json(const nlohmann::json& x) {
  fmt::print("{}\n", fleet::dump_json(x));
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& raw_rows) {
  // Ids, errors and output come from clients and programs: nothing in them may drive the terminal.
  std::vector<std::vector<std::string>> rows;
  rows.reserve(raw_rows.size());
  for (const auto& raw : raw_rows) {
    rows.emplace_back();
    for (const auto& cell : raw)
      rows.back().push_back(fleet::printable(cell));
  }
  std::vector<size_t> width(header.empty() && !rows.empty() ? rows[0].size() : header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& row : rows)
    measure(row);
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    fmt::print("{}\n", line);
  };
  if (!header.empty())
    print_row(header);
  for (const auto& row : rows)
    print_row(row);
}

std::string format_time(int64_t ms) {
  if (ms == 0)
    return "-";
  std::time_t secs = ms / 1000;
  std::tm local{};
  localtime_r(&secs, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  return fmt::format("{}.{:03}", buf, ms % 1000);
}

std::string format_duration(int64_t ms) {
  if (ms < 1000)
    return fmt::format("{} ms", ms);
  return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
}

std::string progress_line(const fleet::batch_status& st, int width) {
  auto filled = static_cast<int>(st.progress * width + 0.5);
  filled = std::clamp(filled, 0, width);
  auto done = st.completed + st.failed + st.cancelled;
  auto line = fmt::format("[{}{}] {:5.1f}%  {}/{}  succeeded {}  failed {}", std::string(filled, '#'),
                          std::string(width - filled, '-'), st.progress * 100, done, st.total,
                          st.completed, st.failed);
  if (st.cancelled > 0)
    line += fmt::format("  cancelled {}", st.cancelled);
  return line + "  " + to_string(st.status) + (st.paused ? " (paused)" : "");
}

std::string compact(const std::string& json_text, size_t max) {
  auto text = json_text;
  for (auto& c : text)
    if (c == '\n' || c == '\t')
      c = ' ';
  if (text.size() > max)
    text = text.substr(0, max - 3) + "...";
  return text;
}

} // namespace fleetctl
