#include "fleetd/worker.hpp"

#include "actors/exception_guard.hpp"
#include "actors/function_worker.hpp"
#include "fleetd/error.hpp"

#include <caf/actor_system.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

namespace fleet {

void worker_registry::add(std::string type, worker_factory spawn, data_check check) {
  add(std::move(type), [spawn = std::move(spawn)](caf::actor_system& sys, const attempt_info&) { return spawn(sys); },
      std::move(check));
}

void worker_registry::add(std::string type, attempt_worker_factory spawn, data_check check) {
  kinds_[std::move(type)] = kind{std::move(spawn), {}, std::move(check)};
}

void worker_registry::add_shared(std::string type, worker_factory spawn, data_check check) {
  auto spawn_one = [spawn = std::move(spawn)](caf::actor_system& sys, const attempt_info&) { return spawn(sys); };
  kinds_[std::move(type)] = kind{std::move(spawn_one), {}, std::move(check), true};
}

void worker_registry::add_function(std::string type, task_function run, data_check check) {
  kinds_[std::move(type)] = kind{{}, std::move(run), std::move(check)};
}

bool worker_registry::contains(const std::string& type) const {
  return kinds_.count(type) > 0;
}

bool worker_registry::shared(const std::string& type) const {
  auto i = kinds_.find(type);
  return i != kinds_.end() && i->second.shared;
}

bool worker_registry::checks_data(const std::string& type) const {
  auto i = kinds_.find(type);
  return i != kinds_.end() && static_cast<bool>(i->second.check);
}

caf::expected<worker_actor> worker_registry::spawn(caf::actor_system& sys, const task& t,
                                                   const attempt_info& info) const {
  auto i = kinds_.find(t.type);
  if (i == kinds_.end())
    return caf::make_error(errc::unknown_task_type, fmt::format("no worker for task type \"{}\"", t.type));
  if (i->second.spawn)
    return i->second.spawn(sys, info);
  return spawn_function_worker(sys, i->second.run, info);
}

task_type_check worker_registry::checker() const {
  return [this](const task& t, const nlohmann::json& data) -> caf::error {
    auto i = kinds_.find(t.type);
    if (i == kinds_.end())
      return caf::make_error(errc::unknown_task_type,
                             fmt::format("unknown task type \"{}\" (known: {})", t.type,
                                         fmt::join(types(), ", ")));
    if (i->second.check)
      return i->second.check(data);
    return caf::none;
  };
}

std::vector<std::string> worker_registry::types() const {
  std::vector<std::string> out;
  for (const auto& entry : kinds_)
    out.push_back(entry.first);
  return out;
}

caf::error worker_registry::keep_only(const std::vector<std::string>& types) {
  for (const auto& type : types)
    if (kinds_.count(type) == 0)
      return caf::make_error(errc::unknown_task_type, fmt::format("unknown task type \"{}\" (known: {})",
                                                                  type, fmt::join(this->types(), ", ")));
  std::erase_if(kinds_, [&](const auto& entry) {
    return std::find(types.begin(), types.end(), entry.first) == types.end();
  });
  return caf::none;
}

void report_exceptions(caf::scheduled_actor* self) {
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
    return caf::make_error(errc::worker_failed, fmt::format("the worker threw: {}", exception_text(eptr)));
  });
}

execution_hooks::~execution_hooks() = default;

caf::expected<worker_actor> execution_hooks::get_worker_instance(caf::actor_system& sys,
                                                                 const worker_registry& registry,
                                                                 const attempt_info& attempt,
                                                                 const task& t) {
  return registry.spawn(sys, t, attempt);
}

void execution_hooks::execute_task_on_worker(fleet_manager_actor::pointer self,
                                             const worker_actor& worker, const task& t,
                                             int32_t attempt, caf::timespan timeout,
                                             outcome_handler done) {
  // No request timeout: CAF 0.17 keeps every pending timeout in its clock until it fires, which
  // with thousands of attempts per second and a 5-minute worker_timeout holds hundreds of MB.
  // The manager enforces `timeout` itself with one periodic sweep.
  self->request(worker, caf::infinite, execute_atom::value, t, attempt)
    .then(guarded([done](task_outcome& outcome) { done(std::move(outcome)); }),
          guarded([done](caf::error& err) { done(std::move(err)); }));
}

void execution_hooks::stop_attempt(fleet_manager_actor::pointer self, const worker_actor& worker,
                                   const std::string&) {
  self->send_exit(worker, caf::exit_reason::user_shutdown);
}

} // namespace fleet
