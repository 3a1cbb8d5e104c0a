# monitor: liquidation alerts for leveraged perpetual-futures positions.
#
#   docker build -t monitor .
#   docker run -d --name monitor --restart unless-stopped \
#     -v /srv/monitor/config.toml:/etc/monitor/config.toml:ro \
#     -v monitor-state:/var/lib/monitor \
#     -v /srv/monitor/credentials:/run/secrets:ro \
#     monitor
#
# Secrets are never baked in or passed as ENV/ARG: they are files under /run/secrets (Docker or Compose
# secrets, or a read-only bind mount), and CREDENTIALS_DIRECTORY points there, so the same config works
# under systemd and here: api_key_file = "$CREDENTIALS_DIRECTORY/main_api_key". docs/deployment.md has
# the rest.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment with the package and its dependencies --------------------------------
# The dependencies are the lock's, each checked against its hash (the versions `make test` passed with);
# the package itself brings none of its own.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/monitor
COPY requirements/runtime.lock ./requirements/
RUN /opt/monitor/bin/pip install --no-cache-dir --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md LICENSE ./
COPY monitor ./monitor
RUN /opt/monitor/bin/pip install --no-cache-dir --no-deps . && /opt/monitor/bin/pip check

# --- runtime: the environment alone, run as an unprivileged user ---------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --home-dir /var/lib/monitor --shell /usr/sbin/nologin monitor \
    && install -d -o monitor -g monitor -m 0700 /var/lib/monitor \
    && install -d -m 0755 /etc/monitor
COPY --from=build /opt/monitor /opt/monitor
ENV PATH=/opt/monitor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CREDENTIALS_DIRECTORY=/run/secrets \
    MONITOR_HEARTBEAT_FILE=/tmp/monitor.heartbeat \
    MONITOR_STALE_EXIT_SECONDS=300
WORKDIR /var/lib/monitor
VOLUME ["/var/lib/monitor"]
USER 10001:10001
# /healthz and /metrics: only reachable from outside with health.listen = "0.0.0.0:9108" in the config
EXPOSE 9108
# The daemon touches the heartbeat only while every stream is fresh. Docker does not restart an
# unhealthy container by itself: the daemon exits 1 when data stays stale for MONITOR_STALE_EXIT_SECONDS
# and the restart policy brings it back.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, sys, time; p = os.environ['MONITOR_HEARTBEAT_FILE']; sys.exit(0 if os.path.exists(p) and time.time() - os.path.getmtime(p) < 60 else 1)"]
ENTRYPOINT ["monitor"]
CMD ["run", "--config", "/etc/monitor/config.toml"]
