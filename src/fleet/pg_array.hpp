#pragma once

// Array parameters for PostgreSQL: a whole group of rows bound as one array per column, unpacked by
// unnest(), is one statement and one round trip instead of one per row (docs/BENCHMARKS.md: 10x
// on the write path).

#include "fleet/pg.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleet::pg {

/// An array literal in PostgreSQL's text format ('{1,2,NULL}', '{"a","b"}'), built element by
/// element, to bind as one parameter cast to its type ($1::bigint[], $2::text[]).
class array {
public:
  array() { text_ = "{"; }

  array& add(int64_t x) {
    separate();
    text_ += std::to_string(x);
    return *this;
  }
  array& add(int32_t x) { return add(static_cast<int64_t>(x)); }
  array& add(double x) {
    separate();
    text_ += *to_param(x);
    return *this;
  }
  /// A text element: quoted, with `"` and `\` escaped (any other byte stands for itself).
  array& add(std::string_view x) {
    separate();
    text_ += '"';
    for (char c : x) {
      if (c == '"' || c == '\\')
        text_ += '\\';
      text_ += c;
    }
    text_ += '"';
    return *this;
  }
  array& add(const std::string& x) { return add(std::string_view{x}); }
  array& add(const char* x) { return add(std::string_view{x}); }
  array& add_null() {
    separate();
    text_ += "NULL";
    return *this;
  }
  /// NULL for an empty optional.
  template <class T>
  array& add(const std::optional<T>& x) {
    return x ? add(*x) : add_null();
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// The literal, to bind.
  param literal() const { return text_ + "}"; }

private:
  void separate() {
    if (size_++ > 0)
      text_ += ',';
  }
  std::string text_;
  size_t size_ = 0;
};

inline param to_param(const array& x) {
  return x.literal();
}

} // namespace fleet::pg
