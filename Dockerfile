# Charge point firmware / simulator image. Build: docker build -t chargepoint .
# Run the embedded default: docker run --rm -it chargepoint run --duration 60
# Against a CSMS:          docker run --rm chargepoint run --csms ws://csms.example:9000/ocpp --id CP-0001
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chargepoint ./chargepoint
COPY hil ./hil
RUN pip install . && useradd --create-home --uid 10001 chargepoint
USER chargepoint
WORKDIR /home/chargepoint
ENTRYPOINT ["chargepoint"]
CMD ["run"]
