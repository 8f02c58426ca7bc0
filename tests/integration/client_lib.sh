# client_lib.sh — helpers of the client library tests, on top of lib.sh.
#   source "$(dirname "$0")/client_lib.sh"
#   client_init ASYLINKD ASYLINK PEER CLIENT_TEST   # lib_init + federation + broker.ini on a fixed port
#   write_node_ini ID          # $T/ID.ini for that node against $PORT
#   ct ARGS...                 # runs client_test (bounded by its --timeout)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

client_init() {
  CLIENT_TEST="$(cd "$(dirname "$4")" && pwd)/$(basename "$4")"
  lib_init "$1" "$2" "$3"
  make_federation || exit 1
  PORT=$(free_port)
  write_broker_ini "$PORT"
}

write_node_ini() {
  local id=$1
  cat >"$T/$id.ini" <<EOF
[node]
broker_endpoint = tcp://127.0.0.1:$PORT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$id.cert
key_file = $FED/keys/$id.key
trust_dir = $FED/trust
data_dir = $T/node-$id
receive_window = 256
EOF
}

ct() { "$CLIENT_TEST" "$@"; }

# same_ids A B: both files hold the same set of ids.
same_ids() { [[ -s $1 ]] && diff <(sort -u "$1") <(sort -u "$2") >/dev/null; }
