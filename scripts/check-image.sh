#!/usr/bin/env bash
# Builds the hosted demo's image from the Dockerfile with podman, runs it, and checks what the demo
# promises inside a container:
#   (a) the Dockerfile's HEALTHCHECK passes and /_stcore/health answers "ok";
#   (b) the Overview draws a Plotly chart in headless Chromium, with no exception and no request leaving
#       127.0.0.1 (screenshot: artifacts/image/overview.png);
#   (c) the server runs as a non-root user;
#   (d) the cache precomputed at build time answers the first visit: no encode or model-load step in the
#       server's step timings (DIMSCOPE_TIMINGS), no torch in the server process, no cache file written;
#   (e) a visitor's upload (a small CSV on the Corpus page, then Explore) leaves /data/cache unchanged;
# and prints the image size.
#
# NOT part of the default CI run: it needs root, podman, runc and debootstrap (installed with apt-get when
# missing), a Debian mirror and a Python package index, about 4 GB of disk, and 10+ minutes on 2 cores.
#
#   sudo bash scripts/check-image.sh
#
# Where no container registry is reachable, a stand-in for `python:3.11-slim` is made first (when the
# image is absent) from Debian bookworm's own packages with debootstrap, from the mirror that this
# machine's apt sources name. pip inside the build uses this machine's pip setup (`pip config list`): its
# settings, plus every local file or folder they name, mounted read-only. A CPU torch wheel in a local
# find-links folder is offered to the build through a one-file index (the Dockerfile's TORCH_INDEX).
#
# Environment: DIMSCOPE_IMAGE (image tag, default dimscope:check), DIMSCOPE_CHECK_PORT (host port for the
# server, default: a free one), DIMSCOPE_CHECK_ARTIFACTS (default artifacts/image), DIMSCOPE_CHROMIUM
# (default /usr/bin/chromium), DIMSCOPE_CHECK_REBUILD_BASE=1 (make the stand-in base again).
# Exits non-zero, with the failed check named, when any step or check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

IMAGE="${DIMSCOPE_IMAGE:-dimscope:check}"
BASE="docker.io/library/python:3.11-slim"
SUITE=bookworm # Debian's python3 is 3.11 in bookworm, as in python:3.11-slim
ARTIFACTS="${DIMSCOPE_CHECK_ARTIFACTS:-$ROOT/artifacts/image}"
CHROMIUM="${DIMSCOPE_CHROMIUM:-/usr/bin/chromium}"
NAME="dimscope-check-$$"
PYTHON="${PYTHON:-python3}"

say() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'check-image: FAILED: %s\n' "$*" >&2
  exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root (sudo bash scripts/check-image.sh): podman builds and runs rootful here"

say "tools"
missing=()
for tool in podman:podman runc:runc debootstrap:debootstrap; do
  command -v "${tool%%:*}" > /dev/null || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get > /dev/null || fail "install ${missing[*]} (no apt-get here)"
  echo "installing ${missing[*]} with apt-get"
  apt-get install -y --no-install-recommends "${missing[@]}" > /dev/null
fi
[ -x "$CHROMIUM" ] || fail "Chromium is missing at $CHROMIUM: apt-get install -y chromium (or set DIMSCOPE_CHROMIUM)"
"$PYTHON" -c "import playwright" 2> /dev/null || fail "the Python package playwright is missing: pip install playwright"
podman --version

