# The ledger + API image used by compose.yaml (for people with Docker).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY producers producers
COPY ledger ledger
COPY query query
COPY schemas schemas
RUN pip install --no-cache-dir '.[server]' && useradd --create-home provledger && mkdir /data \
    && chown provledger /data
USER provledger
ENV PROVLEDGER_DB=/data/ledger.duckdb
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --retries=20 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["provledger", "serve", "--host", "127.0.0.1", "--port", "8000"]
