# shellcheck shell=bash
# Helpers shared by Rollcall's scripts (scripts/test, scripts/bench-scim). Source this file
# from a script that has already done `cd "$(dirname "$0")/.."`; it only defines functions
# and variables until rc_init is called.
#
#   rc_init                      private run directory ($RC_RUN_DIR) + cleanup on exit
#   on_exit 'COMMAND'            run COMMAND at exit (newest first)
#   start_bg LOG CMD...          start CMD in the background ($BG_PID); stopped at exit
#   stop_pid PID                 SIGTERM, then SIGKILL after a grace period
#   free_port VAR                put a free loopback port in VAR
#   wait_http URL SECS [PID]     wait until URL answers 2xx (and PID is still alive)
#   ensure_packages PKG...       apt-get install the Debian packages that are missing
#   ensure_venv PKG...           the Python venv $ROLLCALL_VENV with these PyPI packages
#   setup_cargo                  cargo on PATH, CARGO_TARGET_DIR outside the work tree

ROLLCALL_VENV="${ROLLCALL_VENV:-$HOME/.cache/rollcall-venv}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
# Run directory and cleanup

RC_CLEANUPS=()
RC_RUN_DIR=""

rc_init() {
  RC_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rollcall-run.XXXXXX")"
  : >"$RC_RUN_DIR/pids"
  trap rc_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

on_exit() {
  RC_CLEANUPS+=("$*")
}

rc_cleanup() {
  local rc=$? i pid
  set +e
  trap - INT TERM
  if [ -n "$RC_RUN_DIR" ] && [ -f "$RC_RUN_DIR/pids" ]; then
    while read -r pid; do
      [ -n "$pid" ] && stop_pid "$pid"
    done <"$RC_RUN_DIR/pids"
  fi
  for ((i = ${#RC_CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${RC_CLEANUPS[i]}"
  done
  if [ -n "$RC_RUN_DIR" ]; then
    if [ -n "${ROLLCALL_KEEP_RUN_DIR:-}" ]; then
      log "kept $RC_RUN_DIR"
    else
      rm -rf "$RC_RUN_DIR"
    fi
  fi
  exit "$rc"
}

# start_bg LOGFILE COMMAND [ARGS...]: runs COMMAND in the background, without stdin, output
# to LOGFILE; its pid is in $BG_PID and it is stopped at exit. Call it directly, never in
# $(...), so that the process stays a child of this shell.
start_bg() {
  local logfile=$1
  shift
  "$@" </dev/null >"$logfile" 2>&1 &
  BG_PID=$!
  if [ -n "$RC_RUN_DIR" ]; then
    echo "$BG_PID" >>"$RC_RUN_DIR/pids"
  fi
}

# stop_pid PID [GRACE_SECONDS]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid=$1 grace=${2:-10} i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      warn "process $pid ignored SIGTERM for ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null || true
  if [ -n "$RC_RUN_DIR" ] && [ -f "$RC_RUN_DIR/pids" ]; then
    sed -i "/^${pid}\$/d" "$RC_RUN_DIR/pids"
  fi
}

# ---------------------------------------------------------------------------------------
# Ports and HTTP

RC_PORTS_GIVEN=" "

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port VAR: a loopback port nobody listens on, below the kernel's ephemeral range
# (32768–60999) so that outgoing connections do not take it in the meantime. Ports handed
# out earlier in this run are not handed out again.
free_port() {
  local __var=$1 __port __i
  for ((__i = 0; __i < 500; __i++)); do
    __port=$((20000 + (RANDOM * 32768 + RANDOM) % 12700))
    case "$RC_PORTS_GIVEN" in *" $__port "*) continue ;; esac
    if ! port_in_use "$__port"; then
      RC_PORTS_GIVEN+="$__port "
      printf -v "$__var" '%s' "$__port"
      return 0
    fi
  done
  die "no free loopback port found"
}

# wait_http URL TIMEOUT_SECONDS [PID] [CURL_ARGS...]: waits until URL answers 2xx; fails
# at the timeout, or at once when PID (if given and not empty) has exited.
wait_http() {
  local url=$1 timeout=$2 pid=${3:-}
  shift 3 2>/dev/null || shift $#
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      warn "process $pid exited before $url answered"
      return 1
    fi
    if curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  warn "$url did not answer within ${timeout}s"
  return 1
}

# ---------------------------------------------------------------------------------------
# Debian packages

package_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# ensure_packages PKG...: installs the packages that are missing. `apt-get update` runs
# only when the package lists are empty or an install fails.
ensure_packages() {
  local missing=() p sudo=() aptlog
  for p in "$@"; do
    package_installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      die "missing Debian packages: ${missing[*]} (run as root, or install them)"
    sudo=(sudo -n)
  fi
  log "installing Debian packages: ${missing[*]}"
  aptlog="$(mktemp "${TMPDIR:-/tmp}/rollcall-apt.XXXXXX")"
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
    --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}")
  local update=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q)
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    "${update[@]}" >"$aptlog" 2>&1 || {
      cat "$aptlog" >&2
      rm -f "$aptlog"
      die "apt-get update failed"
    }
  fi
  if ! "${install[@]}" </dev/null >"$aptlog" 2>&1; then
    log "install failed; refreshing the package lists and retrying"
    if ! { "${update[@]}" && "${install[@]}"; } </dev/null >"$aptlog" 2>&1; then
      cat "$aptlog" >&2
      rm -f "$aptlog"
      die "could not install: ${missing[*]}"
    fi
  fi
  rm -f "$aptlog"
}

