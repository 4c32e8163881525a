#!/usr/bin/env bash
# Checks the delivery files without a Docker engine:
#   - docker/nginx.conf passes `nginx -t` (the upstream host names, which only resolve
#     inside compose's network, are pointed at 127.0.0.1 for the test; nothing else changes);
#   - docker/docker-compose.yml parses as YAML, has the services the docs describe, and
#     every variable it gives a fastvue container is one the configuration loader reads
#     (docs/configuration.md lists exactly those: a unit test in fastvue-core keeps the two
#     equal); every required ${VAR:?} has a line in docker/.env.example;
#   - docker/Dockerfile is multi-stage, caches dependencies in their own layer, runs as a
#     non-root user and has a HEALTHCHECK on /health/live.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null 2>&1; then
  echo "installing nginx (Debian package nginx-light)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null; }
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sed -e 's/server backend-\([12]\):8000/server 127.0.0.1:800\1/' \
    -e "s|/var/log/nginx/|$tmp/|" docker/nginx.conf > "$tmp/nginx.conf"
nginx -q -t -c "$tmp/nginx.conf" -g "pid $tmp/nginx.pid; error_log $tmp/error.log;"
echo "docker/nginx.conf: nginx -t ok"

python3 -c 'import yaml' 2>/dev/null || pip install --quiet pyyaml
python3 - <<'PY'
import re, sys, yaml

problems = []
def check(ok, message):
    if not ok:
        problems.append(message)

documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", open("docs/configuration.md").read(), re.M))
raw = open("docker/docker-compose.yml").read()
compose = yaml.safe_load(raw)
services = compose.get("services", {})
for name in ["postgres", "redis", "migrate", "backend-1", "backend-2", "nginx"]:
    check(name in services, f"compose: no service {name}")
check(str(services.get("postgres", {}).get("image", "")).startswith("postgres:15"), "compose: postgres must be postgres:15")
check(str(services.get("redis", {}).get("image", "")).startswith("redis:7"), "compose: redis must be redis:7")
check(services.get("migrate", {}).get("command") == ["fastvue", "migrate", "up"], "compose: migrate must run `fastvue migrate up`")
ours = [n for n, s in services.items() if s.get("image") == "fastvue-rs:latest"]
check(sorted(ours) == ["backend-1", "backend-2", "migrate"], f"compose: fastvue services are {ours}")
for name in ours:
    env = services[name].get("environment") or {}
    check(isinstance(env, dict) and env, f"compose: {name} has no environment map")
    for var in env:
        check(var in documented, f"compose: {name} sets {var}, which the configuration loader does not read")
    check("ports" not in services[name], f"compose: {name} publishes a port (only nginx may; /metrics stays private)")
for name in ["backend-1", "backend-2"]:
    deps = services.get(name, {}).get("depends_on", {})
    check(deps.get("migrate", {}).get("condition") == "service_completed_successfully", f"compose: {name} must wait for migrate")
nginx = services.get("nginx", {})
check("./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx.get("volumes", []), "compose: nginx must mount ./nginx.conf")
check(set(nginx.get("depends_on", {})) == {"backend-1", "backend-2"}, "compose: nginx must depend on both backends")
proxy_ip = nginx.get("networks", {}).get("internal", {}).get("ipv4_address")
check(all(services[n]["environment"].get("TRUSTED_PROXIES") == proxy_ip for n in ours if "environment" in services[n]),
      "compose: TRUSTED_PROXIES must be nginx's address")
example = set(re.findall(r"^([A-Z0-9_]+)=", open("docker/.env.example").read(), re.M))
for var in sorted(set(re.findall(r"\$\{([A-Z0-9_]+):\?", raw))):
    check(var in example, f"docker/.env.example lacks the required {var}")

conf = open("docker/nginx.conf").read()
for backend in ["backend-1:8000", "backend-2:8000"]:
    check(f"server {backend}" in conf, f"nginx.conf: upstream lacks {backend}")
for header in ["X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP"]:
    check(f"proxy_set_header {header}" in conf, f"nginx.conf: does not set {header}")
check(re.search(r"location = /metrics \{\s*return 404", conf) is not None, "nginx.conf: /metrics must not be proxied")
check("proxy_buffering off" in conf, "nginx.conf: the event stream needs proxy_buffering off")

docker = open("docker/Dockerfile").read()
stages = re.findall(r"^FROM ", docker, re.M)
check(len(stages) >= 3, "Dockerfile: expected a multi-stage build")
cook, copy_all = docker.find("cargo chef cook"), docker.rfind("COPY . .")
check(0 <= cook < copy_all, "Dockerfile: dependencies must be built before the sources are copied")
user = re.findall(r"^USER (\S+)", docker, re.M)
check(bool(user) and not user[-1].startswith("root") and not user[-1].startswith("0"), "Dockerfile: must run as a non-root user")
check(re.search(r"^HEALTHCHECK .*\n?.*healthcheck", docker, re.M) is not None, "Dockerfile: no HEALTHCHECK")
check("debian:bookworm-slim" in docker, "Dockerfile: runtime must be slim")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"docker/docker-compose.yml: {len(services)} services ok; {len(ours)} fastvue containers, "
      f"every variable known ({len(documented)} documented)")
print("docker/Dockerfile: multi-stage, dependency layer, non-root, HEALTHCHECK ok")
PY
