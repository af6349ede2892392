#pragma once

// Where the message being handled comes from. Every message in a typed interface can be sent by
// any node that holds the handle, so handlers of internal messages check their origin.

#include <caf/actor_control_block.hpp>
#include <caf/node_id.hpp>

namespace fleet {

/// True if the current message comes from an actor of this process (not from a remote node).
template <class Self>
bool sent_from_local_node(Self* self) {
  const auto& sender = self->current_sender();
  return sender != nullptr && sender->node() == self->node();
}

} // namespace fleet
