#!/usr/bin/env python3
"""Drives fleetd's HTTP API with Python's standard library only, as a user's script would.

usage: api_client.py BASE_URL WRITE_TOKEN READ_TOKEN [CA_FILE]
Prints one line per check and exits 1 at the first that fails (tests/e2e/api_test.cpp runs it).
"""
import http.client
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

base, write_token, read_token = sys.argv[1:4]
ca_file = sys.argv[4] if len(sys.argv) > 4 else None
context = ssl.create_default_context(cafile=ca_file) if ca_file else None
url = urllib.parse.urlsplit(base)


def fail(what):
    print("FAILED:", what)
    sys.exit(1)


def call(method, path, body=None, token=write_token, content_type="application/json", headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", content_type)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, context=context, timeout=60) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def expect_error(result, status, code, what):
    got_status, _, body = result
    if got_status != status or body["error"]["code"] != code or not body["error"]["message"]:
        fail(f"{what}: expected {status} {code}, got {got_status} {body}")
    print(f"ok {what}: {status} {code}")


# Submit and read back.
status, headers, body = call("POST", "/api/v1/batches",
                             {"tasks": [{"id": "a", "type": "echo", "data": {"n": 1}},
                                        {"id": "b", "type": "echo", "data": {"big": 12345678901234567890}},
                                        {"id": "c", "type": "fail", "data": {"message": "no"}}]})
if status != 201 or "batch_id" not in body:
    fail(f"submit: {status} {body}")
batch = body["batch_id"]
if headers.get("Location") != "/api/v1/batches/" + batch:
    fail(f"Location header: {headers}")
print("ok submit", batch)

# Server-Sent Events until the batch is done: no polling.
conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
kwargs = {"context": context} if url.scheme == "https" else {}
conn = conn_class(url.hostname, url.port, timeout=60, **kwargs)
conn.request("GET", f"/api/v1/batches/{batch}/events", headers={"Authorization": "Bearer " + read_token})
resp = conn.getresponse()
if resp.status != 200 or not resp.getheader("Content-Type", "").startswith("text/event-stream"):
    fail(f"events: {resp.status} {resp.getheader('Content-Type')}")
events = []
name = None
while True:
    line = resp.readline()
    if not line:
        break
    line = line.decode().rstrip("\n")
    if line.startswith("event: "):
        name = line[7:]
    elif line.startswith("data: "):
        events.append((name, json.loads(line[6:])))
if not events or events[-1][0] != "done" or events[-1][1]["status"] != "partial":
    fail(f"events end with done/partial: {events}")
print("ok events:", [e[0] for e in events])

# Results, paged, with a big integer kept exactly.
results, cursor = {}, 0
while True:
    status, _, page = call("GET", f"/api/v1/batches/{batch}/results?limit=1&cursor={cursor}", token=read_token)
    if status != 200:
        fail(f"results page: {status} {page}")
    for r in page["results"]:
        results[r["task_id"]] = r
    cursor = page["next_cursor"]
    if page["done"]:
        break
if sorted(results) != ["a", "b", "c"] or results["c"]["success"] or results["b"]["result"] != {"big": 12345678901234567890}:
    fail(f"results: {results}")
print("ok results paged")

# JSON Lines, streamed, with an Idempotency-Key: the second submit returns the first batch.
lines = "".join(json.dumps({"id": f"t{i}", "type": "echo", "data": {"i": i}}) + "\n" for i in range(25000)).encode()
first = call("POST", "/api/v1/batches", lines, content_type="application/x-ndjson", headers={"Idempotency-Key": "py-1"})
second = call("POST", "/api/v1/batches", lines, content_type="application/x-ndjson", headers={"Idempotency-Key": "py-1"})
if first[0] != 201 or second[0] != 201 or first[2]["batch_id"] != second[2]["batch_id"]:
    fail(f"idempotent JSON Lines submit: {first} {second}")
status, _, st = call("GET", "/api/v1/batches/" + first[2]["batch_id"], token=read_token)
if st["total"] != 25000:
    fail(f"JSON Lines batch total: {st}")
print("ok JSON Lines, 25000 tasks, idempotent")

# Refusals, each with a clear JSON error.
expect_error(call("POST", "/api/v1/batches", b'{"tasks": [', ), 400, "bad_request", "bad JSON")
expect_error(call("POST", "/api/v1/batches", {"tasks": [{"type": "echo", "priority": "high"}]}), 422, "invalid_task",
             "a wrong type")
expect_error(call("POST", "/api/v1/batches", {"tasks": [{"id": "x", "type": "echo"}, {"id": "x", "type": "echo"}]}),
             422, "duplicate_task_id", "a duplicate task id")
expect_error(call("POST", "/api/v1/batches", b"\xff\xfe not utf-8\n", content_type="application/x-ndjson"), 422,
             "invalid_task", "bytes that are not UTF-8 (JSON Lines)")
expect_error(call("POST", "/api/v1/batches", b'{"tasks": [{"type": "echo", "id": "\xc3\x28"}]}'), 400, "bad_request",
             "bytes that are not UTF-8 (JSON)")
expect_error(call("POST", "/api/v1/batches", {"tasks": [{"type": "echo"}]}, token=None), 401, "unauthorized",
             "no token")
expect_error(call("GET", "/api/v1/stats", token="x" * 40), 401, "unauthorized", "a wrong token")
expect_error(call("POST", "/api/v1/batches", {"tasks": [{"type": "echo"}]}, token=read_token), 403, "forbidden",
             "a read token used for a write")
expect_error(call("GET", "/api/v1/batches/batch-nope", token=read_token), 404, "unknown_batch", "an unknown batch")
expect_error(call("POST", "/api/v1/batches/batch-nope/cancel"), 404, "unknown_batch", "cancel of an unknown batch")
some = call("POST", "/api/v1/batches", {"tasks": [{"id": "late", "type": "echo", "delay_ms": 3600000},
                                                   {"id": "now", "type": "echo"}]})[2]["batch_id"]
expect_error(call("POST", f"/api/v1/batches/{some}/cancel", {"task_ids": ["late", "ghost"]}), 422, "invalid_task",
             "cancel of a task the batch does not have")
expect_error(call("POST", f"/api/v1/batches/{some}/cancel", {"task_ids": "late"}), 422, "invalid_argument",
             "task_ids that are not an array")
expect_error(call("POST", f"/api/v1/batches/{some}/cancel", {"tasks": ["late"]}), 422, "invalid_argument",
             "an unknown field in a cancel")
status, _, body = call("POST", f"/api/v1/batches/{some}/cancel", {"task_ids": ["late"]})
if status != 200 or body["cancelled"] != 1 or body["changed"] is not True:
    fail(f"cancel of one task: {status} {body}")
print("ok cancel of one task")
expect_error(call("POST", "/api/v1/batches", {"tasks": [{"type": "echo"}]}, content_type="text/plain"), 415,
             "unsupported_media_type", "a body that is not JSON")
expect_error(call("POST", "/api/v1/batches", {"tasks": [{"type": "echo"}], "key": "a"}, headers={"Idempotency-Key": "b"}),
             409, "conflict", "two different keys")
expect_error(call("POST", "/api/v1/scale", {"workers": 0}), 422, "invalid_config", "scale to 0")



def raw_connection():
    raw = socket.create_connection((url.hostname, url.port))
    return context.wrap_socket(raw, server_hostname=url.hostname) if context else raw


# An oversized body is refused by its Content-Length, before a byte of it is read.
raw = raw_connection()
raw.sendall((f"POST /api/v1/batches HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nAuthorization: Bearer {write_token}"
             f"\r\nContent-Type: application/json\r\nContent-Length: {2 << 20}\r\n\r\n").encode())
answer = b""
while b"}}" not in answer:
    got = raw.recv(4096)
    if not got:
        break
    answer += got
raw.close()
status_line, _, rest = answer.partition(b"\r\n")
if b" 413 " not in status_line or b'"payload_too_large"' not in rest:
    fail(f"an oversized body: {answer[:300]}")
print("ok an oversized body: 413 payload_too_large")

# A client that goes away mid-upload: nothing of it is stored.
_, _, before = call("GET", "/api/v1/stats", token=read_token)
raw = raw_connection()
head = (f"POST /api/v1/batches HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nAuthorization: Bearer {write_token}\r\n"
        f"Content-Type: application/x-ndjson\r\nContent-Length: {len(lines)}\r\n\r\n").encode()
raw.sendall(head + lines[: len(lines) // 2])
time.sleep(0.5)
raw.close()
time.sleep(1.0)
_, _, after = call("GET", "/api/v1/stats", token=read_token)
if after["total_batches"] != before["total_batches"] or after["total_tasks"] != before["total_tasks"]:
    fail(f"a broken upload stored something: {before} -> {after}")
print("ok a vanished client stores nothing")

# Changes, read back.
status, _, body = call("POST", f"/api/v1/batches/{batch}/replay", {"task_ids": ["c"]})
if status != 200 or body["replayed"] != 1:
    fail(f"replay: {status} {body}")
status, _, cfg = call("PATCH", "/api/v1/config", {"max_retries": 1})
if status != 200 or cfg["max_retries"] != 1:
    fail(f"config: {status} {cfg}")
status, _, cfg = call("POST", "/api/v1/scale", {"workers": 3})
if status != 200 or cfg["max_concurrent_workers"] != 3:
    fail(f"scale: {status} {cfg}")
print("ok replay, config, scale")
print("all checks passed")
