#!/usr/bin/env bash
# The cluster manager's part (contrib/), checked offline:
#   - contrib/pacemaker/cib.xml passes crm_verify; crm_simulate places the
#     broker group on the Promoted DRBD node in the right order, and on a
#     node failure fences that node and moves everything to the other one;
#     without fence devices crm_verify refuses the configuration;
#   - the OCF agent's meta-data, validation and monitor (against real
#     brokers, active and standby; systemd itself does not run here, so a
#     stand-in answers `systemctl is-active`);
#   - contrib/asylinkd-healthz against an active broker, a standby and a
#     dead port;
#   - contrib/keepalived/keepalived.conf passes `keepalived -t`, a broken
#     copy does not, and check_asylinkd fails only where the address is held
#     and the broker is not healthy.
source "$(dirname "$0")/lib.sh"
lib_init "$@"
for tool in crm_verify crm_simulate crm_attribute keepalived curl ip; do
  command -v "$tool" >/dev/null ||
    { echo "$tool is needed (scripts/test.sh installs pacemaker-cli-utils, keepalived, curl)"; exit 1; }
done
CONTRIB="$SOURCE_ROOT/contrib"

# ---- Pacemaker ----
cp "$CONTRIB/pacemaker/cib.xml" "$T/cib.xml"
crm_verify --xml-file "$T/cib.xml" -V >"$T/verify.out" 2>&1
check_eq "crm_verify finds no error in cib.xml (only the missing live status)" \
  "$(grep -ci 'error' "$T/verify.out")" 0
check "cib.xml requires fencing (stonith-enabled=true)" \
  grep -q 'name="stonith-enabled" value="true"' "$T/cib.xml"

# Both nodes up with quorum: the configuration verifies without any warning.
crm_simulate --xml-file "$T/cib.xml" --quorum true --node-up broker-a --node-up broker-b \
  --simulate --save-output "$T/up.xml" >"$T/up.out" 2>&1
check "crm_simulate brings both nodes up" grep -q 'Online: \[ broker-a broker-b \]' "$T/up.out"
crm_verify --xml-file "$T/up.xml" -V >"$T/verify-up.out" 2>&1
check_eq "crm_verify: the running configuration is valid (exit 0)" "$?" 0
check_eq "  without warnings" "$(wc -l <"$T/verify-up.out" | tr -d ' ')" 0
check "each fence device runs on the other node" \
  grep -qE 'fence-broker-a.*Started broker-b' "$T/up.out"

# DRBD's agent reports both disks UpToDate (promotion score): one is promoted
# and the broker group starts there, in order.
for n in broker-a broker-b; do
  CIB_file="$T/up.xml" crm_attribute --node "$n" --name master-drbd-asylink --update 10000 \
    --lifetime reboot
done
crm_simulate --xml-file "$T/up.xml" --simulate --save-output "$T/promoted.xml" >"$T/promoted.out" 2>&1
promoted=$(sed -n 's/.*Promoted: \[ \(broker-[ab]\) \].*/\1/p' "$T/promoted.out" | tail -n 1)
check "one DRBD instance is promoted" test -n "$promoted"
for r in asylink-fs asylink-ip asylinkd; do
  check "$r runs on the Promoted node ($promoted)" \
    grep -qE "$r[[:space:]].*Started $promoted" "$T/promoted.out"
done
order=$(sed -n '/Executing Cluster Transition/,/Revised Cluster Status/p' "$T/promoted.out" |
  grep -nE 'drbd-asylink +promote on|asylink-fs +start on|asylink-ip +start on|asylinkd +start on' |
  sed -E 's/:.*(drbd-asylink|asylink-fs|asylink-ip|asylinkd) .*/ \1/' | awk '{print $2}' | tr '\n' ' ')
check_eq "order: promote DRBD, mount, address, broker" "$order" "drbd-asylink asylink-fs asylink-ip asylinkd "

# The promoted node fails: it is fenced, the other one promoted, the group moved.
other=broker-a
[[ $promoted == broker-a ]] && other=broker-b
crm_simulate --xml-file "$T/promoted.xml" --node-fail "$promoted" --simulate >"$T/fail.out" 2>&1
check "the failed node is fenced first" grep -qE "Fence \(reboot\) $promoted" "$T/fail.out"
check "DRBD is promoted on the other node" \
  grep -qE "Promote +drbd-asylink:[01] +\( Unpromoted -> Promoted $other \)" "$T/fail.out"
for r in asylink-fs asylink-ip asylinkd; do
  check "$r moves to $other" grep -qE "Move +$r +\( +$promoted -> $other +\)" "$T/fail.out"
done

# Without fence devices the cluster refuses to start anything.
python3 - "$T/cib.xml" "$T/nofence.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
tree = ET.parse(sys.argv[1])
res = tree.getroot().find("configuration/resources")
for p in list(res):
    if p.get("class") == "stonith":
        res.remove(p)
cons = tree.getroot().find("configuration/constraints")
for c in list(cons):
    if c.get("rsc", "").startswith("fence-"):
        cons.remove(c)
tree.write(sys.argv[2])
EOF
crm_verify --xml-file "$T/nofence.xml" -V >"$T/nofence.out" 2>&1
check "without fence devices crm_verify fails" test $? -ne 0
check "  naming STONITH" grep -qi 'stonith' "$T/nofence.out"

