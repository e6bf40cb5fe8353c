#!/usr/bin/env bash
# Smoke test of the frozen app that packaging/build_frozen.sh builds.
#
#   packaging/smoke_frozen.sh DIST_DIR     # DIST_DIR holds the frozen `jaga` (.cache/frozen/dist/jaga)
#
# Runs the frozen `jaga` as a device would, in an empty temporary folder and an environment
# holding nothing of this shell's (no venv, no PYTHONPATH, no repository on any path):
#   1. --help;
#   2. `store init` + `store info`: SQLCipher through the bundled sqlcipher3;
#   3. `models verify`: the bundled manifest (assets/) against the installed pack;
#   4. `catch PHOTO --json` with the installed model pack (the bundled ONNX Runtime and
#      OpenCV), its JSON checked and the record found in the store;
#   5. the Qt app offscreen, its metrics endpoint polled until the window's store and species
#      classifier answer, then stopped with SIGTERM as systemd stops the kiosk: status 0;
#   6. where Xvfb is installed, the app again on X11 (Qt's xcb plugin), quitting by itself
#      ($JAGA_APP_QUIT_AFTER_S, a hook for this script) with status 0.
# Each step prints its wall time; any failure prints why and exits 1.
#
# Needs: an installed model pack in $JAGA_MODELS_DIR (default .cache/models; `jaga models
# install`), a fish photo in $JAGA_SMOKE_PHOTO (default one of ../shared/data/fish/f4k), and a
# python3 for the checks ($PYTHON), which reads JSON and HTTP: the frozen app never uses it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "${1:?usage: packaging/smoke_frozen.sh DIST_DIR}" && pwd)
jaga="$dist/jaga"
models=${JAGA_MODELS_DIR:-$repo/.cache/models}
photo=${JAGA_SMOKE_PHOTO:-$repo/../shared/data/fish/f4k/fish_01/fish_000002819598_05334.png}
checker=${PYTHON:-python3}
# The longest the window may take to open its store (scrypt) and load the classifier: ~4 s on
# an idle 2-core machine, over 10 s under load. The step ends as soon as both are up.
app_wait_s=${JAGA_SMOKE_APP_S:-90}
step_limit_s=300                    # no step of a working build comes near it

fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
[ -x "$jaga" ] || fail "no frozen jaga in $dist (run packaging/build_frozen.sh)"
[ -d "$models/fish-default" ] || fail "no model pack in $models (jaga models install)"
[ -f "$photo" ] || fail "no photo at $photo (set JAGA_SMOKE_PHOTO)"