WORK=$(mktemp -d /tmp/dimscope-image.XXXXXX)
cleanup() {
  podman rm -f "$NAME" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Podman's defaults that fail in a VM without CAP_SYS_RESOURCE and with hybrid cgroups: its default rlimits
# cannot be set, and crun cannot run there. CONTAINERS_CONF points podman at this file instead of the
# system's containers.conf, so nothing under /etc changes.
cat > "$WORK/containers.conf" << 'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

# ---------------------------------------------------------------------------------------------- base
debian_mirror() {
  # The first active apt source (one-line or deb822) that serves $SUITE itself (not -security/-updates).
  "$PYTHON" - "$SUITE" << 'EOF'
import glob, re, sys

suite = sys.argv[1]
found = []
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        continue
    for line in lines:
        words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            found.append((words[1], [words[2]]))
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    text = open(path, encoding="utf-8").read()
    for block in re.split(r"\n\s*\n", text):
        fields = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"])[0].lower() != "no":
            found.extend((uri, fields.get("suites", [])) for uri in fields.get("uris", []))
for uri, suites in found:
    if suite in suites:
        print(uri)
        sys.exit(0)
sys.exit(1)
EOF
}

make_base() {
  local mirror rootfs="$WORK/rootfs"
  mirror=$(debian_mirror) || fail "no apt source on this machine serves Debian $SUITE; cannot make $BASE"
  echo "making a stand-in $BASE with debootstrap ($SUITE, from this machine's apt source)"
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
    "$SUITE" "$rootfs" "$mirror" > "$WORK/debootstrap.log" 2>&1 \
    || {
      tail -20 "$WORK/debootstrap.log" >&2
      fail "debootstrap"
    }
  # Like the official image: no PEP 668 marker (pip installs system-wide), `python` and `pip` on PATH,
  # no package lists.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  ln -sf python3 "$rootfs/usr/bin/python"
  ln -sf pip3 "$rootfs/usr/bin/pip"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*
  tar -C "$rootfs" -c . | podman import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE" > /dev/null
  rm -rf "$rootfs"
}

say "base image"
if [ "${DIMSCOPE_CHECK_REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE"; then
  podman pull -q "$BASE" > /dev/null 2>&1 || make_base
fi
podman run --rm --network=host "$BASE" python --version

# ---------------------------------------------------------------------------------------------- pip
# This machine's pip settings as one config file, mounted at /etc/pip.conf for the build, and every
# local path they name mounted read-only at the same path. Values are never printed (an index URL may
# carry a token). podman leaves the mount points in the image, empty (/etc/pip.conf, the index folders);
# an image built by `docker build` has none of them.
say "pip setup for the build"
mounts=()
"$PYTHON" - "$WORK/pip.conf" "$WORK/mounts" << 'EOF'
import os, re, subprocess, sys
from urllib.parse import unquote, urlparse

conf_path, mounts_path = sys.argv[1:3]
listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
sections: dict[str, dict[str, str]] = {}
env_rows = []
for line in listing.stdout.splitlines():
    match = re.match(r"^([^.]*)\.([^=]+)='(.*)'$", line)
    if not match:
        continue
    section, key, value = match.groups()
    if section == ":env:":
        env_rows.append((key, value))  # the environment wins over every file
    else:
        sections.setdefault(section, {})[key] = value
for key, value in env_rows:
    sections.setdefault("global", {})[key] = value
paths = set()
with open(conf_path, "w", encoding="utf-8") as out:
    for section, values in sections.items():
        out.write(f"[{section}]\n")
        for key, value in values.items():
            out.write(f"{key} = {value}\n")
            for word in value.split():
                path = unquote(urlparse(word).path) if word.startswith("file:") else word
                if not os.path.isabs(path) or not os.path.exists(path):
                    continue
                # A "simple" index links to its files with ../../files/...: mount the index's whole root.
                if os.path.basename(path.rstrip("/")) == "simple":
                    path = os.path.dirname(path.rstrip("/"))
                paths.add(os.path.realpath(path))
with open(mounts_path, "w", encoding="utf-8") as out:
    out.write("\n".join(sorted(paths)) + "\n")
EOF
while IFS= read -r path; do
  [ -n "$path" ] && mounts+=(-v "$path:$path:ro")
done < "$WORK/mounts"
mounts+=(-v "$WORK/pip.conf:/etc/pip.conf:ro")
echo "pip settings: $(grep -c ' = ' "$WORK/pip.conf") value(s); local paths mounted read-only: $(grep -c . "$WORK/mounts")"

# The CPU torch wheel pinned by requirements.txt, when a local folder holds it: a one-file simple index.
build_args=()
torch_version=$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' requirements.txt)
wheel=""
while IFS= read -r path; do
  [ -d "$path" ] || continue
  candidate=$(find "$path" -maxdepth 1 -name "torch-${torch_version}+cpu-cp311-cp311-*linux*x86_64.whl" | head -1)
  [ -n "$candidate" ] && wheel=$candidate && break
done < "$WORK/mounts"
if [ -n "$wheel" ]; then
  # At a fixed path: the build argument is part of the cache key of the pip layer, so a path that changed
  # on each run would reinstall every package.
  index=/var/tmp/dimscope-check-image/torch-index
  mkdir -p "$index/torch"
  printf '<!DOCTYPE html><html><body><a href="file://%s">%s</a></body></html>\n' "$wheel" "$(basename "$wheel")" \
    > "$index/torch/index.html"
  mounts+=(-v "$index:$index:ro")
  build_args+=(--build-arg "TORCH_INDEX=file://$index")
  echo "torch: the local CPU wheel $(basename "$wheel")"
else
  echo "torch: no local CPU wheel for torch==$torch_version; the build uses the Dockerfile's TORCH_INDEX"
fi

# ---------------------------------------------------------------------------------------------- build
say "build $IMAGE"
started=$(date +%s)
# --format docker: the OCI image format has no HEALTHCHECK, and podman would drop it.
# --isolation=chroot: build steps cannot create cgroups here. --network=host: pip reaches the index.
# Each step is shown with the seconds since the build started (the full log stays in $WORK/build.log).
podman build --format docker --isolation=chroot --network=host "${mounts[@]}" "${build_args[@]}" \
  -t "$IMAGE" . 2>&1 | tee "$WORK/build.log" | while IFS= read -r line; do
  case "$line" in
    STEP\ *) read -r _ number keyword _ <<< "$line" && echo "  $(($(date +%s) - started)) s  step ${number%:} $keyword" ;;
    "--> Using cache"*) echo "        (cached)" ;;
    prepare-demo:*) echo "  $line" ;;
  esac
