// The two routes of the HTTP API that stream (web/api_v1.hpp): a submit's body in, parsed while it
// arrives, and a batch's progress out as Server-Sent Events. Each holds a stream slot.

#include "web/api_v1.hpp"

#include "fleetd/client.hpp"
#include "fleet/task_file.hpp"
#include "web/api_v1_detail.hpp"
#include "web/body_pipe.hpp"
#include "web/gated_server.hpp"

#include <spdlog/spdlog.h>

#include <istream>
#include <memory>
#include <sstream>
#include <thread>

namespace fleet {

using namespace api_detail;
using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

void api_v1::serve_submit(httplib::Server& server) {
  server.Post(api_prefix + "/batches", [this](const Request& req, Response& res,
                                                                       const httplib::ContentReader& reader) {
    auto who = authorize(req, res, true);
    if (!who)
      return;
    auto type = media_type(req);
    bool lines = is_json_lines(type);
    if (!lines && type != "application/json") {
      send_error(res, 415, "unsupported_media_type",
                 "a submit is application/json ({\"tasks\": [...]}) or application/x-ndjson (one task per line)");
      return;
    }
    auto key = req.get_header_value("Idempotency-Key");
    if (!is_utf8(key)) {
      send_error(res, 400, "bad_request", "the Idempotency-Key header must be UTF-8");
      return;
    }
    auto length = request_content_length(req);
    // A big body may take longer than the gate's deadline: it needs a stream slot.
    struct slot_guard {
      std::atomic<size_t>* n = nullptr;
      ~slot_guard() {
        if (n != nullptr)
          --*n;
      }
    } slot;
    if (length > streamed_body_bytes) {
      if (!take_stream_slot(res))
        return;
      slot.n = &streams_;
      gated_server::keep_open_while_active(settings_.manager_timeout * 2);
    }
    auto c = client(*who);
    auto limits = c.limits();
    if (!limits) {
      send_error(res, limits.error());
      return;
    }
    caf::expected<std::string> batch_id{std::string{}};
    size_t tasks = 0;
    if (!lines) {
      std::string body;
      bool too_big = false;
      bool whole = reader([&](const char* data, size_t size) {
        if (body.size() + size > settings_.max_body_bytes) {
          too_big = true;
          return false;
        }
        body.append(data, size);
        return true;
      });
      if (too_big) {
        send_error(res, 413, "payload_too_large",
                   fmt::format("the body is larger than {} bytes (fleet.http-max-body); send big batches as "
                               "application/x-ndjson",
                               settings_.max_body_bytes));
        return;
      }
      if (!whole) {
        spdlog::info("http: a submit from {} ended before its body was whole: nothing stored", who->peer);
        return;
      }
      if (!is_utf8(body)) {
        send_error(res, 400, "bad_request", "the body is not UTF-8 text");
        return;
      }
      auto envelope = accept_body(res, submit_envelope_body(body, key));
      if (!envelope)
        return;
      key = envelope->key;
      const auto& defaults = envelope->defaults;
      std::istringstream in{std::string{envelope->tasks_text}};
      task_stream stream{in, "body", *limits};
      auto all = stream.next(SIZE_MAX);
      if (!all) {
        send_error(res, all.error());
        return;
      }
      tasks = all->size();
      for (auto& t : *all)
        fill_policy(t.policy, defaults);
      batch_id = c.submit_batch(key, std::move(*all), upload_chunk_tasks);
    } else {
      // Parsed and staged on a thread of its own while this one reads the socket: never whole in memory.
      auto upload = c.open_upload();
      if (!upload) {
        send_error(res, upload.error());
        return;
      }
      body_pipe pipe;
      caf::error staged;
      std::thread parser{[&] {
        std::istream in{&pipe};
        task_stream stream{in, "body", *limits};
        while (!stream.done()) {
          auto chunk = stream.next(upload_chunk_tasks);
          if (!chunk) {
            staged = std::move(chunk.error());
            break;
          }
          tasks += chunk->size();
          if (chunk->empty())
            continue;
          if (auto err = upload->add(std::move(*chunk))) {
            staged = std::move(err);
            break;
          }
        }
        pipe.abandon();
      }};
      bool whole = reader([&](const char* data, size_t size) { return pipe.push(data, size); });
      pipe.close();
      parser.join();
      if (staged) {
        send_error(res, staged);
        return;
      }
      if (!whole) {
        // The upload is never sealed: fleetd drops it, and no part of it becomes a batch.
        spdlog::info("http: a submit from {} ended before its body was whole: nothing stored", who->peer);
        return;
      }
      batch_id = upload->seal(key);
    }
    if (!batch_id) {
      send_error(res, batch_id.error());
      return;
    }
    record(*who, req, 201, *batch_id, {{"action", "submit"}, {"tasks", tasks}, {"key", key}});
    res.set_header("Location", api_prefix + "/batches/" + *batch_id);
    send_json(res, 201, {{"batch_id", *batch_id}});
  });
}

void api_v1::serve_events(httplib::Server& server) {
  server.Get(api_prefix + R"(/batches/([^/]+)/events)", [this](const Request& req, Response& res) {
    if (!authorize(req, res, false))
      return;
    auto id = batch_id_of(req, res);
    if (!id)
      return;
    auto first = client().batch_status(*id);
    if (!first) {
      send_error(res, first.error());
      return;
    }
    if (!take_stream_slot(res))
      return;
    gated_server::keep_open_while_active(settings_.stream_idle * 2);
    struct stream_state {
      std::optional<batch_status> last;
      std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
      bool done = false;
    };
    auto state = std::make_shared<stream_state>();
    auto id_copy = *id;
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
      "text/event-stream",
      [this, state, id_copy](size_t, httplib::DataSink& sink) {
        if (state->done || stopping_) {
          sink.done();
          return true;
        }
        auto st = client().batch_status(id_copy);
        auto now = std::chrono::steady_clock::now();
        if (!st) {
          auto text = dump_json(json{{"code", to_string(static_cast<errc>(st.error().code()))},
                                     {"message", error_text(st.error())}});
          auto event = sse_event("error", text);
          if (!sink.write(event.data(), event.size()))
            return false;
          state->done = true;
          return true;
        }
        bool changed = !state->last || st->completed != state->last->completed || st->failed != state->last->failed
                       || st->cancelled != state->last->cancelled || st->status != state->last->status
                       || st->paused != state->last->paused;
        if (changed) {
          auto final = is_final(*st);
          auto event = sse_event(final ? "done" : "status", dump_json(to_json(*st)));
          if (!sink.write(event.data(), event.size()))
            return false; // the client went away
          state->last = *st;
          state->last_write = now;
          state->done = final;
          return true;
        }
        if (now - state->last_write >= settings_.stream_idle) {
          static constexpr std::string_view keep_alive = ": keep-alive\n\n";
          if (!sink.write(keep_alive.data(), keep_alive.size()))
            return false;
          state->last_write = now;
        }
        std::this_thread::sleep_for(settings_.stream_poll);
        return true;
      },
      [this](bool) { --streams_; });
  });
}

} // namespace fleet
