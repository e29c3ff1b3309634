# The Switchyard service image (compose.yaml builds it for `service` and `migrate`).
FROM python:3.11-slim

# PYTHONPATH: `switchyard migrate` finds the Alembic scripts next to the `service` package
# (service/migrate.py), and the installed wheel ships only `service`; importing `service`
# from this source tree keeps ./migrations beside it.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

COPY pyproject.toml ./
COPY service ./service
RUN pip install .

COPY migrations ./migrations
COPY config ./config

RUN useradd --system --no-create-home --uid 10001 switchyard
USER switchyard

EXPOSE 8000
CMD ["switchyard", "run", "--host", "0.0.0.0", "--port", "8000"]
