# walletflow: workers (`python -m worker_main --queues ...`), the bot (`python -m starter.bot`),
# the CLI (`walletflow ...`, the entrypoint) and the one-shot cluster setup (`walletflow-setup`).
#
# No secret is baked in: settings arrive as environment variables (compose `env_file: .env`)
# and hot-wallet keys as a mounted file (compose `secrets:`). .dockerignore is an allowlist,
# so `.env`, key files and deploy/secrets/ never even reach the build context.
#
# Only classic-builder instructions (no RUN --mount, no COPY --chmod), so that Debian's
# docker-compose 1.29 can build it as well as `docker build` / BuildKit.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# Every dependency ships manylinux wheels for CPython 3.11, so no compiler is needed here.
RUN python -m venv /opt/walletflow
WORKDIR /src
COPY pyproject.toml README.md worker_main.py ./
COPY workflows/ workflows/
COPY activities/ activities/
COPY starter/ starter/
COPY chains/ chains/
COPY store/ store/
COPY devnet/ devnet/
# A regular (non-editable) install: the runtime stage copies only the venv, not /src.
RUN /opt/walletflow/bin/pip install . \
    && /opt/walletflow/bin/walletflow --help >/dev/null \
    && /opt/walletflow/bin/python -c "import worker_main, store.migrate"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="walletflow" \
      org.opencontainers.image.description="Durable wallet monitoring and withdrawals on Solana and TRON, built on Temporal"

# A fixed numeric uid/gid: hot-wallet key files are mounted from the host and must be owned
# by it (chown 10001, chmod 600), and Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 walletflow \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/walletflow --create-home \
       --shell /usr/sbin/nologin walletflow

COPY --from=build /opt/walletflow /opt/walletflow
COPY deploy/walletflow-setup.sh /usr/local/bin/walletflow-setup
RUN chmod 0755 /usr/local/bin/walletflow-setup

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
