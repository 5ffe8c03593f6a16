# Sourced by the scripts: one build directory outside the clone, shared by the
# shell, the scripts and CI, so warm runs reuse the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder/target}"
# Mesa's loader warns on every start when this is unset (headless servers, CI).
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d /tmp/cinder-xdg.XXXXXX)"
  export XDG_RUNTIME_DIR
fi
