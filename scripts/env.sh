# Sourced by scripts/setup (and so by scripts/serve and scripts/test): the
# environment every build and test step shares. Safe to source repeatedly.

NEURALPAD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NEURALPAD_ROOT

# rustup, trunk and wasm-bindgen-cli live here; on a fresh machine no login
# shell has added it to PATH yet.
case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) export PATH="$HOME/.cargo/bin:$PATH" ;;
esac

# Mesa (lavapipe) warns on every Vulkan start without a private runtime dir,
# and root in CI has no login session to provide one.
if [[ -z "${XDG_RUNTIME_DIR:-}" ]]; then
  export XDG_RUNTIME_DIR="$NEURALPAD_ROOT/.tmp/xdg-runtime"
  mkdir -p "$XDG_RUNTIME_DIR"
  chmod 0700 "$XDG_RUNTIME_DIR"
fi

# Chromium leaves org.chromium.Chromium.* folders in the temp dir on every
# start; keep them inside the project (git-ignored) instead of piling up in /tmp.
export TMPDIR="$NEURALPAD_ROOT/.tmp/tmp"
mkdir -p "$TMPDIR"
