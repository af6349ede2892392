#include "fleet/json_text.hpp"

#include "fleet/text.hpp"

#include <nlohmann/json.hpp>

namespace fleet {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && is_space(s[i]))
    ++i;
  return i;
}

/// From the opening quote of a string to just past its closing one.
size_t skip_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\')
      ++i;
    else if (s[i] == '"')
      return i + 1;
  }
  return s.size();
}

/// From the first character of a value to just past its last.
size_t skip_value(std::string_view s, size_t i) {
  if (i >= s.size())
    return i;
  if (s[i] == '"')
    return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    size_t depth = 0;
    while (i < s.size()) {
      auto c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        continue;
      }
      if (c == '{' || c == '[')
        ++depth;
      else if ((c == '}' || c == ']') && --depth == 0)
        return i + 1;
      ++i;
    }
    return i;
  }
  while (i < s.size() && !is_space(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']')
    ++i;
  return i;
}

/// A key as written (between its quotes) equals `key` once its escapes are decoded.
bool same_key(std::string_view written, std::string_view key) {
  if (written.find('\\') == std::string_view::npos)
    return written == key;
  auto decoded = nlohmann::json::parse("\"" + std::string{written} + "\"", nullptr, false);
  return decoded.is_string() && decoded.get_ref<const std::string&>() == key;
}

} // namespace

std::string dump_json(const nlohmann::json& x) {
  return x.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

size_t json_nesting(std::string_view text, size_t stop_after) {
  size_t depth = 0;
  size_t deepest = 0;
  for (size_t i = 0; i < text.size();) {
    auto c = text[i];
    if (c == '"') {
      i = skip_string(text, i);
      continue;
    }
    if (c == '{' || c == '[') {
      if (++depth > deepest && (deepest = depth) > stop_after)
        return deepest;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
    ++i;
  }
  return deepest;
}

std::optional<std::string_view> json_member_text(std::string_view s, std::string_view key) {
  std::optional<std::string_view> found;
  auto i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '{')
    return found;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    auto key_end = skip_string(s, i);
    auto written = s.substr(i + 1, key_end - i - 2);
    i = skip_space(s, key_end);
    if (i >= s.size() || s[i] != ':')
      return found;
    i = skip_space(s, i + 1);
    auto value_end = skip_value(s, i);
    if (same_key(written, key))
      found = s.substr(i, value_end - i);
    i = skip_space(s, value_end);
    if (i >= s.size() || s[i] != ',')
      break;
    i = skip_space(s, i + 1);
  }
  return found;
}

std::string json_compact(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '"') {
      auto end = skip_string(s, i);
      out.append(s.substr(i, end - i));
      i = end;
      continue;
    }
    if (!is_space(s[i]))
      out.push_back(s[i]);
    ++i;
  }
  return out;
}

std::vector<std::string_view> json_array_items(std::string_view s) {
  std::vector<std::string_view> out;
  auto i = skip_space(s, 0);
  if (i >= s.size() || s[i] != '[')
    return out;
  i = skip_space(s, i + 1);
  while (i < s.size() && s[i] != ']') {
    auto end = skip_value(s, i);
    out.push_back(s.substr(i, end - i));
    i = skip_space(s, end);
    if (i >= s.size() || s[i] != ',')
      break;
    i = skip_space(s, i + 1);
  }
  return out;
}

std::string json_syntax_reason(const std::string& what) {
  std::string_view reason{what};
  // "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error ..."
  if (auto bracket = reason.find("] "); bracket != std::string_view::npos)
    reason.remove_prefix(bracket + 2);
  if (reason.rfind("parse error", 0) == 0)
    if (auto colon = reason.find(": "); colon != std::string_view::npos)
      reason.remove_prefix(colon + 2);
  // "...: invalid literal; last read: 'tru_'" and, after some, "; expected ...".
  std::string_view echo;
  std::string_view expected;
  if (auto last = reason.find("; last read: '"); last != std::string_view::npos) {
    echo = reason.substr(last + 14);
    reason = reason.substr(0, last);
    if (auto tail = echo.rfind("'; expected "); tail != std::string_view::npos) {
      expected = echo.substr(tail + 1);
      echo = echo.substr(0, tail);
    } else if (!echo.empty() && echo.back() == '\'') {
      echo.remove_suffix(1);
    }
  }
  auto out = printable(reason, 200) + printable(expected, 200);
  if (!echo.empty())
    out += " near '" + printable(utf8_tail(echo, 32)) + "'";
  return out;
}

} // namespace fleet