done
[ "${PIPESTATUS[0]}" = 0 ] || {
  tail -40 "$WORK/build.log" >&2
  fail "podman build"
}
echo "built in $(($(date +%s) - started)) s"
size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
healthcheck=$(podman image inspect --format '{{if .HealthCheck}}{{.HealthCheck.Test}}{{end}}' "$IMAGE")
[ -n "$healthcheck" ] || fail "the image has no HEALTHCHECK"

# ---------------------------------------------------------------------------------------------- run
say "run"
port="${DIMSCOPE_CHECK_PORT:-$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
url="http://127.0.0.1:$port"
# The image's own command on its own port 8501 (so its HEALTHCHECK holds), published on 127.0.0.1 only.
# DIMSCOPE_TIMINGS makes the server log every pipeline step, to tell a cache answer from an encode.
# --health-interval=disable: podman's timer for the HEALTHCHECK needs systemd, which this machine may not
# run; the loop below runs the image's check itself (podman still logs that it found no systemd).
podman run -d --name "$NAME" -p "127.0.0.1:$port:8501" -e DIMSCOPE_TIMINGS=/tmp/steps.jsonl \
  --health-interval=disable "$IMAGE" > /dev/null 2> "$WORK/run.err" || {
  cat "$WORK/run.err" >&2
  fail "podman run"
}
grep -v 'unable to get systemd connection' "$WORK/run.err" >&2 || true
started=$(date +%s)
healthy=""
while [ $(($(date +%s) - started)) -lt 180 ]; do
  if [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" != true ]; then
    podman logs "$NAME" >&2 || true
    fail "the container stopped"
  fi
  if podman healthcheck run "$NAME" > /dev/null 2>&1; then
    healthy=yes
    break
  fi
  sleep 2
done
[ -n "$healthy" ] || {
  podman logs "$NAME" >&2
  fail "(a) the HEALTHCHECK did not pass within 180 s"
}
echo "(a) HEALTHCHECK passes $(($(date +%s) - started)) s after start: $healthcheck"
answer=$(curl -fsS "$url/_stcore/health") || fail "(a) $url/_stcore/health does not answer"
[ "$answer" = ok ] || fail "(a) /_stcore/health answered '$answer', not 'ok'"
echo "(a) $url/_stcore/health answers: $answer"

uid=$(podman exec "$NAME" sh -c 'awk "/^Uid:/ {print \$2}" /proc/1/status')
user=$(podman exec "$NAME" sh -c "getent passwd $uid | cut -d: -f1")
command=$(podman exec "$NAME" sh -c 'tr "\0" " " < /proc/1/cmdline')
[ "$uid" != 0 ] || fail "(c) the server runs as root"
echo "(c) the server (pid 1: ${command% }) runs as uid $uid ($user)"

cache_digest() {
  # What the cache holds: every row of diskcache's Cache table (key, store time, size, file, SHA-256 of
  # the value) and the SHA-256 of every other file. Left out: the access time and count (the cache evicts
  # least-recently-used, so a read updates them), the Settings table, and the database files themselves,
  # which SQLite rewrites when the server opens them.
  podman exec "$NAME" python -c '
import hashlib, os, sqlite3
root = "/data/cache"
def digest(data):
    return hashlib.sha256(data if isinstance(data, bytes) else repr(data).encode()).hexdigest()
for folder, _, names in sorted(os.walk(root)):
    for name in sorted(names):
        rel = os.path.relpath(os.path.join(folder, name), root)
        if rel not in ("cache.db", "cache.db-wal", "cache.db-shm"):
            with open(os.path.join(root, rel), "rb") as fh:
                print("file", rel, digest(fh.read()))
db = sqlite3.connect(os.path.join(root, "cache.db"))
columns = "key, raw, store_time, expire_time, tag, size, mode, filename, value"
for *head, value in db.execute(f"SELECT {columns} FROM Cache ORDER BY key"):
    print("row", repr(head), digest(value))
'
}
cache_summary() { echo "$(grep -c '^row' "$1") row(s) and $(grep -c '^file' "$1") value file(s)"; }
cache_digest > "$WORK/cache-0"
echo "/data/cache before the first visit: $(cache_summary "$WORK/cache-0")"

mkdir -p "$ARTIFACTS"
say "first visit: the Overview in Chromium"
"$PYTHON" scripts/check_image_browser.py overview --url "$url" --chromium "$CHROMIUM" \
  --screenshot "$ARTIFACTS/overview.png" || fail "(b) the Overview"

podman exec "$NAME" sh -c 'cat /tmp/steps.jsonl 2> /dev/null || true' > "$WORK/steps-overview.jsonl"
steps=$("$PYTHON" -c '
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print(", ".join(f"{name} x{count}" for name, count in collections.Counter(r["step"] for r in rows).items()) or "none")
' "$WORK/steps-overview.jsonl")
echo "(d) server steps during the first visit: $steps"
if grep -Eq '"step": "(encode|model load|stats|store)"' "$WORK/steps-overview.jsonl"; then
  fail "(d) the first visit computed instead of reading the precomputed cache"
fi
grep -q '"step": "figures"' "$WORK/steps-overview.jsonl" || fail "(d) no figures step: the Overview did not draw"
torch_maps=$(podman exec "$NAME" sh -c 'grep -c -E "libtorch|onnxruntime|openvino" /proc/1/maps || true')
[ "$torch_maps" = 0 ] || fail "(d) the server process loaded an encoder library for the first visit"
echo "(d) the server process has no torch/onnxruntime/openvino library mapped"
cache_digest > "$WORK/cache-1"
diff -q "$WORK/cache-0" "$WORK/cache-1" > /dev/null || {
  diff "$WORK/cache-0" "$WORK/cache-1" >&2 || true
  fail "(d) the first visit changed /data/cache"
}
echo "(d) /data/cache unchanged by the first visit: the precomputed cache answered it"

say "a visitor's upload: Corpus, then Explore"
"$PYTHON" scripts/check_image_browser.py upload --url "$url" --chromium "$CHROMIUM" \
  --csv "$WORK/visitor_notes.csv" --screenshot "$ARTIFACTS/explore-upload.png" || fail "(e) the upload"
# The upload's texts are in no cache, so the server must have encoded them: the unchanged cache below
# then means the encode stayed in the session's memory, not that nothing ran.
encodes=$(podman exec "$NAME" sh -c 'cat /tmp/steps.jsonl' | grep -c '"step": "encode"' || true)
[ "$encodes" -ge 1 ] || fail "(e) the server never encoded the upload, so the cache check proves nothing"
echo "(e) the server encoded the upload ($encodes encode step(s))"
cache_digest > "$WORK/cache-2"
diff -q "$WORK/cache-1" "$WORK/cache-2" > /dev/null || {
  diff "$WORK/cache-1" "$WORK/cache-2" >&2 || true
  fail "(e) the visitor's upload changed /data/cache"
}
echo "(e) /data/cache unchanged by the upload: the same $(cache_summary "$WORK/cache-2"), same SHA-256 each"
podman logs "$NAME" 2>&1 | grep -A5 'Traceback' | head -20 > "$WORK/log-errors" || true
[ ! -s "$WORK/log-errors" ] || {
  cat "$WORK/log-errors" >&2
  fail "the server logged an error"
}

say "image"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"
awk -v b="$size_bytes" 'BEGIN { printf "image size: %.0f bytes = %.2f GB = %.2f GiB\n", b, b / 1e9, b / 2^30 }'
echo "screenshots: $ARTIFACTS/overview.png $ARTIFACTS/explore-upload.png"
echo "check-image: all checks passed (remove the image with: podman rmi $IMAGE)"
