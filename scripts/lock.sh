#!/usr/bin/env bash
# Refresh requirements/cpu.lock: the newest versions pyproject.toml allows for the CPU install with
# the test extras, resolved by pip (with this machine's pip config: torch's CPU wheel from its
# find-links) without installing anything. Run it, then the tests (scripts/test.sh), then commit
# the lock with the test result. Usage: scripts/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
lock=requirements/cpu.lock
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$PY" -m pip install --dry-run --ignore-installed --quiet --report "$tmp" ".[test]" >/dev/null 2>&1 \
  || "$PY" -m pip install --dry-run --ignore-installed --quiet --report "$tmp" ".[test]"  # the error
"$PY" - "$tmp" "$lock" <<'PYEOF'
import json, platform, re, sys
report, lock = json.load(open(sys.argv[1])), sys.argv[2]
pins = sorted(
    (re.sub(r"[-_.]+", "-", i["metadata"]["name"]).lower(), i["metadata"]["version"])
    for i in report["install"] if i["metadata"]["name"].lower() != "autoembed"
)
with open(lock, "w") as f:
    f.write("# The CPU install's versions, every package pinned (the tests passed with these).\n"
            "# Used as pip constraints by scripts/setup_env.sh; refresh: scripts/lock.sh\n"
            f"# Resolved with Python {platform.python_version()} on {platform.system()} "
            f"{platform.machine()} from pyproject.toml's ranges (extras: test).\n")
    f.writelines(f"{name}=={version}\n" for name, version in pins)
print(f"{lock}: {len(pins)} packages")
PYEOF