# ---- the OCF agent and the /healthz check, against real brokers ----
AGENT="$CONTRIB/pacemaker/asylinkd"
HEALTHZ="$CONTRIB/asylinkd-healthz"
"$AGENT" meta-data >"$T/meta.xml"
check "agent meta-data is well-formed XML" python3 -c \
  'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' "$T/meta.xml"
for a in start stop monitor meta-data validate-all; do
  check "  and declares $a" grep -q "<action name=\"$a\"" "$T/meta.xml"
done
OCF_RESKEY_healthz=/nonexistent "$AGENT" validate-all
check_eq "validate-all without the check program: not installed (5)" "$?" 5
OCF_RESKEY_healthz="$HEALTHZ" OCF_RESKEY_healthz_url=ftp://x "$AGENT" validate-all
check_eq "validate-all with a bad URL: bad argument (2)" "$?" 2
OCF_RESKEY_healthz="$HEALTHZ" "$AGENT" validate-all
check_eq "validate-all with the check program: success (0)" "$?" 0

make_federation || exit 1
write_broker_ini
HA=$(free_port)
HB=$(free_port)
sed -e "s|^listen =.*|listen = 127.0.0.1:$HA|" "$CONF" >"$T/A.ini"
sed -e "s|^listen =.*|listen = 127.0.0.1:$HB|" "$CONF" >"$T/B.ini"
start_broker "$T/A.ini" || exit 1
"$ASYLINKD" --config "$T/B.ini" --standby >"$T/B.out" 2>"$T/B.err" </dev/null &
PIDS+=("$!")
wait_for "$T/B.out" 'standing by' 10 || { show "$T/B.err"; exit 1; }
DEAD=$(free_port)
i=0
until [[ $("$HEALTHZ" "http://127.0.0.1:$HA/healthz") == ok || $i -ge 50 ]]; do
  sleep 0.1
  i=$((i + 1))
done

"$HEALTHZ" "http://127.0.0.1:$HA/healthz" >"$T/h.out"
check_eq "asylinkd-healthz: the active broker is ok (0)" "$?:$(cat "$T/h.out")" "0:ok"
"$HEALTHZ" "http://127.0.0.1:$HB/healthz" >"$T/h.out"
check_eq "asylinkd-healthz: the standby says standby (1)" "$?:$(cat "$T/h.out")" "1:standby"
"$HEALTHZ" "http://127.0.0.1:$DEAD/healthz" >/dev/null
check_eq "asylinkd-healthz: nothing listening (3)" "$?" 3

# systemd does not run here: a stand-in answers `systemctl is-active` from a file.
mkdir -p "$T/bin"
cat >"$T/bin/systemctl" <<EOF
#!/bin/sh
[ "\$1" = is-active ] && exec test -f "$T/unit-active"
exit 1
EOF
chmod 755 "$T/bin/systemctl"
agent_monitor() { # agent_monitor HTTP_PORT: the agent's monitor exit code
  PATH="$T/bin:$PATH" OCF_RESKEY_healthz="$HEALTHZ" \
    OCF_RESKEY_healthz_url="http://127.0.0.1:$1/healthz" "$AGENT" monitor
  echo $?
}
touch "$T/unit-active"
check_eq "agent monitor: unit active, /healthz ok: running (0)" "$(agent_monitor "$HA")" 0
check_eq "agent monitor: unit active but standing by: failed (1)" "$(agent_monitor "$HB")" 1
check_eq "agent monitor: unit active, no answer: failed (1)" "$(agent_monitor "$DEAD")" 1
rm "$T/unit-active"
check_eq "agent monitor: unit inactive: not running (7)" "$(agent_monitor "$HA")" 7

# ---- keepalived ----
KA="$CONTRIB/keepalived"
sed -e "s|/usr/lib/asylink/|$KA/|g" -e "s|script_user asylink-check|script_user $(id -un)|" \
  "$KA/keepalived.conf" >"$T/keepalived.conf"
keepalived --config-test -f "$T/keepalived.conf" -l >"$T/ka.out" 2>&1
check_eq "keepalived -t accepts keepalived.conf" "$?" 0
sed -e 's/virtual_router_id 74/virtual_router_id 300/' "$T/keepalived.conf" >"$T/ka-bad.conf"
keepalived --config-test -f "$T/ka-bad.conf" -l >"$T/ka-bad.out" 2>&1
check "keepalived -t refuses a broken copy" test $? -ne 0
check "the notify script refuses an unknown state" bash -c "! '$KA/asylink-notify' bogus 2>/dev/null"

ka_check() { # ka_check HTTP_PORT VIP: check_asylinkd's exit code
  ASYLINK_HEALTHZ="$HEALTHZ" ASYLINK_STARTING_FILE="$T/starting" \
    "$KA/check_asylinkd" "http://127.0.0.1:$1/healthz" "$2"
  echo $?
}
check_eq "check_asylinkd: address not held here: nothing to check (0)" "$(ka_check "$DEAD" 192.0.2.10)" 0
check_eq "check_asylinkd: address held, broker ok (0)" "$(ka_check "$HA" 127.0.0.1)" 0
check_eq "check_asylinkd: address held, broker standing by: fault (1)" "$(ka_check "$HB" 127.0.0.1)" 1
check_eq "check_asylinkd: address held, no broker: fault (1)" "$(ka_check "$DEAD" 127.0.0.1)" 1
touch "$T/starting"
check_eq "check_asylinkd: while asylink-notify starts the broker: wait (0)" "$(ka_check "$DEAD" 127.0.0.1)" 0
summary
