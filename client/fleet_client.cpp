#include "fleetd/client.hpp"
#include "fleetd/peer_version.hpp"
#include "client/fleet_client_impl.hpp"

#include "client/transport.hpp"
#include "fleetd/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/settings.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <optional>

namespace fleet {

std::string default_client_name() {
  std::string name;
  if (auto env = std::getenv("FLEET_CLIENT_NAME"); env != nullptr && *env != '\0') {
    name = env;
  } else {
    std::string user;
    if (auto* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr)
      user = pw->pw_name;
    else if (auto env_user = std::getenv("USER"); env_user != nullptr)
      user = env_user;
    else
      user = std::to_string(::geteuid());
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    name = user + "@" + host;
  }
  // fleetd refuses names with control characters or bytes that are not UTF-8: ASCII only here.
  for (auto& c : name)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      c = '?';
  if (name.size() > 200)
    name.resize(200);
  return name;
}

void configure_client(caf::actor_system_config& cfg) {
  load_guarded_middleman(cfg);
  register_fleet_types(cfg);
}

void run_client_on_one_thread(caf::actor_system_config& cfg) {
  if (caf::get_if(&cfg.content, "scheduler.policy") == nullptr)
    caf::put(cfg.content, "scheduler.policy", caf::atom("sharing"));
  if (caf::get_if(&cfg.content, "scheduler.max-threads") == nullptr)
    caf::put(cfg.content, "scheduler.max-threads", 1);
}

namespace {

/// The hello every connection starts with: fleetd's versions, or why the two cannot talk.
caf::error say_hello(caf::actor_system& sys, const caf::actor& manager, const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout) {
  caf::error out;
  caf::scoped_actor self{sys};
  self->request(manager, timeout, hello_atom::value, this_release())
    .receive([&](peer_version& theirs) { out = check_peer_version(theirs, this_release(), "this client"); },
             [&](caf::error& err) {
               if (err == caf::sec::unexpected_message)
                 // A fleetd from before the hello: older than any client that sends one.
                 out = caf::make_error(errc::incompatible_version,
                                       fmt::format("{}:{} is a fleetd that does not know protocol versions: it is "
                                                   "older than this client (fleetd {}, protocol version {}); "
                                                   "use clients and nodes of fleetd's release",
                                                   host, port, FLEETD_VERSION, interface_version));
               else if (err == caf::sec::request_timeout)
                 out = caf::make_error(errc::unreachable, fmt::format("{}:{} did not answer within {} ms",
                                                                      host, port, timeout.count()));
               else
                 out = std::move(err);
             });
  return out;
}

/// Tells fleetd who this client is, for the events of the changes it asks for.
caf::error say_name(caf::actor_system& sys, const caf::actor& manager, std::chrono::milliseconds timeout) {
  caf::error out;
  caf::scoped_actor self{sys};
  self->request(manager, timeout, identify_atom::value, default_client_name())
    .receive([](std::string&) {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

} // namespace

caf::expected<fleet_api_actor> connect_fleet(caf::actor_system& sys, const std::string& host, uint16_t port,
                                             std::chrono::milliseconds timeout) {
  // Untyped first: a fleetd of another release publishes another interface, and the hello, which
  // every release understands, says which instead of a bare "interface differs".
  auto manager = connect_actor(sys, host, port, timeout);
  if (manager) {
    auto untyped = caf::actor_cast<caf::actor>(*manager);
    if (auto err = say_hello(sys, untyped, host, port, timeout))
      return err;
    if (auto err = say_name(sys, untyped, timeout))
      return err;
    return caf::actor_cast<fleet_api_actor>(std::move(*manager));
  }
  const auto& err = manager.error();
  if (err == caf::sec::request_timeout)
    return caf::make_error(errc::unreachable,
                           fmt::format("no fleetd answered at {}:{} within {} ms (connection and handshake): is "
                                       "fleetd listening there, and does it speak TLS if this client does?",
                                       host, port, timeout.count()));
  if (err == caf::sec::disconnect_during_handshake)
    return caf::make_error(errc::unreachable,
                           fmt::format("{}:{} closed the connection during the handshake: fleetd there may "
                                       "be refusing connections (fleet.max-connections, see its log), or "
                                       "require TLS with a client certificate signed by its CA "
                                       "(fleetctl --tls-cert/--tls-key/--tls-ca), or not trust the "
                                       "certificate given; or it is not fleetd",
                                       host, port));
  return caf::make_error(errc::unreachable, fmt::format("cannot reach fleetd at {}:{} (is it running?): {}",
                                                        host, port, caf::to_string(err)));
}

using client_detail::query;
using client_detail::split_tasks;

caf::expected<fleet_client> fleet_client::connect(caf::actor_system& sys, const std::string& host,
                                                  uint16_t port, duration timeout) {
  auto manager = connect_fleet(sys, host, port, timeout);
  if (!manager)
    return manager.error();
  return fleet_client{sys, std::move(*manager), timeout};
}

fleet_client::fleet_client(caf::actor_system& sys, fleet_api_actor manager, duration timeout)
  : impl_(std::make_unique<impl>(sys, std::move(manager), timeout)) {
}

fleet_client::fleet_client(fleet_client&&) noexcept = default;
fleet_client& fleet_client::operator=(fleet_client&&) noexcept = default;
fleet_client::~fleet_client() = default;

caf::expected<std::string> fleet_client::submit_batch(std::vector<task> tasks, size_t chunk_size) {
  return submit_batch(std::string{}, std::move(tasks), chunk_size);
}

caf::expected<submit_limits> fleet_client::limits() {
  if (!impl_->limits) {
    auto answer = impl_->ask<submit_limits, query>(limits_atom::value);
    if (!answer)
      return answer.error();
    impl_->limits = *answer;
  }
  return *impl_->limits;
}

caf::expected<std::string> fleet_client::submit_batch(const std::string& key, std::vector<task> tasks,
                                                      size_t chunk_size) {
  auto fleet_limits = limits();
  if (!fleet_limits)
    return fleet_limits.error();
  if (chunk_size == 0)
    chunk_size = tasks.size();
  auto chunks = split_tasks(std::move(tasks), std::max<size_t>(chunk_size, 1), fleet_limits->max_message_bytes / 4);
  if (chunks.size() <= 1)
    return impl_->ask<std::string>(submit_atom::value, chunks.empty() ? std::vector<task>{} : std::move(chunks[0]),
                                   key);
  auto up = open_upload();
  if (!up)
    return up.error();
  for (auto& chunk : chunks)
    if (auto err = up->add(std::move(chunk)))
      return err;
  return up->seal(key);
}

caf::expected<batch_status> fleet_client::batch_status(const std::string& batch_id) {
  return impl_->ask<::fleet::batch_status, query>(status_atom::value, batch_id);
}

caf::expected<std::vector<task_result>> fleet_client::batch_results(const std::string& batch_id) {
  return impl_->ask<std::vector<task_result>, query>(results_atom::value, batch_id);
}

caf::expected<results_page> fleet_client::batch_results(const std::string& batch_id, int64_t cursor,
                                                        int32_t limit) {
  return impl_->ask<results_page, query>(results_atom::value, batch_id, cursor, limit);
}

caf::expected<bool> fleet_client::pause(const std::string& batch_id) {
  if (batch_id.empty())
    return caf::make_error(errc::invalid_batch, "an empty batch id: pause the whole fleet with pause_fleet()");
  return impl_->ask<bool>(pause_atom::value, batch_id);
}

caf::expected<bool> fleet_client::resume(const std::string& batch_id) {
  if (batch_id.empty())
    return caf::make_error(errc::invalid_batch, "an empty batch id: resume the whole fleet with resume_fleet()");
  return impl_->ask<bool>(resume_atom::value, batch_id);
}

caf::expected<bool> fleet_client::pause_fleet() {
  return impl_->ask<bool>(pause_atom::value, std::string{});
}

caf::expected<bool> fleet_client::resume_fleet() {
  return impl_->ask<bool>(resume_atom::value, std::string{});
}

caf::expected<::fleet::batch_status> fleet_client::subscribe(const std::string& batch_id) {
  return impl_->ask<::fleet::batch_status, query>(subscribe_atom::value, batch_id);
}

caf::optional<::fleet::batch_status> fleet_client::next_notification(duration timeout) {
  caf::optional<::fleet::batch_status> out;
  impl_->self->receive([&](batch_done_atom, ::fleet::batch_status& st) { out = std::move(st); },
                       caf::after(timeout) >> [] {});
  return out;
}

caf::expected<dead_letter_page> fleet_client::dead_letters(const std::string& batch_id, int64_t cursor,
                                                           int32_t limit) {
  return impl_->ask<dead_letter_page, query>(failed_atom::value, batch_id, cursor, limit);
}

caf::expected<task_page> fleet_client::tasks(const std::string& batch_id, int64_t cursor, int32_t limit) {
  return impl_->ask<task_page, query>(tasks_atom::value, batch_id, cursor, limit);
}

caf::expected<int64_t> fleet_client::replay(const std::string& batch_id, std::vector<std::string> task_ids) {
  return impl_->ask<int64_t>(replay_atom::value, batch_id, std::move(task_ids));
}

caf::expected<bool> fleet_client::cancel_batch(const std::string& batch_id) {
  return impl_->ask<bool>(cancel_atom::value, batch_id);
}

caf::expected<int64_t> fleet_client::cancel_tasks(const std::string& batch_id, std::vector<std::string> task_ids) {
  return impl_->ask<int64_t>(cancel_atom::value, batch_id, std::move(task_ids));
}

caf::expected<fleet_config> fleet_client::scale_workers(int32_t n) {
  return impl_->ask<fleet_config>(scale_atom::value, n);
}

caf::expected<fleet_stats> fleet_client::stats() {
  return impl_->ask<fleet_stats, query>(stats_atom::value);
}

caf::expected<prune_report> fleet_client::prune() {
  return impl_->ask<prune_report>(prune_atom::value);
}

caf::expected<schedule_info> fleet_client::add_schedule(const schedule_spec& spec, bool replace) {
  return impl_->ask<schedule_info>(schedule_add_atom::value, spec, replace);
}

caf::expected<std::vector<schedule_info>> fleet_client::schedules() {
  return impl_->ask<std::vector<schedule_info>, query>(schedules_atom::value);
}

caf::expected<schedule_info> fleet_client::schedule(const std::string& name) {
  return impl_->ask<schedule_info, query>(schedules_atom::value, name);
}

caf::expected<std::vector<queue_info>> fleet_client::queues() {
  return impl_->ask<std::vector<queue_info>, query>(queues_atom::value);
}

caf::expected<queue_info> fleet_client::set_queue(const std::string& name, const queue_change& change) {
  return impl_->ask<queue_info>(queue_set_atom::value, name, change);
}

caf::expected<bool> fleet_client::pause_schedule(const std::string& name) {
  return impl_->ask<bool>(schedule_pause_atom::value, name, true);
}

caf::expected<bool> fleet_client::resume_schedule(const std::string& name) {
  return impl_->ask<bool>(schedule_pause_atom::value, name, false);
}

caf::expected<bool> fleet_client::remove_schedule(const std::string& name) {
  return impl_->ask<bool>(schedule_remove_atom::value, name);
}

caf::expected<std::string> fleet_client::run_schedule(const std::string& name) {
  return impl_->ask<std::string>(schedule_run_atom::value, name);
}

caf::expected<std::vector<worker_info>> fleet_client::active_workers() {
  return impl_->ask<std::vector<worker_info>, query>(workers_atom::value);
}

caf::expected<std::vector<node_info>> fleet_client::nodes() {
  return impl_->ask<std::vector<node_info>, query>(nodes_atom::value);
}

caf::expected<fleet_overview> fleet_client::overview(int32_t batches, int32_t failures) {
  return impl_->ask<fleet_overview, query>(overview_atom::value, batches, failures);
}

caf::expected<fleet_config> fleet_client::update_config(const config_update& update) {
  return impl_->ask<fleet_config>(update_config_atom::value, update);
}

caf::expected<fleet_config> fleet_client::reset_config(const std::vector<std::string>& names) {
  return impl_->ask<fleet_config>(config_reset_atom::value, names);
}

caf::expected<std::string> fleet_client::identify(const std::string& name) {
  return impl_->ask<std::string, query>(identify_atom::value, name);
}

caf::expected<fleet_config> fleet_client::get_config() {
  return impl_->ask<fleet_config, query>(get_config_atom::value);
}

caf::expected<result_summary> fleet_client::summary() {
  auto coordinator = impl_->ask<coordinator_actor>(coordinator_atom::value);
  if (!coordinator)
    return coordinator.error();
  caf::expected<result_summary> out{caf::make_error(errc::unreachable, "no reply")};
  impl_->self->request(*coordinator, impl_->timeout, summary_atom::value)
    .receive([&](result_summary& s) { out = s; }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

const fleet_api_actor& fleet_client::manager() const {
  return impl_->manager;
}

} // namespace fleet
