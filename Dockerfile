# The Switchyard service image (compose.yaml runs it as `service` and `migrate`).
# Stage 1 builds the project's wheel and installs it, with its dependencies, into a venv;
# stage 2 is a clean base with only that venv: no source tree, no pip, no caches, no secret.
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml setup.py ./
COPY service ./service
COPY migrations ./migrations

# Where HTTPS to the package index is re-signed by a local CA, the build is given that CA as
# a secret (`--secret id=ca-bundle,src=...`, see images/build.sh): mounted for this one step,
# never written into a layer. Elsewhere the secret is absent and pip uses its own bundle.
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi \
    && python -m venv /opt/switchyard \
    && /opt/switchyard/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/switchyard/bin/pip install /wheels/switchyard-*.whl \
    && /opt/switchyard/bin/pip uninstall --yes --quiet pip setuptools

FROM python:3.11-slim

ENV PATH=/opt/switchyard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --no-create-home --uid 10001 switchyard
COPY --from=build /opt/switchyard /opt/switchyard
USER switchyard
WORKDIR /tmp

EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=10 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)"]
CMD ["switchyard", "run", "--host", "0.0.0.0", "--port", "8000"]
