# ticketflow as a container image; compose.yaml runs it beside NATS and PostgreSQL.
#   docker build -t ticketflow .
#   docker run --rm ticketflow up --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs (pyproject.toml names README.md as its readme).
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY services ./services
COPY infra ./infra
COPY projections ./projections
RUN pip install . && rm -rf /src

# Run as a non-root user; /data is where `--data-dir` points (the store key file
# when TICKETFLOW_CIPHER_KEY is unset, an SQLite store, an embedded server's files).
RUN useradd --system --uid 10001 --create-home --home-dir /home/ticketflow ticketflow \
    && mkdir /data && chown ticketflow:ticketflow /data
USER ticketflow
WORKDIR /home/ticketflow
ENV TICKETFLOW_DATA_DIR=/data
VOLUME ["/data"]

ENTRYPOINT ["ticketflow"]
CMD ["up"]
