#!/usr/bin/env bash
# 72-ops-rough-edges.sh — operator rough edges of asylinkd, the library and
# the command line (DESIGN-CHANGES 61):
#   - a data directory restored with mdb_copy (data.mdb 0644, directory
#     0755) is tightened to 0600/0700 at start, with a WARN naming each
#     file; one whose data.mdb belongs to another user is refused
#     (KEY_PERMISSIONS, the file and the owner named), also one root
#     restored under a broker run by its own user (here nobody), which may
#     not even open it; the same for a node's data_dir opened by the
#     library (asylink recv);
#   - the descriptor limit is warned about only when it is below what the
#     configuration needs (the figure and how to raise it in the message),
#     not merely below limits.max_open_files, at start and again after a
#     reload that adds a node certificate (DESIGN-CHANGES 65);
#   - heartbeat values above the protocol's ceilings (60 s, 300 s) are
#     refused at configuration load, naming the option and the limit;
#   - ASYLINK_PASSPHRASE is not left in a running command's environment
#     (/proc/PID/environ).
#
#   tests/integration/72-ops-rough-edges.sh ASYLINKD ASYLINK ASYLINK-PEER CLIENT_TEST
# shellcheck disable=SC2119,SC2154
source "$(dirname "$0")/client_lib.sh"
client_init "$@"

# mode PATH: octal permission bits.
mode() { stat -c %a "$1"; }

echo "== a data directory restored with mdb_copy is made private again"
start_broker || exit 1
peer DE send --to FR --count 3 --ids-out "$T/de.ids" --timeout 20 >"$T/de.out" 2>&1
check_eq "DE: 3 accepted" "$(field "$T/de.out" accepted)" 3
stop_broker
check_eq "a new store: data.mdb 0600" "$(mode "$T/data/data.mdb")" 600
check_eq "a new store: directory 0700" "$(mode "$T/data")" 700
check "a new store: no tightening WARN" bash -c "! grep -q 'mode tightened' '$BROKER_LOG'"
mkdir -m 755 "$T/restored"
(umask 022 && mdb_copy "$T/data" "$T/restored") || fail "mdb_copy"
rm -f "$T/restored/lock.mdb"
check_eq "mdb_copy wrote data.mdb 0644" "$(mode "$T/restored/data.mdb")" 644
mv "$T/data" "$T/data.old"
mv "$T/restored" "$T/data"
start_broker || exit 1
check_eq "data.mdb tightened to 0600" "$(mode "$T/data/data.mdb")" 600
check_eq "the directory tightened to 0700" "$(mode "$T/data")" 700
check_eq "lock.mdb 0600" "$(mode "$T/data/lock.mdb")" 600
check "WARN names data.mdb with its old mode" grep -qE \
  "level=warn comp=store msg=\"data directory entry was accessible to other users: mode tightened.*path=\"?$T/data/data.mdb\"? mode=0644 now=0600" \
  "$BROKER_LOG"
check "WARN names the directory" grep -qE \
  "msg=\"data directory entry was accessible.*path=\"?$T/data\"? mode=0755 now=0700" "$BROKER_LOG"
peer_bg fr FR recv --count 3 --timeout 20 --ids-out "$T/fr.ids"
wait_pid "$PID_fr" 25
check "FR receives the restored messages" same_set "$T/de.ids" "$T/fr.ids"
stop_broker

echo "== a data.mdb owned by another user is refused"
if [[ $(id -u) -ne 0 ]]; then
  echo "skip  another user's files: only root can make them (run as $(id -un))"
else
  chown nobody "$T/data/data.mdb"
  BROKER_N=$((BROKER_N + 1))
  timeout 20 "$ASYLINKD" --config "$CONF" >"$T/broker.$BROKER_N.out" 2>"$T/broker.$BROKER_N.err" </dev/null
  check_eq "asylinkd exits 1" "$?" 1
  check "ERROR names the file, its owner and the fix" grep -qE \
    "level=error comp=store msg=\"data directory entry is owned by another user.*path=\"?$T/data/data.mdb\"? owner_uid=$(id -u nobody) .*code=KEY_PERMISSIONS hint=.*chown" \
    "$T/broker.$BROKER_N.err"
  check "cannot open the store: KEY_PERMISSIONS" grep -q 'msg="cannot open the store".*code=KEY_PERMISSIONS' \
    "$T/broker.$BROKER_N.err"
  check_eq "nothing listened" "$(grep -c 'listening on' "$T/broker.$BROKER_N.out")" 0
  chown "$(id -u)" "$T/data/data.mdb"
