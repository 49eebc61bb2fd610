# walletflow: workers (`python -m worker_main --queues ...`), the bot (`python -m starter.bot`),
# the CLI (`walletflow ...`, the entrypoint) and the one-shot cluster setup (`walletflow setup`).
#
# No secret is baked in: settings arrive as environment variables (compose `env_file: .env`)
# and hot-wallet keys as a mounted file (compose `secrets:`). .dockerignore is an allowlist,
# so `.env`, key files and deploy/secrets/ never even reach the build context.
#
# Only classic-builder instructions (no RUN --mount, no COPY --chmod), so that Debian's
# docker-compose 1.29 can build it as well as `docker build` / BuildKit.
#
# The base image is pinned by digest (NAME:TAG@sha256:DIGEST). The committed digest is the
# placeholder sha256:000…0, which no registry serves, so the build fails until `deploy/pin-images`
# (on a host with Docker) writes the real one: see the header of docker-compose.yml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# Every dependency ships manylinux wheels for CPython 3.11, so no compiler is needed here.
RUN python -m venv /opt/walletflow
WORKDIR /src
# The locked runtime set first (its own layer, rebuilt only when the lock changes): every
# package pinned and hash-checked, nothing resolved here. It holds no test, dev-stack or devnet
# package (tests/deploy/test_lock.py); `make lock` writes it.
COPY requirements/lock.txt requirements/lock.txt
RUN /opt/walletflow/bin/pip install --require-hashes --no-deps -r requirements/lock.txt
COPY pyproject.toml README.md worker_main.py ./
COPY core/ core/
COPY workflows/ workflows/
COPY activities/ activities/
COPY starter/ starter/
COPY chains/ chains/
COPY store/ store/
# A regular (non-editable) install of walletflow alone, with the locked build backend: the
# runtime stage copies only the venv, not /src. devnet/ is another distribution, never copied.
RUN /opt/walletflow/bin/pip install --no-deps --no-build-isolation . \
    && /opt/walletflow/bin/pip check \
    && /opt/walletflow/bin/walletflow --help >/dev/null \
    && /opt/walletflow/bin/walletflow setup --help >/dev/null \
    && /opt/walletflow/bin/python -c "import worker_main, store.migrate" \
    && ! /opt/walletflow/bin/python -c "import devnet" 2>/dev/null \
    && ! /opt/walletflow/bin/python -c "import pytest" 2>/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="walletflow" \
      org.opencontainers.image.description="Durable wallet monitoring and withdrawals on Solana and TRON, built on Temporal"

# A fixed numeric uid/gid: hot-wallet key files are mounted from the host and must be owned
# by it (chown 10001, chmod 600), and Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 walletflow \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/walletflow --create-home \
       --shell /usr/sbin/nologin walletflow

COPY --from=build /opt/walletflow /opt/walletflow

ENV PATH=/opt/walletflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WALLETFLOW_HOME=/home/walletflow/.walletflow

WORKDIR /home/walletflow
USER 10001:10001

# 8000: /healthz and /readyz; 9464: Prometheus /metrics (workers and bot).
EXPOSE 8000 9464

ENTRYPOINT ["walletflow"]
CMD ["--help"]
