#!/bin/sh
# One node of the docker-compose cluster (docker-compose.yml):
#   node.sh NAME PEER...
# Makes the data directory on the first run (settings from KEN_* variables),
# starts the node, publishes an ocap URL for its bootstrap vat in the shared
# /urls volume (KEN_URLS_DIR), and introduces every peer whose URL appears there. A
# SIGTERM from `docker compose stop` stops the node cleanly.
set -eu
name="$1"
shift
# The compose file mounts these; the variables let the script run outside a container too.
data="${KEN_DATA_DIR:-/data}"
urls="${KEN_URLS_DIR:-/urls}"

if [ ! -f "$data/ken-node.json" ]; then
  ken-node init --data-dir "$data"
fi
ken-node start --data-dir "$data" &
node_pid=$!
trap 'kill -TERM "$node_pid" 2>/dev/null' TERM INT

# Bounded waits: a node that does not come up within two minutes fails the container.
tries=0
until ken-node status --data-dir "$data" > /dev/null 2>&1; do
  if ! kill -0 "$node_pid" 2>/dev/null; then echo "node.sh: $name exited while starting" >&2; exit 1; fi
  tries=$((tries + 1))
  if [ "$tries" -gt 120 ]; then echo "node.sh: $name did not start" >&2; exit 1; fi
  sleep 1
done
ken-node url --data-dir "$data" > "$urls/$name.url.tmp"
mv "$urls/$name.url.tmp" "$urls/$name.url"

for peer in "$@"; do
  tries=0
  until [ -s "$urls/$peer.url" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 120 ]; then echo "node.sh: no URL from $peer" >&2; exit 1; fi
    sleep 1
  done
  # The peer may not answer yet (it is starting too): try again, a bounded number of times.
  tries=0
  until ken-node peers --data-dir "$data" --add "$peer=$(cat "$urls/$peer.url")"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 10 ]; then echo "node.sh: could not introduce $peer" >&2; exit 1; fi
    sleep 2
  done
done

# Until the node stops, with its exit code; a `wait` the trap cut short is waited again.
status=0
while :; do
  if wait "$node_pid"; then status=0; else status=$?; fi
  kill -0 "$node_pid" 2>/dev/null || break
done
exit "$status"
