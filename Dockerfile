# jsm-bridge: the webhook receiver, inbox workers and sweeper (`jsm-bridge serve`) on gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY jsm_bridge ./jsm_bridge
COPY webhooks ./webhooks
RUN pip install '.[postgres]'

COPY gunicorn.conf.py ./
COPY policies ./policies

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin jsmbridge \
    && mkdir -p /app/var && chown jsmbridge /app/var
USER jsmbridge

ENV JSM_BRIDGE_POLICIES=/app/policies \
    JSM_BRIDGE_DATABASE_URL=sqlite:////app/var/jsm-bridge.db

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]

# SIGTERM (docker stop) lets each process finish the action in flight; give it that long.
STOPSIGNAL SIGTERM
CMD ["jsm-bridge", "serve", "--host", "0.0.0.0", "--port", "8080"]
