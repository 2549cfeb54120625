#!/bin/sh
# One-shot set-up of the es-visual containers (docker-compose.yml's `init` service, installed
# in the image as `es-visual-init`): wait for the cluster and set the index up, then make
# sure the web UI has its first user. Safe to run again: `init` on a set-up index changes
# nothing; the user's password is set again from the environment.
#
#   ES_VISUAL_BACKEND, ES_VISUAL_URL, ...  which cluster and index (see docs/cluster.md)
#   ES_VISUAL_INIT_WAIT                   seconds to wait for the cluster (default 300)
#   UI_ADMIN_USER, UI_ADMIN_PASSWORD      the UI's first user, in group admin (8+ chars);
#                                         no password: no user is made (add one with
#                                         `docker compose run --rm ui es-visual users add NAME`)
set -eu

wait_s=${ES_VISUAL_INIT_WAIT:-300}
started=$(date +%s)
# A cluster that is still starting refuses connections or answers 503: `init` exits 1 with
# one line saying so. Anything still failing after the wait is reported and fails the service
# (so the UI and the worker, which wait for it, do not start against a broken index).
until es-visual init; do
  if [ $(( $(date +%s) - started )) -ge "$wait_s" ]; then
    echo "es-visual-init: the index could not be set up within ${wait_s}s (see above)" >&2
    exit 1
  fi
  echo "es-visual-init: retrying in 5 s" >&2
  sleep 5
done

if [ -n "${UI_ADMIN_PASSWORD:-}" ]; then
  # Through click's environment variable, so the password never appears in a process list.
  ES_VISUAL_USERS_ADD_PASSWORD=$UI_ADMIN_PASSWORD \
    es-visual users add "${UI_ADMIN_USER:-admin}" --groups admin </dev/null
else
  echo "es-visual-init: UI_ADMIN_PASSWORD is not set: no UI user was added" >&2
fi
