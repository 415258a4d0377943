# API and worker image: `docker compose up` (see docker-compose.yml) or
#   docker build -t moderation . && docker run -p 8000:8000 moderation
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# procps: the worker's compose health check uses pgrep.
RUN apt-get update \
    && apt-get install -y --no-install-recommends procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, from the lock: this layer is rebuilt only when requirements.lock changes.
# The lock pins torch's CPU build, which PyTorch's CPU index serves.
COPY requirements.lock ./
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.lock

# Then the source; --no-deps: everything it needs is installed above, at the locked versions.
COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
COPY rules ./rules
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin moderation \
    && mkdir -p /app/var \
    && chown moderation /app/var

USER moderation
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["moderation", "serve", "--host", "0.0.0.0"]