fi

echo "== a broker run by its own user on a data.mdb restored by root"
# The broker's user may not open a root-owned data.mdb at all: the lock on it
# failed with a bare IO before the owner check could say whose file it is.
nb_uid=$(id -u nobody 2>/dev/null)
nb_gid=$(id -g nobody 2>/dev/null)
as_nobody() { setpriv --reuid="$nb_uid" --regid="$nb_gid" --clear-groups -- "$@"; }
if [[ $(id -u) -ne 0 || -z $nb_uid ]] || ! as_nobody true 2>/dev/null; then
  echo "skip  a broker run as another user: needs root, the user nobody and setpriv"
else
  U="$T/nobody"
  mkdir -m 700 "$U" "$U/data"
  cp -r "$FED/trust" "$U/trust"
  cp "$FED/keys/BROKER.EU.key" "$T/policy.ini" "$U/"
  cp "$ASYLINKD" "$U/asylinkd" # the build tree may be out of nobody's reach (a clone in /root)
  sed -e "s|^cert = .*|cert = $U/trust/nodes/BROKER.EU.cert|" -e "s|^key = .*|key = $U/BROKER.EU.key|" \
    -e "s|^trust_dir = .*|trust_dir = $U/trust|" -e "s|^data_dir = .*|data_dir = $U/data|" \
    -e "s|^policy = .*|policy = $U/policy.ini|" "$CONF" >"$U/broker.ini"
  chown -R "$nb_uid:$nb_gid" "$U"
  (umask 022 && mdb_copy "$T/data" "$U/data") || fail "mdb_copy as root"
  rm -f "$U/data/lock.mdb"
  chmod 711 "$T" # nobody passes through to $U; everything else in $T stays 0600/0700
fi
if [[ -n ${U-} ]] && ! as_nobody test -r "$U/broker.ini"; then
  echo "skip  a broker run as another user: nobody cannot reach $U (TMPDIR=${TMPDIR-})"
elif [[ -n ${U-} ]]; then
  for m in 644 600; do
    chmod "$m" "$U/data/data.mdb"
    BROKER_N=$((BROKER_N + 1))
    as_nobody timeout 20 "$U/asylinkd" --config "$U/broker.ini" >"$T/broker.$BROKER_N.out" 2>"$T/broker.$BROKER_N.err" </dev/null
    check_eq "data.mdb root's, mode $m: asylinkd as nobody exits 1" "$?" 1
    check "... ERROR names the file, root as its owner, the broker's user and chown" grep -qE \
      "level=error comp=store msg=\"data directory entry is owned by another user.*path=\"?$U/data/data.mdb\"? owner_uid=0 broker_uid=$nb_uid code=KEY_PERMISSIONS hint=.*chown" \
      "$T/broker.$BROKER_N.err"
    check "... cannot open the store: KEY_PERMISSIONS, not IO" grep -q \
      'msg="cannot open the store".*code=KEY_PERMISSIONS' "$T/broker.$BROKER_N.err"
  done
  chown "$nb_uid:$nb_gid" "$U/data/data.mdb"
  BROKER_N=$((BROKER_N + 1))
  # (setpriv itself, not the function: $! must be the broker's PID)
  setpriv --reuid="$nb_uid" --regid="$nb_gid" --clear-groups -- "$U/asylinkd" --config "$U/broker.ini" \
    >"$T/broker.$BROKER_N.out" 2>"$T/broker.$BROKER_N.err" </dev/null &
  NB_PID=$!
  PIDS+=("$NB_PID")
  check "after the chown the broker serves it as nobody" wait_for "$T/broker.$BROKER_N.out" 'listening on' 10
  kill -TERM "$NB_PID" 2>/dev/null
  wait_pid "$NB_PID" 15
  check_eq "... and stops cleanly" "$?" 0
  chmod 700 "$T"
fi

