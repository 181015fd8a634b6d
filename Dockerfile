# Image for the site, the CPU worker and (with a CUDA build of torch) GPU workers.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY accounts accounts
COPY restoration restoration
COPY voting voting
COPY frontend frontend
COPY gpu_worker gpu_worker
COPY manage.py ./
ARG TORCH_SPEC="torch==2.13.0"
RUN pip install --no-cache-dir "$TORCH_SPEC" && pip install --no-cache-dir .
ENV DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
