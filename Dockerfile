# One image for every pgsage process; the compose file picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pgsage ./pgsage
COPY job_service ./job_service
COPY optimizer_service ./optimizer_service
COPY gateway ./gateway
RUN pip install --no-cache-dir . && useradd --system pgsage
USER pgsage