echo "== a node's data_dir: the same in the library"
start_broker || exit 1
write_node_ini FR
timeout 20 "$ASYLINK" recv --config "$T/FR.ini" --idle 1 >"$T/recv1.out" 2>"$T/recv1.err"
check_eq "recv on a new data_dir exits 0" "$?" 0
chmod 755 "$T/node-FR"
chmod 644 "$T/node-FR/data.mdb" "$T/node-FR/lock.mdb"
peer DE send --to FR --count 2 --ids-out "$T/de2.ids" --timeout 20 >"$T/de2.out" 2>&1
ct --config "$T/FR.ini" --timeout 20 recv --count 2 >"$T/recv2.out" 2>"$T/recv2.err"
check_eq "a client on a 0644 data.mdb receives" "$?" 0
check_eq "node data.mdb tightened to 0600" "$(mode "$T/node-FR/data.mdb")" 600
check_eq "node lock.mdb tightened to 0600" "$(mode "$T/node-FR/lock.mdb")" 600
check_eq "node data_dir tightened to 0700" "$(mode "$T/node-FR")" 700
check "the library's WARN names data.mdb" grep -qE \
  "data directory entry was accessible to other users: mode tightened.*$T/node-FR/data.mdb.*mode=0644 now=0600" \
  "$T/recv2.err"
if [[ $(id -u) -eq 0 ]]; then
  chown nobody "$T/node-FR/data.mdb"
  timeout 20 "$ASYLINK" recv --config "$T/FR.ini" --idle 1 >"$T/recv3.out" 2>"$T/recv3.err"
  check_eq "recv with a data.mdb of another user exits 1" "$?" 1
  check "the library's ERROR names the file and the owner" grep -qE \
    "KEY_PERMISSIONS: data directory entry $T/node-FR/data.mdb is owned by another user \(uid $(id -u nobody)\b.*chown" \
    "$T/recv3.err"
  chown "$(id -u)" "$T/node-FR/data.mdb"
fi
stop_broker

echo "== the descriptor limit is warned about only below what the configuration needs"
hard=$(ulimit -Hn)
if [[ $hard == unlimited || $hard -ge 4096 ]]; then
  (ulimit -n 4096 && start_broker && stop_broker) >/dev/null 2>&1
  BROKER_LOG="$T/broker.$((BROKER_N + 1)).err"
  BROKER_N=$((BROKER_N + 1))
  check "hard limit 4,096 (below max_open_files 65,536): no WARN" \
    bash -c "! grep -q 'level=warn comp=main msg=\"descriptor limit' '$BROKER_LOG'"
  check "... the INFO says what it needs" grep -qE \
    'level=info comp=main msg="descriptor limit" open_files=4096 needed=[0-9]+' "$BROKER_LOG"
  (ulimit -n 1100 && start_broker && stop_broker) >/dev/null 2>&1
  BROKER_N=$((BROKER_N + 1))
  BROKER_LOG="$T/broker.$BROKER_N.err"
  check "hard limit 1,100: WARN with the figure it needs and how to raise it" grep -qE \
    'level=warn comp=main msg="descriptor limit below what this configuration needs" open_files=1100 needed=1[0-9]{3} nodes=7 .*hint=.*LimitNOFILE.*ulimit -Hn' \
    "$BROKER_LOG"
  # A reload that adds a node certificate needs two descriptors more: started
  # one above the need of seven, the broker warns once that reload is done.
  need=$(sed -nE 's/.*msg="descriptor limit" open_files=4096 needed=([0-9]+).*/\1/p' \
    "$T/broker.$((BROKER_N - 1)).err" | head -n 1)
  (ulimit -n $((need + 1)) && start_broker && cp "$FED/outsider/XX.cert" "$FED/trust/nodes/" &&
    kill -HUP "$BROKER_PID" && wait_for "$BROKER_LOG" 'msg="trust and policy reloaded"' 10 &&
    stop_broker) >/dev/null 2>&1
  BROKER_N=$((BROKER_N + 1))
  BROKER_LOG="$T/broker.$BROKER_N.err"
  rm -f "$FED/trust/nodes/XX.cert"
  check "limit $((need + 1)), need $need: the INFO at start" grep -q \
    "level=info comp=main msg=\"descriptor limit\" open_files=$((need + 1)) needed=$need\$" "$BROKER_LOG"
  check "... the reload added a node certificate" grep -q \
    'msg="trust and policy reloaded" certificates=8 ' "$BROKER_LOG"
  check_eq "... and warned once that the limit is now below the need" "$(grep -cE \
    "level=warn comp=router msg=\"descriptor limit below what this configuration needs\" open_files=$((need + 1)) needed=$((need + 2)) nodes=8 .*hint=.*LimitNOFILE" \
    "$BROKER_LOG")" 1