# ---------------------------------------------------------------------------------------
# Python venv (scim2-tester, scim2-cli, scim2-server)

venv_python() {
  # Debian's interpreter, whose venv module the python3-venv package provides.
  if [ -x /usr/bin/python3 ]; then
    echo /usr/bin/python3
  else
    command -v python3 || die "python3 not found"
  fi
}

# ensure_venv PKG...: $ROLLCALL_VENV exists, works, and has these PyPI packages. A package
# given as NAME==VERSION must be at that version (installed or replaced when it is not).
ensure_venv() {
  local venv=$ROLLCALL_VENV p name want missing=()
  if ! "$venv/bin/python" -c '' 2>/dev/null || [ ! -x "$venv/bin/pip" ]; then
    log "creating the Python venv $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$(venv_python)" -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed?)"
  fi
  for p in "$@"; do
    name=${p%%==*}
    want=""
    [ "$name" = "$p" ] || want=${p#*==}
    "$venv/bin/python" -c "import importlib.metadata as m, sys; v = m.version('$name'); sys.exit(bool('$want') and v != '$want')" 2>/dev/null ||
      missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "pip install ${missing[*]} (into $venv)"
    "$venv/bin/pip" install -q "${missing[@]}" </dev/null || die "pip install ${missing[*]} failed"
  fi
}

# pip_version PKG: the installed version of PKG in the venv.
pip_version() {
  "$ROLLCALL_VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null ||
    echo unknown
}

# ---------------------------------------------------------------------------------------
# Rust

setup_cargo() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (rustup)"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rollcall-target}"
  export CARGO_TERM_PROGRESS_WHEN=never
}

# ensure_rust_components COMPONENT...: e.g. rustfmt clippy, added with rustup when missing.
ensure_rust_components() {
  local c sub
  for c in "$@"; do
    case $c in
      rustfmt) sub=fmt ;;
      *) sub=$c ;;
    esac
    if ! cargo "$sub" --version >/dev/null 2>&1; then
      command -v rustup >/dev/null 2>&1 || die "cargo $sub is missing and rustup is not there to add $c"
      log "rustup component add $c"
      rustup component add "$c" </dev/null || die "could not add the $c component"
    fi
  done
}
