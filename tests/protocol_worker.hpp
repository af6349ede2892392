#pragma once

// A worker process that speaks docs/WORKER-PROTOCOL.md, written in sh for the pool tests. The
// task type says how it behaves: boom (exits 7), garbage (a line that is not JSON), liar (answers
// another id), hang (never answers), afterword (answers, then a line that is not JSON, in one write), fatal (fails with retry false), slow (reports 0.25 "half way
// there", then waits until the file named by its data's "release" exists); any other type answers
// a progress line and {"pid": ITS_PID}.

namespace fleet::test {

inline const char* protocol_worker_sh = R"SH(
echo "worker $$ ready" >&2
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  case "$line" in
    *'"type":"boom"'*) echo "about to fail" >&2; exit 7 ;;
    *'"type":"garbage"'*) echo 'this is not json' ;;
    *'"type":"liar"'*) printf '{"id":"w-nobody","ok":true}\n' ;;
    *'"type":"hang"'*) sleep 600 ;;
    *'"type":"slow"'*)
      file=$(printf '%s' "$line" | sed 's/.*"release":"\([^"]*\)".*/\1/')
      printf '{"id":"%s","progress":0.25,"note":"half way there"}\n' "$id"
      while [ ! -e "$file" ]; do sleep 0.05; done
      printf '{"id":"%s","ok":true,"result":{"pid":%s}}\n' "$id" $$ ;;
    *'"type":"afterword"'*) printf '{"id":"%s","ok":true,"result":{"pid":%s}}\nnot json\n' "$id" $$ ;;
    *'"type":"fatal"'*) printf '{"id":"%s","ok":false,"error":"bad input","retry":false}\n' "$id" ;;
    *) printf '{"id":"%s","progress":0.5,"note":"half"}\n{"id":"%s","ok":true,"result":{"pid":%s}}\n' "$id" "$id" $$ ;;
  esac
done
)SH";

} // namespace fleet::test
