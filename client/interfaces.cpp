#include "fleetd/interfaces.hpp"

#include "fleetd/error.hpp"

#include <caf/actor_system_config.hpp>

namespace fleet {

void register_fleet_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<peer_version>("fleet.peer_version");
  cfg.add_message_type<task>("fleet.task");
  cfg.add_message_type<task_outcome>("fleet.task_outcome");
  cfg.add_message_type<task_result>("fleet.task_result");
  cfg.add_message_type<results_page>("fleet.results_page");
  cfg.add_message_type<dead_letter>("fleet.dead_letter");
  cfg.add_message_type<dead_letter_page>("fleet.dead_letter_page");
  cfg.add_message_type<task_entry>("fleet.task_entry");
  cfg.add_message_type<task_page>("fleet.task_page");
  cfg.add_message_type<batch_status>("fleet.batch_status");
  cfg.add_message_type<fleet_config>("fleet.fleet_config");
  cfg.add_message_type<config_update>("fleet.config_update");
  cfg.add_message_type<fleet_stats>("fleet.fleet_stats");
  cfg.add_message_type<worker_info>("fleet.worker_info");
  cfg.add_message_type<result_summary>("fleet.result_summary");
  cfg.add_message_type<node_announcement>("fleet.node_announcement");
  cfg.add_message_type<node_welcome>("fleet.node_welcome");
  cfg.add_message_type<node_info>("fleet.node_info");
  cfg.add_message_type<node_attempt>("fleet.node_attempt");
  cfg.add_message_type<node_outcome>("fleet.node_outcome");
  cfg.add_message_type<fleet_overview>("fleet.fleet_overview");
  cfg.add_message_type<submit_limits>("fleet.submit_limits");
  cfg.add_message_type<prune_report>("fleet.prune_report");
  cfg.add_message_type<schedule_spec>("fleet.schedule_spec");
  cfg.add_message_type<schedule_info>("fleet.schedule_info");
  cfg.add_message_type<queue_limits>("fleet.queue_limits");
  cfg.add_message_type<queue_change>("fleet.queue_change");
  cfg.add_message_type<queue_info>("fleet.queue_info");
  cfg.add_message_type<worker_actor>("fleet.worker_actor");
  cfg.add_message_type<node_actor>("fleet.node_actor");
  cfg.add_message_type<coordinator_actor>("fleet.coordinator_actor");
  cfg.add_message_type<fleet_api_actor>("fleet.fleet_api_actor");
  cfg.add_error_category(error_category, render_error);
}

} // namespace fleet
