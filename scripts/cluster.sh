#!/usr/bin/env bash
# A fresh two-node RabbitMQ cluster on loopback, with MQTT and MQTT-over-WebSocket on each
# node: what the cluster tests and the benchmark run against. Nothing of the system's
# RabbitMQ service is used or touched; everything lives in DIR.
#
#   scripts/cluster.sh start DIR        start nodes a and b, join them; prints (and writes to
#                                       DIR/ports) MQTT_A, WS_A, MQTT_B, WS_B
#   scripts/cluster.sh users DIR PREFIX EDGE_USER:PASS VIEWER_USER:PASS
#                                       logins with the permissions docs/cluster.md describes:
#                                       the edge's login writes and reads below PREFIX;
#                                       the viewer's reads frames, previews, status, alarms,
#                                       detections, the directory and its own clock
#                                       replies, and writes only acks, clock requests,
#                                       watch messages and directory requests
#   scripts/cluster.sh kill DIR a|b     kill one node at once (as a crash would)
#   scripts/cluster.sh restart DIR a|b  start a killed node again; it rejoins by itself
#   scripts/cluster.sh ctl DIR a|b ARGS rabbitmqctl against a node
#   scripts/cluster.sh stop DIR         stop both nodes (kills what does not stop in 20 s)
#
# Ports: CLUSTER_PORT (default: a free block above 20000) + 0..3 for node a (AMQP, Erlang
# distribution, MQTT, WebSocket) and + 10..13 for node b. Facts this relies on (RabbitMQ
# 3.10, Debian 12): the /usr/sbin wrappers switch user, so the server runs from
# /usr/lib/rabbitmq/bin; HOME holds the Erlang cookie and must be the same for rabbitmqctl;
# `rabbitmqctl stop` against a dead node can hang for minutes, so every call has a timeout.
set -euo pipefail

RMQ=/usr/lib/rabbitmq/bin
die() { echo "cluster.sh: $*" >&2; exit 1; }
[ -x "$RMQ/rabbitmq-server" ] || die "RabbitMQ is not installed (scripts/setup.sh installs rabbitmq-server)"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: cluster.sh start|users|kill|restart|ctl|stop DIR …"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

free_block() {
  for _ in $(seq 50); do
    local base=$((20000 + RANDOM % 20000))
    if python3 - "$base" <<'EOF'
import socket, sys
base = int(sys.argv[1])
for p in [base + i for i in (0, 1, 2, 3, 10, 11, 12, 13)]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
    then echo "$base"; return; fi
  done
  die "no free block of ports found"
}

node_env() { # node: exports what rabbitmq-server and rabbitmqctl need for it
  local n=$1 base off
  base=$(cat "$dir/base")
  off=0; [ "$n" = b ] && off=10
  export HOME="$dir/home" ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_NODENAME="$(cat "$dir/name")-$n@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$((base + off))
  export RABBITMQ_DIST_PORT=$((base + off + 1))
  export RABBITMQ_MNESIA_BASE="$dir/$n/mnesia" RABBITMQ_LOG_BASE="$dir/$n/log"
  export RABBITMQ_CONFIG_FILE="$dir/$n/rabbitmq" RABBITMQ_PID_FILE="$dir/$n/pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/plugins"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  MQTT_PORT=$((base + off + 2)); WS_PORT=$((base + off + 3))
}

ctl() { # node args…
  local n=$1; shift
  (node_env "$n"; timeout "${CTL_TIMEOUT:-60}" "$RMQ/rabbitmqctl" -q -n "$RABBITMQ_NODENAME" "$@")
}

alive() { # node
  [ -s "$dir/$1/pid" ] && kill -0 "$(cat "$dir/$1/pid")" 2>/dev/null
}

start_node() { # node
  local n=$1
  (
    node_env "$n"
    mkdir -p "$dir/$n/log" "$dir/$n/mnesia"
    cat >"$dir/$n/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$RABBITMQ_NODE_PORT
loopback_users.guest = false
mqtt.listeners.tcp.default = 127.0.0.1:$MQTT_PORT
mqtt.allow_anonymous = false
web_mqtt.tcp.ip = 127.0.0.1
web_mqtt.tcp.port = $WS_PORT
web_mqtt.ws_path = /ws
web_mqtt.ws_opts.compress = false
EOF
    setsid "$RMQ/rabbitmq-server" >"$dir/$n/server.out" 2>&1 < /dev/null &
    for _ in $(seq 100); do
      [ -s "$RABBITMQ_PID_FILE" ] && break
      sleep 0.2
    done
  )
  ctl "$n" wait --timeout 120 "$dir/$n/pid" >/dev/null \
    || die "node $n did not start; its log: $dir/$n/log (server output: $(tail -5 "$dir/$n/server.out"))"
}

