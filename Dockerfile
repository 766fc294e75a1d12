# One image for every pgsage process (job service, optimizer, gateway with its UI); the
# compose file and the Kubernetes manifests pick the command.
#
#   docker build -t pgsage .

# The browser UI, built with the exact npm packages of package-lock.json.
FROM node:22-bookworm-slim AS ui
WORKDIR /ui
COPY gateway/ui/package.json gateway/ui/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY gateway/ui/index.html gateway/ui/tsconfig.json gateway/ui/vite.config.ts ./
COPY gateway/ui/src ./src
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PGSAGE_GATEWAY_UI_DIR=/app/ui
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pgsage ./pgsage
COPY job_service ./job_service
COPY optimizer_service ./optimizer_service
COPY gateway ./gateway
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin pgsage
COPY --from=ui /ui/dist /app/ui
COPY deploy/docker/entrypoint.sh /usr/local/bin/pgsage-entrypoint
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001
ENTRYPOINT ["/usr/local/bin/pgsage-entrypoint"]
CMD ["python", "-m", "gateway"]
