#pragma once

// Reading one row of a libpq result by column, for the PostgreSQL layer's readers (the store's
// reads, the status page's batch view).

#include "fleet/pg.hpp"

#include "fleetd/error.hpp"

#include <caf/error.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace fleet::pg {

/// The columns of one row, read with the first error kept (a value that is not what the schema
/// says: never expected, but not read as 0 either).
struct cells {
  const pg::result& res;
  int row;
  caf::error error = {};

  bool null(int c) const { return res.is_null(row, c); }
  std::string text(int c) const { return std::string{res.text(row, c)}; }
  int64_t i64(int c) {
    auto x = res.int64(row, c);
    if (!x) {
      if (!error)
        error = x.error();
      return 0;
    }
    return *x;
  }
  int32_t i32(int c) { return static_cast<int32_t>(i64(c)); }
  double real(int c) {
    auto t = text(c);
    char* end = nullptr;
    auto x = std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0') {
      if (!error)
        error = caf::make_error(errc::database_error, fmt::format("\"{}\" is not a number", t));
      return 0;
    }
    return x;
  }
};

} // namespace fleet::pg
