#include "fleet/api_tokens.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace fleet {

namespace {

std::array<unsigned char, 32> digest_of(std::string_view text) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
         || c == '-' || c == '@';
}

bool is_token_char(char c) {
  return c > ' ' && c < 0x7f; // printable ASCII without spaces: a header value carries it unchanged
}

std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    auto start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t')
      ++i;
    if (i > start)
      out.push_back(line.substr(start, i - start));
  }
  return out;
}

} // namespace

caf::expected<api_tokens> api_tokens::parse(std::string_view text, const std::string& origin) {
  auto bad = [&](size_t line, const std::string& why) {
    return caf::make_error(errc::invalid_config, fmt::format("{} line {}: {}", origin, line, why));
  };
  api_tokens out;
  std::set<std::string> names;
  std::set<std::array<unsigned char, 32>> digests;
  size_t number = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    auto line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    auto words = words_of(line);
    if (words.empty() || words[0].front() == '#')
      continue;
    if (words.size() != 3)
      return bad(number, fmt::format("expected NAME TOKEN SCOPE, found {} words", words.size()));
    auto name = words[0];
    auto token = words[1];
    auto scope = words[2];
    if (name.size() > 64 || !std::all_of(name.begin(), name.end(), is_name_char))
      return bad(number, "a NAME is 1 to 64 letters, digits and . _ - @");
    if (token.size() < min_token_length || token.size() > 512)
      return bad(number, fmt::format("the token of {} has {} characters; use {} to 512 (for example: "
                                     "openssl rand -hex 32)",
                                     name, token.size(), min_token_length));
    if (!std::all_of(token.begin(), token.end(), is_token_char))
      return bad(number, fmt::format("the token of {} must be printable ASCII", name));
    api_principal who{std::string{name}, api_scope::read};
    if (scope == "write")
      who.scope = api_scope::write;
    else if (scope != "read")
      return bad(number, fmt::format("the scope of {} is read or write", name));
    if (!names.insert(who.name).second)
      return bad(number, fmt::format("the name {} is listed twice", name));
    auto digest = digest_of(token);
    if (!digests.insert(digest).second)
      return bad(number, fmt::format("the token of {} is listed before under another name", name));
    out.entries_.push_back({std::move(who), digest});
  }
  if (out.entries_.empty())
    return caf::make_error(errc::invalid_config,
                           fmt::format("{} lists no token (one NAME TOKEN SCOPE per line)", origin));
  return out;
}

caf::expected<api_tokens> api_tokens::read_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return caf::make_error(errc::invalid_config,
                           fmt::format("fleet.http-tokens-file {}: no such file", path));
  if ((st.st_mode & S_IROTH) != 0)
    return caf::make_error(errc::invalid_config,
                           fmt::format("fleet.http-tokens-file {} may be read by every user of this machine: "
                                       "chmod o-r {}",
                                       path, path));
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(errc::invalid_config, fmt::format("fleet.http-tokens-file {}: cannot read it", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 1024 * 1024)
    return caf::make_error(errc::invalid_config, fmt::format("fleet.http-tokens-file {}: larger than 1 MiB", path));
  return parse(text.str(), "fleet.http-tokens-file " + path);
}

const api_principal* api_tokens::find(std::string_view presented) const {
  auto digest = digest_of(presented);
  const api_principal* found = nullptr;
  for (const auto& e : entries_) {
    // Every entry is compared, and the match is chosen without a branch on secret data's position.
    bool same = CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0;
    found = same ? &e.who : found;
  }
  return found;
}

} // namespace fleet
