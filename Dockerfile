# One image for the API, the scheduler and CPU workers: the `server` extra (it includes the
# worker's and the science's dependencies). GPU workers: build with
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 (see docs/operations.md).
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 CORTEXRNN_HOME=/data
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY wire wire
COPY api api
COPY worker worker
COPY services services
COPY shared shared
COPY client client
COPY cli cli
COPY migrations migrations
RUN pip install --extra-index-url "$TORCH_INDEX" ".[server]"
RUN useradd --create-home --uid 1000 cortexrnn && mkdir -p /data && chown cortexrnn /data
USER cortexrnn
VOLUME /data
EXPOSE 8765
CMD ["cortexrnn", "serve", "--host", "0.0.0.0", "--workers", "0"]