case $cmd in
start)
  [ -e "$dir/base" ] && alive a && die "a cluster already runs in $dir"
  rm -rf "${dir:?}"/{a,b,home}
  mkdir -p "$dir/home"
  echo "${CLUSTER_PORT:-$(free_block)}" >"$dir/base"
  echo "mqcam$$" >"$dir/name"
  # One cookie for both nodes and rabbitmqctl (Erlang reads it from HOME).
  python3 -c 'import secrets; print(secrets.token_hex(16))' >"$dir/home/.erlang.cookie"
  chmod 400 "$dir/home/.erlang.cookie"
  echo '[rabbitmq_mqtt,rabbitmq_web_mqtt].' >"$dir/plugins"
  start_node a
  start_node b
  ctl b stop_app
  ctl b join_cluster "$(cat "$dir/name")-a@localhost"
  ctl b start_app
  { node_env a; echo "MQTT_A=$MQTT_PORT"; echo "WS_A=$WS_PORT"
    node_env b; echo "MQTT_B=$MQTT_PORT"; echo "WS_B=$WS_PORT"; } >"$dir/ports"
  cat "$dir/ports"
  ;;
users)
  prefix=${3:?PREFIX}; edge=${4:?EDGE_USER:PASS}; viewer=${5:?VIEWER_USER:PASS}
  # Inside RabbitMQ a topic's `/` is `.` and a filter's `+` is `*`: the patterns below
  # match routing keys. Subscribing is checked as reading the filter's key.
  p=$(printf '%s' "$prefix" | sed 's/[.[\*^$()+?{|]/\\&/g; s#/#\\.#g')
  cam='[^._*#][^.*#]*'
  for login in "$edge" "$viewer"; do
    user=${login%%:*}; pass=${login#*:}
    ctl a delete_user "$user" >/dev/null 2>&1 || true
    ctl a add_user "$user" "$pass" >/dev/null
  done
  edge_user=${edge%%:*}; viewer_user=${viewer%%:*}
  # AMQP resources: each MQTT connection declares its own subscription queue and
  # publishes to and binds on amq.topic.
  for user in "$edge_user" "$viewer_user"; do
    ctl a set_permissions -p / "$user" '^mqtt-subscription-.*' \
      '^(mqtt-subscription-.*|amq\.topic)$' '^(mqtt-subscription-.*|amq\.topic)$' >/dev/null
  done
  ctl a set_topic_permissions -p / "$edge_user" amq.topic "^$p\\." "^$p\\." >/dev/null
  ctl a set_topic_permissions -p / "$viewer_user" amq.topic \
    "^$p\\.(($cam)\\.(ack|clock\\.req|rec\\.req)\\.[^.*#]+|($cam)\\.watch|_dir\\.req\\.[^.*#]+)\$" \
    "^$p\\.((($cam)|\\*)\\.(frame|half|quarter|preview|status|alarm|detections|rec\\.state)|($cam)\\.(clock|rec)\\.res\\.[^.*#]+|_dir\\.edges\\.\\*|_dir\\.res\\.[^.*#]+)\$" >/dev/null
  ;;
kill)
  n=${3:?node}
  alive "$n" || die "node $n is not running"
  # The server's pid is the Erlang VM's; its process group holds the helpers it started.
  kill -9 -- "-$(ps -o pgid= "$(cat "$dir/$n/pid")" | tr -d ' ')" 2>/dev/null || kill -9 "$(cat "$dir/$n/pid")"
  ;;
restart)
  n=${3:?node}
  alive "$n" && die "node $n is running"
  rm -f "$dir/$n/pid"
  start_node "$n"
  ;;
ctl)
  n=${3:?node}; shift 3
  ctl "$n" "$@"
  ;;
stop)
  [ -e "$dir/base" ] || exit 0
  for n in b a; do
    if alive "$n"; then
      pid=$(cat "$dir/$n/pid")
      CTL_TIMEOUT=20 ctl "$n" stop >/dev/null 2>&1 || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 -- "-$(ps -o pgid= "$pid" 2>/dev/null | tr -d ' ')" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    fi
  done
  ;;
*)
  die "unknown command $cmd (start, users, kill, restart, ctl, stop)"
  ;;
esac
