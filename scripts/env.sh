# Sourced by the scripts: where the project's build tools live, first on PATH.
export MQCAM_TOOLS="${MQCAM_TOOLS:-$HOME/.cache/mqcam/tools}"
export PATH="$MQCAM_TOOLS/bin:$MQCAM_TOOLS/npm/node_modules/.bin:$PATH"
