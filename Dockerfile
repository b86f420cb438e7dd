# The eduwh code location as a gRPC code server. The same image also runs the webserver and the
# daemon in docker-compose.yml, so every container has the same Dagster version.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    EDUWH_DATA_DIR=/data

WORKDIR /app

# Dependencies first, from pyproject alone, so editing code does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p eduwh_assets && touch eduwh_assets/__init__.py \
    && pip install . "dagster-postgres>=0.29,<0.30" \
    && pip uninstall -y eduwh

COPY eduwh_assets ./eduwh_assets
COPY eduwh_dbt ./eduwh_dbt
COPY workspace.yaml dagster.yaml ./
# Editable, so the package finds eduwh_dbt/ beside it (config.PROJECT_ROOT is the source tree).
RUN pip install --no-deps -e .

# Parse the dbt project once, here, so loading the code location (which every run does) only
# reads target/manifest.json. Parsing opens no warehouse.
RUN dbt parse --quiet --project-dir "$(pwd)/eduwh_dbt" --profiles-dir "$(pwd)/eduwh_dbt"

COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
RUN mkdir -p /data

EXPOSE 4000
CMD ["dagster", "api", "grpc", "-m", "eduwh_assets.definitions", "-a", "defs", "-h", "0.0.0.0", "-p", "4000"]