work=$(mktemp -d)
xvfb=""
app=""
cleanup() {
  if [ -n "$app" ] && kill -TERM "$app" 2>/dev/null; then # a failed step's app: not left running
    wait "$app" 2>/dev/null || true
  fi
  if [ -n "$xvfb" ]; then
    kill "$xvfb" 2>/dev/null || true
    wait "$xvfb" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -m 0700 "$work/home" "$work/run"
store=(--db "$work/store/jaga.db" --key-file "$work/store.key")

# The frozen jaga in a clean environment, killed after $limit seconds (default $step_limit_s);
# NAME=VALUE words may precede the command, and override these.
clean_env=(env -i PATH=/usr/bin:/bin HOME="$work/home" XDG_RUNTIME_DIR="$work/run" LANG=C.UTF-8
  JAGA_MODELS_DIR="$models" QT_QPA_PLATFORM=offscreen)
frozen() {
  (cd "$work" && timeout "${limit:-$step_limit_s}" "${clean_env[@]}" "$@")
}
# A frozen CLI command whose output goes to $work/NAME.out and .err, shown if it fails.
run_cli() {
  local name=$1
  shift
  frozen "$jaga" "$@" >"$work/$name.out" 2>"$work/$name.err" ||
    fail "jaga $1 exited $?: $(tail -5 "$work/$name.err")"
}

started_ms=0
now_ms() { echo $(($(date +%s%N) / 1000000)); }
begin() { started_ms=$(now_ms); printf '== %s\n' "$*"; }
done_step() {
  local ms=$(($(now_ms) - started_ms))
  printf '   ok (%d.%03d s)\n' $((ms / 1000)) $((ms % 1000))
}

begin "jaga --help"
run_cli help --help
grep -q '^usage: jaga' "$work/help.out" || fail "jaga --help printed no usage"
done_step

begin "jaga store init + store info (SQLCipher)"
run_cli init store init "${store[@]}" --create-key-file
run_cli info store info "${store[@]}"
grep -Eq '^integrity +ok' "$work/info.out" || fail "store info: $(cat "$work/info.out")"
grep -Eq '^key +key_file' "$work/info.out" || fail "store info does not show the key file"
done_step

begin "jaga models verify (the bundled manifest against the installed pack)"
run_cli verify models verify
grep -q '^all models verified' "$work/verify.out" || fail "models verify: $(cat "$work/verify.out")"
done_step

begin "jaga catch PHOTO --json (ONNX Runtime, OpenCV, the model pack)"
run_cli catch catch "$photo" --officer smoke "${store[@]}" --json
"$checker" - "$work/catch.out" <<'PY' || fail "catch JSON: $(cat "$work/catch.out")"
import json, sys

with open(sys.argv[1], encoding="utf-8") as file:
    record = json.load(file)
assert record["status"] in {"identified", "unknown", "no_fish"}, record["status"]
assert record["observation_uid"] and record["photo_uid"], "no uids"
assert record["pack_name"] and record["pack_version"], "no species pack named"
assert record["media_type"] == "image/png" and record["photo_bytes"] > 0, "photo not kept"
if record["status"] != "no_fish":
    probabilities = [candidate["probability"] for candidate in record["top_k"]]
    assert probabilities, "no candidates"
    assert all(0.0 <= p <= 1.0 for p in probabilities), probabilities
    assert probabilities == sorted(probabilities, reverse=True), probabilities
print(f"   {record['status']}: {record['species']} ({record['confidence']:.3f}),"
      f" pack {record['pack_name']} {record['pack_version']}")
PY
run_cli recorded store info "${store[@]}"
grep -Eq '^fish +1 observations' "$work/recorded.out" || fail "the catch was not recorded"
done_step

begin "jaga app offscreen until /metrics shows its store and classifier, then SIGTERM (Qt, metrics)"
port=$("$checker" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# As `frozen` runs it, but `exec`: $! is then timeout's pid (not a subshell's), and timeout
# passes the SIGTERM below on to the app.
(cd "$work" && exec timeout "$step_limit_s" "${clean_env[@]}" JAGA_METRICS_PORT="$port" \
  "$jaga" app "${store[@]}") >"$work/app.log" 2>&1 &
app=$!
"$checker" - "$port" "$app_wait_s" <<'PY' || { cat "$work/app.log" >&2; fail "app metrics"; }
import sys, time, urllib.request

port, seconds = int(sys.argv[1]), float(sys.argv[2])
store_up = "jaga_sync_store_up 1.0"  # the window's store, read for the scrape
classifier = "jaga_species_classifier_info{"  # the species classifier, once loaded
deadline, lines = time.monotonic() + seconds, []
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            lines = answer.read().decode().splitlines()
    except OSError:
        pass
    loaded = [line for line in lines if line.startswith(classifier) and line.endswith(" 1.0")]
    if store_up in lines and loaded:
        print(f"   /metrics: store up, {loaded[0]}")
        sys.exit(0)
    time.sleep(0.25)
sys.exit(f"no store_up and classifier in /metrics within {seconds} s: {lines[-20:]}")
PY
# The app's SIGTERM handler quits it as closing its window does (desktop/app.py): the store
# closed, status 0. Left unhandled, SIGTERM would end it with a nonzero status.
kill -TERM "$app" 2>/dev/null || true # gone already: its status says why
status=0
wait "$app" || status=$?
app=""
[ "$status" -eq 0 ] || { cat "$work/app.log" >&2; fail "the app exited $status on SIGTERM (124: it never quit)"; }
grep -q 'SIGTERM: quitting' "$work/app.log" || fail "the app's SIGTERM handler did not run"
grep -q 'shutting down' "$work/app.log" || fail "the app quit without its shutdown"
if grep -q 'Traceback' "$work/app.log"; then cat "$work/app.log" >&2; fail "the app logged a traceback"; fi
done_step

if command -v Xvfb >/dev/null; then
  begin "jaga app on X11 (Qt's xcb plugin, under Xvfb), quits by itself"
  Xvfb -displayfd 3 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
  xvfb=$!
  for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
  [ -s "$work/display" ] || fail "Xvfb did not start: $(tail -5 "$work/xvfb.log")"
  status=0
  limit=60 frozen QT_QPA_PLATFORM=xcb DISPLAY=":$(cat "$work/display")" JAGA_APP_QUIT_AFTER_S=2 \
    "$jaga" app "${store[@]}" >"$work/x11.log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { cat "$work/x11.log" >&2; fail "the app on X11 exited $status"; }
  done_step
else
  echo "== jaga app on X11: skipped (no Xvfb here)"
fi

echo "smoke: all steps passed ($dist)"
