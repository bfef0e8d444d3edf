FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY gateway ./gateway
COPY worker ./worker
# Optional extras, e.g. --build-arg EXTRAS='[otlp]' for traces sent to a collector
# (docs/operations.md, "Traces").
ARG EXTRAS=""
RUN pip install --no-cache-dir ".${EXTRAS}"
ENTRYPOINT ["cloudwallet"]
