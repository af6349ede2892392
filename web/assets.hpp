#pragma once

// The status page's files (web/*.html, *.js, *.css), embedded at build time: fleetd serves them
// from memory and needs no files next to it.

#include <string_view>
#include <vector>

namespace fleet {

struct web_asset {
  std::string_view name; ///< file name, e.g. "status.js"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<web_asset>& web_assets();

} // namespace fleet
