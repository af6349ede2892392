// `fleetctl graph BATCH [--dot]`: a batch's dependency graph with each task's state.
#include "render.hpp"
#include "session.hpp"

#include "fleetd/error.hpp"
#include "fleet/text.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace fleetctl {

namespace {

/// Tasks per page fetched: the graph is read whole before it is drawn.
constexpr int32_t task_page_size = 5'000;

/// The most tasks drawn: past this the picture says nothing (docs/AUDIT.md queries task_deps).
constexpr size_t max_drawn = 100'000;

struct graph {
  std::vector<fleet::task_entry> nodes;
  std::map<std::string, size_t> index;          ///< task id -> position in nodes
  std::vector<std::vector<size_t>> dependents;  ///< by position
};

caf::expected<graph> fetch_graph(session& s, const std::string& batch) {
  graph g;
  int64_t cursor = 0;
  for (;;) {
    auto page = s.client->tasks(batch, cursor, task_page_size);
    if (!page)
      return page.error();
    for (auto& node : page->items)
      g.nodes.push_back(std::move(node));
    if (g.nodes.size() > max_drawn)
      return caf::make_error(fleet::errc::invalid_argument,
                             fmt::format("batch {} has more than {} tasks: too many to draw (docs/AUDIT.md shows how to "
                                         "query its graph)",
                                         fleet::printable(batch), max_drawn));
    if (page->done || page->items.empty())
      break;
    cursor = page->next_cursor;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i)
    g.index.emplace(g.nodes[i].task_id, i);
  g.dependents.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& id : g.nodes[i].after)
      if (auto found = g.index.find(id); found != g.index.end())
        g.dependents[found->second].push_back(i);
  return g;
}

std::string dot_quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : fleet::printable(text, 1024)) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

const char* dot_color(const std::string& state) {
  if (state == "succeeded")
    return "darkgreen";
  if (state == "failed")
    return "red";
  if (state == "cancelled")
    return "gray";
  if (state == "running")
    return "blue";
  return "black";
}

void print_dot(const graph& g, const std::string& batch) {
  fmt::print("digraph {} {{\n  rankdir=LR;\n", dot_quoted(batch));
  for (const auto& node : g.nodes)
    fmt::print("  {} [label={}, color={}];\n", dot_quoted(node.task_id),
               dot_quoted(node.task_id + "\\n" + node.state), dot_color(node.state));
  // Edges point the way work flows: from a task to the tasks that run after it.
  for (const auto& node : g.nodes)
    for (const auto& id : node.after)
      fmt::print("  {} -> {};\n", dot_quoted(id), dot_quoted(node.task_id));
  fmt::print("}}\n");
}

/// Each task under every task it runs after; a task met again is named, not drawn again.
void print_tree(const graph& g) {
  std::set<size_t> drawn;
  // Depth-first with an explicit stack: a chain of 100,000 tasks must not exhaust the C++ stack.
  struct frame {
    size_t node;
    size_t depth;
  };
  auto draw_from = [&](size_t root) {
    std::vector<frame> stack{{root, 0}};
    while (!stack.empty()) {
      auto [at, depth] = stack.back();
      stack.pop_back();
      const auto& node = g.nodes[at];
      auto indent = std::string(2 * depth, ' ');
      if (!drawn.insert(at).second) {
        fmt::print("{}{} (above)\n", indent, fleet::printable(node.task_id, 200));
        continue;
      }
      fmt::print("{}{} [{}]\n", indent, fleet::printable(node.task_id, 200), node.state);
      const auto& below = g.dependents[at];
      for (auto i = below.rbegin(); i != below.rend(); ++i)
        stack.push_back({*i, depth + 1});
    }
  };
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].after.empty())
      draw_from(i);
}

} // namespace

int cmd_graph(session& s) {
  const auto& batch = s.inv.args[0];
  auto g = fetch_graph(s, batch);
  if (!g)
    return error(fleet::error_text(g.error()));
  if (s.inv.json) {
    auto out = nlohmann::json::array();
    for (const auto& node : g->nodes)
      out.push_back({{"task_id", node.task_id}, {"state", node.state}, {"after", node.after}});
    print_json(out);
  } else if (s.inv.dot) {
    print_dot(*g, batch);
  } else {
    print_tree(*g);
  }
  return exit_ok;
}

} // namespace fleetctl
