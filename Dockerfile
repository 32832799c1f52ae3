# support-agent: the server with its built frontend.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app/ app/
COPY graphs/ graphs/
COPY openapi_specs/ openapi_specs/
COPY --from=frontend /src/app/static/ app/static/
RUN pip install --no-cache-dir ".[openai,anthropic]" && useradd --system --uid 10001 support
USER support
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2).status == 200 else 1)"
CMD ["support-agent", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-frontend-build"]
