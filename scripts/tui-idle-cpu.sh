#!/usr/bin/env bash
# CPU used by the operator's terminal UI when nothing happens on the line, over 60 s.
#
# Starts `benchctl run --sim 1 --operator op --time-scale 0` in a detached 100x30 tmux pane
# (its own tmux server and data directory), waits until the line is idle, then reads the
# process's utime + stime from /proc/PID/stat before and after SECONDS (60 by default) and
# prints the CPU used as a percentage of one core, with the busiest threads.
#
# "Idle": a phone library cannot be empty, so a simulated line always has a phone to test. In
# the default mode, `waiting`, the one phone has been measured (time scale 0) and waits for
# the operator's answer to its first prompt, which nobody gives: no phone flows, the UI only
# ticks and the run only checks on the jig. The simulated jig runs inside the same process
# (`--sim`), so its polling is counted too. Mode `signin` measures the sign-in screen instead
# (nobody signed in: the line has not started, the simulated jig idles with an empty slot).
#
# Usage: scripts/tui-idle-cpu.sh [waiting|signin] [SECONDS]
# The binary is target/release/benchctl (built when missing), or $BENCHCTL. Needs tmux.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-waiting}
span=${2:-60}
bin=${BENCHCTL:-target/release/benchctl}
case "$mode" in
  waiting) operator=(--operator op); ready="Waiting for you (1)" ;;
  signin) operator=(); ready="Operator ID:" ;;
  *) echo "usage: $0 [waiting|signin] [SECONDS]" >&2; exit 2 ;;
esac
command -v tmux >/dev/null || { echo "$0 needs tmux (apt-get install tmux)" >&2; exit 2; }
[ -x "$bin" ] || cargo build --release --locked -p benchctl --bin benchctl

data=$(mktemp -d)
sock="benchctl-idle-$$"
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

tmux -u -f /dev/null -L "$sock" new-session -d -s idle -x 100 -y 30 \
  env RUST_LOG=info "$bin" run --sim 1 "${operator[@]}" --time-scale 0 --data "$data"

# Wait (at most 60 s) for the screen that means idle.
deadline=$((SECONDS + 60))
until tmux -L "$sock" capture-pane -p -t idle | grep -qF "$ready"; do
  if ((SECONDS >= deadline)); then
    echo "the UI did not show '$ready' within 60 s:" >&2
    tmux -L "$sock" capture-pane -p -t idle >&2
    exit 1
  fi
  sleep 0.1
done
pid=$(tmux -L "$sock" display -p -t idle '#{pane_pid}')

# utime + stime in clock ticks (fields 14 and 15; the name in parentheses is cut off first).
ticks() { sed 's/^.*) //' "$1" | awk '{print $12 + $13}'; }
declare -A before
for t in /proc/"$pid"/task/*; do before[$t]=$(ticks "$t/stat" 2>/dev/null || echo 0); done
start_ticks=$(ticks /proc/"$pid"/stat)
start_ns=$(date +%s%N)
sleep "$span"
end_ticks=$(ticks /proc/"$pid"/stat)
end_ns=$(date +%s%N)

hz=$(getconf CLK_TCK)
awk -v t="$((end_ticks - start_ticks))" -v hz="$hz" -v ns="$((end_ns - start_ns))" -v mode="$mode" -v pid="$pid" '
  BEGIN {
    cpu = t / hz; wall = ns / 1e9
    printf "benchctl (pid %d), mode %s: %.2f s of CPU in %.1f s = %.2f %% of one core\n", pid, mode, cpu, wall, 100 * cpu / wall
  }'
echo "busiest threads (CPU s over the span):"
for t in /proc/"$pid"/task/*; do
  [ -r "$t/stat" ] || continue
  now=$(ticks "$t/stat")
  printf '%8.2f  %s\n' "$(awk -v d="$((now - ${before[$t]:-0}))" -v hz="$hz" 'BEGIN{print d / hz}')" "$(cat "$t/comm")"
done | sort -rn | head -5
