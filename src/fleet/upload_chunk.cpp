#include "fleet/upload_chunk.hpp"

#include <nlohmann/json.hpp>

namespace fleet {

std::vector<upload_part> encode_upload_chunk(const std::vector<task>& tasks, size_t max_body_bytes) {
  std::vector<upload_part> parts;
  auto array = nlohmann::json::array();
  size_t bytes = 0;
  int64_t first = 0;
  auto close_part = [&](int64_t end) {
    parts.push_back({first, end - first, array.dump()});
    array = nlohmann::json::array();
    bytes = 0;
    first = end;
  };
  for (size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    array.push_back({t.id, t.type, t.data, t.priority});
    bytes += t.id.size() + t.type.size() + t.data.size();
    if (bytes >= max_body_bytes)
      close_part(static_cast<int64_t>(i) + 1);
  }
  if (!array.empty())
    close_part(static_cast<int64_t>(tasks.size()));
  return parts;
}

} // namespace fleet
