#!/usr/bin/env bash
# A loopback-only Docker engine for the lab, and putting the host back as it was after it.
#
#   images/engine.sh start    start dockerd (no-op when ours already runs)
#   images/engine.sh stop     stop it, then revert what it changed on the host
#   images/engine.sh status   exit 0 when ours answers
#   images/engine.sh run CMD  run CMD with DOCKER_HOST set, starting the engine first when it
#                             is not running and stopping it (host reverted) after CMD if so
#   images/engine.sh env      the DOCKER_HOST line for a shell: eval "$(images/engine.sh env)"
#
# Its own socket (DOCKER_HOST below), so nothing that looks for the system engine, such as the
# tests' automatic topology choice, finds this one by accident; its own data root, so images
# stay cached between runs. `--ip=127.0.0.1` publishes ports on loopback only. dockerd turns on
# ip_forward, sets the FORWARD policy to DROP and adds iptables chains and bridges: `start`
# records the host's state first and `stop` restores it.
set -euo pipefail

RUN_DIR=${SWITCHYARD_DOCKER_RUN:-/run/switchyard-docker}
DATA_DIR=${SWITCHYARD_DOCKER_DATA:-/var/lib/switchyard-docker}
SOCKET="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
SAVED="$RUN_DIR/host-before"
export DOCKER_HOST="unix://$SOCKET"

running_pid() {
  [ -s "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

bridges() { ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | sort; }

# iptables rules without counters, for comparing before and after.
rules() { { iptables -S; iptables -t nat -S; } 2>/dev/null; }

start() {
  if running_pid >/dev/null; then
    answers && return 0
  fi
  mkdir -p "$RUN_DIR" "$DATA_DIR"
  chmod 0700 "$RUN_DIR"
  if [ ! -d "$SAVED" ]; then  # a crashed earlier run keeps its (true) record
    mkdir -p "$SAVED"
    sysctl -n net.ipv4.ip_forward >"$SAVED/ip_forward"
    iptables -S FORWARD | awk '$1 == "-P" {print $3}' >"$SAVED/forward_policy"
    bridges >"$SAVED/bridges"
    rules >"$SAVED/rules"
  fi
  dockerd --host "$DOCKER_HOST" --data-root "$DATA_DIR" --exec-root "$RUN_DIR/exec" \
    --pidfile "$PIDFILE" --ip 127.0.0.1 --log-level warn >>"$RUN_DIR/dockerd.log" 2>&1 &
  for _ in $(seq 1 150); do
    if answers; then
      echo "dockerd $(running_pid) answers on $DOCKER_HOST"
      return 0
    fi
    sleep 0.2
  done
  echo "dockerd did not answer within 30 s; its log:" >&2
  tail -n 30 "$RUN_DIR/dockerd.log" >&2
  stop
  return 1
}

remove_docker_rules() {
  local table line chain
  for table in filter nat; do
    # Rules first (they reference the chains), then the chains themselves.
    iptables -t "$table" -S 2>/dev/null | grep -E '^-A .*(DOCKER|docker0|br-[0-9a-f]{12})' |
      while read -r line; do
        # shellcheck disable=SC2086  # the rule's words, as iptables printed them
        iptables -t "$table" -D ${line#-A } 2>/dev/null || true
      done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

stop() {
  local pid
  if pid=$(running_pid); then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      [ -d "/proc/$pid" ] || break
      sleep 0.2
    done
    if [ -d "/proc/$pid" ]; then
      echo "dockerd $pid ignored SIGTERM for 20 s: SIGKILL" >&2
      kill -KILL "$pid"
    fi
  fi
  [ -d "$SAVED" ] || return 0
  remove_docker_rules
  iptables -P FORWARD "$(cat "$SAVED/forward_policy")"
  sysctl -q -w "net.ipv4.ip_forward=$(cat "$SAVED/ip_forward")"
  for bridge in $(comm -13 "$SAVED/bridges" <(bridges)); do
    case "$bridge" in docker0 | br-*) ip link delete "$bridge" ;; esac
  done
  if ! diff <(cat "$SAVED/rules") <(rules) >"$RUN_DIR/rules.diff" ||
    [ "$(sysctl -n net.ipv4.ip_forward)" != "$(cat "$SAVED/ip_forward")" ] ||
    [ -n "$(comm -13 "$SAVED/bridges" <(bridges))" ]; then
    echo "the host is NOT as before the engine started:" >&2
    cat "$RUN_DIR/rules.diff" >&2
    return 1
  fi
  rm -rf "$SAVED"
  echo "dockerd stopped; ip_forward, iptables and bridges are as before it started"
}

run() {
  if running_pid >/dev/null && answers; then
    "$@"
    return
  fi
  start
  local status=0
  "$@" || status=$?
  stop || status=$((status ? status : 1))
  return "$status"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running_pid >/dev/null && answers ;;
  run) shift; run "$@" ;;
  env) echo "export DOCKER_HOST=$DOCKER_HOST" ;;
  *) echo "usage: $0 start|stop|status|env|run CMD..." >&2; exit 2 ;;
esac
