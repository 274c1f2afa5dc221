# The stocksaga image: API, worker and the one-shot migrate step run from it
# (docker-compose.yml). Build: docker build -t stocksaga .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY stocksaga stocksaga
COPY workflows workflows
COPY activities activities
COPY api api
COPY workers workers
COPY db db
COPY domain domain
RUN pip install . && useradd --system --uid 10001 stocksaga
USER stocksaga
EXPOSE 8000
ENTRYPOINT ["stocksaga"]
CMD ["api", "--host", "0.0.0.0"]