else
  echo "skip  descriptor limit checks: the hard limit here is $hard"
fi

echo "== heartbeat values above the protocol's ceilings are refused at load"
sed 's/^heartbeat_interval = 1s$/heartbeat_interval = 2m/; s/^heartbeat_timeout = 10s$/heartbeat_timeout = 5m/' \
  "$CONF" >"$T/hb1.ini"
timeout 20 "$ASYLINKD" --config "$T/hb1.ini" --check-config >"$T/hb1.out" 2>"$T/hb1.err"
check_eq "heartbeat_interval = 2m: exit 2" "$?" 2
check "the error names the option and the limit" grep -q \
  '\[limits\] heartbeat_interval: must be in the range 100ms .. 1m, got "2m"' "$T/hb1.err"
sed 's/^heartbeat_timeout = 10s$/heartbeat_timeout = 10m/' "$CONF" >"$T/hb2.ini"
timeout 20 "$ASYLINKD" --config "$T/hb2.ini" --check-config >"$T/hb2.out" 2>"$T/hb2.err" </dev/null
check_eq "heartbeat_timeout = 10m: exit 2" "$?" 2
check "the error names the option and the limit" grep -q \
  '\[limits\] heartbeat_timeout: must be in the range 1s .. 5m, got "10m"' "$T/hb2.err"
sed 's/^heartbeat_interval = 1s$/heartbeat_interval = 1m/; s/^heartbeat_timeout = 10s$/heartbeat_timeout = 5m/' \
  "$CONF" >"$T/hb3.ini"
timeout 20 "$ASYLINKD" --config "$T/hb3.ini" --check-config >"$T/hb3.out" 2>"$T/hb3.err"
check_eq "the ceilings themselves are accepted" "$?" 0

echo "== ASYLINK_PASSPHRASE does not stay in a running command's environment"
start_broker || exit 1
secret="env-secret-$RANDOM$RANDOM"
ASYLINK_PASSPHRASE=$secret "$ASYLINK" recv --config "$T/FR.ini" --idle 20 \
  >"$T/recv4.out" 2>"$T/recv4.err" </dev/null &
RECV_PID=$!
PIDS+=("$RECV_PID")
wait_for "/proc/$RECV_PID/environ" 'PATH=' 5
sleep 1 # past main()'s start: the library is connecting by now
check "recv is running" kill -0 "$RECV_PID"
# The data_dir check opens and closes lock.mdb; done after LMDB opened it, the
# close dropped LMDB's POSIX locks (a running mdb_copy would reset the file).
lock_ino=$(stat -c %i "$T/node-FR/lock.mdb")
check "the library keeps LMDB's POSIX lock on byte 0 of its lock.mdb (environment in use)" \
  grep -Eq "POSIX +ADVISORY +[A-Z]+ +$RECV_PID +[0-9a-f]+:[0-9a-f]+:$lock_ino +0 +0\$" /proc/locks
check "its /proc/PID/environ does not hold the passphrase" \
  bash -c "! tr '\\0' '\\n' <'/proc/$RECV_PID/environ' | grep -q -- '$secret'"
check "... nor the variable" bash -c "! tr '\\0' '\\n' <'/proc/$RECV_PID/environ' | grep -q ASYLINK_PASSPHRASE"
check "... while a child of the test still has it (the check can see it)" \
  bash -c "ASYLINK_PASSPHRASE=$secret sleep 5 & p=\$!; sleep 0.3; tr '\\0' '\\n' </proc/\$p/environ | grep -q -- '$secret'; r=\$?; kill \$p; exit \$r"
kill -TERM "$RECV_PID" 2>/dev/null
wait_pid "$RECV_PID" 10
stop_broker

summary
