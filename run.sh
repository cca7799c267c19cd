#!/usr/bin/env bash
# Installs what is missing, builds, and starts the edge with its embedded broker and the
# viewer site. Options go to the edge (./run.sh --help lists them), e.g.
#   ./run.sh --size 1280x720 --fps 30
set -euo pipefail
cd "$(dirname "$0")"
MQCAM_NO_BROWSER=${MQCAM_NO_BROWSER:-1} scripts/setup.sh
scripts/build.sh
exec target/release/edge "$@"
