FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY moderation ./moderation
COPY workers ./workers
COPY rules ./rules
RUN pip install .
EXPOSE 8000
CMD ["moderation", "serve", "--host", "0.0.0.0"]
