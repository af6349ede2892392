#include "fleet/json_text.hpp"
#include "fleet/text.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace fleet;

TEST_CASE("UTF-8 is told apart from overlong forms, surrogates, cut characters and stray bytes") {
  CHECK(is_utf8(""));
  CHECK(is_utf8("plain \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  CHECK_FALSE(is_utf8("\xff"));
  CHECK_FALSE(is_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(is_utf8("\xed\xa0\x80"));     // a surrogate
  CHECK_FALSE(is_utf8("\xf4\x90\x80\x80")); // past U+10FFFF
  CHECK_FALSE(is_utf8("\xc3"));             // cut
  CHECK_FALSE(is_utf8("\xa9"));             // a continuation byte alone
}

TEST_CASE("bytes that are not UTF-8 are replaced by U+FFFD, one each, and the caller is told") {
  bool replaced = true;
  CHECK(to_utf8("ok \xc3\xa9", &replaced) == "ok \xc3\xa9");
  CHECK_FALSE(replaced);
  CHECK(to_utf8("a\xff" "b\xc3", &replaced) == "a\xef\xbf\xbd" "b\xef\xbf\xbd");
  CHECK(replaced);
  CHECK(is_utf8(to_utf8("\xed\xa0\x80\xc0\xaf")));
}

TEST_CASE("a tail or a head is cut at a character boundary, never inside one") {
  std::string e_acute = "\xc3\xa9";
  std::string text = "a" + e_acute + e_acute; // 5 bytes
  CHECK(utf8_tail(text, 4) == e_acute + e_acute);
  CHECK(utf8_tail(text, 3) == e_acute); // the character the cut would split goes whole
  CHECK(utf8_tail(text, 10) == text);
  CHECK(utf8_head(text, 2) == "a");
  CHECK(utf8_head(text, 3) == "a" + e_acute);
  std::string euro = "\xe2\x82\xac";
  CHECK(utf8_tail(euro + euro, 4) == euro);
  CHECK(utf8_tail(euro + euro, 2).empty());
}

TEST_CASE("printable text cannot move a terminal's cursor or forge a log line") {
  CHECK(printable("plain \xc3\xa9") == "plain \xc3\xa9");
  CHECK(printable("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(printable("\x1b[31mRED\x1b[0m") == "\\x1b[31mRED\\x1b[0m");
  CHECK(printable("\x7f\x07") == "\\x7f\\x07");
  CHECK(printable("\xc2\x9b" "2J") == "\\u009b2J");             // C1 CSI
  CHECK(printable("abc\xe2\x80\xae" "gpj.exe") == "abc\\u202egpj.exe"); // right-to-left override
  CHECK(printable("line\xe2\x80\xa8next") == "line\\u2028next");
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(printable(std::string(100, 'x'), 10) == "xxxxxxxxxx... (100 bytes)");
  CHECK(quoted_input(std::string(10'000'000, 'i')).size() < 100);
}

TEST_CASE("JSON is written without throwing, whatever its strings hold") {
  nlohmann::json x{{"error", std::string("bad \xff byte")}};
  CHECK_THROWS(x.dump());
  CHECK(dump_json(x) == "{\"error\":\"bad \xef\xbf\xbd byte\"}");
}

TEST_CASE("nesting is measured without parsing, and strings do not count") {
  CHECK(json_nesting("1") == 0);
  CHECK(json_nesting(R"({"a":[1,{"b":[]}]})") == 4);
  CHECK(json_nesting(R"(["[[[[", "\"[[["])") == 1);
  CHECK(json_nesting(std::string(5000, '['), 100) == 101); // stops counting past the bound
}

TEST_CASE("a member's text is found as written, escapes and nesting included") {
  auto text = R"( { "id" : "a}\"", "data" : {"x": [1, "]"], "y": 1e2} , "p": 3 } )";
  CHECK(json_member_text(text, "data") == R"({"x": [1, "]"], "y": 1e2})");
  CHECK(json_member_text(text, "p") == "3");
  CHECK(json_member_text(text, "id") == R"("a}\"")");
  CHECK_FALSE(json_member_text(text, "nope"));
  CHECK(json_member_text(R"({"d\u0061ta": 5})", "data") == "5");
  CHECK(json_member_text(R"({"data": 1, "data": 2})", "data") == "2");
  CHECK(json_compact("{ \"a\" : [ 1 , \" x y \" ] }") == "{\"a\":[1,\" x y \"]}");
  auto items = json_array_items(R"([ {"a": [1]} , 2, "x,]" ])");
  REQUIRE(items.size() == 3);
  CHECK(items[0] == R"({"a": [1]})");
  CHECK(items[2] == R"("x,]")");
}

TEST_CASE("a parse error keeps its reason and drops nlohmann's echo of the input") {
  auto reason = [](const std::string& text) {
    try {
      auto parsed = nlohmann::json::parse(text);
      (void)parsed;
    } catch (const nlohmann::json::parse_error& e) {
      return json_syntax_reason(e.what());
    }
    return std::string{"parsed"};
  };
  CHECK(reason("[1, tru]") == "syntax error while parsing value - invalid literal near '1, tru]'");
  CHECK(reason("{\"a\" 1}") == "syntax error while parsing object separator - unexpected number literal; "
                              "expected ':'");
  auto long_string = reason("\"" + std::string(100'000, 'x'));
  CHECK(long_string.size() < 200);
}
