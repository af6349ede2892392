#include "fleet/api_tokens.hpp"

#include "fleetd/error.hpp"

#include <doctest/doctest.h>

using namespace fleet;

namespace {

std::string tokens_refusal(std::string_view text) {
  auto t = api_tokens::parse(text, "tokens");
  REQUIRE_FALSE(t);
  return error_text(t.error());
}

} // namespace

TEST_CASE("a tokens file names each token's owner and scope, and finds only exact tokens") {
  auto t = api_tokens::parse("# who token scope\n\nci   0123456789abcdef write\r\n"
                             "dash\tfedcba9876543210fedc read\n",
                             "tokens");
  REQUIRE(t);
  CHECK(t->size() == 2);
  auto* ci = t->find("0123456789abcdef");
  REQUIRE(ci != nullptr);
  CHECK(ci->name == "ci");
  CHECK(ci->scope == api_scope::write);
  auto* dash = t->find("fedcba9876543210fedc");
  REQUIRE(dash != nullptr);
  CHECK(dash->scope == api_scope::read);
  CHECK(t->find("0123456789abcde") == nullptr);   // a prefix
  CHECK(t->find("0123456789abcdef0") == nullptr); // longer
  CHECK(t->find("0123456789ABCDEF") == nullptr);  // case
  CHECK(t->find("") == nullptr);
  CHECK(t->find(std::string(10000, 'x')) == nullptr);
}

TEST_CASE("a bad tokens file is refused with its line, and never echoes a token") {
  CHECK(tokens_refusal("ci 0123456789abcdef\n") == "tokens line 1: expected NAME TOKEN SCOPE, found 2 words");
  CHECK(tokens_refusal("\nci 0123456789abcdef admin\n") == "tokens line 2: the scope of ci is read or write");
  CHECK(tokens_refusal("ci short write\n").find("tokens line 1: the token of ci has 5 characters") == 0);
  CHECK(tokens_refusal("c/i 0123456789abcdef read\n") == "tokens line 1: a NAME is 1 to 64 letters, digits and . _ - @");
  CHECK(tokens_refusal("ci 0123456789abcdef read\nci fedcba9876543210 read\n") == "tokens line 2: the name ci is listed twice");
  auto twice = tokens_refusal("a 0123456789abcdef read\nb 0123456789abcdef write\n");
  CHECK(twice == "tokens line 2: the token of b is listed before under another name");
  CHECK(twice.find("0123456789abcdef") == std::string::npos);
  CHECK(tokens_refusal("ci 0123456789abcd\xc3\xa9 read\n") == "tokens line 1: the token of ci must be printable ASCII");
  CHECK(tokens_refusal("# nothing\n\n") == "tokens lists no token (one NAME TOKEN SCOPE per line)");
}
