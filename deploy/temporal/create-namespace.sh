#!/bin/sh
# Registers the namespace Roster uses (the server image, unlike auto-setup, creates none).
# Idempotent: an existing namespace is left as it is.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${NAMESPACE_RETENTION:=168h}"

# Dial the IPv4 address: the server binds 0.0.0.0, and a name that resolves to IPv6 first would
# never connect (upstream's compose does the same).
host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}
ip=$(getent ahostsv4 "$host" 2>/dev/null | awk 'NR == 1 { print $1 }' || true)
address=${ip:+$ip:$port}
address=${address:-$TEMPORAL_ADDRESS}

attempt=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE: exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION" --address "$address" ||
    # A concurrent run may have created it between describe and create.
    temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" >/dev/null
  echo "namespace $NAMESPACE: created"
fi
